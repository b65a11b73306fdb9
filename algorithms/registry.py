"""The algorithm registry: every entry of the benchmark by name, with its kind and config."""

from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.a3c import A3C
from algorithms.base import Algorithm, TrainConfig
from algorithms.gnn_ppo import GNNPPO
from algorithms.heuristics import HEURISTICS
from algorithms.pfppo import PFPPO
from algorithms.ppo import PPO
from algorithms.ppo_cn import PPOCN
from algorithms.stark import STARK
from algorithms.topofree import TopoFreeRL
from algorithms.trans_ppo import TransPPO
from moebench.errors import UserError

KINDS = ("rl", "imitation", "heuristic", "bound")


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # rl, imitation, heuristic, bound
    description: str
    algorithm: type[Algorithm] | None = None  # None for heuristics and bounds
    defaults: dict = field(default_factory=dict)  # config fields that make this entry what it is

    @property
    def trainable(self) -> bool:
        return self.algorithm is not None

    def make_config(self, **overrides) -> TrainConfig:
        if self.algorithm is None:
            raise UserError(f"{self.name} is a {self.kind}: it has nothing to train")
        return self.algorithm.config_cls.from_dict({**self.defaults, **overrides, "algo": self.name})


REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    if entry.kind not in KINDS:
        raise ValueError(f"unknown kind {entry.kind!r}")
    REGISTRY[entry.name] = entry
    return entry


register(Entry("topofree", "rl", "TopoFreeRL: preference-gated SE policy, vector critic, DWA (ours)", TopoFreeRL))
register(Entry("topofree-no-se", "rl", "TopoFreeRL ablation without the SE gating", TopoFreeRL, {"use_se": False}))
register(
    Entry("topofree-no-dwa", "rl", "TopoFreeRL ablation with fixed objective weights", TopoFreeRL, {"use_dwa": False})
)
register(Entry("ppo", "rl", "standard PPO: MLP over the flattened candidates (fixed K)", PPO))
register(Entry("pfppo", "rl", "PF-PPO: PPO with a proportional-fairness reward term (Sun et al. 2024)", PFPPO))
register(Entry("ppo-cn", "rl", "PPO with colored-noise exploration (Hollenstein et al. 2023)", PPOCN))
register(Entry("a3c", "rl", "A3C: asynchronous worker processes updating one shared actor-critic", A3C))
register(Entry("stark", "imitation", "spatio-temporal Transformer trained by imitation of the expert", STARK))
register(Entry("gnn-ppo", "rl", "GNN-PPO: graph attention over every server and link (full view)", GNNPPO))
register(Entry("trans-ppo", "rl", "Transformer PPO: self-attention over the candidates", TransPPO))
for _name, (_kind, _description) in HEURISTICS.items():
    register(Entry(_name, _kind, _description))


def get_entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise UserError(f"unknown algorithm {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def make_policy(name: str, env, seed: int = 0):
    """The acting policy of a heuristic or bound by name (trained entries load from checkpoints)."""
    from algorithms.heuristics import make_heuristic

    entry = get_entry(name)
    if entry.trainable:
        raise UserError(f"{name} is trained: evaluate one of its checkpoints (--checkpoint DIR/final.pt)")
    return make_heuristic(name, env, seed)


def policy_with_env(policy: str, region, task_split: str, settings: dict, seed: int, batch: int, device: str = "cpu"):
    """An evaluation env and the policy to run in it. `policy` is the name of a heuristic or bound,
    or the path of a trained checkpoint (whose observation needs, such as the full view, are added
    to `settings`)."""
    from algorithms.checkpoint import algorithm_from_checkpoint, load_checkpoint, observation_settings
    from moebench.env import make_env

    data = None
    if policy not in REGISTRY:
        data = load_checkpoint(policy, map_location=device)
        settings = {**settings, **observation_settings(data)}
    env = make_env(region, split=task_split, batch_size=batch, device=device, seed=seed, **settings)
    if data is None:
        return env, make_policy(policy, env, seed)
    return env, algorithm_from_checkpoint(data, env, policy).eval_policy()
