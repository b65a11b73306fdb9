"""`moebench run` end to end on a small real run: the folder, the figures, the report, Ctrl-C, and
`moebench plot`."""

import json

import pytest

from moebench.cli import main
from moebench.pipeline import MainJob, RunOptions

FIGURES = ("learning_curves", "latency_cdf", "cost_breakdown", "pareto", "dwa_weights", "scalability")


def small(tmp_path, **changes) -> RunOptions:
    options = dict(
        algos=["topofree"],
        seeds=[0],
        frames=20_480,
        splits=["in-dist", "zs-scale-1000"],
        quick=True,
        episodes=4,
        out=tmp_path / "run",
    )
    options.update(changes)
    return RunOptions(**options)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    job = MainJob(small(out))
    job.run()
    return job


def test_run_folder_holds_everything(finished):
    out = finished.out
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "complete"
    assert set(results["splits"]) == {"in-dist", "zs-scale-1000"}
    table = results["splits"]["in-dist"]["policies"]
    assert {"topofree", "random", "greedy", "least-loaded", "expert", "oracle"} <= set(table)
    assert table["random"]["score"] == 0.0 and table["oracle"]["score"] == 1.0
    assert (out / "train" / "topofree-s0" / "final.pt").is_file()
    assert (out / "train" / "topofree-s0" / "log.jsonl").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["splits"]["in-dist"]["fingerprint"] == results["splits"]["in-dist"]["fingerprint"]
    assert "commit" in config and config["budgets"] == {"topofree": 20_480}


def test_every_figure_is_drawn_from_the_run(finished):
    for name in FIGURES:
        for suffix in (".png", ".pdf"):
            path = finished.out / "figures" / f"{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 1000, path


def test_report_shows_the_table_and_embeds_the_figures(finished):
    report = (finished.out / "report.md").read_text()
    assert "| topofree |" in report and "| oracle |" in report
    for name in FIGURES:
        assert f"](figures/{name}.png)" in report


def test_plot_redraws_and_merges_runs(finished, tmp_path):
    assert main(["plot", str(finished.out), str(finished.out), "--out", str(tmp_path)]) == 0
    for name in FIGURES:
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000


def test_plot_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err


def test_ctrl_c_leaves_a_consistent_folder(tmp_path, monkeypatch):
    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(MainJob, "evaluate_pareto", interrupt)
    job = MainJob(small(tmp_path, splits=["in-dist"]))
    job.run()
    results = json.loads((job.out / "results.json").read_text())
    assert results["status"] == "interrupted during pareto"
    assert results["completed_stages"] == ["training", "evaluation"]
    assert "in-dist" in results["splits"]  # the finished stage is kept
    assert results["pareto"] == {}  # and the unfinished one is not half-written
    assert "interrupted during pareto" in (job.out / "report.md").read_text()
    assert (job.out / "train" / "topofree-s0" / "final.pt").is_file()


def test_refuses_bad_options(tmp_path, capsys):
    assert main(["run", "--algos", "greedy", "--out", str(tmp_path / "x")]) == 1
    assert "trained entries" in capsys.readouterr().err
    assert main(["run", "--splits", "nope", "--out", str(tmp_path / "y")]) == 1
    assert "unknown split" in capsys.readouterr().err
    assert main(["run", "--frames", "0", "--out", str(tmp_path / "z")]) == 1


def test_learning_curves_skip_iterations_without_a_finished_episode(tmp_path):
    """A3C logs null returns where no episode ended; the curves skip those points."""
    from moebench.plots import learning_curves

    def record(i, ret):
        return {
            "frames": 1000 * (i + 1),
            "return": ret,
            "task_latency_ms": 100.0 + i,
            "compute_cost_per_task": 0.02,
            "transfer_cost_per_task": 0.0001,
        }

    logs = {"a3c": [[record(i, None if i % 4 else -30.0 + i) for i in range(12)]], "none": [[record(0, None)]]}
    paths = learning_curves(logs, tmp_path)
    assert paths and all(p.stat().st_size > 0 for p in paths)
