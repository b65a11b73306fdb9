"""PPO with colored-noise exploration (after Hollenstein et al., 2023).

Actions are drawn with the Gumbel-max trick, argmax_k(logit_k + g_k), where the Gumbel noise g
comes from Gaussian noise z through g = -log(-log(Phi(z))). Each (env, slot) gets its own
z sequence over the rollout, with power spectrum 1/f^beta (beta = 0: white, 1: pink, 2: red), so
the perturbations are correlated in time. Every z_t is exactly N(0, 1), so every g_t is exactly
Gumbel(0, 1) and the action at each step is distributed exactly as the policy's softmax: the PPO
ratio uses the policy's own log-probabilities and stays unbiased.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import Tensor

from algorithms.ppo import PPO, PPOConfig


def colored_noise(shape: tuple[int, ...], length: int, beta: float, generator: torch.Generator | None = None) -> Tensor:
    """Gaussian sequences [*shape, length] with power spectrum 1/f^beta and exactly unit variance.

    White noise shaped in the frequency domain; the DC bin takes the scale of the lowest frequency.
    The variance of a circularly stationary sequence is the mean of the two-sided spectrum, so the
    normalization is exact rather than estimated."""
    white = torch.randn(*shape, length, generator=generator)
    freqs = torch.fft.rfftfreq(length)
    freqs[0] = freqs[1] if length > 1 else 1.0
    scale = freqs ** (-beta / 2.0)
    two_sided = scale.square()
    count = torch.full_like(two_sided, 2.0)
    count[0] = 1.0
    if length % 2 == 0:
        count[-1] = 1.0
    variance = (two_sided * count).sum() / length
    shaped = torch.fft.irfft(torch.fft.rfft(white) * scale, n=length)
    return shaped / variance.sqrt()


def gumbel_from_normal(z: Tensor) -> Tensor:
    uniform = torch.special.ndtr(z).clamp(1e-12, 1.0 - 1e-7)
    return -torch.log(-torch.log(uniform))


class ColoredNoiseActor(TensorDictModuleBase):
    """Samples actions with colored Gumbel noise; writes action, its log-probability and logits."""

    def __init__(self, policy_net, num_candidates: int, horizon: int, beta: float, seed: int = 0) -> None:
        super().__init__()
        self.policy_net = policy_net
        self.in_keys = list(policy_net.in_keys)
        self.out_keys = ["logits", "action", "action_log_prob"]
        self.num_candidates, self.horizon, self.beta, self.seed = num_candidates, horizon, beta, seed
        self.generator = torch.Generator().manual_seed(seed)
        self.noise: Tensor | None = None
        self.t = 0

    def start_rollout(self, iteration: int) -> None:
        """Fresh noise sequences for a rollout, seeded by (seed, iteration): a resumed run draws the
        same noise as an uninterrupted one."""
        self.generator.manual_seed(self.seed * 1_000_003 + iteration)
        self.noise = None

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        logits = self.policy_net(td).get("logits")
        mask = td.get("action_mask")
        batch = logits.shape[0]
        if self.noise is None or self.t >= self.horizon or self.noise.shape[0] != batch:
            self.noise = colored_noise((batch, self.num_candidates), self.horizon, self.beta, self.generator)
            self.t = 0
        g = gumbel_from_normal(self.noise[..., self.t].to(logits.device))
        self.t += 1
        masked = torch.where(mask, logits, torch.finfo(logits.dtype).min)
        action = (masked + g).argmax(-1)
        log_prob = torch.log_softmax(masked, -1).gather(-1, action[..., None]).squeeze(-1)
        td.set("action", action)
        td.set("action_log_prob", log_prob.detach())
        return td


@dataclass
class PPOCNConfig(PPOConfig):
    noise_beta: float = 1.0  # spectral exponent of the exploration noise (0 white, 1 pink, 2 red)


class PPOCN(PPO):
    config_cls = PPOCNConfig

    def __init__(self, cfg: PPOCNConfig, env) -> None:
        super().__init__(cfg, env)
        self.sampler = ColoredNoiseActor(self.policy_net, env.num_candidates, cfg.rollout_len, cfg.noise_beta, cfg.seed)

    def act_module(self) -> TensorDictModuleBase:
        return self.sampler

    def prepare_iteration(self, iteration: int) -> None:
        self.sampler.start_rollout(iteration)
