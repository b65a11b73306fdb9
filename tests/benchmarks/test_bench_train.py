"""One training iteration (collection + update) per learning entry, in frames per second."""

import pytest

from algorithms.registry import REGISTRY
from moebench.bench import measure_training

from .conftest import FULL

TRAINABLE = [name for name, entry in REGISTRY.items() if entry.trainable]


@pytest.mark.parametrize("algo", TRAINABLE)
def test_training_iteration(benchmark, algo):
    # Quick mode: a small batch, only to check that every entry's iteration runs.
    sizes = {} if FULL else {"num_envs": 8, "rollout_len": 20}
    measure = benchmark.pedantic(lambda: measure_training(algo, **sizes), rounds=1, iterations=1)
    benchmark.extra_info.update(frames_per_s=measure.per_second)
    assert measure.per_second > 0
