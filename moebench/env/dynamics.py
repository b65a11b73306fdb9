"""The physics of one scheduling decision, as pure tensor functions.

Every function works elementwise on tensors of any (broadcastable) shape, so the env applies them
to the chosen server ([B]) and the oracle to every candidate ([B, K]). Random draws are inputs,
never drawn here, so each function is deterministic and testable against a hand-computed case.
Units are in the names: `_ms`, `_km`, `_mbps`, `_bytes`, `_usd`.
"""

from __future__ import annotations

import torch
from torch import Tensor

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


def haversine_km(lat1_deg: Tensor, lon1_deg: Tensor, lat2_deg: Tensor, lon2_deg: Tensor) -> Tensor:
    """Great-circle distance between two points given in degrees."""
    lat1, lon1, lat2, lon2 = (torch.deg2rad(x) for x in (lat1_deg, lon1_deg, lat2_deg, lon2_deg))
    h = torch.sin((lat2 - lat1) * 0.5) ** 2 + torch.cos(lat1) * torch.cos(lat2) * torch.sin((lon2 - lon1) * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_KM * torch.asin(torch.sqrt(h.clamp(0.0, 1.0)))


def transmission_ms(payload_bytes: Tensor, bandwidth_mbps: Tensor) -> Tensor:
    """Time to push `payload_bytes` through a link of `bandwidth_mbps`."""
    return payload_bytes * 8e-3 / bandwidth_mbps


def wireless_capacity_mbps(
    share: Tensor,
    fading_gain: Tensor,
    access_distance_km: Tensor,
    bandwidth_mhz: float,
    tx_power_dbm: float,
    noise_dbm_per_hz: float,
    path_loss_exp: float,
    floor_mbps: float,
) -> Tensor:
    """Shannon capacity of the user's uplink: a `share` of the channel, Rayleigh `fading_gain` (|h|^2),
    path loss (0.1 km / d) ** exp, as in the seed's access model, floored at `floor_mbps`."""
    bandwidth_hz = bandwidth_mhz * 1e6 * share
    tx_w = 10 ** (tx_power_dbm / 10) * 1e-3
    noise_w = 10 ** (noise_dbm_per_hz / 10) * 1e-3 * bandwidth_hz
    gain = fading_gain * (0.1 / access_distance_km.clamp_min(1e-3)) ** path_loss_exp
    capacity_bps = bandwidth_hz * torch.log2(1.0 + tx_w * gain / noise_w)
    return (capacity_bps * 1e-6).clamp_min(floor_mbps)


def trap_bad_probability(bad: Tensor, elapsed_ms: Tensor, to_bad_per_ms: float, to_good_per_ms: float) -> Tensor:
    """P(bad after `elapsed_ms` | current state `bad`) for a two-state Markov process.

    Closed form: p(t) = pi + (x0 - pi) * exp(-(a + b) t), with a the good->bad and b the bad->good rate
    and pi = a / (a + b) the stationary share of bad time. An infinite `elapsed_ms` gives pi, which is
    how a trap that nobody has touched yet is drawn.
    """
    total = to_bad_per_ms + to_good_per_ms
    pi_bad = to_bad_per_ms / total
    decay = torch.exp(-total * elapsed_ms.clamp_min(0.0))
    return pi_bad + (bad.to(elapsed_ms.dtype) - pi_bad) * decay


def retransmission_attempts(uniform: Tensor, loss: Tensor, max_attempts: int) -> Tensor:
    """Transmissions until one gets through: geometric with success 1 - `loss`, capped (inverse CDF)."""
    safe_loss = loss.clamp(1e-12, 1.0 - 1e-6)
    attempts = 1.0 + torch.floor(torch.log(uniform.clamp_min(1e-12)) / torch.log(safe_loss))
    return torch.where(loss > 0, attempts.clamp(1.0, float(max_attempts)), torch.ones_like(uniform))


def expected_attempts(loss: Tensor, max_attempts: int) -> Tensor:
    """Mean of `retransmission_attempts`: sum_{k<n} loss^k for n = max_attempts."""
    return (1.0 - loss**max_attempts) / (1.0 - loss).clamp_min(1e-12)


def hop_latency_ms(
    distance_km: Tensor,
    base_ms: Tensor,
    bandwidth_mbps: Tensor,
    payload_bytes: Tensor,
    attempts: Tensor,
    extra_ms: Tensor,
    propagation_ms_per_km: float,
    retransmit_timeout_ms: float,
) -> tuple[Tensor, Tensor]:
    """Latency of one hop: propagation + base link latency + transmission (repeated per attempt,
    with a timeout before each retry) + a bad trap's extra latency. Returns (latency, fixed part);
    the fixed part (propagation + base + extra) is what a ping would observe."""
    fixed_ms = distance_km * propagation_ms_per_km + base_ms + extra_ms
    send_ms = transmission_ms(payload_bytes, bandwidth_mbps) * attempts + (attempts - 1.0) * retransmit_timeout_ms
    return fixed_ms + send_ms, fixed_ms


def queue_and_compute(
    arrive_ms: Tensor, busy_until_ms: Tensor, work_tokens: Tensor, tokens_per_ms: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """FIFO service on a server that is busy until `busy_until_ms`.

    Returns (queue_ms, compute_ms, finish_ms): the request waits until the server is free, then
    runs for work / speed.
    """
    start_ms = torch.maximum(arrive_ms, busy_until_ms)
    compute_ms = work_tokens / tokens_per_ms
    return start_ms - arrive_ms, compute_ms, start_ms + compute_ms


def compute_cost_usd(tokens: Tensor, price_per_1k_usd: Tensor, multiplier: Tensor) -> Tensor:
    """tokens / 1000 x CostPerToken x the server's price multiplier (the seed's cost model)."""
    return tokens * 1e-3 * price_per_1k_usd * multiplier


def transfer_cost_usd(
    payload_bytes: Tensor, distance_km: Tensor, moved: Tensor, usd_per_gb: float, doubling_km: float
) -> Tensor:
    """Bytes moved between two different servers x a price that grows linearly with distance.
    A step that stays on the server of the previous step (`moved` False) moves nothing."""
    price = usd_per_gb * (1.0 + distance_km / doubling_km)
    return torch.where(moved, payload_bytes * 1e-9 * price, torch.zeros_like(payload_bytes))


def reward_vector(
    latency_ms: Tensor,
    compute_cost: Tensor,
    transfer_cost: Tensor,
    latency_scale_ms: float,
    cost_scale_usd: float,
    transfer_scale_usd: float,
    clip: float,
) -> Tensor:
    """Negated, normalized objectives [..., 3] = (latency, compute cost, transfer cost), in [-clip, 0]."""
    scaled = torch.stack(
        (latency_ms / latency_scale_ms, compute_cost / cost_scale_usd, transfer_cost / transfer_scale_usd), dim=-1
    )
    return -scaled.clamp(0.0, clip)


def ema(old: Tensor, new: Tensor, weight: float, seen: Tensor) -> Tensor:
    """Exponential moving average; the first observation (`seen` False) is taken as is."""
    return torch.where(seen, (1.0 - weight) * old + weight * new, new)


def exponential(uniform: Tensor, mean: float) -> Tensor:
    """Inverse-CDF draw of an exponential variable with the given mean."""
    return -mean * torch.log1p(-uniform.clamp(0.0, 1.0 - 1e-7))
