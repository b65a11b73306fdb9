"""A submission is data, never code: a folder with `submission.json` and (for trained entries) a
checkpoint of plain tensors. Everything here checks one thing and says what is wrong in one line.

submission.json:
    {
      "name": "my-method",                # board name: lowercase letters, digits, . _ -
      "algorithm": "topofree",            # a registry entry (`moebench algos`)
      "checkpoint": "final.pt",           # trained entries only: a file inside the folder
      "config": {...},                    # optional; if given, must equal the checkpoint's config
      "authors": ["Ada Lovelace"],
      "description": "one paragraph",
      "paper": "https://..."              # optional
    }
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from moebench.errors import UserError

if TYPE_CHECKING:
    from moebench.splits import Split

SUBMISSION_FILE = "submission.json"
MAX_JSON_BYTES = 64 * 1024
MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class SubmissionError(UserError):
    """A submission that cannot be accepted."""


@dataclass(frozen=True)
class Submission:
    folder: Path
    name: str
    algorithm: str
    kind: str
    authors: tuple[str, ...]
    description: str
    paper: str | None
    checkpoint: Path | None
    checkpoint_sha256: str | None
    config: dict | None

    def to_job(self) -> dict:
        """What an evaluation job needs (plain data, so it can travel to another process or machine)."""
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
        }

    def public(self) -> dict:
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "kind": self.kind,
            "authors": list(self.authors),
            "description": self.description,
            "paper": self.paper,
            "checkpoint_sha256": self.checkpoint_sha256,
        }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(folder: Path) -> dict:
    path = folder / SUBMISSION_FILE
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: no such submission folder")
    if not path.is_file():
        raise SubmissionError(f"{folder}: missing {SUBMISSION_FILE}")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise SubmissionError(f"{SUBMISSION_FILE} is {path.stat().st_size:,} bytes; the limit is {MAX_JSON_BYTES:,}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SubmissionError(f"{SUBMISSION_FILE} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise SubmissionError(f"{SUBMISSION_FILE} must hold a JSON object")
    return data


def _text(data: dict, key: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SubmissionError(f"{SUBMISSION_FILE}: {key!r} must be a non-empty string")
    return value.strip()


def _inside(folder: Path, relative: str) -> Path:
    """The checkpoint path, refusing anything that leads out of the submission folder."""
    if Path(relative).is_absolute():
        raise SubmissionError(f"checkpoint {relative!r} must be a path inside the submission folder, not absolute")
    root = folder.resolve()
    path = (folder / relative).resolve()
    if root != path and root not in path.parents:
        raise SubmissionError(f"checkpoint {relative!r} leads out of the submission folder")
    return path


def load_submission(folder: str | Path) -> Submission:
    """Read and check a submission folder (JSON, algorithm, checkpoint location and size). The
    checkpoint's contents are checked by `check_checkpoint`."""
    from algorithms.registry import REGISTRY

    folder = Path(folder)
    data = _read_json(folder)
    name = _text(data, "name")
    if not NAME_PATTERN.match(name):
        raise SubmissionError(
            f"name {name!r} must be 1-64 characters of lowercase letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    algorithm = _text(data, "algorithm")
    if algorithm not in REGISTRY:
        raise SubmissionError(f"unknown algorithm {algorithm!r}; known: {', '.join(REGISTRY)}")
    entry = REGISTRY[algorithm]
    authors = data.get("authors")
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list) or not authors or not all(isinstance(a, str) and a.strip() for a in authors):
        raise SubmissionError(f"{SUBMISSION_FILE}: 'authors' must be a name or a list of names")
    description = _text(data, "description")
    paper = _text(data, "paper", required=False)
    config = data.get("config")
    if config is not None and not isinstance(config, dict):
        raise SubmissionError(f"{SUBMISSION_FILE}: 'config' must be a JSON object")
    checkpoint = sha = None
    if entry.trainable:
        relative = data.get("checkpoint")
        if not isinstance(relative, str) or not relative:
            raise SubmissionError(f"{algorithm} is trained: {SUBMISSION_FILE} must name its 'checkpoint' file")
        checkpoint = _inside(folder, relative)
        if not checkpoint.is_file():
            raise SubmissionError(f"checkpoint {relative!r} is not a file in {folder}")
        size = checkpoint.stat().st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise SubmissionError(f"checkpoint {relative!r} is {size:,} bytes; the limit is {MAX_CHECKPOINT_BYTES:,}")
        sha = sha256_of(checkpoint)
    elif data.get("checkpoint") is not None:
        raise SubmissionError(f"{algorithm} is a {entry.kind}: it is submitted by name alone, without a checkpoint")
    return Submission(
        folder=folder,
        name=name,
        algorithm=algorithm,
        kind=entry.kind,
        authors=tuple(a.strip() for a in authors),
        description=description,
        paper=paper,
        checkpoint=checkpoint,
        checkpoint_sha256=sha,
        config=config,
    )


def check_checkpoint(submission: Submission, split: Split) -> None:
    """Load the checkpoint without running code and build its policy for the env of `split`: refuses
    pickled code, another algorithm's checkpoint, a config that differs from submission.json, and
    tensors of the wrong shape, each as a `SubmissionError`."""
    if submission.checkpoint is None:
        return
    from algorithms.checkpoint import algorithm_from_checkpoint, load_checkpoint, observation_settings
    from moebench.env import make_env

    try:
        data = load_checkpoint(submission.checkpoint)
    except UserError as err:
        raise SubmissionError(str(err)) from None
    if data["algo"] != submission.algorithm:
        raise SubmissionError(
            f"checkpoint holds a {data['algo']!r} policy, but {SUBMISSION_FILE} says {submission.algorithm!r}"
        )
    stored = json.loads(data["config"])
    if not isinstance(stored, dict):
        raise SubmissionError(f"checkpoint {submission.checkpoint}: its config must be a JSON object")
    if submission.config is not None and submission.config != stored:
        changed = sorted(k for k in set(stored) | set(submission.config) if stored.get(k) != submission.config.get(k))
        raise SubmissionError(f"'config' in {SUBMISSION_FILE} differs from the checkpoint's in: {', '.join(changed)}")
    settings = {**split.env_settings, **observation_settings(data)}
    env = make_env(split.region, split=split.task_split, batch_size=1, **settings)
    try:
        algorithm_from_checkpoint(data, env, submission.checkpoint)
    except UserError as err:
        raise SubmissionError(str(err)) from None
