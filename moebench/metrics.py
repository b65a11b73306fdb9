"""The one place where the numbers the benchmark publishes are computed from the env's metrics."""

from __future__ import annotations

import torch
from torch import Tensor

# What a result reports: name -> (description, higher is better).
SUMMARY_METRICS: dict[str, tuple[str, bool]] = {
    "return": ("mean episode return (preference-weighted reward)", True),
    "latency_mean_ms": ("mean task latency, ms", False),
    "latency_p50_ms": ("median task latency, ms", False),
    "latency_p95_ms": ("95th percentile task latency, ms", False),
    "latency_p99_ms": ("99th percentile task latency, ms", False),
    "cost_per_task": ("compute + transfer cost per task, USD", False),
    "compute_cost_per_task": ("compute cost per task, USD", False),
    "transfer_cost_per_task": ("network transmission cost per task, USD", False),
    "slo_violation_rate": ("share of tasks slower than the SLO", False),
    "trap_hit_rate": ("share of steps whose hop touched a trap in its bad state", False),
    "trap_share": ("share of steps served on a trap server", False),
    "queue_ms_per_step": ("mean queueing delay per step, ms", False),
    "network_ms_per_step": ("mean network latency per step, ms", False),
    "compute_ms_per_step": ("mean compute time per step, ms", False),
    "efficiency_tokens_per_usd": ("SLO-compliant tokens served per USD of total cost", True),
    "decision_us": ("policy time per decision, microseconds", False),
}
STEP_SUMS = (
    "latency_ms",
    "network_ms",
    "queue_ms",
    "compute_ms",
    "compute_cost",
    "transfer_cost",
    "trap_hit",
    "on_trap",
    "invalid_action",
)


class MetricAccumulator:
    """Accumulates the env's per-step `metrics` of active batch elements into a summary."""

    def __init__(self, batch: int, device: torch.device) -> None:
        self.sums = {key: torch.zeros((), device=device, dtype=torch.float64) for key in STEP_SUMS}
        self.steps = 0
        self.task_latency: list[Tensor] = []
        self.task_violated: list[Tensor] = []
        self.task_tokens: list[Tensor] = []
        self.episode_return: list[Tensor] = []
        self.episode_return_vec: list[Tensor] = []
        self.running = torch.zeros(batch, device=device, dtype=torch.float64)
        self.running_vec = torch.zeros(batch, 3, device=device, dtype=torch.float64)
        self.policy_seconds = 0.0
        self.decisions = 0

    def add(self, metrics, reward: Tensor, reward_vec: Tensor, done: Tensor, active: Tensor) -> None:
        """One env step: `metrics` [B] each, reward [B, 1], reward_vec [B, 3], done [B, 1];
        only elements with `active` True count."""
        act = active.to(torch.float64)
        for key in STEP_SUMS:
            self.sums[key] += (metrics[key].to(torch.float64) * act).sum()
        self.steps += int(active.sum())
        finished = (metrics["task_done"] > 0.5) & active
        self.task_latency.append(metrics["task_latency_ms"][finished])
        self.task_violated.append(metrics["slo_violated"][finished])
        self.task_tokens.append(metrics["task_tokens"][finished])
        self.running += reward.reshape(-1).to(torch.float64) * act
        self.running_vec += reward_vec.to(torch.float64) * act[:, None]
        ended = done.reshape(-1) & active
        self.episode_return.append(self.running[ended])
        self.episode_return_vec.append(self.running_vec[ended])
        self.running = torch.where(done.reshape(-1), 0.0, self.running)
        self.running_vec = torch.where(done.reshape(-1, 1), 0.0, self.running_vec)

    def summary(self) -> dict:
        latency = torch.cat(self.task_latency).double().cpu()
        violated = torch.cat(self.task_violated).double().cpu()
        tokens = torch.cat(self.task_tokens).double().cpu()
        returns = torch.cat(self.episode_return).cpu()
        returns_vec = torch.cat(self.episode_return_vec).cpu()
        tasks = max(latency.numel(), 1)
        steps = max(self.steps, 1)
        s = {k: float(v) for k, v in self.sums.items()}
        total_cost = s["compute_cost"] + s["transfer_cost"]
        good_tokens = float((tokens * (1.0 - violated)).sum())

        def q(p: float) -> float:
            return float(torch.quantile(latency, p)) if latency.numel() else float("nan")

        return {
            "return": float(returns.mean()) if returns.numel() else float("nan"),
            "return_vec": returns_vec.mean(0).tolist() if returns.numel() else [float("nan")] * 3,
            "return_std": float(returns.std()) if returns.numel() > 1 else 0.0,
            "latency_mean_ms": float(latency.mean()) if latency.numel() else float("nan"),
            "latency_p50_ms": q(0.5),
            "latency_p95_ms": q(0.95),
            "latency_p99_ms": q(0.99),
            "cost_per_task": total_cost / tasks,
            "compute_cost_per_task": s["compute_cost"] / tasks,
            "transfer_cost_per_task": s["transfer_cost"] / tasks,
            "slo_violation_rate": float(violated.mean()) if violated.numel() else float("nan"),
            "trap_hit_rate": s["trap_hit"] / steps,
            "trap_share": s["on_trap"] / steps,
            "invalid_action_rate": s["invalid_action"] / steps,
            "queue_ms_per_step": s["queue_ms"] / steps,
            "network_ms_per_step": s["network_ms"] / steps,
            "compute_ms_per_step": s["compute_ms"] / steps,
            "efficiency_tokens_per_usd": good_tokens / total_cost if total_cost > 0 else float("nan"),
            "decision_us": 1e6 * self.policy_seconds / max(self.decisions, 1),
            "episodes": int(returns.numel()),
            "tasks": int(latency.numel()),
            "steps": self.steps,
        }

    def task_latencies(self) -> list[float]:
        return torch.cat(self.task_latency).cpu().tolist()


def normalized_score(value: float, random_value: float, oracle_value: float) -> float:
    """(value - random) / (oracle - random): 0 at random, 1 at the oracle (can exceed 1)."""
    span = oracle_value - random_value
    if abs(span) < 1e-12:
        return float("nan")
    return (value - random_value) / span
