"""Run a policy on an env for a fixed number of episodes and summarize what happened."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from tensordict import TensorDictBase

from moebench.metrics import MetricAccumulator


def evaluate(
    policy: Callable[[TensorDictBase], TensorDictBase],
    env,
    episodes: int = 64,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    keep_latencies: bool = False,
) -> dict:
    """Evaluate `policy` (a module that writes `action`) on `env` for `episodes` episodes.

    The episodes are shared out over the env's batch elements (element b runs its quota back to
    back); the env is seeded with `seed`, so the same call gives the same numbers. Returns the
    summary of `moebench.metrics` plus the seed; with `keep_latencies` also every task latency.
    `progress` is called with the number of finished episodes.
    """
    batch = env.batch_size[0]
    device = env.device
    quota = torch.full((batch,), episodes // batch, device=device)
    quota[: episodes % batch] += 1
    completed = torch.zeros(batch, dtype=torch.long, device=device)
    acc = MetricAccumulator(batch, device)
    env.set_seed(seed)
    td = env.reset()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        while bool((completed < quota).any()):
            active = completed < quota
            sync()
            start = time.perf_counter()
            td = policy(td)
            sync()
            acc.policy_seconds += time.perf_counter() - start
            acc.decisions += batch
            td, td_next = env.step_and_maybe_reset(td)
            nxt = td.get("next")
            done = nxt.get("done")
            acc.add(nxt.get("metrics"), nxt.get("reward"), nxt.get("reward_vec"), done, active)
            finished_before = int(completed.sum())
            completed += (done.reshape(-1) & active).long()
            if progress is not None and int(completed.sum()) != finished_before:
                progress(int(completed.sum()))
            td = td_next
    result = acc.summary()
    result["seed"] = seed
    if keep_latencies:
        result["task_latencies_ms"] = acc.task_latencies()
    return result


def decision_us(policy, env, steps: int = 60, threads: int = 1) -> float:
    """Median wall time in microseconds of one policy call on `env`'s batch, over `steps` real
    decisions. Measured with `threads` torch threads (one by default: a single decision is too small
    for intra-op parallelism, which only adds contention)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        td = env.reset()
        times = []
        with torch.no_grad():
            for _ in range(steps):
                start = time.perf_counter()
                td = policy(td)
                times.append(time.perf_counter() - start)
                td = env.step_and_maybe_reset(td)[1]
    finally:
        torch.set_num_threads(previous)
    times.sort()
    return 1e6 * times[len(times) // 2]
