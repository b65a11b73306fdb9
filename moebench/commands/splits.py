"""`moebench splits`: the standard evaluation splits."""

from __future__ import annotations

import argparse

from rich.table import Table

from moebench.commands import console


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moebench.data.catalog import get_region
    from moebench.splits import SPLITS

    table = Table(title="moebench splits")
    for column in ("name", "region", "servers", "tasks", "episodes x seeds", "fingerprint"):
        table.add_column(column, no_wrap=True)
    for split in SPLITS.values():
        region = get_region(split.region)
        tasks = int(region.task_indices(split.task_split).numel())
        table.add_row(
            split.name,
            split.region,
            str(region.num_servers),
            f"{tasks} {split.task_split}",
            f"{split.episodes} x {len(split.seeds)}",
            split.fingerprint(),
        )
    console.print(table)
    for split in SPLITS.values():
        settings = ", ".join(f"{k}={v}" for k, v in split.env_settings.items())
        kind = "zero-shot" if split.zero_shot else "in-distribution"
        console.print(f"[bold]{split.name}[/] ({kind}): {split.description}; settings {settings}", highlight=False)
    return 0
