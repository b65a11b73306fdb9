"""Read and validate a region folder in the seed's schema.

Every problem a user's files can have is reported as one `RegionError` that names the file, the
row (data rows count from 1; the header is line 1, so row r is line r + 1) and the column.
Nothing is silently dropped or defaulted.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch

from moebench.data import schema
from moebench.data.region import SPLIT_CODES, Region, TrapConfig
from moebench.errors import UserError


class RegionError(UserError):
    """A region folder that does not follow the schema (the message says where and why)."""


def _where(spec_name: str, row: int | None = None, column: str | None = None) -> str:
    out = spec_name
    if row is not None:
        out += f", row {row} (line {row + 1})"
    if column is not None:
        out += f", column {column}"
    return out


def read_table(folder: Path, spec: schema.FileSpec) -> dict[str, list]:
    """Read one CSV file of the schema into typed columns; raise `RegionError` on any defect."""
    path = folder / spec.name
    if not path.is_file():
        raise RegionError(f"{folder}: missing file {spec.name} ({spec.description})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise RegionError(f"{spec.name}: cannot be read as UTF-8 text ({err})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise RegionError(f"{spec.name}: the file is empty (expected a header row with {', '.join(spec.column_names)})")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in spec.column_names if c not in header]
    if missing:
        raise RegionError(f"{spec.name}: missing column {', '.join(missing)} (the header has {', '.join(header)})")
    index = {c: header.index(c) for c in spec.column_names}
    out: dict[str, list] = {c.name: [] for c in spec.columns}
    for r, row in enumerate(rows[1:], start=1):
        if not row or all(not cell.strip() for cell in row):
            continue  # blank line (for example a trailing newline)
        if len(row) != len(header):
            raise RegionError(f"{_where(spec.name, r)}: expected {len(header)} fields, found {len(row)}")
        for col in spec.columns:
            out[col.name].append(_parse_cell(row[index[col.name]], col, spec.name, r))
    if not out[spec.columns[0].name]:
        raise RegionError(f"{spec.name}: the file has a header but no data rows")
    return out


def _parse_cell(raw: str, col: schema.Column, file: str, row: int):
    cell = raw.strip()
    if col.kind == "str":
        if not cell:
            raise RegionError(f"{_where(file, row, col.name)}: empty value")
        return cell
    if col.kind == "json_list":
        try:
            value = json.loads(cell)
        except json.JSONDecodeError:
            raise RegionError(f"{_where(file, row, col.name)}: {cell!r} is not a JSON list") from None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise RegionError(f"{_where(file, row, col.name)}: expected a non-empty JSON list of names, got {cell!r}")
        return value
    try:
        value = float(cell)
    except ValueError:
        raise RegionError(f"{_where(file, row, col.name)}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise RegionError(f"{_where(file, row, col.name)}: {cell!r} is not a finite number")
    if col.kind == "int":
        if value != int(value):
            raise RegionError(f"{_where(file, row, col.name)}: {cell!r} is not a whole number")
        value = int(value)
    if (col.lo is not None and value < col.lo) or (col.hi is not None and value > col.hi):
        lo = "-inf" if col.lo is None else f"{col.lo:g}"
        hi = "inf" if col.hi is None else f"{col.hi:g}"
        raise RegionError(f"{_where(file, row, col.name)}: {cell} is outside [{lo}, {hi}]")
    return value


def _unique_index(values: list[str], file: str, column: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for r, v in enumerate(values, start=1):
        if v in index:
            raise RegionError(f"{_where(file, r, column)}: duplicate id {v!r} (first at row {index[v] + 1})")
        index[v] = r - 1
    return index


def _lookup(index: dict[str, int], value: str, file: str, row: int, column: str, what: str) -> int:
    try:
        return index[value]
    except KeyError:
        raise RegionError(f"{_where(file, row, column)}: unknown {what} {value!r}") from None


def _positive(values: list[float], file: str, column: str) -> None:
    for r, v in enumerate(values, start=1):
        if v <= 0:
            raise RegionError(f"{_where(file, r, column)}: {v:g} must be greater than 0")


def read_trap_config(folder: Path, server_index: dict[str, int]) -> tuple[torch.Tensor, TrapConfig]:
    path = folder / schema.TRAP_CONFIG
    name = schema.TRAP_CONFIG
    if not path.is_file():
        raise RegionError(f"{folder}: missing file {name}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RegionError(f"{name}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise RegionError(f"{name}: expected a JSON object with keys {', '.join(schema.TRAP_CONFIG_KEYS)}")
    for key, kind in schema.TRAP_CONFIG_KEYS.items():
        if key not in config:
            raise RegionError(f"{name}: missing key {key!r}")
        value = config[key]
        if kind is float:
            number = not isinstance(value, bool) and isinstance(value, (int, float))
            if not number or not math.isfinite(value) or value < 0:
                raise RegionError(f"{name}, key {key}: expected a non-negative number, got {value!r}")
        elif not isinstance(value, list):
            raise RegionError(f"{name}, key {key}: expected a list of server ids, got {value!r}")
    mask = torch.zeros(len(server_index), dtype=torch.bool)
    for i, sid in enumerate(config["trap_server_ids"]):
        if not isinstance(sid, str) or sid not in server_index:
            raise RegionError(f"{name}, key trap_server_ids, entry {i}: unknown server id {sid!r}")
        if mask[server_index[sid]]:
            raise RegionError(f"{name}, key trap_server_ids, entry {i}: duplicate server id {sid!r}")
        mask[server_index[sid]] = True
    if config["trap_bandwidth"] <= 0:
        raise RegionError(f"{name}, key trap_bandwidth: must be greater than 0")
    trap = TrapConfig(
        cost_multiplier=float(config["trap_cost_multiplier"]),
        bandwidth_mbps=float(config["trap_bandwidth"]),
        latency_ms=float(config["trap_latency"]),
        rate_per_s=float(config["trap_rate"]),
    )
    return mask, trap


def file_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of each schema file present in `folder` (CSV files and trap_config.json)."""
    names = [spec.name for spec in (*schema.CSV_FILES, schema.REQUEST_LOG)] + [schema.TRAP_CONFIG]
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in sorted(names)
        if (folder / name).is_file()
    }


def fingerprint_of(checksums: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(checksums):
        digest.update(f"{name}:{checksums[name]}\n".encode())
    return digest.hexdigest()[:16]


def verify_checksums(folder: Path) -> dict:
    """Check the files against `metadata.json` (where present); return the metadata."""
    path = folder / schema.METADATA
    if not path.is_file():
        return {}
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RegionError(f"{schema.METADATA}: not valid JSON ({err})") from None
    expected = metadata.get("sha256", {}) if isinstance(metadata, dict) else None
    if not isinstance(expected, dict):
        raise RegionError(f"{schema.METADATA}: key sha256 must map file names to checksums")
    actual = file_checksums(folder)
    for name, digest in sorted(expected.items()):
        if name not in actual:
            raise RegionError(f"{schema.METADATA}: lists {name}, which is missing from {folder}")
        if actual[name] != digest:
            raise RegionError(
                f"{name}: its SHA-256 differs from the one in {schema.METADATA}"
                " (the file changed after it was generated)"
            )
    return metadata


def load_region(path: str | Path, name: str | None = None, verify: bool = False) -> Region:
    """Load a region folder in the seed's schema (the authors' own folders load unchanged).

    `verify=True` also checks the files against the checksums in `metadata.json`.
    Raises `RegionError` with file, row and column for any defect.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise RegionError(f"{folder}: no such region folder")
    metadata = verify_checksums(folder) if verify else _read_metadata(folder)

    servers = read_table(folder, schema.SERVERS)
    f = schema.SERVERS.name
    server_index = _unique_index(servers["ServerID"], f, "ServerID")
    _positive(servers["NormalizedCompute"], f, "NormalizedCompute")
    _positive(servers["ComputationCapacity"], f, "ComputationCapacity")
    num_servers = len(server_index)

    instances = read_table(folder, schema.MODEL_INSTANCES)
    f = schema.MODEL_INSTANCES.name
    _unique_index(instances["ModelInstanceID"], f, "ModelInstanceID")
    type_index: dict[str, int] = {}
    type_ids: list[int] = []
    type_rows = zip(instances["ModelTypeName"], instances["ModelType"], strict=True)
    for r, (tname, tid) in enumerate(type_rows, start=1):
        if tname not in type_index:
            if tid in type_ids:
                other = [n for n, i in type_index.items() if type_ids[i] == tid][0]
                raise RegionError(f"{_where(f, r, 'ModelType')}: type {tid} is used by {other!r} and {tname!r}")
            type_index[tname] = len(type_ids)
            type_ids.append(tid)
        elif type_ids[type_index[tname]] != tid:
            raise RegionError(
                f"{_where(f, r, 'ModelType')}: {tname!r} has type {tid} here but {type_ids[type_index[tname]]} earlier"
            )
    # Order model types by their numeric ModelType, so indices do not depend on row order.
    order = sorted(type_index, key=lambda n: type_ids[type_index[n]])
    type_index = {n: i for i, n in enumerate(order)}
    type_ids = sorted(type_ids)
    inst_server = np.array(
        [_lookup(server_index, sid, f, r, "ServerID", "server id") for r, sid in enumerate(instances["ServerID"], 1)],
        dtype=np.int64,
    )
    inst_type = np.array([type_index[t] for t in instances["ModelTypeName"]], dtype=np.int64)
    flat = inst_type * num_servers + inst_server
    count = np.bincount(flat, minlength=len(order) * num_servers).reshape(len(order), num_servers)
    price = np.full(len(order) * num_servers, np.inf)
    np.minimum.at(price, flat, np.asarray(instances["CostPerToken"], dtype=np.float64))
    price = price.reshape(len(order), num_servers)
    price[count == 0] = 0.0

    links = read_table(folder, schema.NETWORK_LINKS)
    f = schema.NETWORK_LINKS.name
    src, dst = (
        [_lookup(server_index, v, f, r, column, "server id") for r, v in enumerate(links[column], 1)]
        for column in ("SrcServerID", "DstServerID")
    )
    _positive(links["BandwidthMbps"], f, "BandwidthMbps")
    seen_links: dict[tuple[int, int], int] = {}
    for r, pair in enumerate(zip(src, dst, strict=True), start=1):
        if pair in seen_links:
            raise RegionError(
                f"{_where(f, r)}: duplicate link {links['SrcServerID'][r - 1]} -> "
                f"{links['DstServerID'][r - 1]} (first at row {seen_links[pair]})"
            )
        seen_links[pair] = r

    trap_mask, trap = read_trap_config(folder, server_index)

    tasks = read_table(folder, schema.TASKS)
    f = schema.TASKS.name
    task_index = _unique_index(tasks["TaskID"], f, "TaskID")
    for r, split in enumerate(tasks["Split"], start=1):
        if split not in SPLIT_CODES:
            raise RegionError(f"{_where(f, r, 'Split')}: {split!r} is not one of {', '.join(SPLIT_CODES)}")
    max_len = max(len(seq) for seq in tasks["RequiredModelTypes"])
    task_models = torch.full((len(task_index), max_len), -1, dtype=torch.int64)
    for r, seq in enumerate(tasks["RequiredModelTypes"], start=1):
        for k, tname in enumerate(seq):
            if tname not in type_index:
                raise RegionError(
                    f"{_where(f, r, 'RequiredModelTypes')}: step {k} needs model type {tname!r},"
                    " which no server hosts"
                    f" (model_instances.csv has {', '.join(order)})"
                )
            task_models[r - 1, k] = type_index[tname]
    task_len = torch.tensor([len(seq) for seq in tasks["RequiredModelTypes"]], dtype=torch.int64)

    mapping = read_table(folder, schema.TASK_REQUEST_MAPPING)
    f = schema.TASK_REQUEST_MAPPING.name
    step_request: dict[tuple[int, int], str] = {}
    for r, (tid, k, req, tname) in enumerate(
        zip(
            mapping["TaskID"],
            mapping["WorkflowStepIndex"],
            mapping["MappedRequestID"],
            mapping["RequiredModelType"],
            strict=True,
        ),
        start=1,
    ):
        t = _lookup(task_index, tid, f, r, "TaskID", "task id")
        if k >= task_len[t]:
            raise RegionError(
                f"{_where(f, r, 'WorkflowStepIndex')}: task {tid} has {int(task_len[t])} steps, not {k + 1}"
            )
        if (t, k) in step_request:
            raise RegionError(f"{_where(f, r, 'WorkflowStepIndex')}: duplicate step {k} of task {tid}")
        expected = order[int(task_models[t, k])]
        if tname != expected:
            raise RegionError(
                f"{_where(f, r, 'RequiredModelType')}: {tname!r},"
                f" but tasks.csv says step {k} of {tid} needs {expected!r}"
            )
        step_request[(t, k)] = req
    for t, tid in enumerate(tasks["TaskID"]):
        for k in range(int(task_len[t])):
            if (t, k) not in step_request:
                raise RegionError(f"{f}: task {tid} (tasks.csv row {t + 1}) has no row for workflow step {k}")

    step_in = step_out = None
    if (folder / schema.REQUEST_LOG.name).is_file():
        log = read_table(folder, schema.REQUEST_LOG)
        f = schema.REQUEST_LOG.name
        req_index = _unique_index(log["RequestID"], f, "RequestID")
        step_in = torch.zeros(task_models.shape, dtype=torch.float64)
        step_out = torch.zeros(task_models.shape, dtype=torch.float64)
        for (t, k), req in step_request.items():
            if req not in req_index:
                raise RegionError(
                    f"{schema.TASK_REQUEST_MAPPING.name}: step {k} of task {tasks['TaskID'][t]}"
                    f" maps to request {req!r}, which {f} does not have"
                )
            step_in[t, k] = log["InputTokens"][req_index[req]]
            step_out[t, k] = log["OutputTokens"][req_index[req]]

    def f64(values: list) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float64)

    return Region(
        name=name or folder.name,
        path=folder,
        server_ids=servers["ServerID"],
        lon_deg=f64(servers["Longitude"]),
        lat_deg=f64(servers["Latitude"]),
        access_bandwidth_mbps=f64(servers["LinkBandwidth"]),
        compute_capacity=f64(servers["ComputationCapacity"]),
        normalized_compute=f64(servers["NormalizedCompute"]),
        storage_capacity=f64(servers["StorageCapacity"]),
        traffic_rate=f64(servers["TrafficRate"]),
        cluster_ids=servers["ClusterID"],
        model_type_names=order,
        model_type_ids=torch.tensor(type_ids, dtype=torch.int64),
        instance_count=torch.from_numpy(count),
        instance_price=torch.from_numpy(price),
        link_src=torch.tensor(src, dtype=torch.int64),
        link_dst=torch.tensor(dst, dtype=torch.int64),
        link_bandwidth_mbps=f64(links["BandwidthMbps"]),
        link_latency_ms=f64(links["BaseLatencyMs"]),
        trap_mask=trap_mask,
        trap=trap,
        task_ids=tasks["TaskID"],
        task_split=torch.tensor([SPLIT_CODES[s] for s in tasks["Split"]], dtype=torch.int64),
        task_lon_deg=f64(tasks["TaskLongitude"]),
        task_lat_deg=f64(tasks["TaskLatitude"]),
        task_size=f64(tasks["TaskSize"]),
        task_models=task_models,
        task_len=task_len,
        step_input_tokens=step_in,
        step_output_tokens=step_out,
        fingerprint=fingerprint_of(file_checksums(folder)),
        metadata=metadata,
    )


def _read_metadata(folder: Path) -> dict:
    path = folder / schema.METADATA
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RegionError(f"{schema.METADATA}: not valid JSON ({err})") from None
    return data if isinstance(data, dict) else {}
