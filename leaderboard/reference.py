"""The reference submissions: one per registry entry, trained with its default budget.

`moebench leaderboard reference --train` trains every learning entry with its default budget
(training folders under runs/reference/), copies each final checkpoint into
leaderboard/submissions/<name>/, writes the submission.json files (heuristics and the oracle by
name alone) and submits them all.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from algorithms.registry import REGISTRY
from moebench.errors import UserError
from moebench.provenance import atomic_write_json

SUBMISSIONS_DIR = Path(__file__).resolve().parent / "submissions"
TRAIN_DIR = Path("runs") / "reference"


def reference_names(names: list[str] | None = None) -> list[str]:
    return list(names) if names else list(REGISTRY)


def write_submission(name: str, checkpoint: Path | None, submissions_dir: Path = SUBMISSIONS_DIR) -> Path:
    entry = REGISTRY[name]
    folder = submissions_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "algorithm": name,
        "authors": ["moebench maintainers"],
        "description": f"Reference entry: {entry.description}."
        + (" Trained with its default budget by `moebench leaderboard reference --train`." if entry.trainable else ""),
    }
    if checkpoint is not None:
        shutil.copyfile(checkpoint, folder / "final.pt")
        record["checkpoint"] = "final.pt"
        from algorithms.checkpoint import load_checkpoint

        record["config"] = json.loads(load_checkpoint(folder / "final.pt")["config"])
    atomic_write_json(folder / "submission.json", record)
    return folder


def train_reference(name: str, train_dir: Path = TRAIN_DIR, progress=None) -> Path:
    """Train `name` with its default budget (resuming an interrupted training); the final checkpoint."""
    from algorithms.trainer import CHECKPOINT, FINAL, Trainer

    folder = train_dir / name
    if (folder / FINAL).is_file():
        return folder / FINAL
    resume = (folder / CHECKPOINT).is_file()
    trainer = Trainer(None if resume else REGISTRY[name].make_config(), folder, resume=resume)
    return trainer.run(progress=progress).final_checkpoint


def build_reference(
    names: list[str] | None,
    train: bool,
    submit_fn: Callable[[Path], None],
    progress=None,
    submissions_dir: Path = SUBMISSIONS_DIR,
) -> list[Path]:
    """Write (training first with `train`) and submit the reference submissions of `names`."""
    folders = []
    for name in reference_names(names):
        folder = submissions_dir / name
        if not REGISTRY[name].trainable:
            write_submission(name, None, submissions_dir)
        elif train:
            write_submission(name, train_reference(name, progress=progress), submissions_dir)
        elif not (folder / "submission.json").is_file():
            raise UserError(f"{folder} holds no submission yet: pass --train to train it")
        folders.append(folder)
    for folder in folders:
        submit_fn(folder)
    return folders
