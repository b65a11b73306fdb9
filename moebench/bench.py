"""Speed measurements: env steps, policy decisions, training iterations, data loading.

The same functions back `moebench bench` and the pytest-benchmark suite in tests/benchmarks/.
Every figure is a wall-clock measurement on the machine that runs it, after a warm-up.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from moebench.data.catalog import get_region
from moebench.env import make_env, sim

REGIONS = {"CH-500": 500, "GB-1000": 1000, "DE-2000": 2000}


@dataclass
class Measure:
    name: str
    params: dict
    seconds: float  # per call (median over repeats)
    items: int  # env steps or decisions per call
    extra: dict = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.items / self.seconds

    def row(self) -> dict:
        return {
            "name": self.name,
            **self.params,
            "seconds_per_call": self.seconds,
            "items_per_call": self.items,
            "per_second": self.per_second,
            "us_per_item": 1e6 * self.seconds / self.items,
            **self.extra,
        }


def timeit(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds per call of `fn` over `repeats` calls, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_valid_action(td, generator: torch.Generator) -> torch.Tensor:
    """A uniform valid slot per element. Valid slots are a prefix of the candidate list (padding comes
    last), so this costs O(B), not O(B K)."""
    valid = td.get("action_mask").sum(-1)
    u = torch.rand(valid.shape, generator=generator, device=valid.device)
    return (u * valid).long().clamp_max((valid - 1).clamp_min(0))


def env_stepper(
    region: str,
    batch: int,
    k: int | None,
    torchrl: bool = True,
    device: str = "cpu",
    compiled: bool = False,
    **settings,
):
    """A zero-argument function doing one env step with random valid actions (and auto-reset);
    with `torchrl=False` the same dynamics are called directly (moebench.env.sim); `compiled` builds
    the env with `compile_dynamics=True` (the first call compiles)."""
    env = make_env(
        region, batch_size=batch, max_candidates=k, device=device, seed=0, compile_dynamics=compiled, **settings
    )
    generator = torch.Generator(device=device).manual_seed(0)
    td = env.reset()
    if torchrl:
        state = {"td": td}

        def step() -> None:
            td = state["td"]
            td.set("action", random_valid_action(td, generator))
            state["td"] = env.step_and_maybe_reset(td)[1]

        return step
    tables, s, st = env.tables, env.settings, env.state
    holder = {"obs": sim.observe(tables, s, st)}

    def raw_step() -> None:
        action = random_valid_action(holder["obs"], generator)
        uniform = torch.rand(batch, sim.NUM_DRAWS, generator=generator, device=device)
        out = sim.advance(tables, s, st, action, uniform, env.trap_rates)
        done = out["done"].view(-1)
        if bool(done.any()):
            sim.reset_rows(tables, s, st, done.nonzero().flatten(), env.task_pool, generator)
        holder["obs"] = sim.observe(tables, s, st)

    return raw_step


def measure_env(
    region: str, batch: int, k: int | None, torchrl: bool = True, repeats: int = 20, compiled: bool = False
) -> Measure:
    step = env_stepper(region, batch, k, torchrl, compiled=compiled)
    seconds = timeit(step, repeats, warmup=3)
    name = "env_step_compiled" if compiled else "env_step" if torchrl else "env_step_raw"
    return Measure(name, {"region": region, "batch": batch, "k": k or "all"}, seconds, batch)


def decision_policies() -> list[str]:
    """Every registry entry whose decision time the suite measures: all of them (heuristics, the
    oracle and the learning entries), in registry order."""
    from algorithms.registry import REGISTRY

    return list(REGISTRY)


def untrained_policy(name: str, region: str, batch: int, k: int | None):
    """(env, policy) for a registry entry: heuristics as they are, learning entries with freshly
    initialized weights (a decision costs the same whatever the weights)."""
    from algorithms.registry import get_entry, make_policy

    entry = get_entry(name)
    if not entry.trainable:
        env = make_env(region, batch_size=batch, max_candidates=k, seed=0)
        return env, make_policy(name, env)
    cfg = entry.make_config()
    settings = {**cfg.env, "max_candidates": k}
    if entry.algorithm.fixed_candidates:
        settings["max_candidates"] = cfg.env["max_candidates"]
    env = make_env(region, batch_size=batch, seed=0, **settings)
    torch.manual_seed(0)
    algo = entry.algorithm(cfg, env).eval()
    return env, algo.eval_policy()


def measure_decision(name: str, region: str, batch: int, k: int | None, repeats: int = 20) -> Measure:
    env, policy = untrained_policy(name, region, batch, k)
    td = env.reset()
    for _ in range(3):  # a few real steps, so queues and telemetry are not all zero
        td = env.step_and_maybe_reset(policy(td))[1]
    with torch.inference_mode():
        seconds = timeit(lambda: policy(td), repeats, warmup=5)  # writing the same action again is harmless
    return Measure(
        "decision", {"policy": name, "region": region, "batch": batch, "k": env.num_candidates}, seconds, batch
    )


def measure_training(name: str, num_envs: int | None = None, rollout_len: int | None = None) -> Measure:
    """One training iteration (collection + advantage + update) of a learning entry, in frames/s
    (the second iteration of a two-iteration run: the first pays one-time costs)."""
    import json
    import tempfile
    from pathlib import Path

    from algorithms.registry import get_entry
    from algorithms.trainer import LOG, Trainer

    entry = get_entry(name)
    overrides = {}
    if num_envs:
        overrides["num_envs"] = num_envs
    if rollout_len:
        overrides["rollout_len"] = rollout_len
    cfg = entry.make_config(**overrides)
    cfg = cfg.replace(frames=2 * cfg.frames_per_iteration, checkpoint_every=1000)
    with tempfile.TemporaryDirectory() as folder:
        Trainer(cfg, folder).run(show_progress=False)
        last = json.loads((Path(folder) / LOG).read_text().splitlines()[-1])
    frames = cfg.frames_per_iteration
    return Measure(
        "train_iteration",
        {"algo": name, "num_envs": cfg.num_envs, "rollout_len": cfg.rollout_len},
        frames / last["frames_per_s"],
        frames,
        {"collect_frames_per_s": last.get("collect_frames_per_s", float("nan"))},
    )


def measure_load(region: str, repeats: int = 3) -> Measure:
    from moebench.data.catalog import resolve_region
    from moebench.data.load import load_region

    folder = resolve_region(region)
    return Measure("load_region", {"region": region}, timeit(lambda: load_region(folder), repeats, warmup=1), 1)


def measure_generate(servers: int, country: str, repeats: int = 2) -> Measure:
    import tempfile
    from pathlib import Path

    from moebench.data.generate import generate_region

    def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            generate_region(country, servers, servers // 10, 0, Path(folder) / "region")

    return Measure("generate_region", {"country": country, "servers": servers}, timeit(run, repeats, warmup=1), 1)


def region_sizes() -> dict[str, int]:
    return {name: get_region(name).num_servers for name in REGIONS}
