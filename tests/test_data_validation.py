"""Malformed regions: each defect is one `RegionError` naming the file, row and column."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from moebench.cli import main
from moebench.data import RegionError, load_region
from moebench.data.load import verify_checksums


def copy_region(source: Path, tmp_path: Path, keep_metadata: bool = False) -> Path:
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    if not keep_metadata:
        (folder / "metadata.json").unlink()
    return folder


def edit_csv(folder: Path, name: str, change: Callable[[list[str], list[list[str]]], None]) -> None:
    """Rewrite one CSV after `change(header, rows)` edited its cells in place."""
    with open(folder / name, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    change(header, rows)
    with open(folder / name, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])


def set_cell(name: str, row: int, column: str, value: str) -> Callable[[Path], None]:
    """An edit that sets data row `row` (from 1) of `column` in file `name`."""

    def change(header: list[str], rows: list[list[str]]) -> None:
        rows[row - 1][header.index(column)] = value

    return lambda folder: edit_csv(folder, name, change)


def drop_column(name: str, column: str) -> Callable[[Path], None]:
    def change(header: list[str], rows: list[list[str]]) -> None:
        index = header.index(column)
        for line in (header, *rows):
            del line[index]

    return lambda folder: edit_csv(folder, name, change)


def duplicate_first_server_id(folder: Path) -> None:
    def change(header: list[str], rows: list[list[str]]) -> None:
        rows[4][header.index("ServerID")] = rows[0][header.index("ServerID")]

    edit_csv(folder, "servers.csv", change)


def remove_gpt4v(folder: Path) -> None:
    def change(header: list[str], rows: list[list[str]]) -> None:
        rows[:] = [r for r in rows if r[header.index("ModelTypeName")] != "GPT-4v"]

    edit_csv(folder, "model_instances.csv", change)


def first_task_needing(folder: Path, model_type: str) -> int:
    with open(folder / "tasks.csv", newline="", encoding="utf-8") as handle:
        for row, task in enumerate(csv.DictReader(handle), start=1):
            if model_type in json.loads(task["RequiredModelTypes"]):
                return row
    raise AssertionError(f"no task needs {model_type}")


def other_model_type(folder: Path) -> None:
    def change(header: list[str], rows: list[list[str]]) -> None:
        column = header.index("RequiredModelType")
        rows[2][column] = "GPT-4" if rows[2][column] != "GPT-4" else "ChatGPT"

    edit_csv(folder, "task_request_mapping.csv", change)


def extra_field(folder: Path) -> None:
    edit_csv(folder, "task_request_mapping.csv", lambda header, rows: rows[1].append("surplus"))


def unknown_trap(folder: Path) -> None:
    config = json.loads((folder / "trap_config.json").read_text())
    config["trap_server_ids"][0] = "ghost"
    (folder / "trap_config.json").write_text(json.dumps(config))


CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "missing file": (lambda f: (f / "servers.csv").unlink(), ["missing file servers.csv"]),
    "missing column": (
        drop_column("servers.csv", "TrafficRate"),
        ["servers.csv: missing column TrafficRate"],
    ),
    "unparsable number": (
        set_cell("servers.csv", 3, "ComputationCapacity", "fast"),
        ["servers.csv, row 3 (line 4), column ComputationCapacity", "'fast' is not a number"],
    ),
    "duplicate server id": (
        duplicate_first_server_id,
        ["servers.csv, row 5 (line 6), column ServerID", "duplicate id"],
    ),
    "unknown server in a link": (
        set_cell("network_links.csv", 2, "DstServerID", "ghost"),
        ["network_links.csv, row 2 (line 3), column DstServerID", "unknown server id 'ghost'"],
    ),
    "unknown server in an instance": (
        set_cell("model_instances.csv", 4, "ServerID", "ghost"),
        ["model_instances.csv, row 4 (line 5), column ServerID", "unknown server id 'ghost'"],
    ),
    "latitude out of range": (
        set_cell("servers.csv", 2, "Latitude", "95.0"),
        ["servers.csv, row 2 (line 3), column Latitude", "outside [-90, 90]"],
    ),
    "wrong field count": (
        extra_field,
        ["task_request_mapping.csv, row 2 (line 3)", "expected 4 fields, found 5"],
    ),
    "mapping disagrees with tasks": (
        other_model_type,
        ["task_request_mapping.csv, row 3 (line 4), column RequiredModelType", "tasks.csv says step 2"],
    ),
    "malformed RequiredModelTypes": (
        set_cell("tasks.csv", 2, "RequiredModelTypes", '["ChatGPT", '),
        ["tasks.csv, row 2 (line 3), column RequiredModelTypes", "is not a JSON list"],
    ),
    "bad split": (
        set_cell("tasks.csv", 4, "Split", "validation"),
        ["tasks.csv, row 4 (line 5), column Split", "'validation' is not one of train, test"],
    ),
    "malformed trap_config": (
        lambda f: (f / "trap_config.json").write_text("{not json"),
        ["trap_config.json: not valid JSON"],
    ),
    "unknown trap id": (
        unknown_trap,
        ["trap_config.json, key trap_server_ids, entry 0", "unknown server id 'ghost'"],
    ),
    "empty file": (
        lambda f: (f / "network_links.csv").write_text(""),
        ["network_links.csv: the file is empty"],
    ),
    "negative task size": (
        set_cell("tasks.csv", 7, "TaskSize", "-3"),
        ["tasks.csv, row 7 (line 8), column TaskSize", "outside [0, inf]"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_defect_is_reported_with_file_row_and_column(small_region: Path, tmp_path: Path, case: str) -> None:
    folder = copy_region(small_region, tmp_path)
    load_region(folder)  # the copy is good before the edit
    break_it, expected = CASES[case]
    break_it(folder)
    with pytest.raises(RegionError) as caught:
        load_region(folder)
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message
    assert "\n" not in message


def test_task_needing_a_model_type_nobody_hosts(small_region: Path, tmp_path: Path) -> None:
    folder = copy_region(small_region, tmp_path)
    remove_gpt4v(folder)
    row = first_task_needing(folder, "GPT-4v")
    where = rf"tasks.csv, row {row} \(line {row + 1}\), column RequiredModelTypes"
    with pytest.raises(RegionError, match=where):
        load_region(folder)
    with pytest.raises(RegionError, match="'GPT-4v', which no server hosts"):
        load_region(folder)


def test_checksum_mismatch_is_caught_by_verify_only(small_region: Path, tmp_path: Path) -> None:
    folder = copy_region(small_region, tmp_path, keep_metadata=True)
    assert verify_checksums(folder)["name"] == small_region.name
    set_cell("tasks.csv", 1, "TaskSize", "7")(folder)
    load_region(folder)  # still a valid region
    with pytest.raises(RegionError, match=r"^tasks.csv: its SHA-256 differs from the one in metadata.json"):
        load_region(folder, verify=True)
    assert main(["data", "validate", str(folder)]) == 1


def test_cli_validate_prints_one_line(small_region: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = copy_region(small_region, tmp_path, keep_metadata=True)
    set_cell("tasks.csv", 4, "Split", "validation")(folder)
    assert main(["data", "validate", str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    # The defect in the file is reported, not just that its checksum changed.
    assert lines[0].startswith("error: tasks.csv, row 4 (line 5), column Split")
    assert "Traceback" not in captured.err
