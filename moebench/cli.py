"""`moebench`: the command-line face of the benchmark.

Each command group lives in `moebench/commands/<group>.py` with an `add_parser(subparsers)` that
registers its commands and sets `func` on them. Errors a user can cause (`UserError`) print one
line and exit 1.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from moebench.errors import UserError

GROUPS = ("run", "train", "eval", "algos", "splits", "leaderboard", "data", "plot", "bench")

err_console = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    from moebench.commands import register_all

    parser = argparse.ArgumentParser(
        prog="moebench",
        description="Edge-Cloud MoE Bench: TopoFreeRL and baselines for LLM / MoE inference scheduling.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from moebench.perf import tune_allocator

    tune_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
