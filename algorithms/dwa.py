"""Dynamic Weight Adaptation (DWA): objective weights that follow the drift of each objective.

Every iteration each objective's recent cost m_i (its mean negated reward per step) is compared
with its running average a_i; the drift r_i = m_i / a_i > 1 means the objective got worse.
The new weights are the entropy-regularized optimum

    w* = argmax_w  sum_i w_i r_i + T H(w)  over the simplex  =  softmax(r / T),

blended into the old weights with a smoothing factor and kept within bounds. The advantage the
PPO loss sees is sum_i w_i p_i A_i: per-objective advantages, weighted by DWA and the preference.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import Tensor, nn


class DynamicWeights(nn.Module):
    """The DWA weights and running averages (buffers, so they live in checkpoints)."""

    def __init__(
        self,
        num_objectives: int = 3,
        temperature: float = 0.2,
        smoothing: float = 0.3,
        average_decay: float = 0.9,
        min_weight: float = 0.05,
        max_weight: float = 0.9,
        adapt: bool = True,
    ) -> None:
        super().__init__()
        if temperature <= 0 or not 0 < smoothing <= 1 or not 0 <= average_decay < 1:
            raise ValueError("DWA needs temperature > 0, smoothing in (0, 1], average_decay in [0, 1)")
        if not 0 <= min_weight <= 1.0 / num_objectives <= max_weight <= 1:
            raise ValueError("DWA bounds must satisfy min_weight <= 1/n <= max_weight")
        self.temperature = temperature
        self.smoothing = smoothing
        self.average_decay = average_decay
        self.min_weight = min_weight
        self.max_weight = max_weight
        self.adapt = adapt
        self.register_buffer("weights", torch.full((num_objectives,), 1.0 / num_objectives))
        self.register_buffer("average", torch.zeros(num_objectives))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @staticmethod
    def entropy_regularized(drift: Tensor, temperature: float) -> Tensor:
        """argmax_w <w, drift> + T * H(w) on the simplex: softmax(drift / T)."""
        return torch.softmax(drift / temperature, dim=-1)

    def _bound(self, w: Tensor) -> Tensor:
        """Euclidean projection onto {w : sum w = 1, min <= w_i <= max}: w_i = clamp(w_i + tau), with
        the shift tau found by bisection (the sum is monotone in tau)."""
        lo, hi = -1.0, 1.0
        for _ in range(60):
            tau = 0.5 * (lo + hi)
            if float((w + tau).clamp(self.min_weight, self.max_weight).sum()) > 1.0:
                hi = tau
            else:
                lo = tau
        return (w + 0.5 * (lo + hi)).clamp(self.min_weight, self.max_weight)

    @torch.no_grad()
    def update(self, recent_cost: Tensor) -> Tensor:
        """Feed one iteration's mean cost per objective (positive, lower is better); returns the drift."""
        recent = recent_cost.to(self.average).clamp_min(1e-8)
        if int(self.updates) == 0:
            self.average.copy_(recent)
        drift = recent / self.average.clamp_min(1e-8)
        if self.adapt:
            target = self.entropy_regularized(drift, self.temperature)
            blended = (1 - self.smoothing) * self.weights + self.smoothing * target
            self.weights.copy_(self._bound(blended))
        self.average.mul_(self.average_decay).add_((1 - self.average_decay) * recent)
        self.updates += 1
        return drift


class DWAPPOLoss(nn.Module):
    """Loss wrapper: turns per-objective advantages ("advantage_vec") into the scalar advantage of
    the wrapped ClipPPOLoss, weighted by the DWA weights and the step's preference."""

    def __init__(self, ppo_loss: nn.Module, weights: DynamicWeights) -> None:
        super().__init__()
        self.ppo_loss = ppo_loss
        self.dwa = weights

    def combine(self, td: TensorDictBase) -> Tensor:
        advantage = td.get("advantage_vec")
        preference = td.get("preference")
        return (advantage * preference * self.dwa.weights).sum(-1, keepdim=True)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        td.set("advantage", self.combine(td))
        return self.ppo_loss(td)
