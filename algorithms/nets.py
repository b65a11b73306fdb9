"""Small building blocks shared by the policies."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def symlog(x: Tensor) -> Tensor:
    """sign(x) * log(1 + |x|): keeps raw telemetry (seconds of backlog, km, prices) in a trainable range."""
    return torch.sign(x) * torch.log1p(x.abs())


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU, last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


def masked_mean_max(x: Tensor, mask: Tensor) -> Tensor:
    """Squeeze over the candidate axis: [B, K, H] -> [B, 2H] (mean and max over valid slots only)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    count = m.sum(-2).clamp_min(1.0)
    mean = (x * m).sum(-2) / count
    neg = torch.finfo(x.dtype).min
    maximum = torch.where(mask.unsqueeze(-1), x, neg).amax(-2)
    maximum = torch.where(mask.any(-1, keepdim=True), maximum, torch.zeros_like(maximum))
    return torch.cat([mean, maximum], dim=-1)


class CandidateEncoder(nn.Module):
    """Shared per-candidate MLP over [its telemetry, the step context, the preference] -> [..., K, H].

    The context and preference are the same for every candidate of a decision, so their share of
    the first layer is computed once per decision and broadcast (the same function as concatenating
    them to every candidate, at a fraction of the memory traffic). Linear in K.
    """

    def __init__(self, candidate_dim: int, shared_dim: int, hidden: int) -> None:
        super().__init__()
        self.candidate = nn.Linear(candidate_dim, hidden, bias=False)
        self.shared = nn.Linear(shared_dim, hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, candidates: Tensor, context: Tensor, preference: Tensor) -> Tensor:
        lead, hidden = candidates.shape[:-1], self.out.out_features
        first = self.candidate(symlog(candidates).reshape(-1, candidates.shape[-1])).view(*lead, hidden)
        first = torch.relu_(first + self.shared(symlog(torch.cat([context, preference], -1))).unsqueeze(-2))
        return torch.relu_(self.out(first.reshape(-1, hidden))).view(*lead, hidden)


def per_candidate(head: nn.Module, x: Tensor) -> Tensor:
    """Apply `head` to every candidate embedding through a 2-D view (one fused matmul + bias)."""
    out = head(x.reshape(-1, x.shape[-1]))
    return out.view(*x.shape[:-1], out.shape[-1])


def masked_logits(logits: Tensor, mask: Tensor) -> Tensor:
    """Masked slots get a very negative logit (the action distribution masks them again)."""
    return torch.where(mask, logits, torch.full_like(logits, -1e9))
