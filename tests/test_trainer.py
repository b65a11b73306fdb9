"""The shared trainer: every learning entry trains, checkpoints reload to identical actions, an
interrupted run resumes to the same parameters, and broken checkpoints give one clear error."""

import json
import pickle

import pytest
import torch

from algorithms.checkpoint import load_checkpoint, policy_from_checkpoint
from algorithms.registry import REGISTRY, get_entry
from algorithms.trainer import FINAL, LOG, Trainer, episode_returns
from moebench.env import make_env
from moebench.errors import UserError

TINY = dict(region="CH-500", num_envs=4, rollout_len=20, minibatch_size=40, epochs=2, checkpoint_every=1)
TRAINABLE = [name for name, entry in REGISTRY.items() if entry.trainable]


def tiny_config(name: str, iterations: int = 2, **extra):
    cfg = get_entry(name).make_config(**TINY, **extra)
    return cfg.replace(frames=iterations * cfg.frames_per_iteration)


def eval_batch(env):
    env.set_seed(123)
    return env.reset()


@pytest.mark.parametrize("name", TRAINABLE)
def test_entry_trains_and_reloads_to_identical_actions(name, tmp_path):
    trainer = Trainer(tiny_config(name), tmp_path / name)
    result = trainer.run(show_progress=False)
    assert result.iterations == 2 and (tmp_path / name / FINAL).is_file()
    lines = [json.loads(line) for line in (tmp_path / name / LOG).read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [0, 1]
    learned = ("loss_imitation",) if get_entry(name).kind == "imitation" else ("loss_objective", "loss_critic")
    for key in ("frames", "return", "frames_per_s", "task_latency_ms", *learned):
        assert key in lines[-1]
    env = make_env("CH-500", split="test", batch_size=6, seed=1, **trainer.cfg.env)
    td = eval_batch(env)
    expected = trainer.algo.eval_policy()(td.clone()).get("action")
    reloaded = policy_from_checkpoint(tmp_path / name / FINAL, env)(td.clone()).get("action")
    assert torch.equal(expected, reloaded)
    # the checkpoint is plain data
    torch.load(tmp_path / name / FINAL, weights_only=True)


def test_topofree_logs_dwa_weights(tmp_path):
    Trainer(tiny_config("topofree", 3), tmp_path / "t").run(show_progress=False)
    lines = [json.loads(line) for line in (tmp_path / "t" / LOG).read_text().splitlines()]
    for line in lines:
        assert len(line["dwa_weights"]) == 3 and abs(sum(line["dwa_weights"]) - 1) < 1e-5
    assert lines[-1]["dwa_weights"] != [1 / 3] * 3  # DWA moved


def test_interrupted_run_resumes_to_the_same_parameters(tmp_path, monkeypatch):
    straight = Trainer(tiny_config("topofree", 4), tmp_path / "straight")
    straight.run(show_progress=False)

    calls = {"n": 0}
    original = Trainer._checkpoint

    def checkpoint_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_checkpoint", checkpoint_then_die)
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_config("topofree", 4), tmp_path / "resumed").run(show_progress=False)
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    # a half-written log line from the moment of the kill must not survive
    with (tmp_path / "resumed" / LOG).open("a") as handle:
        handle.write('{"iteration": 2, "fra')
    resumed = Trainer(None, tmp_path / "resumed", resume=True)
    resumed.run(show_progress=False)

    a = load_checkpoint(tmp_path / "straight" / FINAL)["model"]
    b = load_checkpoint(tmp_path / "resumed" / FINAL)["model"]
    for part in ("policy", "critic"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs after resume"
    assert torch.equal(a["extra"]["dwa"]["weights"], b["extra"]["dwa"]["weights"])
    iterations = [json.loads(line)["iteration"] for line in (tmp_path / "resumed" / LOG).read_text().splitlines()]
    assert iterations == [0, 1, 2, 3]


def test_resume_refuses_a_changed_configuration(tmp_path):
    Trainer(tiny_config("ppo", 2), tmp_path / "run").run(show_progress=False)
    with pytest.raises(UserError, match="already complete|differ"):
        Trainer(tiny_config("ppo", 2, seed=5), tmp_path / "run", resume=True)
    with pytest.raises(UserError, match="already holds a training run"):
        Trainer(tiny_config("ppo", 2), tmp_path / "run")
    with pytest.raises(UserError, match="nothing to resume"):
        Trainer(None, tmp_path / "empty", resume=True)


def test_episode_returns_sums_completed_episodes_only():
    reward = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
    done = torch.tensor([[False, True, False, False, True]])
    assert episode_returns(reward, done).tolist() == [3.0, 12.0]
    done = torch.tensor([[False, True, False, False, False]])
    assert episode_returns(reward, done).tolist() == [3.0]


# --- broken checkpoints --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    Trainer(tiny_config("topofree", 1), out / "run").run(show_progress=False)
    return out / "run" / FINAL


@pytest.fixture
def env():
    return make_env("CH-500", split="test", batch_size=2, seed=0, max_candidates=32)


def test_missing_checkpoint(env, tmp_path):
    with pytest.raises(UserError, match="no such file"):
        policy_from_checkpoint(tmp_path / "nope.pt", env)


def test_garbage_checkpoint(env, tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x00\x01 not a torch file")
    with pytest.raises(UserError, match="not a readable torch file|refused"):
        policy_from_checkpoint(path, env)


class _MakesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_with_pickled_code_is_refused_unrun(env, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"format": "moebench-checkpoint-v1", "payload": _MakesMarker(str(marker))}, path)
    with pytest.raises(UserError, match="refused"):
        policy_from_checkpoint(path, env)
    assert not marker.exists(), "loading a checkpoint must never run code"
    with open(path, "wb") as handle:  # a plain pickle, not a torch zip
        pickle.dump(_MakesMarker(str(marker)), handle)
    with pytest.raises(UserError):
        policy_from_checkpoint(path, env)
    assert not marker.exists()


def test_checkpoint_with_wrong_shapes(env, trained, tmp_path):
    data = torch.load(trained, weights_only=True)
    first = next(iter(data["model"]["policy"]))
    data["model"]["policy"][first] = torch.zeros(3, 3)
    path = tmp_path / "shapes.pt"
    torch.save(data, path)
    with pytest.raises(UserError, match="do not fit"):
        policy_from_checkpoint(path, env)


def test_checkpoint_without_format_or_keys(env, tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(UserError, match="not a moebench checkpoint"):
        policy_from_checkpoint(path, env)
    torch.save({"format": "moebench-checkpoint-v1", "algo": "topofree", "config": "{bad json", "model": {}}, path)
    with pytest.raises(UserError, match="not valid JSON"):
        policy_from_checkpoint(path, env)
    torch.save({"format": "moebench-checkpoint-v1", "algo": "nope", "config": "{}", "model": {}}, path)
    with pytest.raises(UserError, match="unknown algorithm"):
        policy_from_checkpoint(path, env)


def test_ppo_checkpoint_refuses_another_k(tmp_path):
    Trainer(tiny_config("ppo", 1), tmp_path / "ppo").run(show_progress=False)
    other = make_env("CH-500", split="test", batch_size=2, seed=0, max_candidates=8)
    with pytest.raises(UserError, match="K=32"):
        policy_from_checkpoint(tmp_path / "ppo" / FINAL, other)


def test_topofree_checkpoint_runs_on_any_region_and_k(trained):
    for region, k in (("GB-1000", 8), ("DE-2000", None)):
        other = make_env(region, split="test", batch_size=2, seed=0, max_candidates=k)
        td = other.reset()
        action = policy_from_checkpoint(trained, other)(td).get("action")
        assert bool(td.get("action_mask").gather(1, action[:, None]).all())
