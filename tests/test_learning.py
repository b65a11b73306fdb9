"""Learning is real: with its default budget on CH-500 each entry beats random on the test split, and
TopoFreeRL beats the greedy, nearest and least-loaded heuristics. Slow (minutes per entry): not in CI.

    .venv/bin/python -m pytest -m slow tests/test_learning.py
"""

import pytest

from algorithms.registry import REGISTRY, get_entry, policy_with_env
from algorithms.trainer import Trainer
from moebench.evaluation import evaluate
from moebench.splits import get_split

pytestmark = pytest.mark.slow
TRAINABLE = [name for name, entry in REGISTRY.items() if entry.trainable]
_trained: dict[str, str] = {}


def trained(name: str, root) -> str:
    if name not in _trained:
        result = Trainer(get_entry(name).make_config(), root / name).run(show_progress=False)
        _trained[name] = str(result.final_checkpoint)
    return _trained[name]


def test_return(policy: str) -> float:
    split = get_split("in-dist")
    env, act = policy_with_env(policy, split.region, split.task_split, split.env_settings, 0, 32)
    return evaluate(act, env, episodes=64, seed=0)["return"]


test_return.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("learning")


@pytest.mark.parametrize("name", TRAINABLE)
def test_default_budget_beats_random(name, root):
    ours, random = test_return(trained(name, root)), test_return("random")
    print(f"{name}: return {ours:.2f} on the CH-500 test split (random {random:.2f})")
    assert ours > random


def test_topofree_beats_the_simple_heuristics(root):
    ours = test_return(trained("topofree", root))
    for heuristic in ("greedy", "nearest", "least-loaded"):
        assert ours > test_return(heuristic), heuristic
