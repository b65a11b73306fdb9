"""Transformer PPO: a Transformer encoder over the candidates of a decision, trained with PPO.

Policy, per decision with K candidates (any K; cost quadratic in K through self-attention):
  1. embed   each candidate's features with the step context and preference appended, projected
             to d_model by one linear map (no positional encoding: the slots are a set);
  2. encode  a torch TransformerEncoder (post-norm layers, batch first, ReLU feed-forward) whose
             key padding mask is the action mask: padded and invalid slots are never attended to;
  3. score   each token with a shared head: logit_k = MLP(z_k).
Critic: its own encoder, masked mean and max pooling over the valid tokens, context and preference
-> one scalar value (like PPO).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict.nn import TensorDictModule
from torch import Tensor, nn

from algorithms.base import Algorithm, TrainConfig
from algorithms.nets import masked_logits, masked_mean_max, mlp, per_candidate, symlog
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES
from moebench.errors import UserError

IN_KEYS = ["candidates", "action_mask", "context", "preference"]
SHARED_DIM = len(CONTEXT_FEATURES) + 3


class EncoderLayer(nn.TransformerEncoderLayer):
    """torch's post-norm encoder layer without its inference fast path, which computes the masked
    [K, K] attention in full: on CPU it measured 4-5x slower than the standard path (a fused
    attention kernel) at K = 500-1000 and no faster at K = 32. The same function in both modes."""

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = self.norm1(src + self._sa_block(src, src_mask, src_key_padding_mask, is_causal=is_causal))
        return self.norm2(x + self._ff_block(x))


class CandidateTransformer(nn.Module):
    """Token projection + TransformerEncoder over the candidate slots -> [..., K, d_model]."""

    def __init__(self, d_model: int, heads: int, layers: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        # [candidate, context, preference] @ W as two products: the shared half is computed once
        # per decision and broadcast over the K tokens (the same linear map, less traffic)
        self.candidate = nn.Linear(len(CANDIDATE_FEATURES), d_model, bias=False)
        self.shared = nn.Linear(SHARED_DIM, d_model)
        layer = EncoderLayer(d_model, heads, feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor) -> Tensor:
        lead, k = mask.shape[:-1], mask.shape[-1]
        candidates = candidates.reshape(-1, k, candidates.shape[-1])
        mask = mask.reshape(-1, k)
        shared = self.shared(symlog(torch.cat([context, preference], -1)).reshape(-1, SHARED_DIM))
        tokens = self.candidate(symlog(candidates)) + shared.unsqueeze(-2)
        # a decision without any valid slot attends to all of them (a fully masked row is NaN)
        padding = ~mask & mask.any(-1, keepdim=True)
        return self.encoder(tokens, src_key_padding_mask=padding).view(*lead, k, -1)


class TransformerScorer(nn.Module):
    def __init__(self, d_model: int, heads: int, layers: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.encoder = CandidateTransformer(d_model, heads, layers, feedforward, dropout)
        self.head = mlp([d_model, d_model, 1])

    def forward(self, candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor) -> Tensor:
        tokens = self.encoder(candidates, mask, context, preference)
        return masked_logits(per_candidate(self.head, tokens).squeeze(-1), mask)


class TransformerCritic(nn.Module):
    def __init__(self, d_model: int, heads: int, layers: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.encoder = CandidateTransformer(d_model, heads, layers, feedforward, dropout)
        self.head = mlp([2 * d_model + SHARED_DIM, d_model, 1])

    def forward(self, candidates: Tensor, mask: Tensor, context: Tensor, preference: Tensor) -> Tensor:
        pooled = masked_mean_max(self.encoder(candidates, mask, context, preference), mask)
        return self.head(torch.cat([pooled, symlog(torch.cat([context, preference], -1))], -1))


@dataclass
class TransPPOConfig(TrainConfig):
    frames: int = 800_000  # default budget: about 9 minutes on 2 CPU cores
    d_model: int = 32
    heads: int = 2
    layers: int = 2
    feedforward: int = 64  # width of each layer's feed-forward block
    dropout: float = 0.0


class TransPPO(Algorithm):
    config_cls = TransPPOConfig
    value_dim = 1

    def build_networks(self, cfg: TransPPOConfig, env):
        if cfg.d_model % cfg.heads:
            raise UserError(
                f"{cfg.algo or 'trans-ppo'}: d_model ({cfg.d_model}) must be a multiple of heads ({cfg.heads})"
            )
        arch = (cfg.d_model, cfg.heads, cfg.layers, cfg.feedforward, cfg.dropout)
        policy = TensorDictModule(TransformerScorer(*arch), IN_KEYS, ["logits"])
        critic = TensorDictModule(TransformerCritic(*arch), IN_KEYS, ["state_value"])
        return policy, critic
