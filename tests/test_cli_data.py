"""`moebench data ...` through the CLI entry point: output and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from moebench.cli import main
from moebench.commands import GROUPS
from moebench.data import load_region


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_every_group(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name, _, _ in GROUPS:
        assert name in out


def test_an_unknown_command_exits_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_data_without_a_command_shows_its_help(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "data")
    assert code == 2
    for command in ("validate", "info", "generate", "list"):
        assert command in out


def test_list_shows_the_shipped_regions(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    for name, country in (("CH-500", "Switzerland"), ("GB-1000", "United Kingdom"), ("DE-2000", "Germany")):
        line = next(line for line in out.splitlines() if name in line)
        assert country in line


def test_list_of_another_folder(small_region: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shutil.copytree(small_region, tmp_path / "CH-60")
    shutil.copytree(small_region, tmp_path / "broken")
    (tmp_path / "broken" / "tasks.csv").write_text("")
    code, out, _ = run(capsys, "data", "list", "--data", str(tmp_path))
    assert code == 0
    good = next(line for line in out.splitlines() if "CH-60" in line)
    assert "60" in good and "Switzerland" in good and "120" in good and "24" in good
    assert "invalid" in next(line for line in out.splitlines() if "broken" in line)


def test_info_of_a_shipped_region_by_name(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "data", "info", "GB-1000")
    assert code == 0
    assert "United Kingdom (GB)" in out
    assert "1000 (cluster GB-1000)" in out
    assert "100 (bad hop" in out


def test_info_json_by_name_under_data(small_region: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "data", "info", small_region.name, "--data", str(small_region.parent), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["servers"] == 60 and summary["traps"] == 6
    assert summary["tasks"] == {"train": 120, "test": 24}
    assert summary["country"] == "Switzerland"
    assert [m["name"] for m in summary["model_types"]] == ["ChatGPT", "GPT-4", "GPT-4v"]


def test_info_of_an_unknown_region(capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "data", "info", "Atlantis-9")
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert "unknown region 'Atlantis-9'" in err


def test_validate_a_generated_region(small_region: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "data", "validate", str(small_region))
    assert code == 0
    assert "valid:" in out and "schema and checksums" in out


def test_validate_the_authors_region(reference_data: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "data", "validate", "Server1_Trap", "--data", str(reference_data))
    assert code == 0
    assert "valid:" in out and "3820 instances on 500 servers" in out


def test_generate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "CH-30"
    argv = [
        "data",
        "generate",
        "--country",
        "ch",
        "--servers",
        "30",
        "--traps",
        "3",
        "--seed",
        "5",
        "--out",
        str(out_dir),
        "--trap-rule",
        "random",
        "--no-trap-signature",
        "--workflow-len",
        "2",
        "4",
        "--train-tasks",
        "20",
        "--test-tasks",
        "6",
    ]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "wrote" in out and "Switzerland (CH)" in out
    region = load_region(out_dir, verify=True)
    assert region.num_servers == 30 and int(region.trap_mask.sum()) == 3
    assert set(region.link_bandwidth_mbps.tolist()) == {50.0}
    assert region.task_len.min() >= 2 and region.task_len.max() <= 4
    assert region.metadata["parameters"]["trap_rule"] == "random"

    code, _, err = run(capsys, *argv)
    assert code == 1 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, _ = run(capsys, *argv, "--seed", "6", "--force")
    assert code == 0
    assert load_region(out_dir).metadata["parameters"]["seed"] == 6


def test_generate_with_bad_arguments_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(
        capsys, "data", "generate", "--country", "CH", "--servers", "30", "--traps", "40", "--out", str(tmp_path / "R")
    )
    assert code == 1
    assert err.strip() == "error: 40 traps cannot be placed on 30 servers: use at most 30 traps"
    assert list(tmp_path.iterdir()) == []
