"""`moebench bench`: the command runs its jobs, prints its tables and writes every figure as JSON.
The job list is cut to a few small real measurements here; the real grid is tests/benchmarks/."""

from __future__ import annotations

import json

import pytest

from moebench.cli import main
from moebench.commands import bench as bench_command

SMALL_PLAN = [
    ("env", ("CH-500", 8, 32, True)),
    ("env", ("DE-2000", 8, 32, True)),
    ("env", ("CH-500", 8, 32, False)),
    ("decision", ("topofree", "CH-500", 1, None)),
    ("decision", ("topofree", "DE-2000", 1, None)),
    ("decision", ("gnn-ppo", "CH-500", 1, 32)),
    ("decision", ("topofree", "CH-500", 1, 32)),
    ("load", ("CH-500",)),
]


def test_bench_writes_measured_figures_and_summary(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench_command, "plan", lambda quick: SMALL_PLAN)
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["threads"] >= 1 and data["torch"]
    assert len(data["measures"]) == len(SMALL_PLAN)
    for row in data["measures"]:
        assert row["seconds_per_call"] > 0 and row["per_second"] > 0, row
    summary = data["summary"]
    # figures the plan measured are ratios of its rows; those it did not measure are NaN, not errors
    step = {(r["name"], r["region"]): r for r in data["measures"] if r["name"].startswith("env_step")}
    assert summary["env_growth_500_to_2000_k32"] == pytest.approx(
        step["env_step", "DE-2000"]["seconds_per_call"] / step["env_step", "CH-500"]["seconds_per_call"]
    )
    assert summary["torchrl_overhead_b1024"] is None  # B=1024 not measured: null (strict JSON), not NaN
    assert summary["topofree_decision_us_b1_all_de2000"] > 0
    assert summary["gnn_over_topofree"]["CH-500 b1"]["k32"] > 0
    assert summary["topofree_train_frames_per_s"] is None
    assert "NaN" not in out.read_text()
    printed = capsys.readouterr().out
    assert "env steps per second" in printed and "policy decisions" in printed


def test_bench_refuses_cuda_without_a_gpu(monkeypatch, capsys) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "--device", "cuda"]) == 1
    assert "no CUDA GPU" in capsys.readouterr().err


def test_readme_section_shows_every_measured_env_path() -> None:
    rows = [
        {"name": name, "region": "CH-500", "batch": 4, "k": 32, "per_second": 10.0, "seconds_per_call": 0.4}
        for name in bench_command.ENV_PATHS
    ]
    summary = bench_command.summarize(rows)
    text = bench_command.readme_markdown(rows, summary, quick=True)
    for label in bench_command.ENV_PATHS.values():
        assert f"| {label} | CH-500 | 4 | 32 | 10 |" in text
    assert "moebench bench --quick --readme" in text
