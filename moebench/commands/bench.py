"""`moebench bench`: how fast the env, the policies and training are, and how cost grows with scale."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from moebench.commands import console

# how each env-step measure runs: through torchrl, the bare dynamics, or torchrl with compiled dynamics
ENV_PATHS = {"env_step": "torchrl", "env_step_raw": "raw dynamics", "env_step_compiled": "torchrl, compiled"}
TRAINED = ["topofree", "ppo", "pfppo", "ppo-cn", "a3c", "stark", "trans-ppo", "gnn-ppo"]


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description="Measure env steps/s over batch x region x candidates (through torchrl, raw, and with "
        "compiled dynamics), policy decision time, one training iteration per learning entry, and region "
        "loading and generation. Prints tables and the growth ratios from 500 to 2000 servers; --json writes "
        "every figure.",
    )
    parser.add_argument("--quick", action="store_true", help="a short version (a minute or two)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--readme", action="store_true", help="write the summary table into README.md")
    parser.set_defaults(func=run)


def plan(quick: bool) -> list[tuple[str, tuple]]:
    regions = ["CH-500", "GB-1000", "DE-2000"]
    batches = [1, 1024] if quick else [1, 64, 1024, 4096]
    jobs: list[tuple[str, tuple]] = []
    for region in regions:
        for k in (32, None):
            for batch in batches:
                jobs.append(("env", (region, batch, k, True)))
    for batch in [1024] if quick else [1024, 4096]:
        for region in regions:
            jobs.append(("env", (region, batch, 32, False)))
    from moebench.bench import decision_policies

    policies = ["greedy", "topofree", "gnn-ppo"] if quick else decision_policies()
    for region in regions:
        for batch in (1, 1024):
            for policy in policies:
                jobs.append(("decision", (policy, region, batch, 32)))
            jobs.append(("decision", ("topofree", region, batch, None)))
    for name in ["topofree"] if quick else TRAINED:
        jobs.append(("train", (name,)))
    for region in regions:
        jobs.append(("load", (region,)))
    jobs.append(("generate", (2000, "DE")))
    # compile_dynamics=True last: compilation starts worker processes that would disturb later timings
    for region in ["CH-500"] if quick else regions:
        for k in (32, None):
            jobs.append(("env_compiled", (region, 1024 if quick else 4096, k)))
    if not quick:  # small batches, where per-op overhead dominates the eager step
        for batch in (1, 64, 1024):
            jobs.append(("env_compiled", ("CH-500", batch, 32)))
    return jobs


def run(args: argparse.Namespace) -> int:
    from moebench import bench
    from moebench.errors import UserError
    from moebench.provenance import atomic_write_json, git_commit

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: torch sees no CUDA GPU here")
    jobs = plan(args.quick)
    measures = []
    runners = {
        "env": lambda a: bench.measure_env(*a, repeats=5 if args.quick else 20),
        "env_compiled": lambda a: bench.measure_env(*a, repeats=5 if args.quick else 20, compiled=True),
        "decision": lambda a: bench.measure_decision(*a, repeats=5 if args.quick else 20),
        "train": lambda a: bench.measure_training(*a),
        "load": lambda a: bench.measure_load(*a),
        "generate": lambda a: bench.measure_generate(*a),
    }
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("benchmarks", total=len(jobs))
        for kind, params in jobs:
            progress.update(task, description=f"{kind} {params}")
            measures.append(runners[kind](params))
            progress.advance(task)
    rows = [m.row() for m in measures]
    summary = summarize(rows)
    print_tables(rows, summary)
    if args.readme:
        from moebench.readme import write_section

        write_section("bench", readme_markdown(rows, summary, args.quick))
        console.print("updated the speed table in README.md")
    if args.json:
        import platform

        import torch

        atomic_write_json(
            args.json,
            {
                "commit": git_commit(),
                "quick": args.quick,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "machine": platform.machine(),
                "summary": summary,
                "measures": rows,
            },
        )
        console.print(f"wrote {args.json}")
    return 0


def _find(rows: list[dict], **match) -> dict | None:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def summarize(rows: list[dict]) -> dict:
    """The figures the issue's targets are stated in."""
    out: dict = {}

    def ratio(a: dict | None, b: dict | None, key: str = "seconds_per_call") -> float:
        return a[key] / b[key] if a and b else math.nan

    def largest_batch(name: str) -> int | None:
        batches = [r["batch"] for r in rows if r["name"] == name and r["region"] == "CH-500" and r["k"] == 32]
        return max(batches, default=None)

    for name, suffix in (("env_step", ""), ("env_step_compiled", "_compiled")):
        batch = largest_batch(name)  # the headline figures are at the largest batch measured
        small = _find(rows, name=name, region="CH-500", batch=batch, k=32)
        every = _find(rows, name=name, region="CH-500", batch=batch, k="all")
        out[f"env_steps_per_s_k32{suffix}"] = {"batch": batch, "value": small["per_second"] if small else math.nan}
        out[f"env_steps_per_s_all{suffix}"] = {"batch": batch, "value": every["per_second"] if every else math.nan}
    batch = largest_batch("env_step")
    out["env_growth_500_to_2000_k32"] = ratio(
        _find(rows, name="env_step", region="DE-2000", batch=batch, k=32),
        _find(rows, name="env_step", region="CH-500", batch=batch, k=32),
    )
    out["torchrl_overhead_b1024"] = ratio(
        _find(rows, name="env_step", region="CH-500", batch=1024, k=32),
        _find(rows, name="env_step_raw", region="CH-500", batch=1024, k=32),
    )
    topo_all = _find(rows, name="decision", policy="topofree", region="DE-2000", batch=1, k=2000)
    out["topofree_decision_us_b1_all_de2000"] = topo_all["us_per_item"] if topo_all else math.nan
    small = _find(rows, name="decision", policy="topofree", region="CH-500", batch=1, k=500)
    out["topofree_growth_500_to_2000_all"] = ratio(topo_all, small)
    out["gnn_over_topofree"] = {}
    for region in ("CH-500", "GB-1000", "DE-2000"):
        for batch in (1, 1024):
            gnn = _find(rows, name="decision", policy="gnn-ppo", region=region, batch=batch)
            topo32 = _find(rows, name="decision", policy="topofree", region=region, batch=batch, k=32)
            topo_all = [
                r
                for r in rows
                if r["name"] == "decision"
                and r["policy"] == "topofree"
                and r["region"] == region
                and r["batch"] == batch
                and r["k"] != 32
            ]
            out["gnn_over_topofree"][f"{region} b{batch}"] = {
                "k32": ratio(gnn, topo32),
                "all": ratio(gnn, topo_all[0] if topo_all else None),
            }
    train = _find(rows, name="train_iteration", algo="topofree")
    out["topofree_train_frames_per_s"] = train["per_second"] if train else math.nan
    return out


def print_tables(rows: list[dict], summary: dict) -> None:
    from moebench.provenance import json_line

    env = Table(title="env steps per second (random valid actions)")
    for col in ("region", "batch", "K", "path", "steps/s", "us/step"):
        env.add_column(col, justify="right")
    for r in rows:
        if r["name"] in ENV_PATHS:
            env.add_row(
                r["region"],
                str(r["batch"]),
                str(r["k"]),
                ENV_PATHS[r["name"]],
                f"{r['per_second']:,.0f}",
                f"{1e6 * r['seconds_per_call']:,.0f}",
            )
    console.print(env)
    dec = Table(title="policy decisions (untrained weights: the cost is the same)")
    for col in ("policy", "region", "batch", "K", "decisions/s", "us/decision", "us/call"):
        dec.add_column(col, justify="right")
    for r in rows:
        if r["name"] == "decision":
            dec.add_row(
                r["policy"],
                r["region"],
                str(r["batch"]),
                str(r["k"]),
                f"{r['per_second']:,.0f}",
                f"{r['us_per_item']:,.1f}",
                f"{1e6 * r['seconds_per_call']:,.0f}",
            )
    console.print(dec)
    other = Table(title="training and data")
    for col in ("what", "detail", "figure"):
        other.add_column(col)
    for r in rows:
        if r["name"] == "train_iteration":
            other.add_row(
                f"train {r['algo']}",
                f"B={r['num_envs']} T={r['rollout_len']}",
                f"{r['per_second']:,.0f} frames/s (collection {r['collect_frames_per_s']:,.0f})",
            )
        elif r["name"] == "load_region":
            other.add_row("load region", r["region"], f"{r['seconds_per_call']:.2f} s")
        elif r["name"] == "generate_region":
            other.add_row("generate region", f"{r['country']} {r['servers']}", f"{r['seconds_per_call']:.2f} s")
    console.print(other)
    console.print_json(json_line(summary))


def readme_markdown(rows: list[dict], summary: dict, quick: bool) -> str:
    """The README's speed section: the headline figures and the env and decision tables."""
    import platform

    import torch

    from moebench.provenance import git_commit

    def num(value: float, pattern: str = "{:,.0f}") -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)

    k32 = summary.get("env_steps_per_s_k32", {})
    every = summary.get("env_steps_per_s_all", {})
    k32c = summary.get("env_steps_per_s_k32_compiled", {})
    everyc = summary.get("env_steps_per_s_all_compiled", {})
    lines = [
        f"`moebench bench{' --quick' if quick else ''} --readme` at commit `{git_commit()}` "
        f"(torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}):",
        "",
        "| figure | measured |",
        "|---|---|",
        f"| env steps/s, CH-500, K=32, B={k32.get('batch') or '-'} | {num(k32.get('value', math.nan))} |",
        f"| env steps/s, CH-500, every candidate, B={every.get('batch') or '-'} | "
        f"{num(every.get('value', math.nan))} |",
        f"| the same with `compile_dynamics=True`, K=32, B={k32c.get('batch') or '-'} | "
        f"{num(k32c.get('value', math.nan))} |",
        f"| the same with `compile_dynamics=True`, every candidate, B={everyc.get('batch') or '-'} | "
        f"{num(everyc.get('value', math.nan))} |",
        f"| step cost DE-2000 / CH-500 at K=32 | {num(summary['env_growth_500_to_2000_k32'], '{:.2f}x')} |",
        f"| torchrl step / raw dynamics at B=1024 | {num(summary['torchrl_overhead_b1024'], '{:.2f}x')} |",
        f"| TopoFreeRL decision, batch 1, every candidate, DE-2000 | "
        f"{num(summary['topofree_decision_us_b1_all_de2000'], '{:,.0f} us')} |",
        f"| TopoFreeRL decision growth 500 -> 2000 servers (every candidate) | "
        f"{num(summary['topofree_growth_500_to_2000_all'], '{:.2f}x')} |",
        f"| TopoFreeRL training, CH-500 (collection + update) | "
        f"{num(summary['topofree_train_frames_per_s'], '{:,.0f} frames/s')} |",
        "",
        "| GNN-PPO decision time / TopoFreeRL | K=32 | every candidate |",
        "|---|---|---|",
    ]
    for key, ratio in summary["gnn_over_topofree"].items():
        lines.append(f"| {key} | {num(ratio['k32'], '{:.1f}x')} | {num(ratio['all'], '{:.1f}x')} |")
    lines += ["", "| env step | region | B | K | steps/s |", "|---|---|---|---|---|"]
    for r in rows:
        if r["name"] in ENV_PATHS:
            kind = ENV_PATHS[r["name"]]
            lines.append(f"| {kind} | {r['region']} | {r['batch']} | {r['k']} | {r['per_second']:,.0f} |")
    lines += ["", "| decision | region | B | K | us per decision |", "|---|---|---|---|---|"]
    for r in rows:
        if r["name"] == "decision":
            lines.append(f"| {r['policy']} | {r['region']} | {r['batch']} | {r['k']} | {r['us_per_item']:,.1f} |")
    lines += ["", "| training iteration | B x T | frames/s |", "|---|---|---|"]
    for r in rows:
        if r["name"] == "train_iteration":
            lines.append(f"| {r['algo']} | {r['num_envs']} x {r['rollout_len']} | {r['per_second']:,.0f} |")
    return "\n".join(lines)
