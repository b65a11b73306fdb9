"""Heuristic policies and the oracle, as TensorDictModules that write `action`.

Each scores the candidates from the observation alone (the oracle excepted) and takes the best
valid slot. They are the reference points of the leaderboard: random (score 0), the seed's greedy,
simple rules, a weighted-score expert (the seed's STARK teacher) and the oracle (score 1).
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import Tensor

from moebench.env import dynamics
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES

F = {name: i for i, name in enumerate(CANDIDATE_FEATURES)}
C = {name: i for i, name in enumerate(CONTEXT_FEATURES)}


def masked_argmax(score: Tensor, mask: Tensor) -> Tensor:
    """The best valid slot (ties: the lowest slot); rows with no valid slot get 0."""
    return torch.where(mask, score, torch.full_like(score, -float("inf"))).argmax(-1)


class ScoringPolicy(TensorDictModuleBase):
    """Base: `score(td)` -> [B, K] (higher is better); writes the masked argmax as `action`."""

    in_keys = ["candidates", "action_mask", "context", "preference"]
    out_keys = ["action"]

    def score(self, td: TensorDictBase) -> Tensor:
        raise NotImplementedError

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        td.set("action", masked_argmax(self.score(td), td.get("action_mask")))
        return td


class RandomPolicy(ScoringPolicy):
    """Uniform over the valid candidates (its own seeded generator)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)

    def score(self, td: TensorDictBase) -> Tensor:
        mask = td.get("action_mask")
        return torch.rand(mask.shape, generator=self.generator).to(mask.device)


class GreedyPolicy(ScoringPolicy):
    """The seed's Greedy: the candidate with the most compute."""

    def score(self, td):
        return td.get("candidates")[..., F["compute"]]


class NearestPolicy(ScoringPolicy):
    """The candidate closest to the current location (staying put when possible)."""

    def score(self, td):
        return -td.get("candidates")[..., F["distance_100km"]]


class LeastLoadedPolicy(ScoringPolicy):
    """The candidate whose queue drains first (ties: the nearest)."""

    def score(self, td):
        cand = td.get("candidates")
        return -cand[..., F["backlog_s"]] - 1e-4 * cand[..., F["distance_100km"]]


class CheapestPolicy(ScoringPolicy):
    """The lowest compute price (ties: staying put, then the nearest)."""

    def score(self, td):
        cand = td.get("candidates")
        return (
            -cand[..., F["price_per_1k_10usd"]]
            + 1e-6 * cand[..., F["is_current"]]
            - 1e-9 * cand[..., F["distance_100km"]]
        )


class ExpertPolicy(ScoringPolicy):
    """A weighted score of estimated latency, compute cost and transfer cost (the seed's STARK
    teacher). Estimates use only the observation and the env's public settings: hop latency from
    the link features (or the observed RTT once seen), transmission with the observed loss, the
    queue backlog, compute time from tokens and speed; scored with the env's own reward scaling."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.s = settings

    def estimates(self, td: TensorDictBase) -> tuple[Tensor, Tensor, Tensor]:
        s = self.s
        cand, ctx = td.get("candidates"), td.get("context")
        prefill = ctx[..., C["prefill_1k"], None] * 1e3
        decode = ctx[..., C["decode_1k"], None] * 1e3
        at_user = ctx[..., C["at_user"], None] > 0.5
        moving = (cand[..., F["is_current"]] < 0.5) & ~at_user
        distance_km = cand[..., F["distance_100km"]] * 100.0
        payload = torch.where(
            at_user, prefill * s.prompt_bytes_per_token, (prefill + decode) * s.activation_bytes_per_token
        )
        fixed = distance_km * s.propagation_ms_per_km + cand[..., F["hop_base_100ms"]] * 100.0
        fixed = torch.where(
            cand[..., F["obs_seen"]] > 0.5, torch.maximum(fixed, cand[..., F["obs_rtt_s"]] * 1e3), fixed
        )
        send = dynamics.transmission_ms(payload, cand[..., F["hop_bandwidth_50mbps"]].clamp_min(1e-3) * 50.0)
        send = send / (1.0 - cand[..., F["obs_loss"]].clamp_max(0.9))
        network = torch.where(moving | at_user, fixed + send, torch.zeros_like(fixed))
        speed = s.tokens_per_s * 1e-3 * cand[..., F["compute"]] * (1.0 - cand[..., F["background_util"]])
        compute = (prefill + s.decode_cost * decode) / speed.clamp_min(1e-6)
        latency = network + cand[..., F["backlog_s"]] * 1e3 + compute
        cost = (prefill + decode) * 1e-3 * cand[..., F["price_per_1k_10usd"]] * 0.1
        transfer = dynamics.transfer_cost_usd(
            payload, distance_km, moving, s.transfer_usd_per_gb, s.transfer_distance_km
        )
        return latency, cost, transfer

    def score(self, td):
        s = self.s
        latency, cost, transfer = self.estimates(td)
        rv = dynamics.reward_vector(
            latency, cost, transfer, s.latency_scale_ms, s.cost_scale_usd, s.transfer_scale_usd, s.reward_clip
        )
        return (rv * td.get("preference")[..., None, :]).sum(-1)


class OraclePolicy(ScoringPolicy):
    """Privileged one-step lookahead: sees the hidden trap states and exact queues through the env
    and takes the candidate with the best expected preference-weighted step reward. It is the upper
    reference of the normalized score, never a competitor (it cannot be submitted)."""

    def __init__(self, env) -> None:
        super().__init__()
        self.env = env

    def score(self, td):
        outcome = self.env.candidate_outcomes()
        return (outcome["reward_vec"] * td.get("preference")[..., None, :]).sum(-1)


HEURISTICS: dict[str, tuple[str, str]] = {
    # name: (kind, description)
    "random": ("heuristic", "uniform over the valid candidates"),
    "greedy": ("heuristic", "the seed's Greedy: most compute"),
    "nearest": ("heuristic", "closest to the current location"),
    "least-loaded": ("heuristic", "shortest queue backlog"),
    "cheapest": ("heuristic", "lowest compute price"),
    "expert": ("heuristic", "weighted score of estimated latency, cost and transfer (STARK's teacher)"),
    "oracle": ("bound", "privileged one-step lookahead with hidden trap states (upper reference)"),
}


def make_heuristic(name: str, env, seed: int = 0) -> ScoringPolicy:
    """Build the heuristic `name` for `env` (the oracle holds a reference to it)."""
    builders = {
        "random": lambda: RandomPolicy(seed),
        "greedy": GreedyPolicy,
        "nearest": NearestPolicy,
        "least-loaded": LeastLoadedPolicy,
        "cheapest": CheapestPolicy,
        "expert": lambda: ExpertPolicy(env.settings),
        "oracle": lambda: OraclePolicy(env),
    }
    return builders[name]()
