"""Where tasks come from: arrival times and token counts, drawn when an episode starts.

Three sources:
- the region's tasks with a two-state Markov-modulated Poisson process (MMPP) of arrivals
  (default; tokens from TaskSize as in the seed, or from request_log.csv when present);
- a named synthetic profile (`conv`, `code`) calibrated to the public Azure LLM inference traces
  of 2023: MMPP arrivals and log-normal prefill / decode token counts;
- replay of a trace CSV (`arrived_at` seconds, `num_prefill_tokens`, `num_decode_tokens`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from moebench.errors import UserError


@dataclass(frozen=True)
class Profile:
    """A synthetic workload: MMPP arrivals and log-normal token counts (mu, sigma of ln tokens)."""

    arrival_rate_per_s: float
    burst_factor: float
    burst_len_s: float
    calm_len_s: float
    burst_phases: int
    prefill_lognormal: tuple[float, float]
    decode_lognormal: tuple[float, float]


# Token fits are the log-normal fits of DESIGN.md's table. The arrival parameters were fitted by a
# grid search so that the inter-arrival coefficient of variation and the variance-to-mean ratio of
# 10-second counts come close to the traces' (conv: 1.09 and 4.0; code: 13.15 and 71.3);
# tests/test_workload.py checks them against the traces. The code trace's bursts need a near-silent
# calm state and steady-length bursts (16 phases): with exponential bursts a two-state MMPP cannot
# reach its inter-arrival CV without doubling its count dispersion.
PROFILES: dict[str, Profile] = {
    "conv": Profile(5.53, 1.8, 45.0, 30.0, 1, (6.63, 0.99), (5.02, 0.86)),
    "code": Profile(2.57, 1e5, 3.0, 34.0, 16, (7.00, 1.36), (2.79, 0.85)),
}


def mmpp_arrivals_ms(
    rows: int,
    tasks: int,
    rate_per_s: float,
    burst_factor: float,
    burst_len_s: float,
    calm_len_s: float,
    generator: torch.Generator,
    device: torch.device,
    burst_phases: int = 1,
) -> Tensor:
    """Arrival times [rows, tasks] (ms from the episode start) of a Markov-modulated Poisson process.

    A calm state with rate r alternates with a burst of rate burst_factor * r; calm periods are
    exponential with mean `calm_len_s`, bursts last `burst_len_s` on average, made of `burst_phases`
    exponential phases in a row (1: the classic two-state MMPP; more: bursts of steadier length,
    an Erlang law). r is set so the long-run mean rate is `rate_per_s`; the first state is drawn
    from the stationary law. Simulated event by event (arrival or phase change), vectorized over rows.
    """
    k = burst_phases
    p_burst = burst_len_s / (burst_len_s + calm_len_s)
    calm_rate = rate_per_s / (1.0 - p_burst + burst_factor * p_burst) * 1e-3  # per ms
    f64 = dict(device=device, dtype=torch.float64)
    rates = torch.tensor([calm_rate] + [calm_rate * burst_factor] * k, **f64)
    leave = torch.tensor([1.0 / (calm_len_s * 1e3)] + [k / (burst_len_s * 1e3)] * k, **f64)
    start = torch.rand(rows, 2, generator=generator, device=device)
    phase = 1 + (start[:, 1] * k).long().clamp_max(k - 1)
    state = torch.where(start[:, 0] < p_burst, phase, 0)
    clock = torch.zeros(rows, **f64)
    count = torch.zeros(rows, device=device, dtype=torch.long)
    out = torch.zeros(rows, tasks + 1, **f64)  # the last column absorbs rows that are done
    while bool((count < tasks).any()):
        draws = torch.rand(rows, 2, generator=generator, **f64)
        total = rates[state] + leave[state]
        clock = clock - torch.log1p(-draws[:, 0]) / total
        is_arrival = draws[:, 1] < rates[state] / total
        write = is_arrival & (count < tasks)
        out.scatter_(1, torch.where(write, count, tasks).unsqueeze(1), clock.unsqueeze(1))
        count = count + write.long()
        state = torch.where(is_arrival, state, torch.where(state == k, 0, state + 1))
    return out[:, :tasks].float()


def lognormal_tokens(shape: tuple[int, ...], mu: float, sigma: float, generator: torch.Generator, device) -> Tensor:
    normal = torch.randn(shape, generator=generator, device=device)
    return torch.exp(mu + sigma * normal).round().clamp_min(1.0)


@dataclass
class Trace:
    """A request trace: arrival seconds (non-decreasing) and token counts, as float64 tensors."""

    path: Path
    arrived_s: Tensor
    prefill_tokens: Tensor
    decode_tokens: Tensor

    @property
    def duration_s(self) -> float:
        gap = float(self.arrived_s[-1] - self.arrived_s[0])
        # wrap-around gap: one mean inter-arrival after the last request
        return gap + gap / max(len(self.arrived_s) - 1, 1)


TRACE_COLUMNS = ("arrived_at", "num_prefill_tokens", "num_decode_tokens")
_TRACE_CACHE: dict[tuple, Trace] = {}


def load_trace(path: str | Path) -> Trace:
    """Read and validate a trace CSV; one `UserError` naming the row for any defect."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"trace {path}: no such file")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)  # an edited file is read again
    if key in _TRACE_CACHE:
        return _TRACE_CACHE[key]
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"trace {path}: cannot be read as text ({err})") from None
    rows = list(csv.reader(lines))
    if not rows or not any(c.strip() for c in rows[0]):
        raise UserError(f"trace {path.name}: the file is empty (expected the header {','.join(TRACE_COLUMNS)})")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in TRACE_COLUMNS if c not in header]
    if missing:
        raise UserError(f"trace {path.name}: missing column {', '.join(missing)} (the header has {', '.join(header)})")
    idx = [header.index(c) for c in TRACE_COLUMNS]
    values: list[tuple[float, float, float]] = []
    previous = -math.inf
    for r, row in enumerate(rows[1:], start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise UserError(
                f"trace {path.name}, row {r} (line {r + 1}): expected {len(header)} fields, found {len(row)}"
            )
        parsed = []
        for col, i in zip(TRACE_COLUMNS, idx, strict=True):
            try:
                v = float(row[i])
            except ValueError:
                raise UserError(
                    f"trace {path.name}, row {r} (line {r + 1}), column {col}: {row[i]!r} is not a number"
                ) from None
            if not math.isfinite(v) or v < 0:
                raise UserError(
                    f"trace {path.name}, row {r} (line {r + 1}), column {col}: {row[i]} must be a "
                    "non-negative finite number"
                )
            parsed.append(v)
        if parsed[0] < previous:
            raise UserError(
                f"trace {path.name}, row {r} (line {r + 1}), column arrived_at: {parsed[0]} is earlier "
                f"than the row before ({previous}); times must not decrease"
            )
        previous = parsed[0]
        values.append(tuple(parsed))
    if len(values) < 2:
        raise UserError(f"trace {path.name}: needs at least two requests, found {len(values)}")
    data = torch.tensor(values, dtype=torch.float64)
    trace = Trace(path, data[:, 0], data[:, 1], data[:, 2])
    _TRACE_CACHE[key] = trace
    return trace


def trace_window(
    trace: Trace, rows: int, tasks: int, rate_scale: float, generator: torch.Generator, device
) -> tuple[Tensor, Tensor, Tensor]:
    """Arrivals [rows, tasks] (ms from the window start) and token counts of `tasks` consecutive
    requests starting at a random offset per row, wrapping around at the trace's end."""
    n = trace.arrived_s.numel()
    offset = torch.randint(0, n, (rows, 1), generator=generator, device=device)
    pos = offset + torch.arange(tasks, device=device)
    idx = pos % n
    laps = (pos // n).double()
    arrived = trace.arrived_s.to(device)
    times_s = arrived[idx] + laps * trace.duration_s - arrived[offset]
    arrivals_ms = (times_s * 1e3 / rate_scale).float()
    return arrivals_ms, trace.prefill_tokens.to(device)[idx].float(), trace.decode_tokens.to(device)[idx].float()


def trace_statistics(arrived_s: Tensor, prefill: Tensor, decode: Tensor) -> dict:
    """The burstiness and token statistics DESIGN.md reports for the Azure traces."""
    arrived_s, prefill, decode = arrived_s.double(), prefill.double(), decode.double()
    gaps = torch.diff(arrived_s)
    duration = float(arrived_s[-1] - arrived_s[0])
    counts = torch.bincount(torch.floor((arrived_s - arrived_s[0]) / 10.0).long()).double()
    # population variance (ddof 0) of the 10-second counts, as in DESIGN.md's table (code: 71.3; unbiased 71.5)
    dispersion = float(counts.var(correction=0) / counts.mean()) if counts.numel() > 1 else float("nan")

    def quantiles(x: Tensor) -> list[float]:
        return [float(torch.quantile(x, q)) for q in (0.5, 0.9, 0.99)]

    def lognormal(x: Tensor) -> list[float]:
        logs = torch.log(x.clamp_min(1.0))
        return [float(logs.mean()), float(logs.std())]

    return {
        "requests": int(arrived_s.numel()),
        "duration_s": duration,
        "rate_per_s": arrived_s.numel() / duration if duration > 0 else float("nan"),
        "interarrival_cv": float(gaps.std() / gaps.mean()) if gaps.numel() > 1 else float("nan"),
        "count_var_to_mean_10s": dispersion,
        "prefill_p50_p90_p99": quantiles(prefill),
        "decode_p50_p90_p99": quantiles(decode),
        "prefill_lognormal_mu_sigma": lognormal(prefill),
        "decode_lognormal_mu_sigma": lognormal(decode),
    }


def profile_sample(name: str, requests: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """One long stream of a synthetic profile (seconds, prefill, decode), e.g. to compare with a trace."""
    p = PROFILES[name]
    arrivals = (
        mmpp_arrivals_ms(
            1,
            requests,
            p.arrival_rate_per_s,
            p.burst_factor,
            p.burst_len_s,
            p.calm_len_s,
            generator,
            torch.device("cpu"),
            p.burst_phases,
        )[0].double()
        / 1e3
    )
    prefill = lognormal_tokens((requests,), *p.prefill_lognormal, generator, "cpu")
    decode = lognormal_tokens((requests,), *p.decode_lognormal, generator, "cpu")
    return arrivals, prefill, decode
