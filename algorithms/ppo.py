"""Standard PPO: an MLP over the flattened, padded candidate features (a fixed K), one logit per
slot, a scalar critic on the preference-weighted reward. The plain baseline of every comparison."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict.nn import TensorDictModule
from torch import Tensor, nn

from algorithms.base import Algorithm, TrainConfig
from algorithms.nets import masked_logits, mlp, symlog
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES
from moebench.errors import UserError

IN_KEYS = ["candidates", "action_mask", "context", "preference"]


def flat_inputs(candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor) -> Tensor:
    return symlog(torch.cat([candidates.flatten(-2), mask.to(candidates.dtype), context, preference], -1))


class FlatMLP(nn.Module):
    def __init__(self, num_candidates: int, hidden: int, out_dim: int, mask_output: bool) -> None:
        super().__init__()
        width = num_candidates * (len(CANDIDATE_FEATURES) + 1) + len(CONTEXT_FEATURES) + 3
        self.net = mlp([width, hidden, hidden, out_dim])
        self.mask_output = mask_output

    def forward(self, candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor) -> Tensor:
        out = self.net(flat_inputs(candidates, mask, context, preference))
        return masked_logits(out, mask) if self.mask_output else out


@dataclass
class PPOConfig(TrainConfig):
    frames: int = 4_000_000  # default budget: about 6 minutes on 2 CPU cores
    hidden: int = 256


class PPO(Algorithm):
    config_cls = PPOConfig
    value_dim = 1
    fixed_candidates = True

    def build_networks(self, cfg: PPOConfig, env):
        k = env.num_candidates
        if cfg.env.get("max_candidates") is None:
            raise UserError("ppo needs a fixed number of candidates: set env.max_candidates (default 32)")
        policy = TensorDictModule(FlatMLP(k, cfg.hidden, k, mask_output=True), IN_KEYS, ["logits"])
        critic = TensorDictModule(FlatMLP(k, cfg.hidden, 1, mask_output=False), IN_KEYS, ["state_value"])
        return policy, critic

    @classmethod
    def check_env(cls, cfg: PPOConfig, env) -> None:
        trained_k = cfg.env.get("max_candidates")
        if env.num_candidates != trained_k:
            raise UserError(
                f"this {cfg.algo or 'ppo'} policy was trained with K={trained_k} candidates and cannot act in an "
                f"env with K={env.num_candidates}; evaluate it with max_candidates={trained_k}"
            )
