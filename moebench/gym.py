"""A Gymnasium adapter of the Edge-Cloud MoE env, for Stable-Baselines3-style code.

Importing this module registers `moebench/EdgeCloudMoE-v0`:

    import gymnasium
    import moebench.gym  # noqa: F401

    env = gymnasium.make("moebench/EdgeCloudMoE-v0", region="CH-500", max_candidates=32)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(int(env.unwrapped.action_masks().argmax()))

It wraps one `EdgeCloudMoEEnv` with batch size 1 on the CPU and converts its tensors to numpy, so
the dynamics have a single implementation.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from tensordict import TensorDict

from moebench.data.catalog import get_region
from moebench.data.region import Region
from moebench.env.moe_env import EdgeCloudMoEEnv
from moebench.env.sim import SERVER_VIEW_FEATURES
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES

ENV_ID = "moebench/EdgeCloudMoE-v0"


class EdgeCloudMoEGymEnv(gymnasium.Env):
    """Schedule the workflow steps of LLM / MoE inference tasks onto the servers of a region.

    The same environment as `moebench.env.EdgeCloudMoEEnv` (its docstring documents the dynamics),
    one episode at a time.

    Action Space:
        `Discrete(K)`: a candidate slot. A masked slot is served by the first valid candidate and
        flagged in `info["invalid_action"]`; `action_masks()` gives the valid slots (the
        convention of sb3-contrib's MaskablePPO).

    Observation Space (`Dict`):
        candidates        Box [K, 13] float32, per-candidate telemetry (`CANDIDATE_FEATURES`)
        action_mask       MultiBinary [K] int8, 1 where the slot holds a host of the needed model type
        candidate_server  Box [K] int64, the server index of each slot, -1 for padding
        context           Box [11] float32 (`CONTEXT_FEATURES`)
        preference        Box [3] float32 in [0, 1], weights of (latency, cost, transfer)
        server_features, edge_index, edge_attr: every server and link, only with `full_view=True`.
        K is `max_candidates` (default 32); None means every host of any model type (the region's
        largest host count), so K, and the space, are fixed for a region either way.

    Rewards:
        The preference-weighted sum of the negated, normalized latency, compute cost and transfer
        cost of the step (each in [-reward_clip, 0]); `info["reward_vec"]` holds the three parts.

    Starting State:
        A new episode of `tasks_per_episode` tasks drawn from the region's `split`, with their
        arrival times and token counts; every server idle and every trap's state unseen.

    Episode End:
        Terminated once every task of the episode is served; never truncated.

    Arguments:
        region: a shipped region's name (`CH-500`), a region folder, or a `Region`.
        split: the task split, "train", "test" or "all".
        max_candidates: K, the nearest hosts offered per decision (None: every host).
        seed: the seed of the env's generator (`reset(seed=...)` reseeds it).
        data_dir: where region names are looked up (default the shipped `data1/`).
        **settings: any `EnvSettings` field (`tasks_per_episode=8`, `full_view=True`, ...).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        region: str | os.PathLike | Region = "CH-500",
        split: str = "train",
        max_candidates: int | None = 32,
        seed: int | None = 0,
        data_dir: str | os.PathLike | None = None,
        render_mode: str | None = None,
        **settings: Any,
    ) -> None:
        self.env = EdgeCloudMoEEnv(
            get_region(region, data_dir),
            split=split,
            batch_size=1,
            device="cpu",
            seed=seed,
            max_candidates=max_candidates,
            **settings,
        )
        self.render_mode = render_mode
        k, n = self.env.num_candidates, self.env.tables.num_servers
        obs = {
            "candidates": spaces.Box(-np.inf, np.inf, (k, len(CANDIDATE_FEATURES)), np.float32),
            "action_mask": spaces.MultiBinary(k),
            "candidate_server": spaces.Box(-1, n - 1, (k,), np.int64),
            "context": spaces.Box(-np.inf, np.inf, (len(CONTEXT_FEATURES),), np.float32),
            "preference": spaces.Box(0.0, 1.0, (3,), np.float32),
        }
        if self.env.settings.full_view:
            e = self.env.tables.edge_index.shape[1]
            obs["server_features"] = spaces.Box(-np.inf, np.inf, (n, len(SERVER_VIEW_FEATURES)), np.float32)
            obs["edge_index"] = spaces.Box(0, n - 1, (2, e), np.int64)
            obs["edge_attr"] = spaces.Box(-np.inf, np.inf, (e, 2), np.float32)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Discrete(k)
        self._td: TensorDict | None = None  # the pending decision; None before reset and after the end

    def _observation(self, td: TensorDict) -> dict[str, np.ndarray]:
        # copies: some entries are views of the env's own tables
        obs = {key: td.get(key)[0].numpy().copy() for key in self.observation_space.spaces}
        obs["action_mask"] = obs["action_mask"].astype(np.int8)
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new episode; a `seed` reseeds the env's generator first."""
        super().reset(seed=seed)
        if seed is not None:
            self.env.set_seed(seed)
        self._td = self.env.reset()
        return self._observation(self._td), {}

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Serve the pending workflow step on the candidate in slot `action`."""
        if self._td is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(), and again after an episode ends")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not a candidate slot in [0, {self.action_space.n})")
        td = self._td.set("action", torch.tensor([int(action)], dtype=torch.int64))
        nxt = self.env.step(td).get("next")
        terminated = bool(nxt.get("terminated"))
        self._td = None if terminated else nxt
        info = {key: float(value[0]) for key, value in nxt.get("metrics").items()}
        info["reward_vec"] = nxt.get("reward_vec")[0].numpy()
        return self._observation(nxt), float(nxt.get("reward")), terminated, False, info

    def action_masks(self) -> np.ndarray:
        """The valid slots of the pending decision, bool [K] (sb3-contrib MaskablePPO's convention)."""
        if self._td is None:
            raise gymnasium.error.ResetNeeded("call reset() before asking for action masks")
        return self._td.get("action_mask")[0].numpy().copy()


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="moebench.gym:EdgeCloudMoEGymEnv")
