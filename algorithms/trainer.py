"""The one trainer: torchrl collection, GAE, a torchrl loss, Adam, schedules, logs, checkpoints.

The loop, top to bottom: collect a batch [B, T] with the sampling policy (torchrl `Collector`,
every env reset at the start of each iteration), let the algorithm write its advantage, run its
per-iteration hook (DWA), then `epochs` passes of shuffled minibatches through the loss, with
gradient clipping. One JSON line per iteration goes to OUT/log.jsonl; OUT/checkpoint.pt holds
everything needed to resume (weights, optimizer, RNG states, counters) and OUT/final.pt the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from tensordict import TensorDictBase
from torchrl.collectors import Collector

from algorithms.base import Algorithm, TrainConfig
from algorithms.checkpoint import load_checkpoint, save_checkpoint
from algorithms.registry import get_entry
from moebench.env import make_env
from moebench.errors import UserError
from moebench.provenance import atomic_write_bytes, atomic_write_json, git_commit, json_line

CHECKPOINT = "checkpoint.pt"
FINAL = "final.pt"
LOG = "log.jsonl"


@dataclass
class TrainResult:
    out_dir: Path
    final_checkpoint: Path
    iterations: int
    frames: int
    last_log: dict


def episode_returns(reward: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
    """Returns of the episodes that end inside a batch [B, T] whose rows all start an episode."""
    reward, done = reward.reshape(reward.shape[0], -1), done.reshape(done.shape[0], -1).long()
    segment = torch.cumsum(done, dim=1) - done  # episode index of every step
    sums = torch.zeros(reward.shape[0], reward.shape[1] + 1, dtype=torch.float64, device=reward.device)
    sums.scatter_add_(1, segment, reward.double())
    finished = torch.arange(reward.shape[1] + 1, device=reward.device)[None, :] < done.sum(1, keepdim=True)
    return sums[finished]


def rollout_stats(data: TensorDictBase) -> dict:
    nxt = data.get("next")
    metrics = nxt.get("metrics")
    tasks = float(metrics.get("task_done").sum())
    finished = metrics.get("task_done") > 0.5
    returns = episode_returns(nxt.get("reward").squeeze(-1), nxt.get("done").squeeze(-1))
    return {
        "return": float(returns.mean()) if returns.numel() else float("nan"),
        "episodes": int(returns.numel()),
        "reward_per_step": float(nxt.get("reward").mean()),
        "reward_vec_per_step": nxt.get("reward_vec").mean(dim=tuple(range(data.ndim))).tolist(),
        "task_latency_ms": float(metrics.get("task_latency_ms")[finished].mean()) if tasks else float("nan"),
        "slo_violation_rate": float(metrics.get("slo_violated")[finished].mean()) if tasks else float("nan"),
        "compute_cost_per_task": float(metrics.get("compute_cost").sum()) / max(tasks, 1.0),
        "transfer_cost_per_task": float(metrics.get("transfer_cost").sum()) / max(tasks, 1.0),
        "trap_hit_rate": float(metrics.get("trap_hit").mean()),
        "queue_ms_per_step": float(metrics.get("queue_ms").mean()),
    }


def progress_display() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:>8,.0f} frames/s"),
        TextColumn("return {task.fields[ret]:>7.2f}"),
        TextColumn("latency {task.fields[lat]:>6.0f} ms"),
        TextColumn("cost ${task.fields[cost]:.4f}"),
        TimeRemainingColumn(),
        transient=False,
    )


class Trainer:
    """Trains one registry entry. `Trainer(cfg, out_dir).run()`; `resume=True` continues from
    OUT/checkpoint.pt with the configuration stored there."""

    def __init__(self, cfg: TrainConfig | None, out_dir: str | Path, resume: bool = False) -> None:
        self.out = Path(out_dir)
        self.resume_state = None
        if resume:
            path = self.out / CHECKPOINT
            if not path.is_file():
                raise UserError(f"nothing to resume: {path} does not exist")
            self.resume_state = load_checkpoint(path)
            stored = get_entry(self.resume_state["algo"]).make_config(**json.loads(self.resume_state["config"]))
            if cfg is not None and cfg.to_dict() != stored.to_dict():
                changed = sorted(k for k, v in cfg.to_dict().items() if stored.to_dict().get(k) != v)
                raise UserError(
                    f"--resume continues the run in {self.out} with its stored configuration; these settings "
                    f"differ: {', '.join(changed)}"
                )
            cfg = stored
        elif (self.out / CHECKPOINT).exists() or (self.out / LOG).exists():
            raise UserError(f"{self.out} already holds a training run: pass --resume to continue it, or another --out")
        if cfg is None:
            raise UserError("no configuration to train")
        self.cfg = cfg
        self.entry = get_entry(cfg.algo)

    def _build(self) -> tuple[object, Algorithm, object]:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        env = make_env(cfg.region, split="train", batch_size=cfg.num_envs, device=cfg.device, seed=cfg.seed, **cfg.env)
        algo = self.entry.algorithm(cfg, env).to(env.device)
        if self.asynchronous:
            from algorithms.a3c import SharedAdam

            params = [p.data.share_memory_() for p in algo.parameters_to_train()]
            optimizer = SharedAdam(params, cfg.adam_betas, cfg.adam_eps)
        else:
            optimizer = torch.optim.Adam(algo.parameters_to_train(), lr=cfg.lr)
        return env, algo, optimizer

    @property
    def asynchronous(self) -> bool:
        return bool(getattr(self.entry.algorithm, "asynchronous", False))

    def _schedules(self, iteration: int) -> tuple[float, float]:
        frac = iteration / max(self.cfg.iterations - 1, 1)
        lr = self.cfg.lr + (self.cfg.lr_final - self.cfg.lr) * frac
        entropy = self.cfg.entropy_coef + (self.cfg.entropy_coef_final - self.cfg.entropy_coef) * frac
        return lr, entropy

    def _checkpoint(self, path: Path, env, algo: Algorithm, optimizer, iteration: int, frames: int) -> None:
        """OUT/checkpoint.pt carries everything to resume; OUT/final.pt only what acting needs (the
        weights and the config), so it stays small enough to submit."""
        payload = {
            "algo": self.cfg.algo,
            "config": json.dumps(self.cfg.to_dict()),
            "iteration": iteration,
            "frames": frames,
            "model": algo.checkpoint_state(),
            "region_fingerprint": env.region.fingerprint,
            "commit": git_commit(),
        }
        if path.name != FINAL:
            payload["optimizer"] = optimizer.state_dict()
            payload["rng"] = {"torch": torch.get_rng_state(), "env": env.rng.get_state()}
        save_checkpoint(path, payload)

    def _prepare_log(self, done_iterations: int) -> None:
        """Keep exactly the log lines of the iterations a resumed run has already done."""
        path = self.out / LOG
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the interruption
            if record.get("iteration", done_iterations) < done_iterations:
                kept.append(line)
        atomic_write_bytes(path, ("\n".join(kept) + "\n" if kept else "").encode())

    def run(self, progress: Progress | None = None, show_progress: bool = True) -> TrainResult:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        env, algo, optimizer = self._build()
        self.env, self.algo, self.optimizer = env, algo, optimizer
        self.iteration, self.frames = 0, 0
        if self.resume_state is not None:
            algo.load_checkpoint_state(self.resume_state["model"])
            optimizer.load_state_dict(self.resume_state["optimizer"])
            self.iteration = int(self.resume_state["iteration"])
            self.frames = int(self.resume_state["frames"])
        else:
            atomic_write_json(self.out / "config.json", {"config": cfg.to_dict(), "commit": git_commit()})
        self._prepare_log(self.iteration)
        if cfg.iterations - self.iteration <= 0:
            raise UserError(f"the run in {self.out} is already complete ({cfg.iterations} iterations)")

        own_progress = progress is None and show_progress
        if own_progress:
            progress = progress_display()
            progress.start()
        self.progress, self.task = progress, None
        if progress is not None:
            self.task = progress.add_task(
                f"train {cfg.algo}",
                total=cfg.iterations,
                completed=self.iteration,
                fps=0.0,
                ret=float("nan"),
                lat=float("nan"),
                cost=float("nan"),
            )
        self.last: dict = {}
        try:
            if self.asynchronous:
                self._loop_async()
            else:
                self._loop_sync()
        finally:
            if own_progress:
                progress.stop()
        self._checkpoint(self.out / FINAL, env, algo, optimizer, self.iteration, self.frames)
        return TrainResult(self.out, self.out / FINAL, self.iteration, self.frames, self.last)

    def _record(self, record: dict, seconds: float) -> None:
        """Log one finished iteration, checkpoint when due, move the progress bar."""
        self.iteration += 1
        self.last = {"iteration": self.iteration - 1, "frames": self.frames, **record}
        with (self.out / LOG).open("a") as handle:
            handle.write(json_line(self.last) + "\n")  # NaN (no episode ended this iteration) -> null
        if self.iteration % self.cfg.checkpoint_every == 0 or self.iteration == self.cfg.iterations:
            self._checkpoint(self.out / CHECKPOINT, self.env, self.algo, self.optimizer, self.iteration, self.frames)
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=self.iteration,
                fps=record.get("frames_per_s", 0.0),
                ret=self._shown_return(record["return"]),
                lat=record["task_latency_ms"],
                cost=record["compute_cost_per_task"] + record["transfer_cost_per_task"],
            )

    def _shown_return(self, value: float) -> float:
        """The return to display: this iteration's, or the last one seen where no episode ended
        (A3C's short rollouts end episodes only every few iterations)."""
        if value == value:  # not NaN
            self._last_return = value
        return getattr(self, "_last_return", value)

    def _loop_sync(self) -> None:
        cfg, env, algo, optimizer = self.cfg, self.env, self.algo, self.optimizer
        remaining = cfg.iterations - self.iteration
        collector = Collector(
            env,
            algo.act_module(),
            frames_per_batch=cfg.frames_per_iteration,
            total_frames=remaining * cfg.frames_per_iteration,
            reset_at_each_iter=True,
            split_trajs=False,
            device=env.device,
            auto_register_policy_transforms=False,
        )
        # The collector resets the env once when it is built; restoring the RNG states after that
        # makes a resumed run draw exactly what an uninterrupted one draws.
        if self.resume_state is not None:
            torch.set_rng_state(self.resume_state["rng"]["torch"])
            env.rng.set_state(self.resume_state["rng"]["env"])
        else:
            torch.manual_seed(cfg.seed)
            env.set_seed(cfg.seed)
        algo.prepare_iteration(self.iteration)
        try:
            tic = time.perf_counter()
            for data in collector:
                collect_s = time.perf_counter() - tic
                lr, entropy_coef = self._schedules(self.iteration)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if hasattr(algo.ppo_loss, "entropy_coeff"):
                    algo.ppo_loss.entropy_coeff.fill_(entropy_coef)
                stats = rollout_stats(data)
                algo.compute_advantage(data)
                extra = algo.on_iteration(data, self.iteration)
                losses = self._update(algo, optimizer, data)
                self.frames += data.numel()
                elapsed = time.perf_counter() - tic
                self._record(
                    {
                        **stats,
                        **losses,
                        **extra,
                        "lr": lr,
                        "entropy_coef": entropy_coef,
                        "frames_per_s": data.numel() / elapsed,
                        "collect_frames_per_s": data.numel() / max(collect_s, 1e-9),
                    },
                    elapsed,
                )
                algo.prepare_iteration(self.iteration)
                tic = time.perf_counter()
        finally:
            collector.shutdown()

    def _loop_async(self) -> None:
        """A3C: worker processes update the shared weights; one iteration = one rollout and one
        asynchronous update per worker."""
        import queue

        import torch.multiprocessing as mp

        from algorithms.a3c import worker_main

        cfg = self.cfg
        ctx = mp.get_context("spawn")
        updates = torch.zeros(cfg.workers, dtype=torch.long).share_memory_()
        self.worker_updates, self.worker_pids = updates, set()
        outbox = ctx.Queue()
        inboxes = [ctx.Queue() for _ in range(cfg.workers)]
        shared = self.optimizer.params
        workers = [
            ctx.Process(
                target=worker_main,
                args=(rank, cfg.to_dict(), shared, self.optimizer, updates, inboxes[rank], outbox),
                daemon=True,
            )
            for rank in range(cfg.workers)
        ]
        for worker in workers:
            worker.start()
        try:
            while self.iteration < cfg.iterations:
                tic = time.perf_counter()
                lr, entropy_coef = self._schedules(self.iteration)
                for inbox in inboxes:
                    inbox.put((self.iteration, lr, entropy_coef))
                reports = []
                while len(reports) < cfg.workers:
                    try:
                        rank, _, stats = outbox.get(timeout=600)
                    except queue.Empty:
                        raise UserError("an A3C worker stopped answering for 10 minutes") from None
                    if "error" in stats:
                        raise UserError(f"A3C worker {rank} failed: {stats['error']}")
                    reports.append(stats)
                self.worker_pids.update(r["pid"] for r in reports)
                frames = sum(r["frames"] for r in reports)
                self.frames += frames
                elapsed = time.perf_counter() - tic
                record = {
                    key: sum(float(r[key]) for r in reports) / len(reports)
                    for key in reports[0]
                    if key not in ("pid", "reward_vec_per_step") and isinstance(reports[0][key], (int, float))
                }
                finished = [r for r in reports if r["episodes"]]
                record["return"] = (
                    sum(r["return"] * r["episodes"] for r in finished) / sum(r["episodes"] for r in finished)
                    if finished
                    else float("nan")
                )
                record.update(
                    lr=lr, entropy_coef=entropy_coef, frames_per_s=frames / elapsed, worker_updates=updates.tolist()
                )
                self._record(record, elapsed)
        finally:
            for inbox in inboxes:
                inbox.put(None)
            for worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.terminate()

    def _update(self, algo: Algorithm, optimizer, data: TensorDictBase) -> dict:
        cfg = self.cfg
        # the loss reads the observation, action, log-prob, advantage and targets: leave "next" behind
        flat = data.exclude("next").reshape(-1)
        n = flat.numel()
        size = min(cfg.minibatch_size, n)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        sums: dict[str, float] = {}
        count = 0
        for _ in range(cfg.epochs):
            order = torch.randperm(n, device=flat.device)
            for start in range(0, n - size + 1, size):
                batch = flat[order[start : start + size]]
                out = algo.loss(batch)
                loss = sum(v for k, v in out.items() if k.startswith("loss_"))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                for key in (
                    "loss_objective",
                    "loss_critic",
                    "loss_entropy",
                    "loss_imitation",
                    "accuracy",
                    "entropy",
                    "kl_approx",
                    "clip_fraction",
                ):
                    if key in out:
                        sums[key] = sums.get(key, 0.0) + float(out.get(key).detach().mean())
                sums["grad_norm"] = sums.get("grad_norm", 0.0) + float(grad_norm)
                count += 1
        return {key: value / max(count, 1) for key, value in sums.items()}


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False, **kwargs) -> TrainResult:
    return Trainer(cfg, out_dir, resume=resume).run(**kwargs)
