"""The performance suite. By default (and in CI, where pytest-benchmark is disabled) a small grid
runs once to check every benchmark executes; the full grid and real timings:

    MOEBENCH_BENCH_FULL=1 .venv/bin/python -m pytest tests/benchmarks --benchmark-enable -p no:xdist

`moebench bench` measures the same things with the same functions (moebench/bench.py) and prints
the summary figures.
"""

import os

from moebench.perf import tune_allocator

tune_allocator()  # as the CLI does: see moebench/perf.py
FULL = os.environ.get("MOEBENCH_BENCH_FULL") == "1"
REGIONS = ["CH-500", "GB-1000", "DE-2000"] if FULL else ["CH-500", "DE-2000"]
ROUNDS = 20 if FULL else 3


def run(benchmark, fn, rounds: int = ROUNDS):
    return benchmark.pedantic(fn, rounds=rounds, warmup_rounds=2 if FULL else 0, iterations=1)
