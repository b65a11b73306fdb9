"""`moebench data`: validate, describe, generate and list regions."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.table import Table

from moebench.commands import console
from moebench.data.catalog import DATA_ROOT, list_regions, resolve_region
from moebench.data.generate import TRAP_RULES, generate_region
from moebench.data.load import RegionError, load_region, verify_checksums
from moebench.data.region import Region


def add_parser(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    commands = parser.add_subparsers(dest="data_command", metavar="COMMAND")

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=show_help)

    region_help = "a region folder, or the name of a region under --data (default: the shipped data1/)"
    data_help = "folder of regions that NAME refers to, as in the seed's --data data1"

    validate = commands.add_parser(
        "validate",
        help="check a region folder against the schema (and its checksums)",
        description="Load a region folder, check every file, row and column, and the checksums in"
        " metadata.json where present. Exit 0 when valid, 1 with the first problem otherwise.",
    )
    validate.add_argument("region", metavar="PATH|NAME", help=region_help)
    validate.add_argument("--data", metavar="DIR", help=data_help)
    validate.set_defaults(func=cmd_validate)

    info = commands.add_parser("info", help="describe a region: servers, models, links, traps, tasks")
    info.add_argument("region", metavar="PATH|NAME", help=region_help)
    info.add_argument("--data", metavar="DIR", help=data_help)
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=cmd_info)

    generate = commands.add_parser(
        "generate",
        help="generate a region from real geography",
        description="Write a new region folder in the seed's schema: servers at real places of a"
        " country, the sample's model placement, nearest-neighbour links, traps and tasks."
        " The same arguments give byte-identical files.",
    )
    generate.add_argument("--country", required=True, help="two-letter ISO country code, e.g. CH, GB, DE")
    generate.add_argument("--servers", type=int, required=True, help="number of servers")
    generate.add_argument("--traps", type=int, required=True, help="number of trap servers")
    generate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="region folder to write")
    generate.add_argument("--name", help="region name, ClusterID and id prefix (default: the folder name)")
    generate.add_argument(
        "--trap-rule",
        choices=TRAP_RULES,
        default="top-compute",
        help="which servers are traps (default top-compute, as in the seed's data)",
    )
    generate.add_argument(
        "--no-trap-signature",
        dest="trap_link_signature",
        action="store_false",
        help="give trap links ordinary bandwidth and latency: traps show only in telemetry",
    )
    generate.add_argument(
        "--workflow-len",
        type=int,
        nargs=2,
        default=(5, 5),
        metavar=("MIN", "MAX"),
        help="steps per task, drawn uniformly (default 5 5)",
    )
    generate.add_argument("--train-tasks", type=int, help="train tasks (default 2 x servers)")
    generate.add_argument("--test-tasks", type=int, help="test tasks (default 0.4 x servers)")
    generate.add_argument(
        "--allow-reuse", action="store_true", help="place several servers at one place when the country has too few"
    )
    generate.add_argument("--force", action="store_true", help="replace an existing region folder")
    generate.add_argument("--trap-cost-multiplier", type=float, default=1.2, help="default 1.2")
    generate.add_argument("--trap-bandwidth", type=float, default=1.0, metavar="MBPS", help="default 1.0")
    generate.add_argument("--trap-latency", type=float, default=2000.0, metavar="MS", help="default 2000")
    generate.add_argument("--trap-rate", type=float, default=0.1, metavar="PER_S", help="default 0.1")
    generate.set_defaults(func=cmd_generate)

    listing = commands.add_parser("list", help="list the shipped regions")
    listing.add_argument("--data", metavar="DIR", type=Path, help=f"folder of regions (default {DATA_ROOT})")
    listing.set_defaults(func=cmd_list)

    stats = commands.add_parser(
        "trace-stats",
        help="burstiness and token statistics of a request trace",
        description="Read a trace CSV (arrived_at seconds, num_prefill_tokens, num_decode_tokens) and print its "
        "rate, inter-arrival coefficient of variation, variance-to-mean ratio of 10-second counts, token quantiles "
        "and log-normal fits; --profile adds the same statistics of a synthetic profile's sample beside them.",
    )
    stats.add_argument("trace", type=Path, metavar="PATH")
    stats.add_argument("--profile", choices=["conv", "code"], help="compare with this synthetic profile")
    stats.add_argument("--seed", type=int, default=0, help="seed of the profile sample (default 0)")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=cmd_trace_stats)


def cmd_validate(args: argparse.Namespace) -> int:
    folder = resolve_region(args.region, args.data)
    # Structure first, then checksums: an edited file should report what is wrong in it.
    region = load_region(folder)
    verify_checksums(folder)
    console.print(summary_table(region))
    checked = "schema and checksums" if region.metadata.get("sha256") else "schema; no checksums to check"
    console.print(
        f"[green]valid:[/] {folder} ({checked}; fingerprint {region.fingerprint})", highlight=False, soft_wrap=True
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    region = load_region(resolve_region(args.region, args.data))
    if args.json:
        console.print_json(json.dumps(region.summary()))
    else:
        console.print(summary_table(region))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with console.status(f"generating {args.servers} servers in {args.country.upper()} into {args.out} ..."):
        folder = generate_region(
            args.country,
            args.servers,
            args.traps,
            args.seed,
            args.out,
            trap_rule=args.trap_rule,
            trap_link_signature=args.trap_link_signature,
            workflow_len=tuple(args.workflow_len),
            train_tasks=args.train_tasks,
            test_tasks=args.test_tasks,
            allow_reuse=args.allow_reuse,
            force=args.force,
            name=args.name,
            trap_cost_multiplier=args.trap_cost_multiplier,
            trap_bandwidth_mbps=args.trap_bandwidth,
            trap_latency_ms=args.trap_latency,
            trap_rate_per_s=args.trap_rate,
        )
    region = load_region(folder, verify=True)
    console.print(summary_table(region))
    console.print(f"[green]wrote[/] {folder} in {time.perf_counter() - started:.1f} s", highlight=False, soft_wrap=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    root = args.data or DATA_ROOT
    names = list_regions(root)
    if not names:
        console.print(f"no regions in {root}")
        return 0
    table = Table(title=f"regions in {root}")
    for column in ("name", "servers", "country", "traps", "train tasks", "test tasks"):
        table.add_column(column, justify="left" if column in ("name", "country") else "right")
    for name in names:
        try:
            region = load_region(root / name)
        except RegionError as err:
            table.add_row(name, "[red]invalid[/]", str(err), "", "", "")
            continue
        summary = region.summary()
        table.add_row(
            name,
            str(summary["servers"]),
            _country(region),
            str(summary["traps"]),
            str(summary["tasks"]["train"]),
            str(summary["tasks"]["test"]),
        )
    console.print(table)
    return 0


def _country(region: Region) -> str:
    country = region.metadata.get("country")
    code = region.metadata.get("country_code")
    if country and code:
        return f"{country} ({code})"
    return country or "-"


def summary_table(region: Region) -> Table:
    """A region's summary (`Region.summary()`) as a two-column table."""
    s = region.summary()
    table = Table(title=f"region {s['name']}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("path", s["path"] or "-")
    table.add_row("country", _country(region))
    table.add_row(
        "extent",
        f"lon {s['lon_range'][0]:.3f} .. {s['lon_range'][1]:.3f} deg, "
        f"lat {s['lat_range'][0]:.3f} .. {s['lat_range'][1]:.3f} deg",
    )
    table.add_row("servers", f"{s['servers']} (cluster {', '.join(s['clusters'])})")
    table.add_row("compute", f"{s['compute_range'][0]:g} .. {s['compute_range'][1]:g}")
    for model in s["model_types"]:
        low, high = model["price_per_1k_tokens"]
        price = f"${low:g}" if low == high else f"${low:g} .. ${high:g}"
        table.add_row(
            f"model {model['name']}",
            f"{model['instances']} instances on {model['servers']} servers, {price} / 1k tokens",
        )
    table.add_row("links", f"{s['directed_links']} directed rows, {s['undirected_links']} distinct pairs")
    trap = region.trap
    table.add_row(
        "traps",
        f"{s['traps']} (bad hop {trap.bandwidth_mbps:g} Mbps, +{trap.latency_ms:g} ms; "
        f"cost x{trap.cost_multiplier:g}; rate {trap.rate_per_s:g}/s)",
    )
    table.add_row("tasks", ", ".join(f"{count} {split}" for split, count in s["tasks"].items()))
    lengths = ", ".join(f"{n} steps: {count}" for n, count in s["workflow_lengths"].items())
    table.add_row("workflow lengths", lengths)
    table.add_row("request log", "yes" if s["request_log"] else "no (tokens from TaskSize)")
    table.add_row("fingerprint", s["fingerprint"])
    return table


def cmd_trace_stats(args: argparse.Namespace) -> int:
    import torch

    from moebench.env.workload import load_trace, profile_sample, trace_statistics

    trace = load_trace(args.trace)
    columns = {str(args.trace.name): trace_statistics(trace.arrived_s, trace.prefill_tokens, trace.decode_tokens)}
    if args.profile:
        generator = torch.Generator().manual_seed(args.seed)
        sample = profile_sample(args.profile, max(columns[str(args.trace.name)]["requests"], 20_000), generator)
        columns[f"profile {args.profile}"] = trace_statistics(*sample)
    if args.json:
        console.print_json(json.dumps(columns))
        return 0
    table = Table(title="trace statistics")
    table.add_column("statistic")
    for name in columns:
        table.add_column(name, justify="right")

    def cell(value) -> str:
        if isinstance(value, list):
            return " / ".join(f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}" for v in value)
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"

    for key in next(iter(columns.values())):
        table.add_row(key, *(cell(stats[key]) for stats in columns.values()))
    console.print(table)
    return 0
