"""`moebench train`: train a registry entry with the shared trainer."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from moebench.commands import console
from moebench.commands.common import add_region_args, parse_assignments, resolved_region
from moebench.errors import UserError


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description="Train an algorithm of the registry (see `moebench algos`). Writes OUT/config.json, "
        "OUT/log.jsonl (one line per iteration), OUT/checkpoint.pt (to resume) and OUT/final.pt.",
    )
    parser.add_argument("--algo", required=True, help="registry name, e.g. topofree, ppo")
    add_region_args(parser, default=None)
    parser.add_argument("--frames", type=int, help="environment steps to train for (default: the entry's budget)")
    parser.add_argument("--epochs", type=int, help="the seed's spelling: number of training iterations")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default cpu")
    parser.add_argument("--trace", metavar="CSV", help="replay this request trace (arrived_at, prefill, decode)")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="run folder (default runs/train/ALGO-REGION-sSEED-TIME)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. num_envs=128 or env.max_candidates=16 (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from algorithms.registry import get_entry
    from algorithms.trainer import Trainer

    if args.threads is not None:
        if args.threads < 1:
            raise UserError("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    if args.resume:
        if args.out is None:
            raise UserError("--resume needs --out: the folder of the run to continue")
        given = [
            flag
            for flag, value in (
                ("--algo", None),
                ("--frames", args.frames),
                ("--seed", args.seed),
                ("--set", args.set),
                ("--trace", args.trace),
            )
            if value
        ]
        if given:
            raise UserError(f"--resume continues with the stored configuration; drop {', '.join(given)}")
        trainer = Trainer(None, args.out, resume=True)
    else:
        entry = get_entry(args.algo)
        if not entry.trainable:
            raise UserError(f"{entry.name} is a {entry.kind} and has nothing to train; evaluate it with moebench eval")
        overrides = parse_assignments(args.set)
        if args.region or args.data:
            overrides["region"] = resolved_region(args) if args.data else args.region
        for key in ("seed", "device", "frames"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        cfg = entry.make_config(**overrides)
        if args.trace:
            cfg = cfg.replace(env={**cfg.env, "trace": args.trace})
        if args.epochs is not None:
            if args.epochs < 1:
                raise UserError("--epochs must be at least 1")
            cfg = cfg.replace(frames=args.epochs * cfg.frames_per_iteration)
        if cfg.frames < cfg.frames_per_iteration:
            raise UserError(f"--frames {cfg.frames} is less than one iteration ({cfg.frames_per_iteration} frames)")
        out = (
            args.out
            or Path("runs/train") / f"{cfg.algo}-{Path(cfg.region).name}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        trainer = Trainer(cfg, out)
    result = trainer.run(show_progress=not args.quiet)
    console.print(f"trained {trainer.cfg.algo}: {result.iterations} iterations, {result.frames:,} frames")
    console.print(f"checkpoint: {result.final_checkpoint}")
    return 0
