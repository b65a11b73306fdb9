"""A3C: asynchronous advantage actor-critic (Mnih et al. 2016; as a workflow scheduler, Tang et al. 2024).

Several worker processes share one model in shared memory. Each worker runs its own batch of envs;
per rollout it copies the shared weights into a local model, computes the torchrl `A2CLoss` gradient
on n-step (GAE with lambda = 1 by default) advantages, and applies it to the shared weights with a
shared Adam whose moments also live in shared memory, without locks (Hogwild). Updates from
different workers interleave: the run is not bit-reproducible, unlike the synchronous entries.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from torch import Tensor, nn
from torchrl.objectives import A2CLoss

from algorithms.ppo import PPO, PPOConfig


@dataclass
class A3CConfig(PPOConfig):
    frames: int = 6_000_000  # default budget: about 4 minutes on 2 CPU cores
    workers: int = 2  # worker processes
    gae_lambda: float = 1.0  # lambda 1: the n-step returns of A3C
    epochs: int = 1  # one gradient step per rollout, as in A3C
    rollout_len: int = 20  # n of the n-step returns
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8


class SharedAdam:
    """Adam whose moments and step count are shared-memory tensors, updated in place by any process."""

    def __init__(self, params: list[Tensor], betas: tuple[float, float], eps: float) -> None:
        self.params = params
        self.exp_avg = [torch.zeros_like(p).share_memory_() for p in params]
        self.exp_avg_sq = [torch.zeros_like(p).share_memory_() for p in params]
        self.steps = torch.zeros(len(params)).share_memory_()
        self.betas, self.eps = betas, eps

    @torch.no_grad()
    def step(self, grads: list[Tensor], lr: float) -> None:
        beta1, beta2 = self.betas
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            self.steps[i] += 1
            t = float(self.steps[i])
            self.exp_avg[i].mul_(beta1).add_(g, alpha=1 - beta1)
            self.exp_avg_sq[i].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (self.exp_avg_sq[i] / (1 - beta2**t)).sqrt_().add_(self.eps)
            p.addcdiv_(self.exp_avg[i], denom, value=-lr / (1 - beta1**t))

    def state_dict(self) -> dict:
        return {
            "exp_avg": [t.clone() for t in self.exp_avg],
            "exp_avg_sq": [t.clone() for t in self.exp_avg_sq],
            "steps": self.steps.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        for mine, saved in zip(self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"], strict=True):
            mine.copy_(saved)
        self.steps.copy_(state["steps"])


class A3C(PPO):
    """The flat MLP actor-critic of the PPO baseline, trained asynchronously with A2CLoss."""

    config_cls = A3CConfig
    asynchronous = True

    def build_loss(self, cfg: A3CConfig) -> nn.Module:
        return A2CLoss(
            self.actor,
            self.critic_net,
            entropy_coeff=cfg.entropy_coef,
            critic_coeff=cfg.critic_coef,
            loss_critic_type="smooth_l1",
        )


def worker_rollout(env, actor, td: TensorDictBase, steps: int) -> tuple[TensorDictBase, TensorDictBase]:
    """`steps` steps of `env` from `td` with actions *sampled* from `actor` (a bare `env.rollout`
    would take the actor's deterministic mode: no exploration, and a policy gradient of the wrong
    actions). Rollouts continue where the last one stopped, so episodes span several n-step
    updates. Returns the rollout and the tensordict to continue from."""
    from torchrl.envs.utils import ExplorationType, set_exploration_type, step_mdp

    with set_exploration_type(ExplorationType.RANDOM):
        data = env.rollout(steps, policy=actor, auto_reset=False, tensordict=td, break_when_any_done=False)
    return data, env.maybe_reset(step_mdp(data[..., -1]))


def worker_main(
    rank: int, cfg_dict: dict, shared_params: list[Tensor], optimizer: SharedAdam, updates: Tensor, inbox, outbox
) -> None:
    """One A3C worker: waits for an iteration number, runs one rollout and one asynchronous update on
    the shared weights, reports its statistics; `None` ends it."""
    from algorithms.registry import get_entry
    from algorithms.trainer import rollout_stats
    from moebench.env import make_env

    torch.set_num_threads(1)
    try:
        cfg = get_entry(cfg_dict["algo"]).make_config(**cfg_dict)
        torch.manual_seed(cfg.seed * 1000 + rank + 1)
        env = make_env(
            cfg.region,
            split="train",
            batch_size=max(1, cfg.num_envs // cfg.workers),
            seed=cfg.seed * 1000 + rank + 1,
            **cfg.env,
        )
        local = A3C(cfg, env)
        local_params = local.parameters_to_train()
        td = env.reset()
        running = torch.zeros(env.batch_size[0], dtype=torch.float64)
        while True:
            message = inbox.get()
            if message is None:
                break
            iteration, lr, entropy_coef = message
            tic = time.perf_counter()
            with torch.no_grad():
                for mine, shared in zip(local_params, shared_params, strict=True):
                    mine.copy_(shared)
            local.loss.entropy_coeff.fill_(entropy_coef)
            data, td = worker_rollout(env, local.actor, td, cfg.rollout_len)
            stats = rollout_stats(data)
            returns = []
            reward, done = data.get(("next", "reward")).squeeze(-1), data.get(("next", "done")).squeeze(-1)
            for t in range(reward.shape[1]):
                running += reward[:, t].double()
                returns.append(running[done[:, t]].clone())
                running[done[:, t]] = 0.0
            finished = torch.cat(returns)
            stats["return"] = float(finished.mean()) if finished.numel() else float("nan")
            stats["episodes"] = int(finished.numel())
            local.compute_advantage(data)
            out = local.loss(data.exclude("next").reshape(-1))
            loss = sum(v for k, v in out.items() if k.startswith("loss_"))
            for p in local_params:
                p.grad = None
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(local_params, cfg.max_grad_norm)
            optimizer.step([p.grad for p in local_params], lr)
            updates[rank] += 1
            stats.update(
                loss_objective=float(out.get("loss_objective").detach()),
                loss_critic=float(out.get("loss_critic").detach()),
                entropy=float(out.get("entropy")) if "entropy" in out else float("nan"),
                grad_norm=float(grad_norm),
                frames=data.numel(),
                seconds=time.perf_counter() - tic,
                pid=os.getpid(),
            )
            outbox.put((rank, iteration, stats))
    except Exception as err:  # report, so the trainer can stop with one clear message
        outbox.put((rank, -1, {"error": f"{type(err).__name__}: {err}"}))
