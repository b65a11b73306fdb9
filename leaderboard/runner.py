"""Evaluate a submission on every split (jobs: split x seed), locally or on a Ray cluster, and store
its result atomically under a file lock."""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from leaderboard.submission import Submission, SubmissionError, check_checkpoint, load_submission
from moebench.errors import UserError
from moebench.provenance import atomic_write_json, git_commit
from moebench.splits import Split, resolve_splits

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Metrics that depend on the machine's speed, not on the policy's decisions: excluded when two
# backends are compared, reported all the same.
TIMING_KEYS = ("decision_us",)


def run_job(job: dict, split: Split, seed: int, batch: int = 32) -> dict:
    """Evaluate one policy on one split with one seed. `job` is plain data (see Submission.to_job);
    a checkpoint travels as a path or as bytes (`checkpoint_bytes`, for machines without the file).
    The split travels whole, not by name, so a worker evaluates exactly the split the submitter saw."""
    from algorithms.checkpoint import algorithm_from_checkpoint, load_checkpoint, observation_settings
    from algorithms.registry import make_policy
    from moebench.env import make_env
    from moebench.evaluation import evaluate

    settings = dict(split.env_settings)
    data = None
    if job.get("checkpoint_bytes") is not None:
        data = load_checkpoint(io.BytesIO(job["checkpoint_bytes"]))
    elif job.get("checkpoint"):
        data = load_checkpoint(job["checkpoint"])
    if data is not None:
        settings.update(observation_settings(data))
    env = make_env(split.region, split=split.task_split, batch_size=min(batch, split.episodes), seed=seed, **settings)
    if data is None:
        policy = make_policy(job["algorithm"], env, seed)
    else:
        policy = algorithm_from_checkpoint(data, env, job.get("checkpoint") or "checkpoint").eval_policy()
    return evaluate(policy, env, episodes=split.episodes, seed=seed, keep_latencies=bool(job.get("keep_latencies")))


def run_jobs(
    jobs: list[tuple[dict, Split, int]],
    backend: str = "local",
    address: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Run (job, split, seed) triples; results come back in the order of `jobs`."""
    if backend == "local":
        results = []
        for job, split, seed in jobs:
            results.append(run_job(job, split, seed))
            if progress:
                progress(len(results))
        return results
    if backend == "ray":
        return _run_ray(jobs, address, progress)
    raise UserError(f"unknown backend {backend!r}: use local or ray")


def _run_ray(jobs, address, progress) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise UserError("the ray backend needs the optional extra: pip install -e '.[ray]'") from None
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UserError(f"cannot reach a Ray cluster at {address or 'a new local instance'}: {err}") from None
    remote = ray.remote(num_cpus=1)(run_job)
    shipped = []
    for job, split, seed in jobs:
        job = dict(job)
        if job.get("checkpoint"):  # ship the bytes: the cluster's machines may not see this file system
            job["checkpoint_bytes"] = Path(job["checkpoint"]).read_bytes()
        shipped.append(remote.remote(job, split, seed))
    pending, done = list(shipped), 0
    while pending:
        finished, pending = ray.wait(pending, num_returns=1)
        done += len(finished)
        if progress:
            progress(done)
    return ray.get(shipped)


def mean_metrics(per_seed: list[dict]) -> dict:
    """Mean over seeds of every numeric metric (lists such as return_vec element-wise)."""
    out: dict = {}
    for key, value in per_seed[0].items():
        if isinstance(value, bool) or key in ("seed", "task_latencies_ms"):
            continue
        if isinstance(value, (int, float)):
            values = [float(r[key]) for r in per_seed]
            out[key] = sum(values) / len(values) if all(math.isfinite(v) for v in values) else float("nan")
        elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
            out[key] = [sum(r[key][i] for r in per_seed) / len(per_seed) for i in range(len(value))]
    return out


def result_path(name: str, results_dir: Path = RESULTS_DIR) -> Path:
    return results_dir / f"{name}.json"


def read_result(name: str, results_dir: Path = RESULTS_DIR) -> dict | None:
    path = result_path(name, results_dir)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err}); restore it from version control") from None


def read_results(results_dir: Path = RESULTS_DIR) -> list[dict]:
    if not results_dir.is_dir():
        return []
    return [read_result(p.stem, results_dir) for p in sorted(results_dir.glob("*.json"))]


def _same_policy(existing: dict | None, submission: Submission) -> bool:
    return bool(
        existing
        and existing.get("algorithm") == submission.algorithm
        and existing.get("checkpoint_sha256") == submission.checkpoint_sha256
    )


def submit(
    folder: str | Path,
    backend: str = "local",
    address: str | None = None,
    replace: bool = False,
    split_names: list[str] | None = None,
    results_dir: Path = RESULTS_DIR,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict, int]:
    """Validate, evaluate on every split and store. Returns (result, jobs run); an unchanged
    checkpoint on unchanged splits reuses what is stored and runs nothing."""
    submission = load_submission(folder)
    existing = read_result(submission.name, results_dir)
    if existing and not _same_policy(existing, submission) and not replace:
        raise SubmissionError(
            f"{submission.name!r} is already on the board with another policy; pass --replace to overwrite it"
        )
    splits: list[Split] = resolve_splits(split_names)
    check_checkpoint(submission, splits[0])
    fingerprints = {split.name: split.fingerprint() for split in splits}
    stored = (existing or {}).get("splits", {}) if _same_policy(existing, submission) else {}
    reuse = {
        name: stored[name] for name in fingerprints if stored.get(name, {}).get("fingerprint") == fingerprints[name]
    }
    jobs = [(submission.to_job(), split, seed) for split in splits if split.name not in reuse for seed in split.seeds]
    outputs = run_jobs(jobs, backend, address, (lambda done: progress(done, len(jobs))) if progress else None)
    by_split: dict[str, list[dict]] = {}
    for (_, split, _), output in zip(jobs, outputs, strict=True):
        by_split.setdefault(split.name, []).append(output)
    now = time.strftime("%Y-%m-%d")
    commit = git_commit()
    split_results = dict(stored)
    split_results.update(reuse)
    for split in splits:
        if split.name in reuse:
            continue
        per_seed = by_split[split.name]
        split_results[split.name] = {
            "fingerprint": fingerprints[split.name],
            "region": split.region,
            "seeds": list(split.seeds),
            "episodes": split.episodes,
            "metrics": mean_metrics(per_seed),
            "per_seed": [{k: v for k, v in r.items() if k != "task_latencies_ms"} for r in per_seed],
            "evaluated_at": now,
            "commit": commit,
            "backend": backend,
        }
    record = {**submission.public(), "splits": split_results, "updated_at": now}
    if existing is not None and {**existing, "updated_at": now} == record:
        return existing, 0  # nothing new: leave the stored file (and its date) as it is
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(results_dir / ".lock"), timeout=600):
            latest = read_result(submission.name, results_dir)
            if latest and not _same_policy(latest, submission) and not replace and latest != existing:
                raise SubmissionError(f"{submission.name!r} was submitted by someone else meanwhile; pass --replace")
            atomic_write_json(result_path(submission.name, results_dir), record)
    except Timeout:
        raise UserError(f"{results_dir} stayed locked by another submission for 10 minutes; try again") from None
    return record, len(jobs)
