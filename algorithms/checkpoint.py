"""Checkpoints: plain data (tensors, numbers, strings), saved atomically, loaded with
`torch.load(..., weights_only=True)` so a checkpoint can never run code."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import torch

from algorithms.base import Algorithm
from moebench.errors import UserError
from moebench.provenance import atomic_write_bytes

FORMAT = "moebench-checkpoint-v1"


def save_checkpoint(path: str | Path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path | io.BytesIO, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint (a file, or its bytes); any defect is one `UserError` (never a traceback,
    never code execution)."""
    if not isinstance(path, io.BytesIO):
        path = Path(path)
        if not path.is_file():
            raise UserError(f"checkpoint {path}: no such file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsupported content"
        raise UserError(
            f"checkpoint {path} holds something other than tensors and plain data, refused unread ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError) as err:
        raise UserError(f"checkpoint {path} is not a readable torch file ({str(err).splitlines()[0][:160]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not a moebench checkpoint (no format tag {FORMAT!r})")
    for key in ("algo", "config", "model"):
        if key not in data:
            raise UserError(f"checkpoint {path} is missing {key!r}")
    if not isinstance(data["config"], str):
        raise UserError(f"checkpoint {path}: 'config' must be a JSON string")
    try:
        json.loads(data["config"])
    except json.JSONDecodeError as err:
        raise UserError(f"checkpoint {path}: its config is not valid JSON ({err})") from None
    return data


def algorithm_from_checkpoint(data: dict, env, path: str | Path = "checkpoint") -> Algorithm:
    """Rebuild the trained algorithm of a loaded checkpoint for `env`, and load its weights."""
    from algorithms.registry import get_entry

    entry = get_entry(str(data["algo"]))
    if not entry.trainable:
        raise UserError(f"checkpoint {path}: {entry.name} is a {entry.kind}, it has no weights")
    config = json.loads(data["config"])
    if not isinstance(config, dict):
        raise UserError(f"checkpoint {path}: its config must be a JSON object")
    cfg = entry.algorithm.config_cls.from_dict(config)
    entry.algorithm.check_env(cfg, env)
    algo = entry.algorithm(cfg, env).to(env.device)
    try:
        algo.load_checkpoint_state(data["model"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:
        message = " ".join(str(err).split())[:300]
        raise UserError(f"checkpoint {path}: its weights do not fit {entry.name} ({message})") from None
    algo.eval()
    return algo


# Env settings that shape the observation a policy reads; evaluating a checkpoint turns them on.
OBSERVATION_SETTINGS = ("full_view", "history_len")


def observation_settings(data: dict) -> dict:
    """The env settings a loaded checkpoint's policy needs in order to act (full view, history)."""
    env = json.loads(data["config"]).get("env", {})
    return {key: env[key] for key in OBSERVATION_SETTINGS if key in env} if isinstance(env, dict) else {}


def policy_from_checkpoint(path: str | Path, env):
    """The deterministic evaluation policy of a checkpoint, for `env`."""
    data = load_checkpoint(path, map_location=env.device)
    return algorithm_from_checkpoint(data, env, path).eval_policy()
