"""Shipped regions in `data1/`, addressed by name (`CH-500`) or by a folder path."""

from __future__ import annotations

import os
from pathlib import Path

from moebench.data.load import RegionError, load_region
from moebench.data.region import Region

# data1/ sits at the top of the repository (the package is installed in editable mode);
# MOEBENCH_DATA points elsewhere.
DATA_ROOT = Path(os.environ.get("MOEBENCH_DATA", Path(__file__).resolve().parents[2] / "data1"))

_cache: dict[tuple[str, bool], Region] = {}


def list_regions(root: Path | None = None) -> list[str]:
    """Names of the region folders under `root` (default: the shipped `data1/`)."""
    root = root or DATA_ROOT
    if not root.is_dir():
        return []
    # Hidden folders are skipped: the generator stages a region in one before renaming it.
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / "servers.csv").is_file())


def resolve_region(spec: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """Turn a region name or path into its folder.

    `spec` is a folder path, or the name of a folder under `data_dir` (default: `data1/`), as in
    the seed's `--data data1 --regions Server1_Trap`.
    """
    path = Path(spec)
    if path.is_dir():
        return path
    root = Path(data_dir) if data_dir is not None else DATA_ROOT
    if (root / str(spec)).is_dir():
        return root / str(spec)
    names = list_regions(root)
    shown = ", ".join(names) if names else "none"
    raise RegionError(f"unknown region {str(spec)!r}: not a folder, and not one of the regions in {root} ({shown})")


def get_region(spec: str | os.PathLike | Region, data_dir: str | os.PathLike | None = None) -> Region:
    """Load a region by name or path, once per process (regions are read-only)."""
    if isinstance(spec, Region):
        return spec
    folder = resolve_region(spec, data_dir).resolve()
    key = (str(folder), False)
    if key not in _cache:
        _cache[key] = load_region(folder, name=folder.name)
    return _cache[key]
