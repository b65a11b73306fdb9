"""The shared shape of every learning algorithm: a config dataclass and an `Algorithm` class.

An `Algorithm` owns its networks and says how its advantage and loss are computed; the one
trainer (`algorithms.trainer`) does everything else: collection, optimization, schedules,
logging, checkpoints. This mirrors BenchMARL: config beside code, capabilities as methods.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule, TensorDictModuleBase
from torch import nn
from torchrl.modules import MaskedCategorical, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

from moebench.errors import UserError


@dataclass
class TrainConfig:
    """Hyperparameters of the shared trainer. Every one is here; nothing is hidden in code."""

    algo: str = ""
    region: str = "CH-500"  # training region (name in data1/ or a folder)
    frames: int = 1_000_000  # environment steps to train for
    seed: int = 0
    device: str = "cpu"
    num_envs: int = 256  # batch size B of the training env
    rollout_len: int = 80  # steps per env per iteration (one episode of 16 five-step tasks)
    epochs: int = 3  # passes over each batch
    minibatch_size: int = 4096
    lr: float = 1e-3
    lr_final: float = 1e-4  # linear decay to this over the run
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_epsilon: float = 0.2
    entropy_coef: float = 0.01
    entropy_coef_final: float = 0.001  # linear decay to this over the run
    critic_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True
    checkpoint_every: int = 10  # iterations between checkpoints (and at the end)
    env: dict = field(default_factory=lambda: {"max_candidates": 32})  # EnvSettings overrides for training

    @property
    def frames_per_iteration(self) -> int:
        return self.num_envs * self.rollout_len

    @property
    def iterations(self) -> int:
        return max(1, self.frames // self.frames_per_iteration)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes) -> TrainConfig:
        return type(self).from_dict({**self.to_dict(), **changes})


class GreedyAction(TensorDictModuleBase):
    """Deterministic evaluation policy: the masked argmax of a logits network."""

    def __init__(self, logits_net: TensorDictModule) -> None:
        super().__init__()
        self.logits_net = logits_net
        self.in_keys = list(logits_net.in_keys)
        self.out_keys = ["action"]

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        # The wrapped nn.Module is called on the tensors directly: at batch 1 the TensorDictModule
        # dispatch would cost more than the network itself.
        logits = self.logits_net.module(*(td.get(key) for key in self.in_keys))
        mask = td.get("action_mask")
        td.set("action", torch.where(mask, logits, torch.finfo(logits.dtype).min).argmax(-1))
        return td


class Algorithm(nn.Module):
    """Base for the learning entries. Subclasses build `policy_net` (-> "logits") and `critic_net`
    (-> "state_value", `value_dim` wide) and may override the advantage, the loss and the per-
    iteration hook. Everything that must survive a checkpoint lives in `state_dict()`."""

    config_cls: type[TrainConfig] = TrainConfig
    value_dim = 1  # 1: a scalar critic on `reward`; 3: one value per objective on `reward_vec`; 0: no critic
    fixed_candidates = False  # True: the network is built for the training K and acts only with that K

    def __init__(self, cfg: TrainConfig, env) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_candidates = env.num_candidates
        self.policy_net, self.critic_net = self.build_networks(cfg, env)
        self.actor = ProbabilisticActor(
            self.policy_net,
            in_keys={"logits": "logits", "mask": "action_mask"},
            out_keys=["action"],
            distribution_class=MaskedCategorical,
            return_log_prob=True,
        )
        self.gae = None
        if self.value_dim > 0:
            self.gae = GAE(
                gamma=cfg.gamma,
                lmbda=cfg.gae_lambda,
                value_network=self.critic_net,
                average_gae=False,
                skip_existing=False,
                shifted=True,
            )
        if self.value_dim > 1:
            self.gae.set_keys(reward="reward_vec", done="done_vec", terminated="terminated_vec")
        self.loss = self.build_loss(cfg)

    def build_networks(self, cfg: TrainConfig, env) -> tuple[TensorDictModule, TensorDictModule | None]:
        raise NotImplementedError

    def parameters_to_train(self) -> list[nn.Parameter]:
        nets = [self.policy_net] + ([self.critic_net] if self.critic_net is not None else [])
        return [p for net in nets for p in net.parameters()]

    def build_loss(self, cfg: TrainConfig) -> nn.Module:
        return ClipPPOLoss(
            self.actor,
            self.critic_net,
            clip_epsilon=cfg.clip_epsilon,
            entropy_coeff=cfg.entropy_coef,
            critic_coeff=cfg.critic_coef,
            normalize_advantage=cfg.normalize_advantage,
            loss_critic_type="smooth_l1",
        )

    @property
    def ppo_loss(self) -> nn.Module:
        """The torchrl loss whose entropy coefficient the trainer schedules."""
        return self.loss

    @classmethod
    def check_env(cls, cfg: TrainConfig, env) -> None:
        """Raise `UserError` if a policy trained with `cfg` cannot act in `env` (for example a fixed K)."""

    @torch.no_grad()
    def compute_advantage(self, data: TensorDictBase) -> None:
        """Write "advantage" (and "value_target") into the collected batch [B, T]."""
        if self.gae is None:
            return
        if self.value_dim > 1:
            nxt = data.get("next")
            shape = (*nxt.get("done").shape[:-1], self.value_dim)
            nxt.set("done_vec", nxt.get("done").expand(shape))
            nxt.set("terminated_vec", nxt.get("terminated").expand(shape))
        self.gae(data)

    def on_iteration(self, data: TensorDictBase, iteration: int) -> dict:
        """Called once per iteration after collection; returns values to log."""
        return {}

    def prepare_iteration(self, iteration: int) -> None:
        """Called before the collection of `iteration` (schedules that change how the agent acts)."""

    def checkpoint_state(self) -> dict:
        """The weights and learned state a checkpoint carries (plain tensors)."""
        critic = self.critic_net.state_dict() if self.critic_net is not None else {}
        return {"policy": self.policy_net.state_dict(), "critic": critic, "extra": self.extra_state()}

    def load_checkpoint_state(self, state: dict) -> None:
        if not isinstance(state, dict) or "policy" not in state or "critic" not in state:
            raise KeyError("the model state needs 'policy' and 'critic' entries")
        self.policy_net.load_state_dict(state["policy"])
        if self.critic_net is not None:
            self.critic_net.load_state_dict(state["critic"])
        self.load_extra_state(state.get("extra", {}))

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what `extra_state` saved."""

    def eval_policy(self) -> TensorDictModuleBase:
        return GreedyAction(self.policy_net)

    def act_module(self) -> TensorDictModuleBase:
        """The sampling policy the collector runs."""
        return self.actor
