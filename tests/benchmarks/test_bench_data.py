"""Region loading and generation time."""

import tempfile
from pathlib import Path

import pytest

from moebench.data.catalog import resolve_region
from moebench.data.generate import generate_region
from moebench.data.load import load_region

from .conftest import REGIONS, run


@pytest.mark.parametrize("region", REGIONS)
def test_load_region(benchmark, region):
    folder = resolve_region(region)
    run(benchmark, lambda: load_region(folder), rounds=3)


@pytest.mark.parametrize(("country", "servers"), [("CH", 500), ("DE", 2000)])
def test_generate_region(benchmark, country, servers):
    def generate():
        with tempfile.TemporaryDirectory() as folder:
            generate_region(country, servers, servers // 10, 0, Path(folder) / "region")

    run(benchmark, generate, rounds=2)
