"""The Gymnasium adapter: registered, passes Gymnasium's checker, and runs whole episodes."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from moebench.gym import ENV_ID, EdgeCloudMoEGymEnv


def random_valid_episode(env: gymnasium.Env, seed: int, max_steps: int = 10_000) -> list:
    """Play one episode with uniformly random valid actions; returns every step's outcome."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    record = [obs]
    for _ in range(max_steps):
        mask = env.unwrapped.action_masks()
        np.testing.assert_array_equal(mask, obs["action_mask"].astype(bool))
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        record.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            return record
    raise AssertionError(f"no episode end within {max_steps} steps")


@pytest.mark.parametrize("full_view", [False, True])
def test_gymnasium_env_checker_passes(full_view: bool) -> None:
    env = EdgeCloudMoEGymEnv(max_candidates=8, full_view=full_view)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        check_env(env, skip_render_check=True)


def test_make_registered_env_and_play_an_episode() -> None:
    env = gymnasium.make(ENV_ID, region="CH-500", split="test", max_candidates=8, tasks_per_episode=4)
    assert isinstance(env.unwrapped, EdgeCloudMoEGymEnv)
    assert env.action_space == gymnasium.spaces.Discrete(8)
    assert env.observation_space["candidates"].shape == (8, 13)
    record = random_valid_episode(env, seed=3)
    steps = record[1:]
    obs, _, terminated, truncated, info = steps[-1]
    assert terminated and not truncated
    assert not any(s[2] for s in steps[:-1])
    assert sum(s[4]["task_done"] for s in steps) == 4  # every task of the episode was served
    assert all(s[4]["invalid_action"] == 0.0 for s in steps)
    for obs, reward, *_, info in steps:
        assert env.observation_space.contains(obs)
        assert isinstance(reward, float)
        assert reward == pytest.approx(float(info["reward_vec"] @ obs["preference"]), abs=1e-5)
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.unwrapped.step(0)  # the episode is over: reset first


def test_masked_action_is_flagged_in_info() -> None:
    env = EdgeCloudMoEGymEnv(max_candidates=None)  # every host: slots beyond a model type's hosts are masked
    obs, _ = env.reset(seed=0)
    while obs["action_mask"].all():
        obs, *_ = env.step(0)
    masked_slot = int(np.flatnonzero(obs["action_mask"] == 0)[0])
    _, _, _, _, info = env.step(masked_slot)
    assert info["invalid_action"] == 1.0
    with pytest.raises(ValueError, match="not a candidate slot"):
        env.step(env.action_space.n)


def test_same_seed_same_trajectory() -> None:
    def trajectory(seed: int) -> list:
        env = gymnasium.make(ENV_ID, max_candidates=8, tasks_per_episode=3, seed=99)
        return random_valid_episode(env, seed)

    first, second, other = trajectory(5), trajectory(5), trajectory(6)
    assert len(first) == len(second)
    for a, b in zip(first[1:], second[1:], strict=True):
        for key in a[0]:
            np.testing.assert_array_equal(a[0][key], b[0][key])
        assert a[1:4] == b[1:4]
        assert {k: v for k, v in a[4].items() if k != "reward_vec"} == {
            k: v for k, v in b[4].items() if k != "reward_vec"
        }
    assert not all(np.array_equal(a[0]["context"], b[0]["context"]) for a, b in zip(first[1:], other[1:], strict=False))
