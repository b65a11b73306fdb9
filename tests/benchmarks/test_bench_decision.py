"""Decision latency of every registry entry (heuristics, oracle, learning entries with fresh weights)
at batch 1 and 1024 on the three regions."""

import pytest
import torch

from moebench.bench import decision_policies, untrained_policy

from .conftest import FULL, REGIONS, run

POLICIES = decision_policies()


@pytest.mark.parametrize("batch", [1, 1024] if FULL else [1])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("region", REGIONS)
def test_decision(benchmark, region, policy, batch):
    env, act = untrained_policy(policy, region, batch, 32)
    td = env.reset()
    benchmark.extra_info.update(decisions_per_call=batch, candidates=env.num_candidates)
    with torch.inference_mode():
        run(benchmark, lambda: act(td))


@pytest.mark.parametrize("batch", [1, 1024] if FULL else [1])
@pytest.mark.parametrize("region", REGIONS)
def test_topofree_decision_every_candidate(benchmark, region, batch):
    """TopoFreeRL scoring every host of the needed model type (K up to N)."""
    env, act = untrained_policy("topofree", region, batch, None)
    td = env.reset()
    benchmark.extra_info.update(decisions_per_call=batch, candidates=env.num_candidates)
    with torch.inference_mode():
        run(benchmark, lambda: act(td))
