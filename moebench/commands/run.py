"""`moebench run`: the main job (see moebench/pipeline.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from moebench.commands import console


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in _names(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description="Train TopoFreeRL and PPO on CH-500, evaluate them with the heuristics and the oracle on every "
        "standard split, draw the figures and write runs/<timestamp>/report.md. About 10 minutes on 2 CPU cores; "
        "--quick takes about one.",
    )
    parser.add_argument(
        "--algos",
        type=_names,
        default=["topofree", "ppo"],
        metavar="A,B",
        help="trained entries (default topofree,ppo)",
    )
    parser.add_argument("--seeds", type=_ints, default=[0], metavar="S,T", help="training seeds (default 0)")
    parser.add_argument("--frames", type=int, help="training frames per algorithm and seed (default: run budgets)")
    parser.add_argument("--splits", type=_names, metavar="A,B", help="evaluation splits (default: all)")
    parser.add_argument("--episodes", type=int, help="evaluation episodes per split and seed")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--trace", metavar="CSV", help="replay this request trace in training and evaluation")
    parser.add_argument("--out", type=Path, metavar="DIR", help="run folder (default runs/<timestamp>)")
    parser.add_argument("--quick", action="store_true", help="a first look in about a minute")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moebench.errors import UserError
    from moebench.pipeline import MainJob, RunOptions

    if args.frames is not None and args.frames < 1:
        raise UserError("--frames must be positive")
    if args.episodes is not None and args.episodes < 1:
        raise UserError("--episodes must be positive")
    options = RunOptions(
        algos=args.algos,
        seeds=args.seeds,
        frames=args.frames,
        splits=args.splits,
        device=args.device,
        out=args.out,
        quick=args.quick,
        episodes=args.episodes,
        trace=args.trace,
    )
    job = MainJob(options, console)
    job.run()
    return 0 if job.results["status"] == "complete" else 130
