"""Shared fixtures. Regions are built once per test session and must be treated as read-only:
a test that edits files copies the region into its own tmp_path first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from moebench.data.generate import generate_region

# One intra-op thread per pytest-xdist worker: with several workers on few cores, torch's OpenMP
# threads spin against each other and small tensor ops get tens of times slower (measured here:
# 50x on 2 cores with a second busy process). Plain `pytest` runs (benchmarks) keep torch's default.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# The authors' regions lie beside the checkout (../shared/reference-data); tests that need them skip
# where they are absent.
REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "reference-data"


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """Folder holding the authors' Server1_Trap, Server2_Trap and Server3_Trap regions."""
    if not (REFERENCE_DATA / "Server1_Trap").is_dir():
        pytest.skip(f"the authors' reference data is not at {REFERENCE_DATA}")
    return REFERENCE_DATA


@pytest.fixture(scope="session")
def small_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-server Swiss region with 6 top-compute traps and the default tasks (120 train,
    24 test, five steps each), generated with seed 0."""
    return generate_region("CH", 60, 6, 0, tmp_path_factory.mktemp("regions") / "CH-60")
