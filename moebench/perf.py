"""Process-level settings that make large CPU tensors cheap to allocate.

glibc serves large allocations with fresh mmap'd pages and returns them on free, so every step that
allocates a big observation (B x K x 13 floats) pays a page fault per 4 KiB page. Raising the mmap
and trim thresholds lets freed blocks be reused instead; the gain is largest for the biggest
observations (every candidate on DE-2000). The CLI and the benchmarks apply it; library users can
call `tune_allocator()`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_applied = False


def tune_allocator(threshold_bytes: int = 1 << 30) -> bool:
    """Keep freed blocks up to `threshold_bytes` in the heap (Linux glibc only; elsewhere a no-op).
    Returns whether the setting was applied."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, for instance)
        return False
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(mallopt(_M_TRIM_THRESHOLD, threshold_bytes))
    return _applied
