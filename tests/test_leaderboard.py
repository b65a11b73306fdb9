"""The leaderboard: a submission is refused with one clear error per defect and nothing stored,
evaluated on every split and stored atomically under a lock, reused when nothing changed, scored
against random (0) and the oracle (1), and rendered to LEADERBOARD.md.

The standard splits are replaced by two tiny ones (4 episodes x 2 seeds) so a submission takes a
second; trained submissions use a checkpoint of a one-iteration TopoFreeRL run."""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from test_trainer import tiny_config

import moebench.splits as splits_module
from algorithms.checkpoint import load_checkpoint
from algorithms.trainer import FINAL, Trainer
from leaderboard import runner
from leaderboard import submission as submission_module
from leaderboard.render import LEADERBOARD_MD, render_markdown
from leaderboard.runner import read_result, read_results, submit
from leaderboard.scoring import build_board
from leaderboard.submission import SubmissionError, sha256_of
from moebench.cli import main
from moebench.commands import console
from moebench.errors import UserError
from moebench.splits import Split

STANDARD_SPLITS = dict(splits_module.SPLITS)  # taken before any test replaces them
STANDARD_RESULTS_DIR = runner.RESULTS_DIR

IN_DIST = Split("in-dist", "CH-500", "tiny in-distribution split", episodes=4, seeds=(0, 1), zero_shot=False)
ZERO_SHOT = Split("zs-scale-1000", "GB-1000", "tiny zero-shot split", episodes=4, seeds=(0, 1))
TINY_SPLITS = {split.name: split for split in (IN_DIST, ZERO_SHOT)}
JOBS_PER_SUBMISSION = sum(len(split.seeds) for split in TINY_SPLITS.values())


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny evaluations are tens of times slower when torch's threads fight other processes for
    the cores; one thread also matches what a Ray worker uses."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def tiny_splits(monkeypatch):
    monkeypatch.setattr(splits_module, "SPLITS", dict(TINY_SPLITS))
    return splits_module.SPLITS


@pytest.fixture
def results_dir(tmp_path) -> Path:
    return tmp_path / "results"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The final checkpoint of a one-iteration TopoFreeRL run."""
    out = tmp_path_factory.mktemp("trained") / "run"
    Trainer(tiny_config("topofree", 1), out).run(show_progress=False)
    return out / FINAL


def write_submission(folder: Path, name: str, algorithm: str, weights: Path | None = None, **fields) -> Path:
    """A submission folder: `weights` (a checkpoint file) is copied in as final.pt, `fields` go into
    submission.json over the defaults, and a field set to None is left out."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "algorithm": algorithm, "authors": ["Ada Lovelace"], "description": "a test entry"}
    if weights is not None:
        shutil.copyfile(weights, folder / "final.pt")
        data["checkpoint"] = "final.pt"
    data.update(fields)
    data = {key: value for key, value in data.items() if value is not None}
    (folder / submission_module.SUBMISSION_FILE).write_text(json.dumps(data))
    return folder


def stored_files(results_dir: Path) -> dict[str, bytes]:
    """Every file of the results folder but the lock, by name."""
    if not results_dir.is_dir():
        return {}
    return {path.name: path.read_bytes() for path in results_dir.iterdir() if path.name != ".lock"}


def assert_refused(folder: Path, results_dir: Path, match: str, **kwargs) -> SubmissionError:
    before = stored_files(results_dir)
    with pytest.raises(SubmissionError, match=match) as info:
        submit(folder, results_dir=results_dir, **kwargs)
    assert stored_files(results_dir) == before, "a refused submission must not touch the results"
    return info.value


# --- submission.json -----------------------------------------------------------------------------

HEURISTIC = {"name": "my-greedy", "algorithm": "greedy"}


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"name": None}, "'name' must be a non-empty string"),
        ({"name": "  "}, "'name' must be a non-empty string"),
        ({"name": 7}, "'name' must be a non-empty string"),
        ({"name": "My Method!"}, "lowercase letters"),
        ({"name": "../escape"}, "lowercase letters"),
        ({"algorithm": "alphazero"}, "unknown algorithm 'alphazero'"),
        ({"authors": None}, "'authors' must be a name or a list of names"),
        ({"authors": []}, "'authors' must be a name or a list of names"),
        ({"authors": ["Ada", ""]}, "'authors' must be a name or a list of names"),
        ({"description": None}, "'description' must be a non-empty string"),
        ({"paper": 3}, "'paper' must be a non-empty string"),
        ({"config": [1, 2]}, "'config' must be a JSON object"),
        ({"checkpoint": "final.pt"}, "greedy is a heuristic: it is submitted by name alone"),
        ({"algorithm": "oracle", "checkpoint": "final.pt"}, "oracle is a bound: it is submitted by name alone"),
        ({"algorithm": "topofree"}, "topofree is trained: submission.json must name its 'checkpoint'"),
        ({"algorithm": "topofree", "checkpoint": "missing.pt"}, "checkpoint 'missing.pt' is not a file"),
    ],
)
def test_bad_submission_json_fields(fields, match, tmp_path, results_dir):
    folder = write_submission(tmp_path / "sub", **{**HEURISTIC, **fields})
    (folder / "final.pt").write_bytes(b"unused")
    assert_refused(folder, results_dir, match)


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "no such submission folder"),
        (b"", "not valid JSON"),
        (b'{"name": "x", ', "not valid JSON"),
        (b'{"name": "\xff\xfe"}', "not valid JSON"),
        (b'["my-greedy", "greedy"]', "must hold a JSON object"),
        (b'"my-greedy"', "must hold a JSON object"),
    ],
    ids=["missing folder", "empty", "truncated", "not utf-8", "array", "string"],
)
def test_unreadable_submission_json(content, match, tmp_path, results_dir):
    folder = tmp_path / "sub"
    if content is not None:
        folder.mkdir()
        (folder / submission_module.SUBMISSION_FILE).write_bytes(content)
    assert_refused(folder, results_dir, match)


def test_missing_submission_json(tmp_path, results_dir):
    (tmp_path / "sub").mkdir()
    assert_refused(tmp_path / "sub", results_dir, "missing submission.json")


def test_submission_json_over_its_size_limit(tmp_path, results_dir):
    folder = write_submission(tmp_path / "sub", **HEURISTIC, description="x" * submission_module.MAX_JSON_BYTES)
    assert_refused(folder, results_dir, "submission.json is .* bytes; the limit is 65,536")


# --- the checkpoint's location and size ----------------------------------------------------------


def test_checkpoint_path_that_leaves_the_folder(trained, tmp_path, results_dir):
    folder = write_submission(tmp_path / "sub", "mine", "topofree", trained)
    shutil.copyfile(trained, tmp_path / "outside.pt")  # the target exists: only its location is wrong
    for relative, match in (
        ("../outside.pt", "leads out of the submission folder"),
        (str(tmp_path / "outside.pt"), "not absolute"),
        ("final.pt/../../outside.pt", "leads out of the submission folder"),
    ):
        write_submission(folder, "mine", "topofree", checkpoint=relative)
        assert_refused(folder, results_dir, match)


def test_checkpoint_symlink_pointing_outside_the_folder(trained, tmp_path, results_dir):
    folder = write_submission(tmp_path / "sub", "mine", "topofree", checkpoint="link.pt")
    (folder / "link.pt").symlink_to(trained)
    assert_refused(folder, results_dir, "leads out of the submission folder")


def test_checkpoint_over_the_size_limit(trained, tmp_path, results_dir, monkeypatch):
    monkeypatch.setattr(submission_module, "MAX_CHECKPOINT_BYTES", 1000)
    folder = write_submission(tmp_path / "sub", "mine", "topofree", trained)
    assert_refused(folder, results_dir, "checkpoint 'final.pt' is .* bytes; the limit is 1,000")


# --- the checkpoint's contents -------------------------------------------------------------------


class _MakesMarker:
    """Unpickling this creates a file: proof that a loader ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_with_pickled_code_is_refused_unrun(tmp_path, results_dir):
    marker = tmp_path / "marker"
    folder = write_submission(tmp_path / "sub", "mine", "topofree", checkpoint="final.pt")
    payload = {"format": "moebench-checkpoint-v1", "algo": "topofree", "config": "{}", "model": _MakesMarker(marker)}
    torch.save(payload, folder / "final.pt")
    assert_refused(folder, results_dir, "holds something other than tensors and plain data, refused unread")
    assert not marker.exists(), "a checkpoint must never run code"
    with (folder / "final.pt").open("wb") as handle:  # a bare pickle, not a torch archive
        pickle.dump(_MakesMarker(marker), handle)
    assert_refused(folder, results_dir, "checkpoint")
    assert not marker.exists(), "a checkpoint must never run code"


def test_checkpoint_with_tensors_of_the_wrong_shape(trained, tmp_path, results_dir):
    data = torch.load(trained, weights_only=True)
    first = next(iter(data["model"]["policy"]))
    data["model"]["policy"][first] = torch.zeros(3, 3)
    folder = write_submission(tmp_path / "sub", "mine", "topofree", checkpoint="final.pt")
    torch.save(data, folder / "final.pt")
    assert_refused(folder, results_dir, "its weights do not fit topofree")


def test_checkpoint_of_another_algorithm(trained, tmp_path, results_dir):
    folder = write_submission(tmp_path / "sub", "mine", "ppo", trained)
    assert_refused(folder, results_dir, "checkpoint holds a 'topofree' policy, but submission.json says 'ppo'")


def test_config_that_differs_from_the_checkpoint(trained, tmp_path, results_dir):
    config = json.loads(load_checkpoint(trained)["config"])
    config["seed"] += 1
    folder = write_submission(tmp_path / "sub", "mine", "topofree", trained, config=config)
    assert_refused(folder, results_dir, "'config' in submission.json differs from the checkpoint's in: seed$")


def test_checkpoint_whose_config_is_not_an_object(trained, tmp_path, results_dir):
    data = torch.load(trained, weights_only=True)
    data["config"] = "[1, 2]"
    folder = write_submission(tmp_path / "sub", "mine", "topofree", checkpoint="final.pt")
    torch.save(data, folder / "final.pt")
    assert_refused(folder, results_dir, "its config must be a JSON object")


# --- evaluation, storage and reuse ---------------------------------------------------------------


def test_trained_submission_is_evaluated_on_every_split_and_seed(trained, tmp_path, results_dir):
    config = json.loads(load_checkpoint(trained)["config"])
    folder = write_submission(tmp_path / "sub", "mine", "topofree", trained, config=config, paper="https://x.org/p")
    record, jobs = submit(folder, results_dir=results_dir)
    assert jobs == JOBS_PER_SUBMISSION
    assert read_result("mine", results_dir) == record
    assert record["kind"] == "rl" and record["authors"] == ["Ada Lovelace"] and record["paper"] == "https://x.org/p"
    assert record["checkpoint_sha256"] == sha256_of(folder / "final.pt")
    assert set(record["splits"]) == set(TINY_SPLITS)
    for name, split in TINY_SPLITS.items():
        entry = record["splits"][name]
        assert entry["fingerprint"] == split.fingerprint()
        assert entry["backend"] == "local" and entry["evaluated_at"] and entry["commit"]
        assert [r["seed"] for r in entry["per_seed"]] == list(split.seeds)
        assert all(r["episodes"] == split.episodes for r in entry["per_seed"])
        assert entry["metrics"]["return"] == pytest.approx(sum(r["return"] for r in entry["per_seed"]) / 2)
        assert "task_latencies_ms" not in entry["per_seed"][0]


def test_unchanged_submission_reuses_the_stored_result(trained, tmp_path, results_dir, tiny_splits):
    folder = write_submission(tmp_path / "sub", "mine", "topofree", trained)
    first, _ = submit(folder, results_dir=results_dir)
    again, jobs = submit(folder, results_dir=results_dir)
    assert jobs == 0
    assert again["splits"] == first["splits"] == read_result("mine", results_dir)["splits"]

    # another setting on one split: that split alone is evaluated again
    tiny_splits[ZERO_SHOT.name] = dataclasses.replace(ZERO_SHOT, settings={"max_candidates": 16})
    changed, jobs = submit(folder, results_dir=results_dir)
    assert jobs == len(ZERO_SHOT.seeds)
    assert changed["splits"][IN_DIST.name] == first["splits"][IN_DIST.name]
    assert changed["splits"][ZERO_SHOT.name]["fingerprint"] == tiny_splits[ZERO_SHOT.name].fingerprint()
    assert changed["splits"][ZERO_SHOT.name]["fingerprint"] != first["splits"][ZERO_SHOT.name]["fingerprint"]


@pytest.fixture
def other_checkpoint(trained, tmp_path) -> Path:
    """The trained checkpoint with one weight changed: another policy of the same shape."""
    data = torch.load(trained, weights_only=True)
    first = next(iter(data["model"]["policy"]))
    data["model"]["policy"][first] = data["model"]["policy"][first] * 1.5
    path = tmp_path / "other.pt"
    torch.save(data, path)
    return path


def test_a_name_on_the_board_needs_replace(trained, other_checkpoint, tmp_path, results_dir):
    submit(write_submission(tmp_path / "first", "mine", "topofree", trained), results_dir=results_dir)
    second = write_submission(tmp_path / "second", "mine", "topofree", other_checkpoint)
    assert_refused(second, results_dir, "'mine' is already on the board with another policy; pass --replace")
    record, jobs = submit(second, results_dir=results_dir, replace=True)
    assert jobs == JOBS_PER_SUBMISSION  # nothing of another policy is reused
    assert read_result("mine", results_dir)["checkpoint_sha256"] == sha256_of(other_checkpoint)


def test_interrupted_submission_leaves_the_previous_result(
    trained, other_checkpoint, tmp_path, results_dir, monkeypatch
):
    submit(write_submission(tmp_path / "first", "mine", "topofree", trained), results_dir=results_dir)
    before = stored_files(results_dir)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_jobs", interrupted)
    second = write_submission(tmp_path / "second", "mine", "topofree", other_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        submit(second, results_dir=results_dir, replace=True)
    assert stored_files(results_dir) == before


def _submit_in_child(folder: str, results_dir: str) -> None:
    """Runs in a spawned process, which imports fresh modules: the tiny splits are set again here."""
    torch.set_num_threads(1)
    splits_module.SPLITS = dict(TINY_SPLITS)
    submit(folder, results_dir=Path(results_dir))


def test_two_submissions_at_once(tmp_path, results_dir):
    context = multiprocessing.get_context("spawn")
    names = ("greedy-a", "random-b")
    processes = [
        context.Process(
            target=_submit_in_child,
            args=(str(write_submission(tmp_path / name, name, name.split("-")[0])), str(results_dir)),
        )
        for name in names
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    assert sorted(stored_files(results_dir)) == [f"{name}.json" for name in names]
    for name in names:
        record = json.loads((results_dir / f"{name}.json").read_text())
        assert record["name"] == name and set(record["splits"]) == set(TINY_SPLITS)


# --- scores ----------------------------------------------------------------------------------------


def synthetic(name: str, algorithm: str, kind: str, returns: dict[str, float], fingerprints=None) -> dict:
    """A stored result with the given return per split, on the splits' current fingerprints."""
    fingerprints = fingerprints or {}
    return {
        "name": name,
        "algorithm": algorithm,
        "kind": kind,
        "splits": {
            split: {
                "fingerprint": fingerprints.get(split, TINY_SPLITS[split].fingerprint()),
                "metrics": {"return": value},
                "evaluated_at": "2026-01-02",
                "commit": "abc123",
            }
            for split, value in returns.items()
        },
    }


def test_scores_ranks_zero_shot_mean_and_degradation():
    ind, zs = IN_DIST.name, ZERO_SHOT.name
    results = [
        synthetic("random", "random", "heuristic", {ind: -60.0, zs: -80.0}),
        synthetic("oracle", "oracle", "bound", {ind: -20.0, zs: -40.0}),
        synthetic("mine", "topofree", "rl", {ind: -30.0, zs: -60.0}),
        synthetic("other", "ppo", "rl", {ind: -25.0, zs: -70.0}),
        synthetic("old", "ppo", "rl", {ind: -10.0, zs: -10.0}, fingerprints={zs: "0123456789abcdef"}),
    ]
    board = build_board(results)
    assert board.stale == [("old", zs)] and board.missing_reference == []
    by_split = {split: {row.name: row for row in rows} for split, rows in board.rows.items()}
    assert "old" not in by_split[zs]
    for split in (ind, zs):
        assert by_split[split]["random"].score == 0.0 and by_split[split]["oracle"].score == 1.0
        assert by_split[split]["oracle"].rank is None  # a bound is a reference, not a competitor
    # (return - random) / (oracle - random)
    assert by_split[ind]["mine"].score == pytest.approx(30 / 40)
    assert by_split[ind]["other"].score == pytest.approx(35 / 40)
    assert by_split[zs]["mine"].score == pytest.approx(20 / 40)
    assert by_split[zs]["other"].score == pytest.approx(10 / 40)
    assert [(row.name, row.rank) for row in board.rows[ind]] == [
        ("old", 1),
        ("oracle", None),
        ("other", 2),
        ("mine", 3),
        ("random", 4),
    ]
    assert [(row.name, row.rank) for row in board.rows[zs]] == [
        ("oracle", None),
        ("mine", 1),
        ("other", 2),
        ("random", 3),
    ]
    overall = {row["name"]: row for row in board.overall}
    assert [row["name"] for row in board.overall][:4] == ["oracle", "mine", "other", "random"]
    assert [overall[n]["rank"] for n in ("oracle", "mine", "other", "random", "old")] == [None, 1, 2, 3, None]
    assert overall["mine"]["zero_shot_score"] == pytest.approx(0.5)
    assert overall["mine"]["degradation"] == pytest.approx(1 - 0.5 / 0.75)
    assert overall["other"]["degradation"] == pytest.approx(1 - 0.25 / 0.875)
    assert overall["oracle"]["degradation"] == pytest.approx(0.0)
    assert math.isnan(overall["random"]["degradation"])  # in-distribution score 0: undefined
    assert math.isnan(overall["old"]["zero_shot_score"])  # its zero-shot result is stale


def test_scores_without_random_or_oracle_are_missing():
    board = build_board([synthetic("mine", "topofree", "rl", {IN_DIST.name: -30.0})])
    assert board.missing_reference == [IN_DIST.name, ZERO_SHOT.name]
    assert math.isnan(board.rows[IN_DIST.name][0].score)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    """A results folder with random, oracle and greedy evaluated on the tiny splits."""
    results_dir = tmp_path_factory.mktemp("evaluated") / "results"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(splits_module, "SPLITS", dict(TINY_SPLITS))
        for name in ("random", "oracle", "greedy"):
            submit(write_submission(results_dir.parent / name, name, name), results_dir=results_dir)
    return results_dir


def test_evaluated_random_scores_zero_and_oracle_one(evaluated):
    board = build_board(read_results(evaluated))
    assert board.stale == [] and board.missing_reference == []
    for rows in board.rows.values():
        scores = {row.name: row.score for row in rows}
        assert scores["random"] == 0.0 and scores["oracle"] == 1.0 and math.isfinite(scores["greedy"])
        assert [row.rank for row in rows if row.name == "oracle"] == [None]
        assert sorted(row.rank for row in rows if row.rank is not None) == [1, 2]


# --- LEADERBOARD.md ------------------------------------------------------------------------------


def test_render_is_deterministic_with_one_table_per_split(evaluated):
    results = read_results(evaluated)
    text = render_markdown(build_board(results))
    assert text == render_markdown(build_board(read_results(evaluated)))
    assert text.count("\n|---") == 1 + len(TINY_SPLITS)
    for heading in ("Overall", *TINY_SPLITS):
        assert text.count(f"\n## {heading}\n") == 1
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| rank |")]
    assert len(rows) == len(results) * (1 + len(TINY_SPLITS))
    dated = {(entry["evaluated_at"], entry["commit"]) for r in results for entry in r["splits"].values()}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert (cells[-2], cells[-1]) in dated


def test_stale_results_are_named_in_the_markdown():
    stale = synthetic("old", "ppo", "rl", {ZERO_SHOT.name: -10.0}, fingerprints={ZERO_SHOT.name: "0" * 16})
    assert "Not ranked (computed on another fingerprint): old on zs-scale-1000." in render_markdown(
        build_board([stale])
    )


def test_committed_leaderboard_is_the_rendering_of_the_stored_results():
    if not any(STANDARD_RESULTS_DIR.glob("*.json")):
        pytest.skip(f"no reference results in {STANDARD_RESULTS_DIR} yet")
    board = build_board(read_results(STANDARD_RESULTS_DIR), list(STANDARD_SPLITS.values()))
    assert LEADERBOARD_MD.is_file(), f"{LEADERBOARD_MD} is missing: run `moebench leaderboard render`"
    assert LEADERBOARD_MD.read_text() == render_markdown(board), "stale: run `moebench leaderboard render`"
    from leaderboard.render import readme_table
    from moebench.readme import README, section

    assert section(README.read_text(), "leaderboard") == readme_table(board).strip(), (
        "the README's leaderboard table is stale: run `moebench leaderboard render`"
    )


# --- command line --------------------------------------------------------------------------------


def test_cli_refuses_a_broken_submission_in_one_line(tmp_path, results_dir, monkeypatch, capsys):
    monkeypatch.setattr(runner, "RESULTS_DIR", results_dir)
    folder = write_submission(tmp_path / "sub", "mine", "alphazero")
    assert main(["leaderboard", "submit", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "unknown algorithm 'alphazero'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert stored_files(results_dir) == {}


def test_cli_submit_show_and_render(evaluated, tmp_path, monkeypatch, capsys):
    results_dir = tmp_path / "results"
    shutil.copytree(evaluated, results_dir)
    monkeypatch.setattr(runner, "RESULTS_DIR", results_dir)
    monkeypatch.setattr(console, "_width", 200)  # wide enough that rich does not shorten the names
    folder = write_submission(tmp_path / "sub", "my-nearest", "nearest")
    assert main(["leaderboard", "submit", str(folder), "--no-render"]) == 0
    assert read_result("my-nearest", results_dir)["splits"].keys() == TINY_SPLITS.keys()
    assert main(["leaderboard", "submit", str(folder), "--no-render"]) == 0
    assert "stored result reused" in capsys.readouterr().out

    assert main(["leaderboard", "show"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("random", "oracle", "greedy", "my-nearest"))
    assert main(["leaderboard", "show", "--split", ZERO_SHOT.name]) == 0
    assert "my-nearest" in capsys.readouterr().out

    out_md = tmp_path / "LEADERBOARD.md"
    assert main(["leaderboard", "render", "--out", str(out_md)]) == 0
    assert out_md.read_text() == render_markdown(build_board(read_results(results_dir)))


def test_unknown_backend_is_a_user_error():
    with pytest.raises(UserError, match="unknown backend 'slurm'"):
        runner.run_jobs([], backend="slurm")


def test_atomic_writes_get_ordinary_file_permissions(tmp_path) -> None:
    """Results and bench figures are meant to be read by others: not mkstemp's private 0600."""
    from moebench.provenance import atomic_write_json

    target = tmp_path / "result.json"
    atomic_write_json(target, {"a": 1})
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left behind


def test_json_outputs_are_strict_json(tmp_path) -> None:
    """Non-finite numbers (a figure that was not measured, an iteration without a finished episode)
    are written as null: NaN and Infinity are not JSON."""
    from moebench.provenance import atomic_write_json, json_line

    value = {"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": {"d": 2.5}, "e": "NaN"}
    expected = {"a": None, "b": [1.0, None, None], "c": {"d": 2.5}, "e": "NaN"}
    assert json.loads(json_line(value)) == expected
    atomic_write_json(tmp_path / "x.json", value)
    assert json.loads((tmp_path / "x.json").read_text()) == expected
