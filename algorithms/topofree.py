"""TopoFreeRL: a graph-free policy with preference-gated Squeeze-and-Excitation, a vector critic
and Dynamic Weight Adaptation.

Policy, per decision with K candidates (cost linear in K, no message passing, the same weights on
any number of servers):
  1. encode   every candidate's raw telemetry (with the step context and preference) by a shared
              MLP: e_k in R^H;
  2. squeeze  masked mean and max pooling over the candidates: s = [mean_k e_k, max_k e_k];
  3. excite   gates g = sigmoid(MLP([s, preference])) in (0, 1)^H, one per channel;
  4. rescale  every candidate's embedding channel-wise: e_k * g;
  5. score    each candidate with a shared head: logit_k = MLP(e_k * g).
Critic: the same encoder/squeeze on its own weights, then one value per objective (latency, cost,
transfer), trained on per-objective GAE. DWA (algorithms/dwa.py) combines the per-objective
advantages with adaptive weights and the preference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tensordict.nn import TensorDictModule
from torch import Tensor, nn

from algorithms.base import Algorithm, TrainConfig
from algorithms.dwa import DWAPPOLoss, DynamicWeights
from algorithms.nets import CandidateEncoder, masked_logits, masked_mean_max, mlp, per_candidate
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES

IN_KEYS = ["candidates", "action_mask", "context", "preference"]
SHARED_DIM = len(CONTEXT_FEATURES) + 3


def encoder(hidden: int) -> CandidateEncoder:
    return CandidateEncoder(len(CANDIDATE_FEATURES), SHARED_DIM, hidden)


class SEScorer(nn.Module):
    """Per-candidate encoder + preference-gated SE + shared scoring head -> logits [B, K]."""

    def __init__(self, hidden: int = 64, gate_hidden: int = 64, use_se: bool = True) -> None:
        super().__init__()
        self.use_se = use_se
        self.encoder = encoder(hidden)
        self.excite = mlp([2 * hidden + 3, gate_hidden, hidden])
        self.head = mlp([hidden, hidden, 1])

    def gates(self, embedding: Tensor, mask: Tensor, preference: Tensor) -> Tensor:
        squeezed = masked_mean_max(embedding, mask)
        return torch.sigmoid(self.excite(torch.cat([squeezed, preference], -1)))

    def forward(self, candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor) -> Tensor:
        embedding = self.encoder(candidates, context, preference)
        if self.use_se:
            embedding = embedding * self.gates(embedding, mask, preference).unsqueeze(-2)
        return masked_logits(per_candidate(self.head, embedding).squeeze(-1), mask)


class PooledCritic(nn.Module):
    """Encoder + masked pooling + value head: `out_dim` values (one per objective)."""

    def __init__(self, hidden: int = 64, out_dim: int = 3) -> None:
        super().__init__()
        self.encoder = encoder(hidden)
        self.head = mlp([2 * hidden + SHARED_DIM, hidden, out_dim])

    def forward(self, candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor) -> Tensor:
        pooled = masked_mean_max(self.encoder(candidates, context, preference), mask)
        return self.head(torch.cat([pooled, context, preference], -1))


@dataclass
class TopoFreeConfig(TrainConfig):
    frames: int = 1_500_000  # default budget: about 4 minutes on 2 CPU cores
    hidden: int = 32  # embedding channels H
    gate_hidden: int = 32  # excitation MLP width
    use_se: bool = True  # False: the `topofree-no-se` ablation (no gating)
    use_dwa: bool = True  # False: the `topofree-no-dwa` ablation (fixed, uniform weights)
    dwa_temperature: float = 0.5  # softmax temperature T of the entropy-regularized weights
    dwa_smoothing: float = 0.3  # share of the new target blended into the weights each iteration
    dwa_average_decay: float = 0.9  # decay of the running average each drift is measured against
    dwa_min_weight: float = 0.05
    dwa_max_weight: float = 0.9
    # Preferences drawn per episode from a Dirichlet: the policy learns to follow the preference it is given.
    env: dict = field(default_factory=lambda: {"max_candidates": 32, "preference": None})


class TopoFreeRL(Algorithm):
    config_cls = TopoFreeConfig
    value_dim = 3

    def build_networks(self, cfg: TopoFreeConfig, env):
        policy = TensorDictModule(SEScorer(cfg.hidden, cfg.gate_hidden, cfg.use_se), IN_KEYS, ["logits"])
        critic = TensorDictModule(PooledCritic(cfg.hidden, 3), IN_KEYS, ["state_value"])
        return policy, critic

    def build_loss(self, cfg: TopoFreeConfig) -> nn.Module:
        self.dwa = DynamicWeights(
            3,
            temperature=cfg.dwa_temperature,
            smoothing=cfg.dwa_smoothing,
            average_decay=cfg.dwa_average_decay,
            min_weight=cfg.dwa_min_weight,
            max_weight=cfg.dwa_max_weight,
            adapt=cfg.use_dwa,
        )
        return DWAPPOLoss(super().build_loss(cfg), self.dwa)

    @property
    def ppo_loss(self) -> nn.Module:
        return self.loss.ppo_loss

    @torch.no_grad()
    def compute_advantage(self, data) -> None:
        super().compute_advantage(data)
        data.set("advantage_vec", data.get("advantage"))

    def extra_state(self) -> dict:
        return {"dwa": self.dwa.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.dwa.load_state_dict(state["dwa"])

    def on_iteration(self, data, iteration: int) -> dict:
        recent_cost = -data.get(("next", "reward_vec")).mean(dim=tuple(range(data.ndim)))
        drift = self.dwa.update(recent_cost)
        return {"dwa_weights": self.dwa.weights.tolist(), "dwa_drift": drift.tolist()}
