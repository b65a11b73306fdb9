"""PF-PPO: PPO with a proportional-fairness term (after Sun et al., IEEE TSC 2024).

Proportional fairness maximizes the sum of log utilities. Here the utility of a decision's
candidate servers is the log of their load shares in the episode so far:

    U(counts) = (1/n) sum_k log(eps + n * share_k),  share_k = count_k / sum_j count_j,

over the n valid candidates; it is largest (about 0) when load is spread evenly and falls without
bound as load concentrates on few servers. The penalty is P = -U, and each step's reward is
shaped by the unfairness its choice adds: r' = r - coef * (P(after) - P(before)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from torch import Tensor

from algorithms.ppo import PPO, PPOConfig


def fairness_penalty(counts: Tensor, mask: Tensor, eps: float = 0.05) -> Tensor:
    """-U over the last axis: `counts` [..., K] load per candidate server, `mask` [..., K] valid slots.
    With no load at all the shares are taken as even (penalty ~0)."""
    counts = counts * mask
    n = mask.sum(-1, keepdim=True).clamp_min(1)
    total = counts.sum(-1, keepdim=True)
    share = torch.where(total > 0, counts / total.clamp_min(1e-12), 1.0 / n)
    utility = (torch.log(eps + n * share) * mask).sum(-1) / n.squeeze(-1)
    return -utility


@dataclass
class PFPPOConfig(PPOConfig):
    fairness_coef: float = 0.1  # weight of the fairness shaping in the reward
    fairness_eps: float = 0.05  # floor inside the log utility


class PFPPO(PPO):
    config_cls = PFPPOConfig

    def __init__(self, cfg: PFPPOConfig, env) -> None:
        super().__init__(cfg, env)
        self.num_servers = env.tables.num_servers

    @torch.no_grad()
    def fairness_shaping(self, data: TensorDictBase) -> Tensor:
        """Per-step shaping term [B, T] of a batch whose rows start an episode (loads reset at done)."""
        servers = data.get("candidate_server")  # [B, T, K], -1 padded
        mask = data.get("action_mask")
        action = data.get("action")
        done = data.get(("next", "done")).squeeze(-1)
        b, t, _ = servers.shape
        counts = torch.zeros(b, self.num_servers + 1, device=servers.device)
        shaping = torch.zeros(b, t, device=servers.device)
        for step in range(t):
            cand = servers[:, step].clamp_min(0).where(mask[:, step], self.num_servers)
            before = fairness_penalty(counts.gather(1, cand), mask[:, step], self.cfg.fairness_eps)
            chosen = cand.gather(1, action[:, step, None])
            counts.scatter_add_(1, chosen, torch.ones_like(chosen, dtype=counts.dtype))
            after = fairness_penalty(counts.gather(1, cand), mask[:, step], self.cfg.fairness_eps)
            shaping[:, step] = after - before
            counts = counts * (~done[:, step, None]).float()
        return shaping

    @torch.no_grad()
    def compute_advantage(self, data: TensorDictBase) -> None:
        shaping = self.fairness_shaping(data)
        reward = data.get(("next", "reward"))
        data.set(("next", "reward"), reward - self.cfg.fairness_coef * shaping.unsqueeze(-1))
        data.set("fairness_shaping", shaping)
        super().compute_advantage(data)

    def on_iteration(self, data: TensorDictBase, iteration: int) -> dict:
        return {"fairness_shaping": float(data.get("fairness_shaping").mean())}
