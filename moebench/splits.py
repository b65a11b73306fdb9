"""The standard evaluation splits: one region, one task split, fixed env settings, fixed seeds.

Every policy of the leaderboard is evaluated on every split with the same seeds; a split's
fingerprint hashes its region's files and its settings, and a result carries the fingerprint it
was computed on, so results of different data or settings are never ranked together.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from moebench.data.catalog import get_region
from moebench.env.settings import EnvSettings
from moebench.env.sim import DYNAMICS_VERSION
from moebench.errors import UserError

STANDARD_SETTINGS = {"max_candidates": 32}  # every split scores the 32 nearest hosts of the needed type


@dataclass(frozen=True)
class Split:
    name: str
    region: str  # a region in data1/
    description: str
    task_split: str = "test"
    settings: dict = field(default_factory=dict)  # EnvSettings overrides on top of STANDARD_SETTINGS
    episodes: int = 64  # per seed
    seeds: tuple[int, ...] = (0, 1, 2)
    zero_shot: bool = True  # False only for the in-distribution reference split

    @property
    def env_settings(self) -> dict:
        return {**STANDARD_SETTINGS, **self.settings}

    def fingerprint(self) -> str:
        """Hash of the simulator's dynamics version, the region's files, the task split, the env
        settings (all fields, defaults included), the episodes and the seeds."""
        region = get_region(self.region)
        settings = EnvSettings().replace(**self.env_settings).resolved(region.trap).to_dict()
        payload = json.dumps(
            {
                "dynamics": DYNAMICS_VERSION,
                "region": region.fingerprint,
                "task_split": self.task_split,
                "settings": settings,
                "episodes": self.episodes,
                "seeds": list(self.seeds),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


SPLITS: dict[str, Split] = {
    split.name: split
    for split in (
        Split("in-dist", "CH-500", "CH-500 test tasks: the training region, unseen tasks", zero_shot=False),
        Split("zs-scale-1000", "GB-1000", "unseen scale and country: 1000 servers in the UK"),
        Split("zs-scale-2000", "DE-2000", "unseen scale and country: 2000 servers in Germany"),
        Split("zs-dag", "CH-500-dag", "unseen workflow lengths: 2 to 10 steps (training saw 5)"),
        Split(
            "zs-burst",
            "CH-500",
            "unseen workload: twice the arrival rate, in 10x bursts",
            settings={"arrival_rate_per_s": 12.0, "burst_factor": 10.0, "burst_len_s": 1.5, "calm_len_s": 10.0},
        ),
        Split(
            "zs-trap-shift",
            "CH-500-trapshift",
            "shifted traps: other servers, no static link signature, flipping every second",
            settings={"trap_rate_per_s": 1.0, "trap_bad_len_s": 1.0},
        ),
    )
}


def get_split(name: str) -> Split:
    if name not in SPLITS:
        raise UserError(f"unknown split {name!r}; the standard splits are {', '.join(SPLITS)}")
    return SPLITS[name]


def resolve_splits(names: list[str] | None) -> list[Split]:
    """The named splits in registry order (all of them when `names` is empty)."""
    if not names:
        return list(SPLITS.values())
    return [get_split(name) for name in names]
