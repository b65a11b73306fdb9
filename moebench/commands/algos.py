"""`moebench algos`: the algorithm registry."""

from __future__ import annotations

import argparse

from rich.table import Table

from moebench.commands import console


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from algorithms.registry import REGISTRY

    table = Table(title="moebench algorithms")
    table.add_column("name", style="bold")
    table.add_column("kind")
    table.add_column("description")
    for entry in REGISTRY.values():
        table.add_row(entry.name, entry.kind, entry.description)
    console.print(table)
    return 0
