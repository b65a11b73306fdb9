"""What makes each of the seed's baselines itself: PF-PPO's fairness term, colored-noise exploration,
A3C's asynchronous workers, STARK's imitation of the expert."""

import json

import pytest
import torch

from algorithms.checkpoint import policy_from_checkpoint
from algorithms.heuristics import ExpertPolicy, masked_argmax
from algorithms.pfppo import fairness_penalty
from algorithms.ppo_cn import colored_noise, gumbel_from_normal
from algorithms.registry import get_entry
from algorithms.trainer import FINAL, LOG, Trainer
from moebench.env import make_env


# --- PF-PPO --------------------------------------------------------------------------------------
def test_fairness_penalty_grows_as_load_concentrates():
    mask = torch.ones(8, dtype=torch.bool)
    even = fairness_penalty(torch.full((8,), 4.0), mask)
    spread = fairness_penalty(torch.tensor([8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 0.0, 0.0]), mask)
    two = fairness_penalty(torch.tensor([16.0, 16.0, 0, 0, 0, 0, 0, 0]), mask)
    one = fairness_penalty(torch.tensor([32.0, 0, 0, 0, 0, 0, 0, 0]), mask)
    assert even < spread < two < one
    assert even.abs() < 0.1  # near the maximum utility when load is even


def test_fairness_penalty_ignores_masked_slots_and_empty_load():
    mask = torch.tensor([True, True, False, False])
    assert torch.isclose(
        fairness_penalty(torch.tensor([3.0, 3.0, 100.0, 0.0]), mask),
        fairness_penalty(torch.tensor([3.0, 3.0]), torch.ones(2, dtype=torch.bool)),
    )
    assert fairness_penalty(torch.zeros(4), torch.ones(4, dtype=torch.bool)).abs() < 0.1


def test_pfppo_shaping_penalizes_piling_onto_one_server():
    env = make_env("CH-500", batch_size=4, max_candidates=8, seed=0)
    cfg = get_entry("pfppo").make_config(num_envs=4, rollout_len=30)
    algo = get_entry("pfppo").algorithm(cfg, env)

    def rollout(choose):
        td = env.reset()
        steps = []
        for _ in range(30):
            td.set("action", choose(td))
            out, td = env.step_and_maybe_reset(td)
            steps.append(out)
        return torch.stack(steps, 1)

    same = rollout(lambda td: torch.zeros(4, dtype=torch.long))  # always the nearest host
    spread = rollout(lambda td: td.get("candidates")[..., 9].argmin(-1))  # shortest backlog
    assert algo.fairness_shaping(same).sum() > algo.fairness_shaping(spread).sum()


# --- PPO with colored noise ----------------------------------------------------------------------
def lag1_autocorrelation(x: torch.Tensor) -> float:
    x = x - x.mean(-1, keepdim=True)
    return float((x[..., 1:] * x[..., :-1]).mean() / x.pow(2).mean())


def test_colored_noise_is_correlated_in_time_with_unit_marginals():
    g = torch.Generator().manual_seed(0)
    pink = colored_noise((2000,), 64, beta=1.0, generator=g)
    red = colored_noise((2000,), 64, beta=2.0, generator=g)
    white = colored_noise((2000,), 64, beta=0.0, generator=g)
    assert abs(lag1_autocorrelation(white)) < 0.05
    assert lag1_autocorrelation(pink) > 0.3
    assert lag1_autocorrelation(red) > lag1_autocorrelation(pink)
    for noise in (white, pink, red):  # each time step is N(0, 1) across series
        std = noise.std(0)
        assert float((std - 1).abs().max()) < 0.12
        assert float(noise.mean(0).abs().max()) < 0.12


def test_colored_gumbel_max_keeps_the_policy_marginals():
    logits = torch.tensor([1.0, 0.0, -0.5, 2.0])
    probs = torch.softmax(logits, -1)
    g = torch.Generator().manual_seed(1)
    z = colored_noise((20000, 4), 16, beta=1.0, generator=g)[..., 7]  # one time step, many sequences
    actions = (logits + gumbel_from_normal(z)).argmax(-1)
    freq = torch.bincount(actions, minlength=4).float() / actions.numel()
    assert float((freq - probs).abs().max()) < 0.015


# --- A3C -----------------------------------------------------------------------------------------
def test_a3c_workers_update_one_shared_model(tmp_path):
    cfg = get_entry("a3c").make_config(num_envs=4, rollout_len=10, frames=4 * 10 * 2, checkpoint_every=1, workers=2)
    trainer = Trainer(cfg, tmp_path / "a3c")
    before = [
        p.detach().clone()
        for p in trainer.entry.algorithm(cfg, make_env("CH-500", batch_size=1, seed=0, **cfg.env)).parameters_to_train()
    ]
    trainer.run(show_progress=False)
    assert len(trainer.worker_pids) == 2, "two distinct worker processes reported"
    assert all(u == 2 for u in trainer.worker_updates.tolist()), "each worker applied one update per iteration"
    after = trainer.algo.parameters_to_train()
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)), "the shared model changed"

    def strict(token):
        raise ValueError(f"{token} is not JSON")

    lines = [json.loads(line, parse_constant=strict) for line in (tmp_path / "a3c" / LOG).read_text().splitlines()]
    assert lines[-1]["worker_updates"] == [2, 2]
    assert lines[-1]["return"] is None  # 10-step rollouts end no 80-step episode: null, not NaN


def test_a3c_worker_rollouts_sample_from_the_policy():
    """A worker explores: its rollout actions are drawn from the policy's distribution, not its mode
    (an untrained policy is near uniform, so the actions must differ from the argmax on most steps)."""
    from algorithms.a3c import A3C, worker_rollout

    cfg = get_entry("a3c").make_config()
    env = make_env("CH-500", batch_size=16, seed=0, **cfg.env)
    torch.manual_seed(0)
    actor = A3C(cfg, env).actor
    data, next_td = worker_rollout(env, actor, env.reset(), 20)
    assert data.batch_size == torch.Size([16, 20]) and next_td.batch_size == torch.Size([16])
    with torch.no_grad():
        mode = actor(data.exclude("action").clone())["action"]  # outside the context: deterministic
    assert float((data["action"] != mode).float().mean()) > 0.5
    assert bool(data["action_mask"].gather(-1, data["action"].unsqueeze(-1)).all())  # only valid slots


# --- STARK ---------------------------------------------------------------------------------------
def test_stark_imitation_loss_falls_and_matches_the_expert_on_held_out_steps(tmp_path):
    cfg = get_entry("stark").make_config(
        num_envs=16, rollout_len=80, minibatch_size=256, epochs=4, frames=16 * 80 * 5, checkpoint_every=10
    )
    Trainer(cfg, tmp_path / "stark").run(show_progress=False)
    lines = [json.loads(line) for line in (tmp_path / "stark" / LOG).read_text().splitlines()]
    assert lines[-1]["loss_imitation"] < 0.8 * lines[0]["loss_imitation"]

    env = make_env("CH-500", split="test", batch_size=16, seed=7, **cfg.env)  # held-out tasks
    student = policy_from_checkpoint(tmp_path / "stark" / FINAL, env)
    expert = ExpertPolicy(env.settings)
    td, agree, total = env.reset(), 0, 0
    with torch.no_grad():
        for _ in range(80):
            action = student(td.clone()).get("action")
            target = masked_argmax(expert.score(td), td.get("action_mask"))
            agree += int((action == target).sum())
            total += action.numel()
            td.set("action", target)
            td = env.step_and_maybe_reset(td)[1]
    print(f"STARK agrees with the expert on {agree / total:.1%} of held-out steps")
    assert agree / total > 0.5


@pytest.mark.parametrize("name", ["pfppo", "ppo-cn", "stark"])
def test_baselines_resume_exactly(name, tmp_path, monkeypatch):
    """The synchronous baselines keep the trainer's exact-resume guarantee (A3C cannot: its workers
    interleave updates)."""
    cfg = get_entry(name).make_config(num_envs=4, rollout_len=20, minibatch_size=40, epochs=1, checkpoint_every=1)
    cfg = cfg.replace(frames=3 * cfg.frames_per_iteration)
    Trainer(cfg, tmp_path / "a").run(show_progress=False)
    original = Trainer._checkpoint
    calls = {"n": 0}

    def die_after_first(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_checkpoint", die_after_first)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, tmp_path / "b").run(show_progress=False)
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    Trainer(None, tmp_path / "b", resume=True).run(show_progress=False)
    a = torch.load(tmp_path / "a" / FINAL, weights_only=True)["model"]["policy"]
    b = torch.load(tmp_path / "b" / FINAL, weights_only=True)["model"]["policy"]
    assert all(torch.equal(a[k], b[k]) for k in a)
