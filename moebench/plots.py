"""The figures of a run, drawn from its logs and results (matplotlib, PNG and PDF).

Each function takes plain data (as stored in a run folder) and writes `<out>/<name>.png` and
`.pdf`; `draw_all` draws every figure a run folder has data for.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update(
    {
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 9,
        "figure.dpi": 110,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)

OBJECTIVES = ("latency", "compute cost", "transfer cost")


def _save(fig, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.tight_layout()
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths


def _ema(values: list[float], weight: float) -> list[float]:
    out, last = [], None
    for v in values:
        last = v if last is None or not math.isfinite(last) else weight * last + (1 - weight) * v
        out.append(last)
    return out


def _mean_band(curves: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float], list[float]]:
    """Mean and standard deviation over seeds, on the frames of the shortest run."""
    n = min(len(x) for x, _ in curves)
    xs = curves[0][0][:n]
    mean, std = [], []
    for i in range(n):
        values = [y[i] for _, y in curves if math.isfinite(y[i])]
        m = sum(values) / len(values) if values else float("nan")
        s = (sum((v - m) ** 2 for v in values) / len(values)) ** 0.5 if values else 0.0
        mean.append(m)
        std.append(s)
    return xs, mean, std


def _plot_band(ax, curves: list[tuple[list[float], list[float]]], label: str) -> None:
    """The mean over seeds as a line, +-1 standard deviation as a band around it."""
    xs, mean, std = _mean_band(curves)
    line = ax.plot(xs, mean, label=label)[0]
    low = [m - s for m, s in zip(mean, std, strict=True)]
    high = [m + s for m, s in zip(mean, std, strict=True)]
    ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2)


def learning_curves(logs: dict[str, list[list[dict]]], out: Path, smoothing: float = 0.6) -> list[Path]:
    """Return, task latency and cost against frames; mean and +-1 std band over seeds.
    `logs`: algorithm -> one list of log.jsonl records per seed."""
    panels = [
        ("return", "episode return"),
        ("task_latency_ms", "task latency (ms)"),
        ("cost_per_task", "cost per task (USD)"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for algo, runs in sorted(logs.items()):
        for ax, (key, label) in zip(axes, panels, strict=True):
            curves = []
            for records in runs:
                if key == "cost_per_task":
                    points = [
                        (r["frames"], r["compute_cost_per_task"] + r["transfer_cost_per_task"])
                        for r in records
                        if r.get("compute_cost_per_task") is not None and r.get("transfer_cost_per_task") is not None
                    ]
                else:  # iterations in which no episode ended log null: skip them
                    points = [(r["frames"], r[key]) for r in records if r.get(key) is not None and r[key] == r[key]]
                if points:
                    xs, ys = zip(*points, strict=True)
                    curves.append((list(xs), _ema(list(ys), smoothing)))
            if curves:
                _plot_band(ax, curves, f"{algo} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            ax.set_xlabel("environment frames")
            ax.set_ylabel(label)
    axes[0].set_title("learning: return")
    axes[1].set_title("learning: task latency")
    axes[2].set_title("learning: cost")
    axes[0].legend()
    return _save(fig, out, "learning_curves")


def latency_cdf(latencies: dict[str, list[float]], out: Path, split: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for policy, values in sorted(latencies.items()):
        values = sorted(values)
        if not values:
            continue
        ys = [(i + 1) / len(values) for i in range(len(values))]
        ax.plot(values, ys, label=policy)
    ax.set_xscale("log")
    ax.set_xlabel("task latency (ms, log scale)")
    ax.set_ylabel("share of tasks")
    ax.set_title(f"task latency CDF on {split}")
    ax.legend()
    return _save(fig, out, "latency_cdf")


def cost_breakdown(results: dict[str, dict], out: Path, split: str) -> list[Path]:
    """Compute vs network transmission cost per task, per policy (two panels: their scales differ
    by two orders of magnitude)."""
    policies = sorted(results)
    compute = [results[p]["compute_cost_per_task"] for p in policies]
    transfer = [results[p]["transfer_cost_per_task"] for p in policies]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    axes[0].bar(policies, compute, color="tab:blue")
    axes[0].set_ylabel("compute cost per task (USD)")
    axes[0].set_title(f"compute cost on {split}")
    axes[1].bar(policies, transfer, color="tab:orange")
    axes[1].set_ylabel("network transmission cost per task (USD)")
    axes[1].set_title(f"transmission cost on {split}")
    for ax in axes:
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    return _save(fig, out, "cost_breakdown")


def pareto(points: dict[str, list[dict]], out: Path, split: str) -> list[Path]:
    """Latency against cost, one point per policy and preference; the non-dominated points joined."""
    fig, ax = plt.subplots(figsize=(7, 5))
    everything = []
    markers = "os^Dv<>pPX*h"
    for i, (policy, rows) in enumerate(sorted(points.items())):
        xs = [r["cost_per_task"] for r in rows]
        ys = [r["latency_mean_ms"] for r in rows]
        ax.scatter(xs, ys, marker=markers[i % len(markers)], label=policy, s=40)
        everything += list(zip(xs, ys, strict=True))
    frontier = sorted(p for p in everything if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in everything))
    if len(frontier) > 1:
        ax.plot([p[0] for p in frontier], [p[1] for p in frontier], "k--", lw=1, label="Pareto front")
    ax.set_xlabel("cost per task (USD, compute + transfer)")
    ax.set_ylabel("mean task latency (ms)")
    ax.set_title(f"latency vs cost on {split} (one point per preference)")
    ax.legend(ncol=2)
    return _save(fig, out, "pareto")


def dwa_weights(logs: dict[str, list[list[dict]]], out: Path) -> list[Path]:
    """DWA objective weights over training (mean over seeds) for every algorithm that logs them."""
    with_dwa = {a: runs for a, runs in logs.items() if runs and "dwa_weights" in runs[0][0]}
    fig, axes = plt.subplots(1, max(len(with_dwa), 1), figsize=(6 * max(len(with_dwa), 1), 4), squeeze=False)
    for ax, (algo, runs) in zip(axes[0], sorted(with_dwa.items()), strict=False):
        for k, name in enumerate(OBJECTIVES):
            curves = [([r["frames"] for r in recs], [r["dwa_weights"][k] for r in recs]) for recs in runs]
            _plot_band(ax, curves, name)
        ax.set_xlabel("environment frames")
        ax.set_ylabel("DWA weight")
        ax.set_ylim(0, 1)
        ax.set_title(f"DWA weights: {algo}")
        ax.legend()
    if not with_dwa:
        axes[0][0].text(0.5, 0.5, "no algorithm with DWA in this run", ha="center", va="center")
        axes[0][0].set_axis_off()
    return _save(fig, out, "dwa_weights")


def scalability(rows: dict[str, dict[int, dict]], out: Path) -> list[Path]:
    """Normalized score and measured decision time against the number of servers, per policy.
    `rows`: policy -> servers -> {"score": ..., "decision_us": ...}."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for policy, by_size in sorted(rows.items()):
        sizes = sorted(by_size)
        axes[0].plot(sizes, [by_size[n]["score"] for n in sizes], marker="o", label=policy)
        axes[1].plot(sizes, [by_size[n]["decision_us"] for n in sizes], marker="o", label=policy)
    axes[0].set_xlabel("servers in the region")
    axes[0].set_ylabel("normalized score (random 0, oracle 1)")
    axes[0].set_title("zero-shot score vs scale")
    axes[1].set_xlabel("servers in the region")
    axes[1].set_ylabel("decision time per step (us, batch 1)")
    axes[1].set_yscale("log")
    axes[1].set_title("measured decision time vs scale")
    for ax in axes:
        ax.set_xticks(sorted({n for by_size in rows.values() for n in by_size}))
    axes[0].legend()
    return _save(fig, out, "scalability")
