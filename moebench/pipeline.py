"""`moebench run`: the main job. Train the learning entries, evaluate them with the heuristics and the
oracle on every standard split, draw the figures and write a report, all in one run folder:

    runs/<timestamp>/
        config.json            what was asked for, the commit, the split fingerprints
        train/<algo>-s<seed>/  each training run: config.json, log.jsonl, checkpoint.pt, final.pt
        results.json           every number of the report (written atomically at each stage's end)
        figures/*.png, *.pdf   the figures of moebench.plots
        report.md              the results table with the figures embedded

Ctrl-C stops cleanly: finished stages stay, results.json and report.md say where the run stopped,
and an interrupted training keeps its checkpoint.pt (resume it with `moebench train --resume`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from algorithms.registry import get_entry, policy_with_env
from algorithms.trainer import LOG, Trainer, progress_display
from moebench import plots
from moebench.errors import UserError
from moebench.evaluation import decision_us, evaluate
from moebench.metrics import normalized_score
from moebench.provenance import atomic_write_bytes, atomic_write_json, git_commit
from moebench.splits import resolve_splits

REFERENCE_POLICIES = ("random", "greedy", "nearest", "least-loaded", "cheapest", "expert", "oracle")
# Budgets of the default run, chosen so the whole command takes under 10 minutes on 2 CPU cores.
RUN_FRAMES = {"topofree": 1_000_000, "ppo": 1_500_000}
QUICK_FRAMES = 61_440  # three iterations
PARETO_PREFERENCES = ((0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.2, 0.6, 0.2), (0.2, 0.2, 0.6))
SCALE_REGIONS = {"in-dist": 500, "zs-scale-1000": 1000, "zs-scale-2000": 2000}


@dataclass
class RunOptions:
    algos: list[str] = field(default_factory=lambda: ["topofree", "ppo"])
    seeds: list[int] = field(default_factory=lambda: [0])
    frames: int | None = None  # None: RUN_FRAMES (or the entry's default budget), QUICK_FRAMES with quick
    splits: list[str] | None = None
    device: str = "cpu"
    out: Path | None = None
    quick: bool = False
    episodes: int | None = None  # per split and seed; None: the split's own (8 with quick)
    cdf_split: str = "in-dist"
    trace: str | None = None

    def budget(self, algo: str) -> int:
        if self.frames is not None:
            return self.frames
        if self.quick:
            return QUICK_FRAMES
        return RUN_FRAMES.get(algo) or get_entry(algo).make_config().frames


class MainJob:
    def __init__(self, options: RunOptions, console: Console | None = None) -> None:
        self.o = options
        self.console = console or Console()
        for algo in options.algos:
            if not get_entry(algo).trainable:
                raise UserError(
                    f"--algos takes trained entries; {algo} is a {get_entry(algo).kind} (it is evaluated anyway)"
                )
        if not options.seeds:
            raise UserError("--seeds needs at least one seed")
        self.splits = resolve_splits(options.splits)
        if options.cdf_split not in [s.name for s in self.splits]:
            self.o.cdf_split = self.splits[0].name
        self.out = options.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        if (self.out / "config.json").exists():
            raise UserError(f"{self.out} already holds a run; choose another --out")
        self.results: dict = {
            "status": "running",
            "stage": "setup",
            "commit": git_commit(),
            "splits": {},
            "latencies": {},
            "pareto": {},
            "decision_us": {},
            "training": {},
        }

    # --- stages -----------------------------------------------------------------------------------
    def run(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            self.out / "config.json",
            {
                "options": {**asdict(self.o), "out": str(self.out)},
                "commit": git_commit(),
                "splits": {
                    s.name: {"region": s.region, "fingerprint": s.fingerprint(), "settings": s.env_settings}
                    for s in self.splits
                },
                "budgets": {algo: self.o.budget(algo) for algo in self.o.algos},
                "started_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        started = time.perf_counter()
        stages = [
            ("training", self.train),
            ("evaluation", self.evaluate_splits),
            ("pareto", self.evaluate_pareto),
            ("decision timing", self.measure_decisions),
        ]
        self.results["completed_stages"] = []
        try:
            for name, stage in stages:
                self.results["stage"] = name
                stage()
                self.results["completed_stages"].append(name)
            self.results["status"] = "complete"
        except KeyboardInterrupt:
            self.results["status"] = f"interrupted during {self.results['stage']}"
            self.console.print(f"[yellow]interrupted during {self.results['stage']}: keeping what finished[/]")
        finally:
            self.results["seconds"] = time.perf_counter() - started
            self._save()
            self.figures()
            self.report()
        return self.out

    def _save(self) -> None:
        atomic_write_json(self.out / "results.json", self.results)

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )

    def train(self) -> None:
        self.checkpoints: dict[str, list[str]] = {}
        with progress_display() as progress:
            for algo in self.o.algos:
                for seed in self.o.seeds:
                    overrides = {"seed": seed, "frames": self.o.budget(algo), "device": self.o.device}
                    cfg = get_entry(algo).make_config(**overrides)
                    if self.o.trace:
                        cfg = cfg.replace(env={**cfg.env, "trace": self.o.trace})
                    cfg = cfg.replace(frames=max(cfg.frames, cfg.frames_per_iteration))
                    folder = self.out / "train" / f"{algo}-s{seed}"
                    result = Trainer(cfg, folder).run(progress=progress)
                    self.checkpoints.setdefault(algo, []).append(str(result.final_checkpoint))
                    self.results["training"].setdefault(algo, []).append(
                        {"seed": seed, "frames": result.frames, "folder": str(folder), "final": result.last_log}
                    )
                    self._save()

    def _policies(self) -> dict[str, list[str]]:
        """Policy label -> the specs to evaluate and average (one checkpoint per seed)."""
        policies = {algo: paths for algo, paths in self.checkpoints.items()}
        policies.update({name: [name] for name in REFERENCE_POLICIES})
        return policies

    def _episodes(self, split) -> int:
        if self.o.episodes is not None:
            return self.o.episodes
        return 8 if self.o.quick else split.episodes

    def _evaluate(self, spec: str, split, seed: int, episodes: int, extra: dict | None = None, latencies=False):
        settings = {**split.env_settings, **(extra or {})}
        if self.o.trace:
            settings["trace"] = self.o.trace
        env, policy = policy_with_env(
            spec, split.region, split.task_split, settings, seed, min(32, episodes), self.o.device
        )
        return evaluate(policy, env, episodes=episodes, seed=seed, keep_latencies=latencies)

    def evaluate_splits(self) -> None:
        policies = self._policies()
        eval_seeds = {s.name: (s.seeds[:1] if self.o.quick else s.seeds) for s in self.splits}
        total = sum(len(specs) * len(eval_seeds[s.name]) for s in self.splits for specs in policies.values())
        with self._progress() as progress:
            task = progress.add_task("evaluate policies on every split", total=total)
            for split in self.splits:
                table = {}
                for label, specs in policies.items():
                    runs = []
                    for spec in specs:
                        for seed in eval_seeds[split.name]:
                            keep = split.name == self.o.cdf_split
                            runs.append(self._evaluate(spec, split, seed, self._episodes(split), latencies=keep))
                            progress.advance(task)
                    if split.name == self.o.cdf_split:
                        self.results["latencies"][label] = [v for r in runs for v in r.pop("task_latencies_ms")]
                    table[label] = _mean(runs)
                low, high = table["random"]["return"], table["oracle"]["return"]
                for row in table.values():
                    row["score"] = normalized_score(row["return"], low, high)
                self.results["splits"][split.name] = {
                    "region": split.region,
                    "fingerprint": split.fingerprint(),
                    "seeds": list(eval_seeds[split.name]),
                    "episodes": self._episodes(split),
                    "policies": table,
                }
                self._save()

    def evaluate_pareto(self) -> None:
        split = next(s for s in self.splits if s.name == self.o.cdf_split)
        preferences = PARETO_PREFERENCES[1:3] if self.o.quick else PARETO_PREFERENCES
        policies = self._policies()
        episodes = max(8, self._episodes(split) // 2)
        with self._progress() as progress:
            task = progress.add_task(f"Pareto points on {split.name}", total=len(policies) * len(preferences))
            for label, specs in policies.items():
                points = []
                for preference in preferences:
                    runs = [
                        self._evaluate(spec, split, split.seeds[0], episodes, {"preference": preference})
                        for spec in specs
                    ]
                    row = _mean(runs)
                    points.append(
                        {
                            "preference": list(preference),
                            "latency_mean_ms": row["latency_mean_ms"],
                            "cost_per_task": row["cost_per_task"],
                            "return": row["return"],
                        }
                    )
                    progress.advance(task)
                self.results["pareto"][label] = points
        self._save()

    def measure_decisions(self) -> None:
        """Decision time per step at batch 1 on each region size (the scalability figure)."""
        regions = [s for s in self.splits if s.name in SCALE_REGIONS]
        policies = self._policies()
        with self._progress() as progress:
            task = progress.add_task("decision time at batch 1", total=len(regions) * len(policies))
            for split in regions:
                for label, specs in policies.items():
                    env, policy = policy_with_env(
                        specs[0], split.region, split.task_split, split.env_settings, 0, 1, self.o.device
                    )
                    self.results["decision_us"].setdefault(label, {})[str(SCALE_REGIONS[split.name])] = decision_us(
                        policy, env, steps=20 if self.o.quick else 60
                    )
                    progress.advance(task)
        self._save()

    # --- outputs ----------------------------------------------------------------------------------
    def figures(self) -> None:
        try:
            draw_all(self.out, [self.out])
        except Exception as err:  # a figure must never cost the run its results
            self.console.print(f"[yellow]figures incomplete: {err}[/]")

    def report(self) -> None:
        atomic_write_bytes(self.out / "report.md", render_report(self.results, self.out).encode())
        self.console.print(results_table(self.results))
        self.console.print(f"run folder: [bold]{self.out}[/] (report.md, results.json, figures/)")


def _mean(runs: list[dict]) -> dict:
    out = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [float(r[key]) for r in runs]
            out[key] = sum(values) / len(values)
        elif key == "return_vec":
            out[key] = [sum(r[key][i] for r in runs) / len(runs) for i in range(3)]
    return out


def _logs(run_dirs: list[Path]) -> dict[str, list[list[dict]]]:
    logs: dict[str, list[list[dict]]] = {}
    for run_dir in run_dirs:
        for log in sorted((run_dir / "train").glob(f"*/{LOG}")):
            records = []
            for line in log.read_text().splitlines():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            if records:
                algo = json.loads((log.parent / "config.json").read_text())["config"]["algo"]
                logs.setdefault(algo, []).append(records)
    return logs


def draw_all(out: Path, run_dirs: list[Path]) -> list[Path]:
    """Every figure the run folders have data for, into out/figures (several folders of the same
    algorithms are merged: their seeds make the bands)."""
    figures = out / "figures"
    paths: list[Path] = []
    logs = _logs(run_dirs)
    results = [json.loads((d / "results.json").read_text()) for d in run_dirs if (d / "results.json").is_file()]
    if logs:
        paths += plots.learning_curves(logs, figures)
        paths += plots.dwa_weights(logs, figures)
    if not results:
        return paths
    merged = results[0]
    cdf_split = next(iter(merged["splits"]), None)
    latencies: dict[str, list[float]] = {}
    for result in results:
        for policy, values in result.get("latencies", {}).items():
            latencies.setdefault(policy, []).extend(values)
    if latencies:
        paths += plots.latency_cdf(latencies, figures, cdf_split or "in-dist")
    if merged["splits"]:
        split = "in-dist" if "in-dist" in merged["splits"] else cdf_split
        paths += plots.cost_breakdown(merged["splits"][split]["policies"], figures, split)
    pareto: dict[str, list[dict]] = {}
    for result in results:
        for policy, rows in result.get("pareto", {}).items():
            pareto.setdefault(policy, []).extend(rows)
    if pareto:
        paths += plots.pareto(pareto, figures, "in-dist")
    scale: dict[str, dict[int, dict]] = {}
    for split, size in SCALE_REGIONS.items():
        block = merged["splits"].get(split)
        if not block:
            continue
        for policy, row in block["policies"].items():
            timing = merged.get("decision_us", {}).get(policy, {}).get(str(size), float("nan"))
            scale.setdefault(policy, {})[size] = {"score": row["score"], "decision_us": timing}
    if scale:
        paths += plots.scalability(scale, figures)
    return paths


ROWS = [("score", "{:.3f}"), ("return", "{:.2f}")]


def results_table(results: dict) -> Table:
    splits = list(results["splits"])
    table = Table(title=f"normalized score (random 0, oracle 1) and return per split [{results['status']}]")
    table.add_column("policy")
    for split in splits:
        table.add_column(split, justify="right")
    policies = list(next(iter(results["splits"].values()))["policies"]) if splits else []
    for policy in policies:
        cells = []
        for split in splits:
            row = results["splits"][split]["policies"][policy]
            score = "-" if not math.isfinite(row["score"]) else f"{row['score']:.2f}"
            cells.append(f"{score} ({row['return']:.1f})")
        table.add_row(policy, *cells)
    return table


def render_report(results: dict, out: Path) -> str:
    lines = [
        "# moebench run",
        "",
        f"Status: **{results['status']}**; commit `{results['commit']}`; {results.get('seconds', 0):.0f} s.",
        "",
    ]
    for algo, runs in results.get("training", {}).items():
        for run in runs:
            last = run["final"]
            lines.append(
                f"- trained **{algo}** (seed {run['seed']}): {run['frames']:,} frames, final training return "
                f"{last.get('return', float('nan')):.2f} (`{run['folder']}`)"
            )
    if results["splits"]:
        splits = list(results["splits"])
        lines += [
            "",
            "## Normalized score (return) per split",
            "",
            "Score 0 = random, 1 = the oracle (privileged one-step lookahead).",
            "",
            "| policy | " + " | ".join(splits) + " |",
            "|---|" + "---|" * len(splits),
        ]
        for policy in next(iter(results["splits"].values()))["policies"]:
            cells = []
            for split in splits:
                row = results["splits"][split]["policies"][policy]
                score = "-" if not math.isfinite(row["score"]) else f"{row['score']:.3f}"
                cells.append(f"{score} ({row['return']:.2f})")
            lines.append(f"| {policy} | " + " | ".join(cells) + " |")
        for split in splits:
            block = results["splits"][split]
            lines += [
                "",
                f"## {split} ({block['region']}, fingerprint `{block['fingerprint']}`)",
                "",
                "| policy | latency ms | P95 ms | P99 ms | compute $/task | transfer $/task | SLO viol. | "
                "bad-trap hops | SLO tokens/$ |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for policy, r in block["policies"].items():
                lines.append(
                    f"| {policy} | {r['latency_mean_ms']:,.0f} | {r['latency_p95_ms']:,.0f} "
                    f"| {r['latency_p99_ms']:,.0f} | {r['compute_cost_per_task']:.5f} "
                    f"| {r['transfer_cost_per_task']:.6f} | {r['slo_violation_rate']:.1%} | {r['trap_hit_rate']:.1%} "
                    f"| {r['efficiency_tokens_per_usd']:,.0f} |"
                )
    figures = sorted((out / "figures").glob("*.png"))
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{p.stem}](figures/{p.name})" for p in figures]
    return "\n".join(lines) + "\n"
