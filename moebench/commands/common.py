"""Argument helpers shared by the commands."""

from __future__ import annotations

import argparse
import json

from moebench.errors import UserError


def add_region_args(parser: argparse.ArgumentParser, default: str | None = "CH-500") -> None:
    parser.add_argument(
        "--region",
        "--regions",
        dest="region",
        default=default,
        metavar="NAME|PATH",
        help=f"region name in --data, or a region folder (default {default}); --regions is the seed's spelling",
    )
    parser.add_argument("--data", metavar="DIR", help="folder of regions that NAME refers to (default data1/)")


def resolved_region(args: argparse.Namespace) -> str:
    """The region argument as a folder path when --data is given, else as given."""
    from moebench.data.catalog import resolve_region

    return str(resolve_region(args.region, args.data))


def parse_assignments(items: list[str] | None) -> dict:
    """--set key=value pairs; values parse as JSON when they can (numbers, booleans, null, lists),
    else stay strings; `env.key=value` goes into the nested `env` settings."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key.startswith("env."):
            out.setdefault("env", {})[key[4:]] = value
        else:
            out[key] = value
    return out


def candidates_arg(value: str) -> int | None:
    """--max-candidates: a positive number, or 'all'."""
    if value == "all":
        return None
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'all', got {value!r}") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'all', got {value!r}")
    return k
