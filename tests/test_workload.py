"""Workload realism: the Azure 2023 trace statistics of DESIGN.md, the synthetic profiles against their
traces, the MMPP generator, trace validation (library and `moebench data trace-stats`), trace replay
in the env, the cost of decode tokens, and the `workload` profiles in the env.

The Azure traces lie beside the checkout (../shared/traces); tests that need them skip where absent.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torchrl.envs.utils import check_env_specs, step_mdp

from moebench.cli import main
from moebench.env import EdgeCloudMoEEnv, make_env
from moebench.env.workload import (
    PROFILES,
    Trace,
    load_trace,
    lognormal_tokens,
    mmpp_arrivals_ms,
    profile_sample,
    trace_statistics,
)
from moebench.errors import UserError

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
CPU = torch.device("cpu")
HEADER = "arrived_at,num_prefill_tokens,num_decode_tokens"

# DESIGN.md's table ("Workload realism"), as printed there: the values and their rounding unit.
DESIGN_FACTS = {
    "conv": {
        "requests": (19366, 0),
        "duration_s": (3502, 1),
        "rate_per_s": (5.53, 0.01),
        "interarrival_cv": (1.09, 0.01),
        "count_var_to_mean_10s": (4.0, 0.1),
        "prefill_p50_p90_p99": ([1020, 2734, 4142], 1),
        "decode_p50_p90_p99": ([129, 424, 601], 1),
        "prefill_lognormal_mu_sigma": ([6.63, 0.99], 0.01),
        "decode_lognormal_mu_sigma": ([5.02, 0.86], 0.01),
    },
    "code": {
        "requests": (8819, 0),
        "duration_s": (3436, 1),
        "rate_per_s": (2.57, 0.01),
        "interarrival_cv": (13.15, 0.01),
        "count_var_to_mean_10s": (71.3, 0.1),
        "prefill_p50_p90_p99": ([1469, 5188, 7436], 1),
        "decode_p50_p90_p99": ([13, 55, 251], 1),
        "prefill_lognormal_mu_sigma": ([7.00, 1.36], 0.01),
        "decode_lognormal_mu_sigma": ([2.79, 0.85], 0.01),
    },
}


@pytest.fixture(scope="module")
def azure_traces() -> Path:
    """Folder holding azure_llm_2023_conv.csv and azure_llm_2023_code.csv."""
    if not all((TRACES / f"azure_llm_2023_{name}.csv").is_file() for name in PROFILES):
        pytest.skip(f"the Azure LLM traces of 2023 are not at {TRACES}")
    return TRACES


def write_trace(path: Path, rows: list[tuple[float, float, float]] | list[str], header: str = HEADER) -> Path:
    """A trace CSV at `path`: the header, then one line per row (tuples are joined with commas)."""
    lines = [header] + [r if isinstance(r, str) else ",".join(f"{v:g}" for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def stats_of(trace: Trace) -> dict:
    return trace_statistics(trace.arrived_s, trace.prefill_tokens, trace.decode_tokens)


# --- the Azure traces: DESIGN.md's facts ------------------------------------------------------------


@pytest.mark.parametrize("name", ["conv", "code"])
def test_trace_statistics_reproduce_the_design_table(azure_traces: Path, name: str) -> None:
    stats = stats_of(load_trace(azure_traces / f"azure_llm_2023_{name}.csv"))
    for key, (expected, unit) in DESIGN_FACTS[name].items():
        measured = stats[key] if isinstance(stats[key], list) else [stats[key]]
        wanted = expected if isinstance(expected, list) else [expected]
        for m, e in zip(measured, wanted, strict=True):
            # within rounding: half a unit of the table's last digit
            assert abs(m - e) <= unit / 2 + 1e-9, f"{name} {key}: measured {m}, DESIGN.md {e}"


# --- the synthetic profiles against their traces -----------------------------------------------------

# Tolerances of a profile's long sample against its trace's statistics (the sample: 3 independent
# streams of 40,000 requests, each statistic averaged over them):
#   rate within 10 %, inter-arrival CV within 15 %, variance-to-mean of 10-second counts within 20 %,
#   log-normal mu and sigma of ln(tokens), prefill and decode, within 0.05 (absolute).
# Token quantiles are NOT matched: a log-normal fit cannot reproduce a trace's median and p99 at once
# (the traces' token counts are capped and skewed), so only the fit itself is asserted.
RATE_TOL, CV_TOL, DISPERSION_TOL, LOGNORMAL_TOL = 0.10, 0.15, 0.20, 0.05
STREAMS, REQUESTS = 3, 40_000


def profile_streams(name: str, seed: int) -> list[dict]:
    """Statistics of `STREAMS` independent streams of a profile, each as `profile_sample` draws one
    (its MMPP with the profile's parameters, log-normal tokens), vectorized over the streams."""
    p = PROFILES[name]
    generator = torch.Generator().manual_seed(seed)
    arrivals_s = (
        mmpp_arrivals_ms(
            STREAMS,
            REQUESTS,
            p.arrival_rate_per_s,
            p.burst_factor,
            p.burst_len_s,
            p.calm_len_s,
            generator,
            CPU,
            p.burst_phases,
        ).double()
        / 1e3
    )
    prefill = lognormal_tokens((STREAMS, REQUESTS), *p.prefill_lognormal, generator, CPU)
    decode = lognormal_tokens((STREAMS, REQUESTS), *p.decode_lognormal, generator, CPU)
    return [trace_statistics(arrivals_s[i], prefill[i], decode[i]) for i in range(STREAMS)]


@pytest.mark.parametrize("name", ["conv", "code"])
def test_profile_matches_its_trace(azure_traces: Path, name: str) -> None:
    trace = stats_of(load_trace(azure_traces / f"azure_llm_2023_{name}.csv"))
    streams = profile_streams(name, seed=0)

    def mean(key: str, i: int | None = None) -> float:
        return sum(s[key] if i is None else s[key][i] for s in streams) / len(streams)

    print(f"\nprofile {name} ({STREAMS} x {REQUESTS} requests) vs trace:")
    for key, tol in (("rate_per_s", RATE_TOL), ("interarrival_cv", CV_TOL), ("count_var_to_mean_10s", DISPERSION_TOL)):
        sample = mean(key)
        per_stream = ", ".join(f"{s[key]:.3f}" for s in streams)
        print(f"  {key}: profile {sample:.3f} (streams {per_stream}) trace {trace[key]:.3f}")
        assert abs(sample / trace[key] - 1.0) <= tol, f"{name} {key}: profile {sample:.3f}, trace {trace[key]:.3f}"
    for key in ("prefill_lognormal_mu_sigma", "decode_lognormal_mu_sigma"):
        for i, part in enumerate(("mu", "sigma")):
            sample = mean(key, i)
            print(f"  {key} {part}: profile {sample:.3f} trace {trace[key][i]:.3f}")
            assert abs(sample - trace[key][i]) <= LOGNORMAL_TOL, f"{name} {key} {part}"


@pytest.mark.parametrize("name", ["conv", "code"])
def test_profile_sample_is_a_seeded_sorted_stream(name: str) -> None:
    arrivals, prefill, decode = profile_sample(name, 500, torch.Generator().manual_seed(3))
    again = profile_sample(name, 500, torch.Generator().manual_seed(3))
    assert arrivals.shape == prefill.shape == decode.shape == (500,)
    assert bool((torch.diff(arrivals) >= 0).all()) and float(arrivals[0]) >= 0.0
    assert bool((prefill >= 1).all()) and bool((decode >= 1).all())
    assert bool((prefill == prefill.round()).all())
    for a, b in zip((arrivals, prefill, decode), again, strict=True):
        assert torch.equal(a, b)


# --- the MMPP generator ------------------------------------------------------------------------------


def mmpp(rows: int, tasks: int, seed: int = 0, **kwargs) -> torch.Tensor:
    """Arrival seconds [rows, tasks] of `mmpp_arrivals_ms` (rate 2/s, bursts x20 of 3 s every 30 s)."""
    params = dict(rate_per_s=2.0, burst_factor=20.0, burst_len_s=3.0, calm_len_s=30.0, burst_phases=1) | kwargs
    generator = torch.Generator().manual_seed(seed)
    return mmpp_arrivals_ms(rows, tasks, generator=generator, device=CPU, **params).double() / 1e3


def row_stats(arrivals_s: torch.Tensor) -> list[dict]:
    return [trace_statistics(row, row, row) for row in arrivals_s]


def test_mmpp_mean_rate_is_the_requested_rate() -> None:
    for rate in (0.5, 6.0):
        arrivals = mmpp(8, 5000, rate_per_s=rate, burst_factor=4.0, burst_len_s=2.0, calm_len_s=8.0)
        measured = float((arrivals.shape[1] / arrivals[:, -1]).mean())
        assert abs(measured / rate - 1.0) <= 0.05, f"requested {rate}/s, measured {measured:.3f}/s"


def test_mmpp_without_bursts_is_poisson() -> None:
    stats = row_stats(mmpp(4, 5000, burst_factor=1.0))
    cv = sum(s["interarrival_cv"] for s in stats) / len(stats)
    dispersion = sum(s["count_var_to_mean_10s"] for s in stats) / len(stats)
    assert abs(cv - 1.0) <= 0.05
    assert abs(dispersion - 1.0) <= 0.15


def test_more_burst_phases_give_steadier_bursts() -> None:
    # equal mean burst and calm lengths; Erlang(16) bursts vary less in length than exponential ones,
    # so the counts of 10-second windows vary less (measured: about 33 vs 22 at these settings)
    dispersion = {}
    for phases in (1, 16):
        stats = row_stats(mmpp(6, 6000, seed=1, burst_phases=phases))
        dispersion[phases] = sum(s["count_var_to_mean_10s"] for s in stats) / len(stats)
        rate = sum(s["rate_per_s"] for s in stats) / len(stats)
        assert abs(rate / 2.0 - 1.0) <= 0.1
    assert dispersion[16] < 0.85 * dispersion[1], dispersion
    assert dispersion[16] > 5.0  # still bursty


def test_mmpp_rows_are_sorted_and_seeded() -> None:
    arrivals = mmpp(5, 300, seed=4)
    assert arrivals.shape == (5, 300)
    assert bool((torch.diff(arrivals, dim=1) >= 0).all()) and bool((arrivals >= 0).all())
    assert torch.equal(arrivals, mmpp(5, 300, seed=4))
    assert not torch.equal(arrivals, mmpp(5, 300, seed=5))
    assert not torch.equal(arrivals[0], arrivals[1])  # rows are independent streams


# --- bad traces --------------------------------------------------------------------------------------

BAD_TRACES = {
    # name: (file text, None for no file, and the parts the message must contain)
    "missing-column": (
        "arrived_at,num_prefill_tokens\n0,10\n1,20\n",
        ["missing column", "num_decode_tokens"],
    ),
    "negative-time": (f"{HEADER}\n0,10,5\n-1,10,5\n", ["row 2", "line 3", "arrived_at"]),
    "decreasing-time": (f"{HEADER}\n0,10,5\n2.5,10,5\n2.0,10,5\n", ["row 3", "line 4", "arrived_at", "earlier"]),
    "non-numeric-tokens": (f"{HEADER}\n0,10,5\n1,10,many\n", ["row 2", "num_decode_tokens", "not a number"]),
    "nan-tokens": (f"{HEADER}\n0,10,5\n1,nan,5\n2,10,5\n", ["row 2", "num_prefill_tokens"]),
    "inf-time": (f"{HEADER}\n0,10,5\n1,10,5\ninf,10,5\n", ["row 3", "arrived_at"]),
    "negative-tokens": (f"{HEADER}\n0,10,5\n1,10,-5\n", ["row 2", "num_decode_tokens"]),
    "wrong-field-count": (f"{HEADER}\n0,10,5\n1,10\n2,10,5\n", ["row 2", "expected 3 fields, found 2"]),
    "empty-file": ("", ["empty"]),
    "header-only": (f"{HEADER}\n", ["at least two requests", "found 0"]),
    "single-request": (f"{HEADER}\n0,10,5\n", ["at least two requests", "found 1"]),
    "no-such-file": (None, ["no such file"]),
}


@pytest.mark.parametrize("case", list(BAD_TRACES))
def test_bad_trace_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    text, parts = BAD_TRACES[case]
    path = tmp_path / f"{case}.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError) as info:
        load_trace(path)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_a_good_trace_loads_with_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\n0.0,100,10\r\n\r\n0.5,200,20\r\n1.5,300,30\r\n").encode("utf-8"))
    trace = load_trace(path)
    assert trace.arrived_s.tolist() == [0.0, 0.5, 1.5]
    assert trace.prefill_tokens.tolist() == [100, 200, 300]
    assert trace.decode_tokens.tolist() == [10, 20, 30]
    assert trace.duration_s == pytest.approx(1.5 + 1.5 / 2)  # plus one mean gap for the wrap-around


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", ["decreasing-time", "non-numeric-tokens", "empty-file", "no-such-file"])
def test_trace_stats_on_a_bad_trace_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    text, parts = BAD_TRACES[case]
    path = tmp_path / f"{case}.csv"
    if text is not None:
        path.write_text(text)
    code, out, err = cli(capsys, "data", "trace-stats", str(path))
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err
    for part in parts:
        assert part in lines[0]


@pytest.fixture
def small_trace(tmp_path: Path) -> Path:
    """40 requests in bursts of four (10 ms apart) every 2.5 s, tokens from a pattern."""
    rows = [(2.5 * (i // 4) + 0.01 * (i % 4), 100 + 7 * i, 5 + i) for i in range(40)]
    return write_trace(tmp_path / "small.csv", rows)


def test_trace_stats_prints_the_table(small_trace: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "data", "trace-stats", str(small_trace))
    assert code == 0 and err == ""
    assert "trace statistics" in out and "small.csv" in out
    expected = stats_of(load_trace(small_trace))
    for key in expected:
        assert key in out
    assert f"{expected['interarrival_cv']:,.2f}" in out
    assert f"{expected['rate_per_s']:,.2f}" in out


def test_trace_stats_json_and_profile(small_trace: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = cli(capsys, "data", "trace-stats", str(small_trace), "--json")
    assert code == 0
    columns = json.loads(out)
    assert list(columns) == ["small.csv"]
    expected = stats_of(load_trace(small_trace))
    assert columns["small.csv"]["requests"] == 40
    assert columns["small.csv"]["interarrival_cv"] == pytest.approx(expected["interarrival_cv"])

    code, out, _ = cli(capsys, "data", "trace-stats", str(small_trace), "--profile", "code", "--json")
    assert code == 0
    columns = json.loads(out)
    assert list(columns) == ["small.csv", "profile code"]
    profile = columns["profile code"]
    assert profile["requests"] == 20_000  # at least 20,000, or the trace's size
    assert profile["interarrival_cv"] > 5.0  # the code profile is far burstier than Poisson
    mu, sigma = PROFILES["code"].prefill_lognormal
    assert profile["prefill_lognormal_mu_sigma"] == pytest.approx([mu, sigma], abs=0.05)


# --- replay in the env -------------------------------------------------------------------------------

# 10 requests with distinct gaps (binary fractions: exact in float32) and distinct token counts, so a
# window's offset can be read off its first prefill count.
REPLAY_TIMES_S = [0.0, 0.5, 0.75, 2.0, 2.125, 3.0, 4.5, 4.625, 6.0, 7.25]
REPLAY_PREFILL = [100 + i for i in range(10)]
REPLAY_DECODE = [10 + 3 * i for i in range(10)]


@pytest.fixture
def replay_trace(tmp_path: Path) -> Path:
    rows = list(zip(REPLAY_TIMES_S, REPLAY_PREFILL, REPLAY_DECODE, strict=True))
    return write_trace(tmp_path / "replay.csv", rows)


def replay_env(trace: Path, seed: int = 0, batch: int = 4, **overrides) -> EdgeCloudMoEEnv:
    overrides = dict(tasks_per_episode=16) | overrides
    env = make_env("CH-500", batch_size=batch, max_candidates=8, trace=str(trace), seed=seed, **overrides)
    env.reset()
    return env


def expected_window(offset: int, tasks: int, rate_scale: float) -> list[float]:
    """Arrival ms of `tasks` requests replayed from `offset`; a lap adds the trace's duration plus
    one mean gap (the wrap-around gap)."""
    n = len(REPLAY_TIMES_S)
    lap_s = REPLAY_TIMES_S[-1] + (REPLAY_TIMES_S[-1] - REPLAY_TIMES_S[0]) / (n - 1)
    times = [REPLAY_TIMES_S[(offset + j) % n] + (offset + j) // n * lap_s for j in range(tasks)]
    return [(t - times[0]) * 1e3 / rate_scale for t in times]


def test_replay_windows_follow_the_trace_and_wrap_around(replay_trace: Path) -> None:
    env = replay_env(replay_trace, seed=3)
    n = len(REPLAY_TIMES_S)
    offsets = [int(p) - 100 for p in env.state.prefill[:, 0, 0]]
    assert len(set(offsets)) > 1, "every row started at the same offset"
    for row, offset in enumerate(offsets):
        arrivals = env.state.arrival_ms[row].double()
        assert arrivals.tolist() == pytest.approx(expected_window(offset, 16, 1.0), abs=1e-3)
        idx = [(offset + j) % n for j in range(16)]
        # the same requests' token counts, for every step of the task
        assert env.state.prefill[row].tolist() == [[REPLAY_PREFILL[i]] * env.tables.max_len for i in idx]
        assert env.state.decode[row].tolist() == [[REPLAY_DECODE[i]] * env.tables.max_len for i in idx]
        # 16 tasks from 10 requests: every window wraps; the gap across the end is the mean gap
        wrap = idx.index(0, 1) if offset == 0 else idx.index(0)
        assert float(arrivals[wrap] - arrivals[wrap - 1]) == pytest.approx(7.25 / 9 * 1e3, abs=1e-3)
        # every other gap is the trace's own
        for j in range(1, 16):
            if idx[j] != 0:
                gap_ms = (REPLAY_TIMES_S[idx[j]] - REPLAY_TIMES_S[idx[j] - 1]) * 1e3
                assert float(arrivals[j] - arrivals[j - 1]) == pytest.approx(gap_ms, abs=1e-3)
    assert torch.equal(env.state.ready_ms, env.state.arrival_ms)


def test_replay_rate_scale_and_seed(replay_trace: Path) -> None:
    env = replay_env(replay_trace, seed=5)
    arrival_ms, prefill = env.state.arrival_ms.clone(), env.state.prefill.clone()
    denser = replay_env(replay_trace, seed=5, trace_rate_scale=2.0)
    assert torch.equal(denser.state.prefill, prefill)  # the same windows ...
    assert torch.allclose(denser.state.arrival_ms, arrival_ms / 2.0)  # ... twice as dense
    env.set_seed(5)
    env.reset()
    assert torch.equal(env.state.arrival_ms, arrival_ms) and torch.equal(env.state.prefill, prefill)
    env.set_seed(6)
    env.reset()
    assert not torch.equal(env.state.prefill, prefill)


def run_episode(env: EdgeCloudMoEEnv, action: int) -> list[dict[str, torch.Tensor]]:
    """Serve one episode with a fixed candidate slot; per step, the metrics, tokens and the speed of
    the chosen server, of the rows still running."""
    td = env.reset()
    b = torch.arange(env.batch_size[0])
    records = []
    running = torch.ones(env.batch_size[0], dtype=torch.bool)
    while bool(running.any()):
        step = env.state.step[b, env.state.slot].clamp_max(env.tables.max_len - 1)
        tokens = (env.state.prefill[b, env.state.slot, step], env.state.decode[b, env.state.slot, step])
        slot = torch.where(td["action_mask"][:, action], action, td["action_mask"].float().argmax(1))
        dst = env.state.cand[b, slot]
        td["action"] = slot
        td = env.step(td)
        metrics = td["next", "metrics"]
        records.append(
            {
                "running": running.clone(),
                "prefill": tokens[0],
                "decode": tokens[1],
                "tokens_per_ms": env.tables.tokens_per_ms[dst],
                **{key: metrics[key].clone() for key in ("compute_ms", "transfer_cost")},
            }
        )
        running &= ~td["next", "done"].reshape(-1)
        td = step_mdp(td)
    return records


@pytest.fixture
def one_task_trace(tmp_path: Path) -> Path:
    """Requests of 600 prefill and 200 decode tokens, one per second."""
    return write_trace(tmp_path / "one-task.csv", [(float(i), 600, 200) for i in range(8)])


def test_decode_tokens_cost_decode_cost_prefill_tokens(one_task_trace: Path) -> None:
    # one task per episode: its steps follow each other whatever their durations, so both settings
    # take the same decisions
    common = dict(tasks_per_episode=1, trap_rate_per_s=0.0)
    cheap = run_episode(replay_env(one_task_trace, seed=2, decode_cost=1.0, **common), action=1)
    dear = run_episode(replay_env(one_task_trace, seed=2, decode_cost=3.0, **common), action=1)
    assert len(cheap) == len(dear) >= 2
    for a, b in zip(cheap, dear, strict=True):
        live = a["running"]
        speed = a["tokens_per_ms"][live]
        assert torch.equal(a["tokens_per_ms"], b["tokens_per_ms"])
        assert torch.allclose(a["compute_ms"][live], (600.0 + 200.0) / speed)
        extra = b["compute_ms"][live] - a["compute_ms"][live]
        assert torch.allclose(extra, (3.0 - 1.0) * 200.0 / speed, rtol=1e-4)


def test_activations_moved_count_prefill_and_decode_tokens(tmp_path: Path) -> None:
    short = write_trace(tmp_path / "short-answers.csv", [(float(i), 600, 200) for i in range(8)])
    long = write_trace(tmp_path / "long-answers.csv", [(float(i), 600, 600) for i in range(8)])
    common = dict(tasks_per_episode=1, trap_rate_per_s=0.0)
    a = run_episode(replay_env(short, seed=2, **common), action=1)
    b = run_episode(replay_env(long, seed=2, **common), action=1)
    moved = 0
    for step_a, step_b in zip(a, b, strict=True):
        live = step_a["running"]
        cost_a, cost_b = step_a["transfer_cost"][live], step_b["transfer_cost"][live]
        assert torch.equal(cost_a > 0, cost_b > 0)
        # same hops, payload (600 + 600) / (600 + 200) times larger
        assert torch.allclose(cost_b[cost_a > 0], cost_a[cost_a > 0] * 1.5, rtol=1e-5)
        moved += int((cost_a > 0).sum())
    assert moved > 0, "no step moved between servers"


# --- the synthetic profiles in the env ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["conv", "code"])
def test_workload_profiles_run_in_the_env(name: str) -> None:
    env = make_env("CH-500", batch_size=2, max_candidates=8, workload=name, seed=0)
    check_env_specs(env, seed=1)

    wide = make_env("CH-500", batch_size=256, max_candidates=8, workload=name, seed=0)
    wide.reset()
    state = wide.state
    assert bool((torch.diff(state.arrival_ms, dim=1) >= 0).all())
    assert torch.equal(state.prefill, state.prefill[:, :, :1].expand_as(state.prefill))  # one count per task
    profile = PROFILES[name]
    for tokens, (mu, sigma) in ((state.prefill, profile.prefill_lognormal), (state.decode, profile.decode_lognormal)):
        per_task = tokens[:, :, 0].flatten()
        assert bool((per_task >= 1).all())
        # the median of 4,096 log-normal draws lies within a few percent of exp(mu)
        assert float(per_task.median()) == pytest.approx(math.exp(mu), rel=0.1)
        assert float(torch.log(per_task).std()) == pytest.approx(sigma, abs=0.1)
