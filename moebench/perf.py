"""Process-level speed settings: cheap large CPU allocations, and torch.compile with an eager fallback.

glibc serves large allocations with fresh mmap'd pages and returns them on free, so every step that
allocates a big observation (B x K x 13 floats) pays a page fault per 4 KiB page. Raising the mmap
and trim thresholds lets freed blocks be reused instead; the gain is largest for the biggest
observations (every candidate on DE-2000). The CLI and the benchmarks apply it; library users can
call `tune_allocator()`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import types
import warnings
from collections.abc import Callable

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


def compiled(fn: Callable, label: str) -> Callable:
    """`torch.compile(fn)` (static shapes, one graph) that falls back to `fn` itself, with one warning,
    when compilation fails (no C++ compiler, an op inductor cannot lower). Compilation happens on the
    first call, before any of the compiled code runs, so that call can safely be repeated eagerly;
    errors of later calls are the function's own and propagate."""
    import torch

    # torch.compile caches graphs per code object, at most `recompile_limit` (8) of them: compiling
    # a private copy of the function gives every caller (every env) its own cache, so a process can
    # hold any number of compiled envs of different shapes and settings.
    private = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    private.__kwdefaults__ = fn.__kwdefaults__
    state = {"fn": torch.compile(private, dynamic=False, fullgraph=True), "first": True}

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if not state["first"]:
            return state["fn"](*args, **kwargs)
        try:
            out = state["fn"](*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - whatever broke compilation, eager still works
            message = f"torch.compile failed for {label} ({type(err).__name__}: {err}); running eagerly"
            warnings.warn(message, stacklevel=2)
            state["fn"] = fn
            out = fn(*args, **kwargs)
        state["first"] = False
        return out

    return call
