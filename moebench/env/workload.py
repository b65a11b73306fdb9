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
    prefill_lognormal: tuple[float, float]
    decode_lognormal: tuple[float, float]


# Token fits are the log-normal fits of DESIGN.md's table; the arrival parameters are chosen so that
# the inter-arrival coefficient of variation and the variance-to-mean ratio of 10-second counts match
# the traces (conv: 1.09 and 4.0; code: 13.15 and 71.3), checked by tests/test_workload.py.
PROFILES: dict[str, Profile] = {
    "conv": Profile(5.53, 3.0, 40.0, 160.0, (6.63, 0.99), (5.02, 0.86)),
    "code": Profile(2.57, 400.0, 0.8, 400.0, (7.00, 1.36), (2.79, 0.85)),
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
) -> Tensor:
    """Arrival times [rows, tasks] (ms from the episode start) of a two-state MMPP.

    Calm state rate r, burst state rate burst_factor * r, exponential sojourns with the given means;
    r is set so the long-run mean rate is `rate_per_s`. The initial state is drawn from the
    stationary law. Simulated event by event (arrival or switch), vectorized over rows.
    """
    p_burst = burst_len_s / (burst_len_s + calm_len_s)
    calm_rate = rate_per_s / (1.0 - p_burst + burst_factor * p_burst) * 1e-3  # per ms
    rates = torch.tensor([calm_rate, calm_rate * burst_factor], device=device, dtype=torch.float64)
    switch = torch.tensor([1.0 / (calm_len_s * 1e3), 1.0 / (burst_len_s * 1e3)], device=device, dtype=torch.float64)
    state = (torch.rand(rows, generator=generator, device=device) < p_burst).long()
    clock = torch.zeros(rows, device=device, dtype=torch.float64)
    count = torch.zeros(rows, device=device, dtype=torch.long)
    out = torch.zeros(rows, tasks + 1, device=device, dtype=torch.float64)  # last column absorbs finished rows
    while bool((count < tasks).any()):
        draws = torch.rand(rows, 2, generator=generator, device=device, dtype=torch.float64)
        total = rates[state] + switch[state]
        clock = clock - torch.log1p(-draws[:, 0]) / total
        is_arrival = draws[:, 1] < rates[state] / total
        write = is_arrival & (count < tasks)
        out.scatter_(1, torch.where(write, count, tasks).unsqueeze(1), clock.unsqueeze(1))
        count = count + write.long()
        state = torch.where(is_arrival, state, 1 - state)
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
_TRACE_CACHE: dict[str, Trace] = {}


def load_trace(path: str | Path) -> Trace:
    """Read and validate a trace CSV; one `UserError` naming the row for any defect."""
    path = Path(path)
    key = str(path.resolve())
    if key in _TRACE_CACHE:
        return _TRACE_CACHE[key]
    if not path.is_file():
        raise UserError(f"trace {path}: no such file")
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
