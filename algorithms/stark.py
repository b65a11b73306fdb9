"""STARK: a spatio-temporal Transformer scheduler trained by imitation of the `expert` heuristic.

After the seed's STARK baseline (itself after Yan et al., ICCV 2021): one Transformer encoder
attends jointly over a task token (context and preference), W temporal tokens (the element's last
W decisions: the chosen server's telemetry and the step's objectives, from the env's `history`
observation) and K spatial tokens (the candidate servers); a shared head scores the candidate
tokens. It is trained by supervised imitation, not RL: the expert labels every visited state, and
the states come from a DAgger mixture that hands control from the expert to the student over the
run (beta: the share of decisions the expert takes, decaying linearly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule, TensorDictModuleBase
from torch import Tensor, nn

from algorithms.base import Algorithm, TrainConfig
from algorithms.heuristics import ExpertPolicy, masked_argmax
from algorithms.nets import masked_logits, symlog
from moebench.env.sim import HISTORY_FEATURES
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES

IN_KEYS = ["candidates", "action_mask", "context", "preference", "history"]


class STARKNet(nn.Module):
    def __init__(self, history_len: int, d_model: int = 32, heads: int = 2, layers: int = 2, ff: int = 64) -> None:
        super().__init__()
        self.task = nn.Linear(len(CONTEXT_FEATURES) + 3, d_model)
        self.temporal = nn.Linear(HISTORY_FEATURES, d_model)
        self.spatial = nn.Linear(len(CANDIDATE_FEATURES), d_model)
        self.time_embedding = nn.Parameter(torch.zeros(history_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, 1))

    def forward(self, candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor, history: Tensor) -> Tensor:
        """candidates [B, K, F], mask [B, K], context [B, G], preference [B, 3], history [B, W, 16]."""
        k = candidates.shape[1]
        task = self.task(symlog(torch.cat([context, preference], -1))).unsqueeze(1)
        past = self.temporal(symlog(history)) + self.time_embedding
        space = self.spatial(symlog(candidates))
        always = torch.zeros(mask.shape[0], 1 + past.shape[1], dtype=torch.bool, device=mask.device)
        encoded = self.encoder(torch.cat([task, past, space], 1), src_key_padding_mask=torch.cat([always, ~mask], 1))
        return masked_logits(self.head(encoded[:, -k:]).squeeze(-1), mask)


class ImitationLoss(nn.Module):
    """Cross-entropy of the student's masked logits against the expert's action."""

    def __init__(self, policy_net: TensorDictModule) -> None:
        super().__init__()
        self.policy_net = policy_net

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        logits = self.policy_net(td.clone(False)).get("logits")
        target = td.get("expert_action")
        loss = nn.functional.cross_entropy(logits, target)
        accuracy = (logits.argmax(-1) == target).float().mean()
        return TensorDict({"loss_imitation": loss, "accuracy": accuracy.detach()})


class DAggerActor(TensorDictModuleBase):
    """Acts with the expert with probability beta, else with the student's argmax; always writes the
    expert's choice as the label."""

    def __init__(self, policy_net: TensorDictModule, expert: ExpertPolicy, seed: int) -> None:
        super().__init__()
        self.policy_net = policy_net
        self.expert = expert
        self.in_keys = IN_KEYS
        self.out_keys = ["action", "expert_action"]
        self.generator = torch.Generator().manual_seed(seed)
        self.beta = 1.0

    @torch.no_grad()
    def forward(self, td: TensorDictBase) -> TensorDictBase:
        mask = td.get("action_mask")
        expert_action = masked_argmax(self.expert.score(td), mask)
        student_action = masked_argmax(self.policy_net(td).get("logits"), mask)
        use_expert = torch.rand(mask.shape[0], generator=self.generator).to(mask.device) < self.beta
        td.set("expert_action", expert_action)
        td.set("action", torch.where(use_expert, expert_action, student_action))
        return td


@dataclass
class STARKConfig(TrainConfig):
    frames: int = 1_000_000  # default budget: about 7 minutes on 2 CPU cores
    d_model: int = 32
    heads: int = 2
    layers: int = 2
    feedforward: int = 64
    history_len: int = 4  # W temporal tokens (the env's history window)
    beta_start: float = 1.0  # DAgger: share of decisions the expert takes in the first iteration
    beta_end: float = 0.0  # ... and in the last
    epochs: int = 2
    lr: float = 1e-3
    lr_final: float = 1e-4
    env: dict = field(default_factory=lambda: {"max_candidates": 32, "history_len": 4})


class STARK(Algorithm):
    config_cls = STARKConfig
    value_dim = 0

    def __init__(self, cfg: STARKConfig, env) -> None:
        super().__init__(cfg, env)
        self.dagger = DAggerActor(self.policy_net, ExpertPolicy(env.settings), cfg.seed)

    @classmethod
    def check_env(cls, cfg: STARKConfig, env) -> None:
        from moebench.errors import UserError

        if env.settings.history_len != cfg.history_len:
            raise UserError(f"stark needs the env's history window: set history_len={cfg.history_len}")

    def build_networks(self, cfg: STARKConfig, env):
        self.check_env(cfg, env)
        net = STARKNet(cfg.history_len, cfg.d_model, cfg.heads, cfg.layers, cfg.feedforward)
        return TensorDictModule(net, IN_KEYS, ["logits"]), None

    def build_loss(self, cfg: STARKConfig) -> nn.Module:
        return ImitationLoss(self.policy_net)

    def act_module(self) -> TensorDictModuleBase:
        return self.dagger

    def prepare_iteration(self, iteration: int) -> None:
        frac = iteration / max(self.cfg.iterations - 1, 1)
        self.dagger.beta = self.cfg.beta_start + (self.cfg.beta_end - self.cfg.beta_start) * frac
        # seeded by (seed, iteration), so a resumed run hands control over exactly as an uninterrupted one
        self.dagger.generator.manual_seed(self.cfg.seed * 1_000_003 + iteration)

    def on_iteration(self, data: TensorDictBase, iteration: int) -> dict:
        agreement = (data.get("action") == data.get("expert_action")).float().mean()
        return {"dagger_beta": self.dagger.beta, "expert_agreement": float(agreement)}
