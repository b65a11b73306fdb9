"""`Region`: one Edge-Cloud MoE Bench region held as tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

SPLIT_CODES = {"train": 0, "test": 1}


@dataclass(frozen=True)
class TrapConfig:
    """The contents of `trap_config.json` besides the trap ids."""

    cost_multiplier: float  # compute price multiplier on trap servers
    bandwidth_mbps: float  # bandwidth of a hop that touches a trap in its bad state
    latency_ms: float  # mean extra latency of a hop that touches a trap in its bad state
    rate_per_s: float  # rate at which a trap in its good state turns bad


@dataclass
class Region:
    """A region: servers, model placement, links, traps and tasks, as tensors (CPU).

    Shapes: N servers, M model types, E directed links, T tasks, L the longest workflow.
    Every float tensor is float64; the env casts what it needs to its own dtype and device.
    """

    name: str
    path: Path | None
    # servers [N]
    server_ids: list[str]
    lon_deg: torch.Tensor
    lat_deg: torch.Tensor
    access_bandwidth_mbps: torch.Tensor  # servers.csv LinkBandwidth
    compute_capacity: torch.Tensor  # ComputationCapacity
    normalized_compute: torch.Tensor  # NormalizedCompute, in (0, 1]
    storage_capacity: torch.Tensor
    traffic_rate: torch.Tensor
    cluster_ids: list[str]
    # model types [M] and placement [M, N]
    model_type_names: list[str]
    model_type_ids: torch.Tensor  # the numeric ModelType of each name
    instance_count: torch.Tensor  # int64 [M, N]: instances of type m on server n
    instance_price: torch.Tensor  # [M, N] USD per 1000 tokens (cheapest instance), 0 where none
    # links [E], directed
    link_src: torch.Tensor  # int64 server index
    link_dst: torch.Tensor
    link_bandwidth_mbps: torch.Tensor
    link_latency_ms: torch.Tensor
    # traps
    trap_mask: torch.Tensor  # bool [N]
    trap: TrapConfig
    # tasks [T]
    task_ids: list[str]
    task_split: torch.Tensor  # int64 [T], SPLIT_CODES
    task_lon_deg: torch.Tensor
    task_lat_deg: torch.Tensor
    task_size: torch.Tensor  # tokens
    task_models: torch.Tensor  # int64 [T, L], model type index per step, -1 after the end
    task_len: torch.Tensor  # int64 [T]
    # optional, from request_log.csv: tokens per task step [T, L] (0 after the end)
    step_input_tokens: torch.Tensor | None = None
    step_output_tokens: torch.Tensor | None = None
    fingerprint: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def num_servers(self) -> int:
        return len(self.server_ids)

    @property
    def num_model_types(self) -> int:
        return len(self.model_type_names)

    @property
    def num_tasks(self) -> int:
        return len(self.task_ids)

    @property
    def max_workflow_len(self) -> int:
        return int(self.task_models.shape[1])

    def task_indices(self, split: str) -> torch.Tensor:
        """Indices of the tasks of `split` ("train", "test" or "all")."""
        if split == "all":
            return torch.arange(self.num_tasks)
        if split not in SPLIT_CODES:
            raise ValueError(f"unknown task split {split!r}: use one of train, test, all")
        return torch.nonzero(self.task_split == SPLIT_CODES[split]).flatten()

    def hosts(self, model_type: int) -> torch.Tensor:
        """Server indices hosting `model_type`."""
        return torch.nonzero(self.instance_count[model_type] > 0).flatten()

    def undirected_links(self) -> int:
        low = torch.minimum(self.link_src, self.link_dst)
        high = torch.maximum(self.link_src, self.link_dst)
        pairs = torch.stack([low, high])
        return int(torch.unique(pairs, dim=1).shape[1])

    def summary(self) -> dict:
        """Plain numbers describing the region (what `moebench data info` prints)."""
        models = []
        for m, name in enumerate(self.model_type_names):
            placed = self.instance_count[m] > 0
            prices = self.instance_price[m][placed]
            models.append(
                {
                    "name": name,
                    "instances": int(self.instance_count[m].sum()),
                    "servers": int(placed.sum()),
                    "price_per_1k_tokens": [float(prices.min()), float(prices.max())],
                }
            )
        lens = torch.bincount(self.task_len)
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "servers": self.num_servers,
            "clusters": sorted(set(self.cluster_ids)),
            "country": self.metadata.get("country"),
            "lon_range": [float(self.lon_deg.min()), float(self.lon_deg.max())],
            "lat_range": [float(self.lat_deg.min()), float(self.lat_deg.max())],
            "compute_range": [float(self.compute_capacity.min()), float(self.compute_capacity.max())],
            "model_types": models,
            "directed_links": int(self.link_src.numel()),
            "undirected_links": self.undirected_links(),
            "traps": int(self.trap_mask.sum()),
            "tasks": {s: int((self.task_split == c).sum()) for s, c in SPLIT_CODES.items()},
            "workflow_lengths": {int(k): int(v) for k, v in enumerate(lens.tolist()) if v},
            "request_log": self.step_input_tokens is not None,
            "fingerprint": self.fingerprint,
        }
