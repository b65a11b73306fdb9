"""`moebench.perf.compiled`: torch.compile with an eager fallback, one graph cache per caller."""

from __future__ import annotations

import warnings

import torch

from moebench.perf import compiled


def _kernel(x: torch.Tensor) -> torch.Tensor:
    return (x.sin() * 2.0 + 1.0).sum(-1)


def test_every_caller_gets_its_own_graph_cache() -> None:
    """torch.compile keeps at most 8 graphs per code object; envs of nine different shapes in one
    process must all run compiled (no fallback warning) and agree with eager."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a fallback to eager warns
        for rows in range(1, 10):
            fn = compiled(_kernel, "a test kernel")
            x = torch.rand(rows, 3)
            torch.testing.assert_close(fn(x), _kernel(x))
