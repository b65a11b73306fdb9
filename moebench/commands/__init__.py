"""Command groups of the `moebench` CLI, one module each."""

from __future__ import annotations

import argparse
import importlib

from rich.console import Console

console = Console()

# (group, module, one-line help): each module has `add_parser(subparsers, name, help_text)`.
GROUPS: list[tuple[str, str, str]] = [
    (
        "run",
        "moebench.commands.run",
        "the main job: train TopoFreeRL and PPO, evaluate everything on every split, report",
    ),
    ("train", "moebench.commands.train", "train an algorithm of the registry"),
    ("eval", "moebench.commands.eval", "evaluate policies or checkpoints on a region"),
    ("algos", "moebench.commands.algos", "list the algorithm registry"),
    ("splits", "moebench.commands.splits", "list the standard evaluation splits and their fingerprints"),
    ("leaderboard", "moebench.commands.leaderboard", "submit to, show and render the leaderboard"),
    ("data", "moebench.commands.data", "validate, describe, generate and list regions; trace statistics"),
    ("plot", "moebench.commands.plot", "redraw the figures of one or more run folders"),
    ("bench", "moebench.commands.bench", "measure env, policy and training speed"),
]


def register_all(sub: argparse._SubParsersAction) -> None:
    for name, module, help_text in GROUPS:
        importlib.import_module(module).add_parser(sub, name, help_text)
