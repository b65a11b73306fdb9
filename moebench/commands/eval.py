"""`moebench eval`: evaluate heuristics and trained checkpoints side by side."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from moebench.commands import console
from moebench.commands.common import add_region_args, candidates_arg, resolved_region
from moebench.errors import UserError

# (metric, label, format) rows of the table
ROWS = [
    ("return", "return", "{:.2f}"),
    ("latency_mean_ms", "task latency mean (ms)", "{:,.0f}"),
    ("latency_p50_ms", "task latency P50 (ms)", "{:,.0f}"),
    ("latency_p95_ms", "task latency P95 (ms)", "{:,.0f}"),
    ("latency_p99_ms", "task latency P99 (ms)", "{:,.0f}"),
    ("compute_cost_per_task", "compute cost / task ($)", "{:.5f}"),
    ("transfer_cost_per_task", "transfer cost / task ($)", "{:.6f}"),
    ("slo_violation_rate", "SLO violations", "{:.1%}"),
    ("trap_hit_rate", "bad-trap hops", "{:.1%}"),
    ("trap_share", "steps on traps", "{:.1%}"),
    ("queue_ms_per_step", "queue / step (ms)", "{:,.0f}"),
    ("efficiency_tokens_per_usd", "SLO tokens per $", "{:,.0f}"),
    ("decision_us", "decision time (us)", "{:,.1f}"),
]


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description="Evaluate policies on a region: heuristics by name (--policy), trained entries by checkpoint "
        "(--checkpoint). Every policy sees the same seeded task stream; the table shows them side by side.",
    )
    parser.add_argument("--policy", action="append", default=[], metavar="NAME", help="heuristic or bound (repeatable)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="a trained checkpoint, e.g. runs/.../final.pt (repeatable)",
    )
    add_region_args(parser)
    parser.add_argument("--split", default="test", choices=["train", "test", "all"], help="task split (default test)")
    parser.add_argument("--episodes", type=int, default=64, help="episodes per policy (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    parser.add_argument("--batch", type=int, default=32, help="parallel episodes (default 32)")
    parser.add_argument(
        "--max-candidates",
        type=candidates_arg,
        default=32,
        metavar="K|all",
        help="candidates per decision (default 32; 'all' = every host)",
    )
    parser.add_argument("--trace", metavar="CSV", help="replay this request trace")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    parser.set_defaults(func=run)


def evaluate_policies(args: argparse.Namespace) -> dict[str, dict]:
    from algorithms.checkpoint import algorithm_from_checkpoint, load_checkpoint, observation_settings
    from algorithms.registry import make_policy
    from moebench.env import make_env
    from moebench.evaluation import evaluate

    if not args.policy and not args.checkpoint:
        raise UserError("name at least one --policy or --checkpoint")
    if args.episodes < 1 or args.batch < 1:
        raise UserError("--episodes and --batch must be at least 1")
    region = resolved_region(args) if args.data else args.region
    settings = {"max_candidates": args.max_candidates}
    if args.trace:
        settings["trace"] = args.trace
    specs = [(name, None) for name in args.policy] + [(str(path), path) for path in args.checkpoint]
    results: dict[str, dict] = {}
    with Progress(console=console, transient=True) as progress:
        for label, checkpoint in specs:
            data = None if checkpoint is None else load_checkpoint(checkpoint, map_location=args.device)
            extra = {} if data is None else observation_settings(data)
            env = make_env(
                region,
                split=args.split,
                batch_size=min(args.batch, args.episodes),
                device=args.device,
                seed=args.seed,
                **settings,
                **extra,
            )
            if data is None:
                policy = make_policy(label, env, args.seed)
            else:
                policy = algorithm_from_checkpoint(data, env, checkpoint).eval_policy()
            task = progress.add_task(f"eval {label}", total=args.episodes)
            result = evaluate(
                policy,
                env,
                episodes=args.episodes,
                seed=args.seed,
                progress=lambda done, task=task: progress.update(task, completed=done),
            )
            result.update(
                region=env.region.name,
                region_fingerprint=env.region.fingerprint,
                split=args.split,
                settings=env.settings.to_dict(),
            )
            results[label] = result
    return results


def run(args: argparse.Namespace) -> int:
    from moebench.provenance import atomic_write_json, git_commit

    results = evaluate_policies(args)
    first = next(iter(results.values()))
    table = Table(title=f"{first['region']} / {args.split}: {args.episodes} episodes, seed {args.seed}")
    table.add_column("metric")
    for label in results:
        table.add_column(Path(label).parent.name if label.endswith(".pt") else label, justify="right")
    for key, title, fmt in ROWS:
        cells = []
        for result in results.values():
            value = result.get(key, math.nan)
            cells.append(
                "-" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)
            )
        table.add_row(title, *cells)
    console.print(table)
    if args.json:
        atomic_write_json(args.json, {"commit": git_commit(), "seed": args.seed, "results": results})
        console.print(f"wrote {args.json}")
    return 0
