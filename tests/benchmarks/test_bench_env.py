"""Env step throughput: batch x region x candidates, through torchrl, with the raw dynamics, and with
compiled dynamics."""

import pytest

from moebench.bench import env_stepper

from .conftest import FULL, REGIONS, run

BATCHES = [1, 64, 1024, 4096] if FULL else [1, 1024]


@pytest.mark.parametrize("k", [32, None], ids=["K32", "all"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("region", REGIONS)
def test_env_step(benchmark, region, batch, k):
    benchmark.extra_info.update(steps_per_call=batch)
    run(benchmark, env_stepper(region, batch, k, torchrl=True))


@pytest.mark.parametrize("batch", [1024, 4096] if FULL else [1024])
@pytest.mark.parametrize("region", REGIONS)
def test_env_step_raw_dynamics(benchmark, region, batch):
    """The same dynamics without torchrl: the difference is torchrl's overhead."""
    benchmark.extra_info.update(steps_per_call=batch)
    run(benchmark, env_stepper(region, batch, 32, torchrl=False))


@pytest.mark.parametrize("k", [32, None], ids=["K32", "all"])
@pytest.mark.parametrize("region", REGIONS if FULL else ["CH-500"])
def test_env_step_compiled_dynamics(benchmark, region, k):
    """`compile_dynamics=True`: the step and observation as one torch.compile'd graph (compiled by the
    first call, outside the timing)."""
    batch = 4096 if FULL else 64
    step = env_stepper(region, batch, k, torchrl=True, compiled=True)
    step()
    benchmark.extra_info.update(steps_per_call=batch)
    run(benchmark, step)
