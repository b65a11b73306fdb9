"""`moebench leaderboard`: submit, show, render."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from moebench.commands import console


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    commands = parser.add_subparsers(dest="leaderboard_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    submit = commands.add_parser(
        "submit",
        help="evaluate a submission folder on every split and store its result",
        description="Validate a submission folder (submission.json and, for trained entries, a checkpoint of plain "
        "tensors), evaluate it on every standard split and seed, and write leaderboard/results/NAME.json. An "
        "unchanged checkpoint on unchanged splits reuses the stored result.",
    )
    submit.add_argument("folder", type=Path, metavar="DIR")
    submit.add_argument("--backend", choices=["local", "ray"], default="local", help="where the jobs run")
    submit.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    submit.add_argument("--replace", action="store_true", help="overwrite a result of the same name")
    submit.add_argument("--split", action="append", dest="splits", metavar="NAME", help="only these splits")
    submit.add_argument("--no-render", action="store_true", help="do not re-render LEADERBOARD.md")
    submit.set_defaults(func=cmd_submit)

    show = commands.add_parser("show", help="print the leaderboard")
    show.add_argument("--split", help="show one split in full")
    show.set_defaults(func=cmd_show)

    reference = commands.add_parser(
        "reference",
        help="(re)build and submit the reference submission of every registry entry",
        description="Write leaderboard/submissions/<name>/ for every registry entry (or --name ones) and submit "
        "them. With --train, first train each learning entry with its default budget (runs/reference/<name>/, an "
        "interrupted training resumes).",
    )
    reference.add_argument("--train", action="store_true", help="train the learning entries first")
    reference.add_argument("--name", action="append", dest="names", metavar="NAME", help="only these entries")
    reference.add_argument("--backend", choices=["local", "ray"], default="local")
    reference.add_argument("--address", help="Ray cluster address")
    reference.set_defaults(func=cmd_reference)

    render = commands.add_parser("render", help="write leaderboard/LEADERBOARD.md from the stored results")
    render.add_argument("--out", type=Path, help="where to write (default leaderboard/LEADERBOARD.md)")
    render.set_defaults(func=cmd_render)


def cmd_submit(args: argparse.Namespace) -> int:
    from leaderboard import runner

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"evaluate {args.folder}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        record, jobs = runner.submit(
            args.folder,
            backend=args.backend,
            address=args.address,
            replace=args.replace,
            split_names=args.splits,
            results_dir=runner.RESULTS_DIR,
            progress=advance,
        )
    if jobs == 0:
        console.print(f"{record['name']}: unchanged checkpoint on unchanged splits, stored result reused")
    else:
        console.print(f"{record['name']}: {jobs} jobs evaluated ({args.backend}), result stored")
    if not args.no_render:
        cmd_render(argparse.Namespace(out=None))
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from algorithms.trainer import progress_display
    from leaderboard.reference import build_reference
    from leaderboard.runner import submit

    def submit_one(folder: Path) -> None:
        record, jobs = submit(folder, backend=args.backend, address=args.address, replace=True)
        console.print(f"{record['name']}: {jobs} jobs evaluated" if jobs else f"{record['name']}: result reused")

    with progress_display() as progress:
        build_reference(args.names, args.train, submit_one, progress=progress)
    return cmd_render(argparse.Namespace(out=None))


def cmd_show(args: argparse.Namespace) -> int:
    from leaderboard import runner
    from leaderboard.render import OVERALL_HEADER, SPLIT_HEADER, overall_rows, split_rows
    from leaderboard.scoring import build_board
    from moebench.splits import get_split

    board = build_board(runner.read_results(runner.RESULTS_DIR))
    if args.split:
        get_split(args.split)
        table = Table(title=f"split {args.split}")
        for title in SPLIT_HEADER:
            table.add_column(title)
        for row in split_rows(board, args.split):
            table.add_row(*row)
    else:
        table = Table(title="moebench leaderboard (zero-shot score: 0 = random, 1 = oracle)")
        for title in OVERALL_HEADER:
            table.add_column(title)
        for row in overall_rows(board):
            table.add_row(*row)
    console.print(table)
    for name, split in board.stale:
        console.print(f"[yellow]not ranked:[/] {name} on {split} was computed on another fingerprint")
    for split in board.missing_reference:
        console.print(f"[yellow]no score:[/] split {split} lacks the random or oracle result")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from leaderboard import runner
    from leaderboard.render import LEADERBOARD_MD, readme_table, render_markdown
    from leaderboard.scoring import build_board
    from moebench.provenance import atomic_write_bytes
    from moebench.readme import write_section

    board = build_board(runner.read_results(runner.RESULTS_DIR))
    out = args.out or LEADERBOARD_MD
    atomic_write_bytes(out, render_markdown(board).encode())
    console.print(f"wrote {out}")
    if args.out is None:  # the real board: the README shows its overall table
        write_section("leaderboard", readme_table(board))
        console.print("updated the leaderboard table in README.md")
    return 0
