"""`moebench plot`: redraw the figures of run folders, merging runs (seeds) of the same algorithm."""

from __future__ import annotations

import argparse
from pathlib import Path

from moebench.commands import console
from moebench.errors import UserError


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders of `moebench run`")
    parser.add_argument("--out", type=Path, help="where figures/ goes (default: the first run folder)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moebench.pipeline import draw_all

    for folder in args.runs:
        if not (folder / "results.json").is_file() and not (folder / "train").is_dir():
            raise UserError(f"{folder} is not a run folder of `moebench run` (no results.json, no train/)")
    paths = draw_all(args.out or args.runs[0], args.runs)
    if not paths:
        raise UserError("nothing to draw: the run folders hold no training logs or results yet")
    for path in paths:
        if path.suffix == ".png":
            console.print(f"wrote {path}")
    return 0
