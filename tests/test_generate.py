"""The region generator: deterministic, in the seed's schema, with the sample's statistics."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
import torch

import moebench.data.generate as generate
from moebench.data import load_region
from moebench.data.generate import country_places, generate_region, haversine_km
from moebench.data.load import verify_checksums
from moebench.errors import UserError

REFERENCE_COLUMNS = {
    "servers.csv": "ServerID,Longitude,Latitude,LinkBandwidth,ComputationCapacity,StorageCapacity,"
    "TrafficRate,ClusterID,OriginalID,NormalizedCompute",
    "model_instances.csv": "ModelID,ModelType,ArenaScore,ServerID,ModelTypeName,ModelInstanceID,CostPerToken",
    "network_links.csv": "SrcServerID,DstServerID,BandwidthMbps,BaseLatencyMs",
    "tasks.csv": "TaskID,Split,TaskLongitude,TaskLatitude,TaskSize,RequiredModelTypes",
    "task_request_mapping.csv": "TaskID,WorkflowStepIndex,MappedRequestID,RequiredModelType",
}
# Switzerland's borders, slightly rounded outwards.
SWITZERLAND_LON = (5.9, 10.55)
SWITZERLAND_LAT = (45.8, 47.85)


def read_rows(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_arguments_give_identical_files(tmp_path: Path) -> None:
    kwargs = dict(workflow_len=(2, 7), trap_rule="mid-compute", train_tasks=50, test_tasks=10)
    first = generate_region("CH", 50, 5, 3, tmp_path / "a" / "R", **kwargs)
    second = generate_region("CH", 50, 5, 3, tmp_path / "b" / "R", **kwargs)
    assert sorted(files_of(first)) == [
        "metadata.json",
        "model_instances.csv",
        "network_links.csv",
        "servers.csv",
        "task_request_mapping.csv",
        "tasks.csv",
        "trap_config.json",
    ]
    assert files_of(first) == files_of(second)
    other = files_of(generate_region("CH", 50, 5, 4, tmp_path / "c" / "R", **kwargs))
    for name in ("servers.csv", "model_instances.csv", "network_links.csv", "tasks.csv", "metadata.json"):
        assert other[name] != files_of(first)[name]


def test_headers_follow_the_seed_schema(small_region: Path) -> None:
    for name, header in REFERENCE_COLUMNS.items():
        assert (small_region / name).read_text().splitlines()[0] == header
    config = json.loads((small_region / "trap_config.json").read_text())
    assert list(config) == ["trap_server_ids", "trap_cost_multiplier", "trap_bandwidth", "trap_latency", "trap_rate"]
    assert config["trap_cost_multiplier"] == 1.2 and config["trap_rate"] == 0.1


def test_servers(small_region: Path) -> None:
    rows = read_rows(small_region, "servers.csv")
    assert [r["ServerID"] for r in rows] == [f"CH-60_{i}" for i in range(1, 61)]
    assert {r["ClusterID"] for r in rows} == {"CH-60"}
    assert {r["LinkBandwidth"] for r in rows} == {"50"}
    compute = [int(r["ComputationCapacity"]) for r in rows]
    assert min(compute) >= 15 and max(compute) <= 59
    assert all(
        float(r["NormalizedCompute"]) == pytest.approx(int(r["ComputationCapacity"]) / max(compute), abs=1e-6)
        for r in rows
    )
    assert all(15 <= int(r["StorageCapacity"]) <= 37 for r in rows)
    assert all(20 <= int(r["TrafficRate"]) <= 47 for r in rows)
    places = set(country_places("CH").geonameid.tolist())
    assert all(int(r["OriginalID"]) in places for r in rows)
    assert len({r["OriginalID"] for r in rows}) == 60  # without replacement


def test_model_placement(small_region: Path) -> None:
    region = load_region(small_region)
    assert region.model_type_names == ["ChatGPT", "GPT-4", "GPT-4v"]
    assert region.model_type_ids.tolist() == [1, 2, 3]
    hosts = (region.instance_count > 0).sum(dim=1).tolist()
    assert hosts == [60, round(0.56 * 60), round(0.12 * 60)]
    for m, (low, high) in enumerate([(2, 16), (1, 4), (1, 3)]):
        counts = region.instance_count[m][region.hosts(m)]
        assert low <= counts.min() and counts.max() <= high
    rows = read_rows(small_region, "model_instances.csv")
    assert [r["ModelID"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    assert all(r["ModelInstanceID"] == f"model_{r['ServerID']}_{r['ModelID']}" for r in rows)
    prices = {r["ModelTypeName"]: r["CostPerToken"] for r in rows}
    assert prices == {"ChatGPT": "0.0015", "GPT-4": "0.03", "GPT-4v": "0.06"}
    scores = [r["ArenaScore"] for r in rows]
    assert all(0.0 <= float(s) <= 1.0 and len(s.split(".")[1]) <= 3 for s in scores)


def test_coverage_shares_on_a_larger_region(tmp_path: Path) -> None:
    region = load_region(generate_region("GB", 400, 0, 9, tmp_path / "GB-400", train_tasks=20, test_tasks=5))
    shares = ((region.instance_count > 0).sum(dim=1) / 400).tolist()
    assert shares == pytest.approx([1.0, 0.56, 0.12], abs=0.005)


def connected(n: int, src: list[int], dst: list[int]) -> bool:
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in zip(src, dst, strict=True):
        neighbours[a].add(b)
    seen, frontier = {0}, [0]
    while frontier:
        for j in neighbours[frontier.pop()] - seen:
            seen.add(j)
            frontier.append(j)
    return len(seen) == n


def test_links(small_region: Path) -> None:
    region = load_region(small_region)
    src, dst = region.link_src.tolist(), region.link_dst.tolist()
    assert all(a != b for a, b in zip(src, dst, strict=True))
    rows = read_rows(small_region, "network_links.csv")
    values = {(r["SrcServerID"], r["DstServerID"]): (r["BandwidthMbps"], r["BaseLatencyMs"]) for r in rows}
    assert len(values) == len(rows)  # no duplicates
    assert all(values[(b, a)] == v for (a, b), v in values.items())  # symmetric, same values both ways
    degree = Counter(src)
    assert len(degree) == 60 and min(degree.values()) >= 1 and max(degree.values()) <= 10
    assert connected(60, src, dst)
    touches = region.trap_mask[region.link_src] | region.trap_mask[region.link_dst]
    assert touches.any() and (~touches).any()
    assert set(region.link_bandwidth_mbps[touches].tolist()) == {1.0}
    assert set(region.link_latency_ms[touches].tolist()) == {2000.0}
    assert set(region.link_bandwidth_mbps[~touches].tolist()) == {50.0}
    distance_km = haversine_km(
        *(
            t.numpy()
            for t in (
                region.lon_deg[region.link_src],
                region.lat_deg[region.link_src],
                region.lon_deg[region.link_dst],
                region.lat_deg[region.link_dst],
            )
        )
    )
    latency_ms = region.link_latency_ms.numpy()
    ordinary = ~touches.numpy()
    assert (latency_ms[ordinary] >= 0.26 + 0.004 * distance_km[ordinary] - 1e-6).all()
    assert (latency_ms[ordinary] <= 0.40 + 0.004 * distance_km[ordinary] + 1e-6).all()


def test_trap_signature_off_changes_only_trap_links(tmp_path: Path) -> None:
    with_signature = generate_region("CH", 40, 4, 1, tmp_path / "on" / "R", train_tasks=10, test_tasks=5)
    without = generate_region(
        "CH", 40, 4, 1, tmp_path / "off" / "R", train_tasks=10, test_tasks=5, trap_link_signature=False
    )
    for name in ("servers.csv", "trap_config.json", "tasks.csv", "model_instances.csv"):
        assert (with_signature / name).read_bytes() == (without / name).read_bytes()
    region = load_region(without)
    assert set(region.link_bandwidth_mbps.tolist()) == {50.0}
    assert region.link_latency_ms.max() < 10.0
    marked = load_region(with_signature)
    touches = marked.trap_mask[marked.link_src] | marked.trap_mask[marked.link_dst]
    assert torch.equal(marked.link_src, region.link_src)
    assert torch.equal(marked.link_latency_ms[~touches], region.link_latency_ms[~touches])


@pytest.mark.parametrize("rule", ["top-compute", "mid-compute", "random"])
def test_trap_rules(tmp_path: Path, rule: str) -> None:
    region = load_region(generate_region("CH", 80, 10, 2, tmp_path / "R", trap_rule=rule, train_tasks=10, test_tasks=5))
    compute = region.compute_capacity
    traps = region.trap_mask
    assert int(traps.sum()) == 10
    if rule == "top-compute":
        assert compute[traps].min() >= compute[~traps].max()
    elif rule == "mid-compute":
        off_median = (compute - compute.median()).abs()
        assert off_median[traps].max() <= off_median[~traps].min()
    else:
        assert compute[traps].min() < compute[~traps].max()
        assert (compute - compute.median()).abs()[traps].max() > (compute - compute.median()).abs()[~traps].min()


def test_workflow_length_range_and_step_mix(tmp_path: Path) -> None:
    region = load_region(
        generate_region("CH", 40, 4, 5, tmp_path / "R", workflow_len=(2, 9), train_tasks=400, test_tasks=40)
    )
    lengths = region.task_len
    assert lengths.min() == 2 and lengths.max() == 9
    assert set(lengths.tolist()) == set(range(2, 10))
    gpt4v = region.model_type_names.index("GPT-4v")
    assert not (region.task_models[:, 0] == gpt4v).any()  # the sample never starts with GPT-4v
    last = region.task_models[torch.arange(region.num_tasks), lengths - 1]
    assert (last == gpt4v).float().mean() > 0.3
    mapping = read_rows(region.path, "task_request_mapping.csv")
    assert len(mapping) == int(lengths.sum())
    assert all(r["MappedRequestID"].startswith("req_") for r in mapping)


def test_tasks_default_counts_and_ids(small_region: Path) -> None:
    region = load_region(small_region)
    assert len(region.task_indices("train")) == 120 and len(region.task_indices("test")) == 24
    assert region.task_len.unique().tolist() == [5]
    assert region.task_ids[0] == "task_CH-60_train_0_0"
    assert region.task_ids[-1] == "task_CH-60_test_0_23"
    assert region.task_size.min() >= 1 and region.task_size.max() <= 521
    assert torch.equal(region.task_size, region.task_size.round())


def test_metadata_records_parameters_and_checksums(small_region: Path) -> None:
    metadata = verify_checksums(small_region)
    assert metadata["country"] == "Switzerland" and metadata["country_code"] == "CH"
    assert metadata["parameters"]["servers"] == 60 and metadata["parameters"]["traps"] == 6
    assert metadata["parameters"]["seed"] == 0 and metadata["parameters"]["trap_rule"] == "top-compute"
    assert set(metadata["sha256"]) == {*REFERENCE_COLUMNS, "trap_config.json"}
    assert load_region(small_region, verify=True).metadata == metadata


def test_sites_lie_inside_the_country(small_region: Path) -> None:
    region = load_region(small_region)
    for lon, lat in ((region.lon_deg, region.lat_deg), (region.task_lon_deg, region.task_lat_deg)):
        assert SWITZERLAND_LON[0] <= lon.min() and lon.max() <= SWITZERLAND_LON[1]
        assert SWITZERLAND_LAT[0] <= lat.min() and lat.max() <= SWITZERLAND_LAT[1]
    # The UK's outposts (its base on Cyprus) are not part of a UK region.
    assert country_places("GB").lon_deg.max() < 2.0


def test_allow_reuse_puts_several_servers_at_a_place(tmp_path: Path) -> None:
    places = len(country_places("LI").geonameid)
    with pytest.raises(UserError, match="--allow-reuse"):
        generate_region("LI", places + 5, 1, 0, tmp_path / "R")
    region = load_region(generate_region("LI", places + 5, 1, 0, tmp_path / "R", allow_reuse=True))
    original = [r["OriginalID"] for r in read_rows(region.path, "servers.csv")]
    assert len(set(original)) < len(original)
    coordinates = set(zip(region.lon_deg.tolist(), region.lat_deg.tolist(), strict=True))
    assert len(coordinates) == region.num_servers


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("XX", 10, 1, 0), {}, "unknown country code 'XX'"),
        (("CH", 10, 11, 0), {}, "11 traps cannot be placed on 10 servers"),
        (("CH", 0, 0, 0), {}, "number of servers"),
        (("CH", -5, 0, 0), {}, "number of servers"),
        (("CH", 10, -1, 0), {}, "number of traps"),
        (("CH", 10, 1, -1), {}, "seed"),
        (("CH", 10, 1, 0), {"train_tasks": 0}, "train tasks"),
        (("CH", 10, 1, 0), {"test_tasks": -2}, "test tasks"),
        (("CH", 10, 1, 0), {"workflow_len": (0, 3)}, "workflow length range"),
        (("CH", 10, 1, 0), {"workflow_len": (5, 2)}, "workflow length range"),
        (("CH", 10, 1, 0), {"trap_rule": "lowest"}, "unknown trap rule"),
        (("CH", 10, 1, 0), {"trap_bandwidth_mbps": 0.0}, "trap_bandwidth_mbps"),
        (("CH", 10, 1, 0), {"trap_latency_ms": float("nan")}, "trap_latency_ms"),
        (("LI", 100, 1, 0), {}, "places for 100 servers"),
    ],
)
def test_invalid_arguments_write_nothing(tmp_path: Path, args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        generate_region(*args, tmp_path / "sub" / "R", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_needs_force(tmp_path: Path) -> None:
    out = generate_region("CH", 30, 3, 0, tmp_path / "R", train_tasks=10, test_tasks=5)
    before = files_of(out)
    with pytest.raises(UserError, match="already exists.*--force"):
        generate_region("CH", 30, 3, 1, out, train_tasks=10, test_tasks=5)
    assert files_of(out) == before

    generate_region("CH", 30, 3, 1, out, train_tasks=10, test_tasks=5, force=True)
    fresh = generate_region("CH", 30, 3, 1, tmp_path / "fresh" / "R", train_tasks=10, test_tasks=5)
    assert files_of(out) == files_of(fresh)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R", "fresh"]  # no staging folders left


def test_force_never_replaces_a_folder_that_is_not_a_region(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a region folder"):
        generate_region("CH", 10, 1, 0, tmp_path / "home", force=True)
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["notes.txt"]


def test_a_failure_while_writing_leaves_the_old_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = generate_region("CH", 30, 3, 0, tmp_path / "R", train_tasks=10, test_tasks=5)
    before = files_of(out)

    def fail(folder: Path) -> dict[str, str]:
        raise OSError("disk full")

    monkeypatch.setattr(generate, "file_checksums", fail)
    with pytest.raises(OSError, match="disk full"):
        generate_region("CH", 30, 3, 1, out, train_tasks=10, test_tasks=5, force=True)
    with pytest.raises(OSError, match="disk full"):
        generate_region("CH", 30, 3, 1, tmp_path / "new", train_tasks=10, test_tasks=5)
    assert files_of(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["R"]
