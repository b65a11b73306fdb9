"""The Edge-Cloud MoE Bench file schema: every file of a region folder and its columns.

This is the seed's schema exactly (the authors' `Server1_Trap` folder loads unchanged), plus the
optional `request_log.csv` that the seed names but never published, and our `metadata.json`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str", "int", "float", "json_list"
    lo: float | None = None  # inclusive lower bound for numbers
    hi: float | None = None  # inclusive upper bound for numbers
    description: str = ""


@dataclass(frozen=True)
class FileSpec:
    name: str
    columns: tuple[Column, ...]
    required: bool = True
    description: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


SERVERS = FileSpec(
    "servers.csv",
    (
        Column("ServerID", "str", description="unique server id"),
        Column("Longitude", "float", -180.0, 180.0, "degrees"),
        Column("Latitude", "float", -90.0, 90.0, "degrees"),
        Column("LinkBandwidth", "float", 0.0, None, "access link bandwidth, Mbps"),
        Column("ComputationCapacity", "float", 0.0, None, "compute tier (15..59 in the sample)"),
        Column("StorageCapacity", "float", 0.0, None, "storage tier"),
        Column("TrafficRate", "float", 0.0, None, "background traffic level (20..47 in the sample)"),
        Column("ClusterID", "str", description="region cluster name"),
        Column("OriginalID", "str", description="id in the source topology"),
        Column("NormalizedCompute", "float", 0.0, 1.0, "ComputationCapacity / max"),
    ),
    description="one row per server",
)

MODEL_INSTANCES = FileSpec(
    "model_instances.csv",
    (
        Column("ModelID", "str"),
        Column("ModelType", "int", 0, None, "numeric model type"),
        Column("ArenaScore", "float", None, None, "quality score of the instance"),
        Column("ServerID", "str", description="server hosting the instance"),
        Column("ModelTypeName", "str", description="ChatGPT, GPT-4, GPT-4v in the sample"),
        Column("ModelInstanceID", "str", description="unique instance id"),
        Column("CostPerToken", "float", 0.0, None, "USD per 1000 tokens"),
    ),
    description="one row per deployed model instance",
)

NETWORK_LINKS = FileSpec(
    "network_links.csv",
    (
        Column("SrcServerID", "str"),
        Column("DstServerID", "str"),
        Column("BandwidthMbps", "float", 0.0, None, "Mbps"),
        Column("BaseLatencyMs", "float", 0.0, None, "ms"),
    ),
    description="directed links; the sample stores each undirected link both ways",
)

TASKS = FileSpec(
    "tasks.csv",
    (
        Column("TaskID", "str"),
        Column("Split", "str", description="train or test"),
        Column("TaskLongitude", "float", -180.0, 180.0, "user ingress, degrees"),
        Column("TaskLatitude", "float", -90.0, 90.0, "user ingress, degrees"),
        Column("TaskSize", "float", 0.0, None, "tokens"),
        Column("RequiredModelTypes", "json_list", description="JSON list of model type names"),
    ),
    description="one row per task (a workflow of model-type steps)",
)

TASK_REQUEST_MAPPING = FileSpec(
    "task_request_mapping.csv",
    (
        Column("TaskID", "str"),
        Column("WorkflowStepIndex", "int", 0, None),
        Column("MappedRequestID", "str"),
        Column("RequiredModelType", "str"),
    ),
    description="one row per task step",
)

# Named by the seed, never published (Git LFS pointers only). When present, a step's tokens come
# from the request its mapping names; when absent, tokens derive from TaskSize as in the seed.
REQUEST_LOG = FileSpec(
    "request_log.csv",
    (
        Column("RequestID", "str"),
        Column("InputTokens", "float", 0.0, None, "prefill tokens"),
        Column("OutputTokens", "float", 0.0, None, "decode tokens"),
    ),
    required=False,
    description="optional per-request token counts",
)

CSV_FILES: tuple[FileSpec, ...] = (SERVERS, MODEL_INSTANCES, NETWORK_LINKS, TASKS, TASK_REQUEST_MAPPING)
TRAP_CONFIG = "trap_config.json"
TRAP_CONFIG_KEYS = {
    "trap_server_ids": list,
    "trap_cost_multiplier": float,
    "trap_bandwidth": float,
    "trap_latency": float,
    "trap_rate": float,
}
METADATA = "metadata.json"
SPLITS = ("train", "test")
