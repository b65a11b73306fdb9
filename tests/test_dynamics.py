"""The pure physics of `moebench.env.dynamics`, each function against a case computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from moebench.data.catalog import get_region
from moebench.env import dynamics
from moebench.env.settings import EnvSettings
from moebench.env.tables import build_tables, every_host_hop


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_haversine_zurich_to_geneva_is_about_224_km() -> None:
    km = dynamics.haversine_km(t(47.3769), t(8.5417), t(46.2044), t(6.1432))
    assert float(km) == pytest.approx(224.0, rel=0.01)
    # symmetric, and zero from a point to itself
    back = dynamics.haversine_km(t(46.2044), t(6.1432), t(47.3769), t(8.5417))
    assert float(back) == pytest.approx(float(km), rel=1e-6)
    assert float(dynamics.haversine_km(t(47.3769), t(8.5417), t(47.3769), t(8.5417))) == 0.0


def test_haversine_quarter_meridian() -> None:
    # equator to pole along a meridian: a quarter of the circumference
    km = dynamics.haversine_km(t(0.0), t(8.0), t(90.0), t(8.0))
    assert float(km) == pytest.approx(math.pi / 2 * dynamics.EARTH_RADIUS_KM, rel=1e-5)


@pytest.mark.parametrize("region_name", ["CH-500", "GB-1000"])
def test_every_host_distances_match_haversine(region_name: str) -> None:
    """The every-host mode gets distances from a matrix product of unit vectors; they must agree
    with the Haversine distance the step uses, for neighbours (< 1 km) and across the country."""
    region = get_region(region_name)
    settings = EnvSettings().resolved(region.trap)
    tables = build_tables(region, settings, torch.device("cpu"))
    n = tables.num_servers
    # every eighth server as the location (plus three task ingress points), every model type
    servers = torch.arange(0, n, 8)
    loc = torch.cat([servers, torch.full((3,), -1)])
    task = torch.cat([torch.zeros_like(servers), torch.arange(3)])
    near_pairs = 0
    for model_type in range(tables.num_types):
        model = torch.full_like(loc, model_type)
        cand = tables.cand_servers[model]
        distance, _, _ = every_host_hop(tables, settings, task, loc, model, cand)
        at_user = loc < 0
        src_lat = torch.where(at_user, tables.task_lat[task], tables.lat[loc.clamp_min(0)])
        src_lon = torch.where(at_user, tables.task_lon[task], tables.lon[loc.clamp_min(0)])
        expected = dynamics.haversine_km(src_lat[:, None], src_lon[:, None], tables.lat[cand], tables.lon[cand])
        valid = cand < n
        error = (distance - expected).abs()[valid]
        assert float(error.max()) < 0.05
        assert float(expected[valid].max()) > 300.0  # far pairs were compared...
        near_pairs += int((valid & (expected > 0) & (expected < 1.0)).sum())
    assert near_pairs > 0  # ...and nearby ones


def test_transmission_one_megabyte_over_8_mbps_takes_a_second() -> None:
    assert float(dynamics.transmission_ms(t(1e6), t(8.0))) == pytest.approx(1000.0)
    assert float(dynamics.transmission_ms(t(1e6), t(16.0))) == pytest.approx(500.0)


def test_queue_and_compute_second_request_waits_for_the_first() -> None:
    speed = t(2.0)  # tokens per ms
    # A arrives at 100 ms on an idle server (free since 0): no queue, 600 tokens take 300 ms
    queue_a, compute_a, finish_a = dynamics.queue_and_compute(t(100.0), t(0.0), t(600.0), speed)
    assert (float(queue_a), float(compute_a), float(finish_a)) == (0.0, 300.0, 400.0)
    # B arrives at 250 ms, the server is busy until 400: it waits 150 ms, then 200 tokens take 100 ms
    queue_b, compute_b, finish_b = dynamics.queue_and_compute(t(250.0), finish_a, t(200.0), speed)
    assert (float(queue_b), float(compute_b), float(finish_b)) == (150.0, 100.0, 500.0)
    # C arrives after the server drained: no queue
    queue_c, _, finish_c = dynamics.queue_and_compute(t(900.0), finish_b, t(200.0), speed)
    assert (float(queue_c), float(finish_c)) == (0.0, 1000.0)


def test_compute_cost() -> None:
    # 2000 tokens at 0.03 USD per 1000 tokens on a server with price multiplier 1.5
    assert float(dynamics.compute_cost_usd(t(2000.0), t(0.03), t(1.5))) == pytest.approx(0.09)
    assert float(dynamics.compute_cost_usd(t(0.0), t(0.03), t(1.5))) == 0.0


def test_transfer_cost_is_zero_when_staying_and_grows_with_distance() -> None:
    gigabyte = t(1e9)
    stay = dynamics.transfer_cost_usd(gigabyte, t(100.0), torch.tensor([False]), 0.09, 100.0)
    assert float(stay) == 0.0
    # 1 GB over 100 km: the per-GB price 0.09 x (1 + 100 / 100)
    moved = dynamics.transfer_cost_usd(gigabyte, t(100.0), torch.tensor([True]), 0.09, 100.0)
    assert float(moved) == pytest.approx(0.18)
    assert float(dynamics.transfer_cost_usd(gigabyte, t(0.0), torch.tensor([True]), 0.09, 100.0)) == pytest.approx(0.09)
    distances = torch.linspace(0.0, 1000.0, 11)
    costs = dynamics.transfer_cost_usd(
        torch.full_like(distances, 1e6), distances, torch.ones(11, dtype=torch.bool), 0.09, 100.0
    )
    assert bool((costs.diff() > 0).all())


def test_hop_latency_parts() -> None:
    # 200 km at 0.005 ms/km = 1 ms, base 3 ms, 100 kB over 8 Mbps = 100 ms per attempt,
    # 3 attempts with a 200 ms timeout before each retry, 50 ms extra latency of a bad trap
    latency, fixed = dynamics.hop_latency_ms(
        distance_km=t(200.0),
        base_ms=t(3.0),
        bandwidth_mbps=t(8.0),
        payload_bytes=t(1e5),
        attempts=t(3.0),
        extra_ms=t(50.0),
        propagation_ms_per_km=0.005,
        retransmit_timeout_ms=200.0,
    )
    assert float(fixed) == pytest.approx(1.0 + 3.0 + 50.0)
    assert float(latency) == pytest.approx(54.0 + 3 * 100.0 + 2 * 200.0)
    # one attempt, nothing extra: propagation + base + one transmission
    latency, fixed = dynamics.hop_latency_ms(t(200.0), t(3.0), t(8.0), t(1e5), t(1.0), t(0.0), 0.005, 200.0)
    assert (float(latency), float(fixed)) == (pytest.approx(104.0), pytest.approx(4.0))


def test_retransmission_attempts_hand_cases() -> None:
    uniform = t(0.9, 0.3, 0.2, 1e-30)
    # without loss every payload gets through at once, whatever the draw
    assert dynamics.retransmission_attempts(uniform, torch.zeros(4), 8).tolist() == [1.0, 1.0, 1.0, 1.0]
    # loss 0.5: P(attempts > k) = 0.5 ** k; u = 0.3 lies in (0.25, 0.5] -> 2, u = 0.2 in (0.125, 0.25] -> 3;
    # a tiny draw is capped at max_attempts
    attempts = dynamics.retransmission_attempts(uniform, torch.full((4,), 0.5), 8)
    assert attempts.tolist() == [1.0, 2.0, 3.0, 8.0]
    assert dynamics.retransmission_attempts(t(1e-30), t(0.99), 5).tolist() == [5.0]


@pytest.mark.parametrize(("loss", "max_attempts"), [(0.3, 8), (0.6, 4), (0.9, 5)])
def test_retransmission_mean_matches_expected_attempts(loss: float, max_attempts: int) -> None:
    generator = torch.Generator().manual_seed(0)
    uniform = torch.rand(200_000, generator=generator, dtype=torch.float64)
    attempts = dynamics.retransmission_attempts(uniform, torch.full_like(uniform, loss), max_attempts)
    assert float(attempts.min()) >= 1.0 and float(attempts.max()) <= max_attempts
    expected = float(dynamics.expected_attempts(torch.tensor(loss, dtype=torch.float64), max_attempts))
    # the closed form by hand: 1 + loss + ... + loss ** (max_attempts - 1)
    assert expected == pytest.approx(sum(loss**k for k in range(max_attempts)))
    assert float(attempts.mean()) == pytest.approx(expected, rel=0.02)
    assert float((attempts == 1).double().mean()) == pytest.approx(1.0 - loss, abs=0.01)


def test_trap_bad_probability() -> None:
    to_bad, to_good = 2e-4, 8e-4  # per ms: stationary bad share pi = 0.2, relaxation time 1000 ms
    pi = to_bad / (to_bad + to_good)
    bad, good = torch.tensor([True]), torch.tensor([False])
    zero, forever = t(0.0), t(float("inf"))
    assert float(dynamics.trap_bad_probability(bad, zero, to_bad, to_good)) == pytest.approx(1.0)
    assert float(dynamics.trap_bad_probability(good, zero, to_bad, to_good)) == pytest.approx(0.0, abs=1e-7)
    assert float(dynamics.trap_bad_probability(bad, forever, to_bad, to_good)) == pytest.approx(pi)
    assert float(dynamics.trap_bad_probability(good, forever, to_bad, to_good)) == pytest.approx(pi)
    # one relaxation time: pi + (x0 - pi) / e
    one = t(1000.0)
    assert float(dynamics.trap_bad_probability(bad, one, to_bad, to_good)) == pytest.approx(pi + (1 - pi) / math.e)
    assert float(dynamics.trap_bad_probability(good, one, to_bad, to_good)) == pytest.approx(pi - pi / math.e)
    # monotone decay towards pi from either side
    times = torch.linspace(0.0, 10_000.0, 50)
    from_bad = dynamics.trap_bad_probability(bad.expand(50), times, to_bad, to_good)
    from_good = dynamics.trap_bad_probability(good.expand(50), times, to_bad, to_good)
    assert bool((from_bad.diff() < 0).all()) and bool((from_good.diff() > 0).all())
    assert bool((from_bad > pi).all()) and bool((from_good < pi).all())


def test_reward_vector_bounds_and_hand_case() -> None:
    clip = 4.0
    zeros = dynamics.reward_vector(t(0.0), t(0.0), t(0.0), 1000.0, 0.01, 1e-4, clip)
    assert zeros.shape == (1, 3) and bool((zeros == 0).all())
    # 500 ms / 1000, 0.005 USD / 0.01, and a transfer cost far beyond the clip
    rv = dynamics.reward_vector(t(500.0), t(0.005), t(1.0), 1000.0, 0.01, 1e-4, clip)
    assert rv.tolist() == [[pytest.approx(-0.5), pytest.approx(-0.5), -clip]]
    generator = torch.Generator().manual_seed(0)
    big = torch.rand(3, 1000, generator=generator) * torch.tensor([[1e5], [1.0], [1e-2]])
    rv = dynamics.reward_vector(big[0], big[1], big[2], 1000.0, 0.01, 1e-4, clip)
    assert rv.shape == (1000, 3)
    assert float(rv.min()) >= -clip and float(rv.max()) <= 0.0
    assert float(rv.min()) == -clip  # the clip is reached


def test_ema_takes_the_first_observation_as_is() -> None:
    old, new = t(10.0, 10.0), t(20.0, 20.0)
    seen = torch.tensor([False, True])
    assert dynamics.ema(old, new, 0.25, seen).tolist() == [20.0, 12.5]


def test_wireless_capacity_hand_case_and_floor() -> None:
    kwargs = dict(bandwidth_mhz=20.0, tx_power_dbm=23.0, noise_dbm_per_hz=-174.0, path_loss_exp=2.5, floor_mbps=0.05)
    # full 20 MHz channel at the reference distance 0.1 km without fading: SNR in dB is
    # 23 - (-174 + 10 log10(2e7)) = 123.99 dB, so C = 20 MHz x log2(1 + 10 ** 12.399)
    snr_db = 23.0 + 174.0 - 10.0 * math.log10(2e7)
    expected_mbps = 20.0 * math.log2(1.0 + 10 ** (snr_db / 10))
    capacity = dynamics.wireless_capacity_mbps(t(1.0), t(1.0), t(0.1), **kwargs)
    assert float(capacity) == pytest.approx(expected_mbps, rel=1e-4)
    assert 800.0 < expected_mbps < 850.0
    # farther users get less; a deep fade falls to the floor, never below
    far = dynamics.wireless_capacity_mbps(t(1.0, 1.0), t(1.0, 1.0), t(0.5, 5.0), **kwargs)
    assert float(far[0]) < float(capacity) and float(far[1]) < float(far[0])
    faded = dynamics.wireless_capacity_mbps(t(0.25, 0.25), t(0.0, 1e-30), t(1.0, 1.0), **kwargs)
    assert faded.tolist() == [pytest.approx(0.05), pytest.approx(0.05)]


def test_exponential_inverse_cdf() -> None:
    assert float(dynamics.exponential(t(0.5), 2000.0)) == pytest.approx(2000.0 * math.log(2.0))
    assert float(dynamics.exponential(t(0.0), 2000.0)) == 0.0
    assert math.isfinite(float(dynamics.exponential(t(1.0), 2000.0)))
