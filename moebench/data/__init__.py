"""The Edge-Cloud MoE Bench data layer: schema, loading, validation, generation, shipped regions."""

from moebench.data.catalog import DATA_ROOT, list_regions, resolve_region
from moebench.data.load import RegionError, load_region
from moebench.data.region import Region, TrapConfig

__all__ = [
    "DATA_ROOT",
    "Region",
    "RegionError",
    "TrapConfig",
    "list_regions",
    "load_region",
    "resolve_region",
]
