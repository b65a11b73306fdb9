"""The authors' own regions load unchanged, with the facts ORIGINAL.md lists."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from moebench.data import load_region


@pytest.fixture(scope="module")
def server1(reference_data: Path):
    return load_region(reference_data / "Server1_Trap")


def test_servers_and_model_placement(server1) -> None:
    assert server1.num_servers == 500
    assert server1.model_type_names == ["ChatGPT", "GPT-4", "GPT-4v"]
    assert server1.model_type_ids.tolist() == [1, 2, 3]
    assert server1.instance_count.sum(dim=1).tolist() == [3820, 600, 120]
    assert int(server1.instance_count.sum()) == 4540
    assert (server1.instance_count > 0).sum(dim=1).tolist() == [500, 280, 60]
    prices = [sorted(set(server1.instance_price[m][server1.hosts(m)].tolist())) for m in range(3)]
    assert prices == [[0.0015], [0.03], [0.06]]
    assert server1.compute_capacity.min() == 15 and server1.compute_capacity.max() == 59
    assert torch.allclose(server1.normalized_compute, server1.compute_capacity / 59)


def test_links_are_directed_rows_with_ten_self_loops(server1) -> None:
    assert server1.link_src.numel() == 1780  # the "890 undirected links" of the seed: rows / 2
    self_loop = server1.link_src == server1.link_dst
    assert int(self_loop.sum()) == 10
    assert "Server1_500" in {server1.server_ids[i] for i in server1.link_src[self_loop].tolist()}
    pairs = {
        (min(a, b), max(a, b))
        for a, b in zip(server1.link_src.tolist(), server1.link_dst.tolist(), strict=True)
        if a != b
    }
    assert len(pairs) == 885
    directed = set(zip(server1.link_src.tolist(), server1.link_dst.tolist(), strict=True))
    assert all((b, a) in directed for a, b in directed)


def test_tasks(server1) -> None:
    assert len(server1.task_indices("train")) == 1000
    assert len(server1.task_indices("test")) == 200
    assert server1.task_len.unique().tolist() == [5]
    assert server1.task_size.min() >= 1 and server1.task_size.max() <= 521


def test_traps_are_the_fifty_highest_compute_servers(server1) -> None:
    assert int(server1.trap_mask.sum()) == 50
    order = torch.argsort(server1.compute_capacity, descending=True, stable=True)
    top = server1.compute_capacity[order[49]]
    assert server1.compute_capacity[server1.trap_mask].min() >= top
    assert server1.compute_capacity[~server1.trap_mask].max() <= top
    assert server1.trap.cost_multiplier == 1.2
    assert server1.trap.bandwidth_mbps == 1.0
    assert server1.trap.latency_ms == 2000.0
    assert server1.trap.rate_per_s == 0.1
    touches = server1.trap_mask[server1.link_src] | server1.trap_mask[server1.link_dst]
    assert set(server1.link_bandwidth_mbps[touches].tolist()) == {1.0}
    assert set(server1.link_latency_ms[touches].tolist()) == {2000.0}
    assert set(server1.link_bandwidth_mbps[~touches].tolist()) == {50.0}


@pytest.mark.parametrize(("folder", "servers", "traps"), [("Server2_Trap", 1000, 100), ("Server3_Trap", 2000, 200)])
def test_larger_regions_load(reference_data: Path, folder: str, servers: int, traps: int) -> None:
    region = load_region(reference_data / folder)
    assert region.num_servers == servers
    assert int(region.trap_mask.sum()) == traps
    assert region.model_type_names == ["ChatGPT", "GPT-4", "GPT-4v"]
    assert Counter(region.task_split.tolist()) == {0: 2 * servers, 1: 2 * servers // 5}
