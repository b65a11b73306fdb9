"""`EdgeCloudMoEEnv`: specs, reproducibility, episode bookkeeping, partial resets, the dynamics seen
through the env (staying put, queueing, traps, masked actions), evaluation, and random-setting
properties."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensordict import TensorDictBase
from torchrl.envs.utils import check_env_specs, step_mdp

from algorithms.heuristics import GreedyPolicy, LeastLoadedPolicy, RandomPolicy, make_heuristic
from moebench.data import load_region
from moebench.data.catalog import get_region, list_regions
from moebench.data.generate import generate_region
from moebench.data.region import Region
from moebench.env import EdgeCloudMoEEnv, EnvSettings, dynamics, make_env, sim
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES, build_tables
from moebench.evaluation import evaluate

F = {name: i for i, name in enumerate(CANDIDATE_FEATURES)}
C = {name: i for i, name in enumerate(CONTEXT_FEATURES)}
V = {name: i for i, name in enumerate(sim.SERVER_VIEW_FEATURES)}
SHIPPED = tuple(list_regions())  # every region in data1/
NON_NEGATIVE = (
    "latency_ms",
    "network_ms",
    "queue_ms",
    "compute_ms",
    "compute_cost",
    "transfer_cost",
    "task_latency_ms",
    "task_tokens",
)


@pytest.fixture(scope="module")
def region_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Region]:
    """Small generated Swiss regions, built once per argument set: `make(seed, servers, traps, lengths)`."""
    root = tmp_path_factory.mktemp("env-regions")
    cache: dict[tuple, Region] = {}

    def make(seed: int, servers: int = 40, traps: int = 4, workflow_len: tuple[int, int] = (2, 6)) -> Region:
        key = (seed, servers, traps, workflow_len)
        if key not in cache:
            folder = root / f"CH-{servers}-{traps}-{workflow_len[0]}-{workflow_len[1]}-s{seed}"
            generate_region(
                "CH", servers, traps, seed, folder, workflow_len=workflow_len, train_tasks=40, test_tasks=10
            )
            cache[key] = load_region(folder)
        return cache[key]

    return make


def random_valid(generator: torch.Generator) -> Callable[[TensorDictBase], torch.Tensor]:
    """A seeded policy: uniform over the valid slots."""

    def choose(td: TensorDictBase) -> torch.Tensor:
        mask = td.get("action_mask")
        score = torch.rand(mask.shape, generator=generator).masked_fill(~mask, -1.0)
        return score.argmax(-1)

    return choose


def state_rows(env: EdgeCloudMoEEnv, rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """A copy of the simulator state of the batch elements `rows`."""
    return {f.name: getattr(env.state, f.name)[rows].clone() for f in dataclasses.fields(env.state)}


def pending_model(env: EdgeCloudMoEEnv) -> torch.Tensor:
    """The model type [B] the pending step of each element needs, from the simulator state."""
    b = torch.arange(env.batch_size[0])
    task = env.state.ep_task[b, env.state.slot]
    step = env.state.step[b, env.state.slot]
    return env.tables.task_models[task, step]


def float_leaves(td: TensorDictBase) -> dict:
    return {key: value for key, value in td.items(True, True) if value.is_floating_point()}


# --- specs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("full_view", [False, True], ids=["candidates", "full-view"])
@pytest.mark.parametrize("max_candidates", [None, 8], ids=["every-host", "K8"])
@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("region_name", [*SHIPPED, "Server1_Trap"])
def test_check_env_specs(region_name: str, batch: int, max_candidates: int | None, full_view: bool, request) -> None:
    if region_name == "Server1_Trap":
        region = get_region(request.getfixturevalue("reference_data") / "Server1_Trap")
    else:
        region = get_region(region_name)
    env = EdgeCloudMoEEnv(region, batch_size=batch, max_candidates=max_candidates, full_view=full_view)
    check_env_specs(env, seed=1)
    td = env.reset()
    k = max_candidates or int((region.instance_count > 0).sum(1).max())
    assert td["candidates"].shape == (batch, k, len(CANDIDATE_FEATURES))
    assert td["context"].shape == (batch, len(CONTEXT_FEATURES))
    assert ("server_features" in td) == full_view


# --- reproducibility -------------------------------------------------------------------------------


def test_same_seed_same_trajectory_bit_for_bit() -> None:
    def rollout(seed: int) -> TensorDictBase:
        env = make_env("CH-500", batch_size=4, max_candidates=8, seed=seed, tasks_per_episode=4)
        return env.rollout(200, RandomPolicy(seed=1), break_when_any_done=False)

    first, second, other = rollout(7), rollout(7), rollout(8)
    assert bool(first["next", "done"].any())  # episodes ended and were reset within the rollout
    keys = sorted(first.keys(True, True), key=str)
    assert keys == sorted(second.keys(True, True), key=str)
    for key in keys:
        assert torch.equal(first[key], second[key]), key
    assert not torch.equal(first["next", "metrics", "latency_ms"], other["next", "metrics", "latency_ms"])
    assert not torch.equal(first["context"], other["context"])


@pytest.mark.parametrize("max_candidates", [8, None])
def test_compiled_dynamics_follow_the_eager_trajectory(max_candidates: int | None) -> None:
    """`compile_dynamics=True` runs the same step as one torch.compile'd graph: same specs, same
    episodes and resets, rewards equal to float32 rounding, and no fallback to eager."""

    def rollout(compiled: bool) -> TensorDictBase:
        env = make_env(
            "CH-500",
            batch_size=8,
            max_candidates=max_candidates,
            seed=3,
            tasks_per_episode=3,
            compile_dynamics=compiled,
        )
        if compiled:
            check_env_specs(env)
            env.set_seed(3)
        return env.rollout(60, RandomPolicy(seed=1), break_when_any_done=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a fallback to eager would warn
        fast = rollout(True)
    slow = rollout(False)
    assert bool(slow["next", "done"].any())  # resets happened within the rollout
    assert torch.equal(fast["action"], slow["action"])
    assert torch.equal(fast["next", "done"], slow["next", "done"])
    assert torch.equal(fast["next", "action_mask"], slow["next", "action_mask"])
    for key in (("next", "reward"), ("next", "candidates"), ("next", "context"), ("next", "metrics", "latency_ms")):
        torch.testing.assert_close(fast[key], slow[key], rtol=1e-5, atol=1e-5, msg=str(key))


def test_compile_failure_falls_back_to_eager_with_one_warning(monkeypatch) -> None:
    def broken_compile(fn, **kwargs):
        def fail(*args, **kw):
            raise RuntimeError("no C++ compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(UserWarning, match="running eagerly"):
        env = make_env("CH-500", batch_size=4, max_candidates=8, seed=5, compile_dynamics=True)
        fallback = env.rollout(30, RandomPolicy(seed=2), break_when_any_done=False)
    eager = make_env("CH-500", batch_size=4, max_candidates=8, seed=5).rollout(
        30, RandomPolicy(seed=2), break_when_any_done=False
    )
    for key in fallback.keys(True, True):
        assert torch.equal(fallback[key], eager[key]), key


# --- episodes and partial resets -------------------------------------------------------------------


def test_episode_bookkeeping_and_partial_resets(region_factory) -> None:
    """Elements with workflows of 2..6 steps finish at different times. Checked on every step: the
    latency parts, the reward, per-task latency sums and SLO flags; at each episode end: its number
    of steps and finished tasks; at each partial reset: fresh reset elements, untouched others."""
    tasks = 3
    region = region_factory(0, workflow_len=(2, 6))
    env = EdgeCloudMoEEnv(region, batch_size=8, max_candidates=8, tasks_per_episode=tasks, seed=3)
    slo = env.settings.slo_ms
    choose = random_valid(torch.Generator().manual_seed(0))
    b = torch.arange(8)
    td = env.reset()
    expected_steps = env.tables.task_len[env.state.ep_task].sum(1)
    steps = torch.zeros(8, dtype=torch.long)
    finished = torch.zeros(8, dtype=torch.long)
    task_sum_ms = torch.zeros(8, tasks, dtype=torch.float64)
    episodes = mixed_resets = 0
    for _ in range(400):
        slot = env.state.slot.clone()
        td.set("action", choose(td))
        td = env.step(td)
        nxt = td["next"]
        m = nxt["metrics"]
        # float32 clocks of up to ~1e5 ms: parts and totals agree to a few ulps (0.02 ms)
        parts = m["network_ms"] + m["queue_ms"] + m["compute_ms"]
        torch.testing.assert_close(m["latency_ms"], parts, rtol=1e-5, atol=0.02)
        torch.testing.assert_close(nxt["reward"][:, 0], (nxt["reward_vec"] * nxt["preference"]).sum(-1))
        steps += 1
        task_sum_ms[b, slot] += m["latency_ms"].double()
        done_task = m["task_done"] > 0.5
        finished += done_task.long()
        # a task's step latencies add up to its latency (float32 clock: 0.05 ms)
        torch.testing.assert_close(
            task_sum_ms[b, slot][done_task], m["task_latency_ms"][done_task].double(), rtol=1e-6, atol=0.05
        )
        assert torch.equal(m["slo_violated"] > 0.5, done_task & (m["task_latency_ms"] > slo))
        assert bool((m["task_latency_ms"][~done_task] == 0).all())
        assert bool((m["task_tokens"][done_task] > 0).all()) and bool((m["task_tokens"][~done_task] == 0).all())

        done = nxt["done"][:, 0]
        assert torch.equal(nxt["terminated"], nxt["done"]) and not bool(nxt["truncated"].any())
        assert torch.equal(steps[done], expected_steps[done])  # sum of the workflow lengths of its tasks
        assert bool((finished[done] == tasks).all()) and bool((finished[~done] < tasks).all())
        kept = torch.nonzero(~done).flatten()
        before = state_rows(env, kept)
        stepped = step_mdp(td)
        td = env.maybe_reset(stepped)
        # the elements that go on are untouched, in the simulator and in their observation
        for name, value in state_rows(env, kept).items():
            assert torch.equal(value, before[name]), name
        for key in ("candidates", "action_mask", "candidate_server", "context", "preference"):
            assert torch.equal(td[key][kept], stepped[key][kept]), key
        if bool(done.any()):
            episodes += int(done.sum())
            mixed_resets += int(not bool(done.all()))
            fresh = td[done]
            assert bool((fresh["context"][:, C["done_frac"]] == 0).all())
            assert bool((fresh["context"][:, C["step_frac"]] == 0).all())
            assert bool((fresh["context"][:, C["at_user"]] == 1).all())
            assert bool((fresh["candidates"][..., F["obs_seen"]] == 0).all())
            assert bool((fresh["candidates"][..., F["backlog_s"]] == 0).all())
            assert all(bool((v == 0).all()) for v in fresh["metrics"].values())
            assert not bool(fresh["done"].any())
            assert bool((env.state.done_tasks[done] == 0).all()) and bool((env.state.step[done] == 0).all())
            expected_steps[done] = env.tables.task_len[env.state.ep_task[done]].sum(1)
            steps[done] = 0
            finished[done] = 0
            task_sum_ms[done] = 0.0
    assert episodes >= 16 and mixed_resets >= 5


# --- actions and the current server ----------------------------------------------------------------


def test_masked_action_is_served_by_the_first_valid_candidate_and_flagged() -> None:
    env = make_env("CH-500", batch_size=8, max_candidates=None, seed=0)
    choose = random_valid(torch.Generator().manual_seed(0))
    td = env.reset()
    b = torch.arange(8)
    flagged = 0
    for _ in range(40):
        mask = td["action_mask"]
        has_masked = ~mask.all(1)
        first_masked = (~mask).float().argmax(1)
        first_valid = mask.float().argmax(1)
        valid_pick = choose(td)
        action = torch.where(has_masked, first_masked, valid_pick)
        expected_server = td["candidate_server"][b, torch.where(has_masked, first_valid, valid_pick)]
        slot = env.state.slot.clone()
        td.set("action", action)
        td = env.step(td)
        assert torch.equal(td["next", "metrics", "invalid_action"], has_masked.float())
        assert torch.equal(env.state.loc[b, slot], expected_server)  # who served the step
        flagged += int(has_masked.sum())
        td = env.maybe_reset(step_mdp(td))
    assert flagged > 20


def test_out_of_range_action_is_flagged() -> None:
    env = make_env("CH-500", batch_size=2, max_candidates=8, seed=0)
    td = env.reset()
    td.set("action", torch.tensor([-1, 8]))
    assert torch.equal(env.step(td)["next", "metrics", "invalid_action"], torch.ones(2))


def test_padded_slots_are_all_zero_with_every_host() -> None:
    env = make_env("CH-500", batch_size=16, max_candidates=None, seed=0)
    td = env.reset()
    for _ in range(5):
        td.set("action", td["action_mask"].float().argmax(1))
        td = env.step(td)["next"]
    padded = td["candidates"][~td["action_mask"]]
    assert padded.numel() > 0
    assert bool((padded == 0).all())


def test_padded_slots_are_all_zero_with_nearest_candidates(region_factory) -> None:
    # 40 servers host GPT-4v on a few only: K=40 leaves padded slots
    env = EdgeCloudMoEEnv(region_factory(0), batch_size=16, max_candidates=40, seed=0)
    td = env.reset()
    seen_padding = 0
    for _ in range(10):
        padded = td["candidates"][~td["action_mask"]]
        seen_padding += padded.shape[0]
        assert bool((padded == 0).all())
        assert bool((td["candidate_server"][~td["action_mask"]] == -1).all())
        td.set("action", td["action_mask"].float().argmax(1))
        td = env.step(td)["next"]
    assert seen_padding > 0


@pytest.mark.parametrize("max_candidates", [8, None], ids=["K8", "every-host"])
def test_observation_predicts_the_outcome_of_a_trap_free_hop(max_candidates: int | None) -> None:
    """With traps switched off, a step's network, queue and compute times and its costs follow from
    the chosen candidate's features; staying on the previous step's server moves and costs nothing."""
    env = make_env("CH-500", batch_size=16, max_candidates=max_candidates, seed=0, trap_rate_per_s=0.0)
    s = env.settings
    choose = random_valid(torch.Generator().manual_seed(0))
    b = torch.arange(16)
    td = env.reset()
    stays = moves = 0
    for _ in range(120):
        current = td["candidates"][..., F["is_current"]] > 0.5
        # stay when the previous server is a candidate, else a random valid slot
        action = torch.where(current.any(1), current.float().argmax(1), choose(td))
        td.set("action", action)
        td = env.step(td)
        f = td["candidates"][b, action]
        ctx = td["context"]
        m = td["next", "metrics"]
        assert not bool(m["trap_hit"].any())
        prefill, decode = ctx[:, C["prefill_1k"]] * 1e3, ctx[:, C["decode_1k"]] * 1e3
        at_user = ctx[:, C["at_user"]] > 0.5
        stay = f[:, F["is_current"]] > 0.5
        moved = ~stay & ~at_user
        distance_km, base_ms = f[:, F["distance_100km"]] * 100, f[:, F["hop_base_100ms"]] * 100
        bandwidth = f[:, F["hop_bandwidth_50mbps"]] * 50
        fixed_ms = distance_km * s.propagation_ms_per_km + base_ms
        payload = (prefill + decode) * s.activation_bytes_per_token
        network_ms = fixed_ms + dynamics.transmission_ms(payload, bandwidth)
        # staying: no network, no transfer cost
        assert bool((m["network_ms"][stay] == 0).all()) and bool((m["transfer_cost"][stay] == 0).all())
        # moving between servers: the hop the features describe, and a transfer priced by distance
        torch.testing.assert_close(m["network_ms"][moved], network_ms[moved], rtol=1e-4, atol=1e-3)
        transfer = dynamics.transfer_cost_usd(
            payload, distance_km, moved, s.transfer_usd_per_gb, s.transfer_distance_km
        )
        torch.testing.assert_close(m["transfer_cost"], transfer, rtol=1e-4, atol=1e-12)
        assert bool((m["transfer_cost"][moved] > 0).all())
        # from the user: the prompt upload, at most at the server's access bandwidth (the radio may be slower)
        upload = fixed_ms + dynamics.transmission_ms(prefill * s.prompt_bytes_per_token, bandwidth)
        assert bool((m["network_ms"][at_user] >= upload[at_user] * (1 - 1e-5)).all())
        assert bool((m["transfer_cost"][at_user] == 0).all())
        # the queue is what is left of the backlog once the payload arrives
        queue = (f[:, F["backlog_s"]] * 1e3 - m["network_ms"]).clamp_min(0)
        torch.testing.assert_close(m["queue_ms"], queue, rtol=1e-4, atol=0.1)
        speed = s.tokens_per_s * 1e-3 * f[:, F["compute"]] * (1 - f[:, F["background_util"]])
        torch.testing.assert_close(m["compute_ms"], (prefill + s.decode_cost * decode) / speed, rtol=1e-4, atol=1e-3)
        cost = (prefill + decode) * 1e-3 * f[:, F["price_per_1k_10usd"]] * 0.1
        torch.testing.assert_close(m["compute_cost"], cost, rtol=1e-4, atol=1e-12)
        stays += int(stay.sum())
        moves += int(moved.sum())
        td = env.maybe_reset(step_mdp(td))
    assert stays > 100 and moves > 100


# --- traps -----------------------------------------------------------------------------------------


def test_trap_states_follow_the_two_state_markov_law(small_region: Path) -> None:
    """resolve_traps at the simulator level. 2000 elements x 6 traps = 12,000 samples per look: the
    standard error of a share near 0.2 is 0.004, the tolerances below are about five of them."""
    region = load_region(small_region)
    settings = EnvSettings(trap_rate_per_s=0.05, trap_bad_len_s=5.0).resolved(region.trap)
    tables = build_tables(region, settings, torch.device("cpu"))
    rates = sim.trap_rates_per_ms(settings)
    to_bad, to_good = rates
    pi = to_bad / (to_bad + to_good)  # 0.2
    assert pi == pytest.approx(0.2)
    batch = 2000
    state = sim.new_state(tables, settings, batch, torch.device("cpu"))
    traps = torch.nonzero(tables.trap_mask).flatten()
    assert traps.numel() == 6
    servers = traps.expand(batch, -1)
    generator = torch.Generator().manual_seed(0)

    def look(now_ms: float) -> torch.Tensor:
        now = torch.full((batch,), now_ms)
        return sim.resolve_traps(
            tables, rates, state, servers, now[:, None], torch.rand(servers.shape, generator=generator)
        )

    # never looked at: drawn from the stationary law
    first = look(1000.0)
    assert float(first.float().mean()) == pytest.approx(pi, abs=0.02)
    # a second look at the same time sees the same states
    assert torch.equal(look(1000.0), first)
    # all bad, then far longer than the relaxation time 1 / (a + b) = 4 s: back to pi
    state.traps[:, traps, sim.BAD] = 1.0
    assert float(look(1e7).float().mean()) == pytest.approx(pi, abs=0.02)
    # one step of 2 s: P(bad | bad) = pi + (1 - pi) e^-0.5, P(bad | good) = pi (1 - e^-0.5)
    before = look(2e7)
    after = look(2e7 + 2000.0)
    decay = math.exp(-(to_bad + to_good) * 2000.0)
    assert float(after[before].float().mean()) == pytest.approx(pi + (1 - pi) * decay, abs=0.05)
    assert float(after[~before].float().mean()) == pytest.approx(pi * (1 - decay), abs=0.02)
    # servers that are not traps are never bad
    others = torch.nonzero(~tables.trap_mask[: tables.num_servers]).flatten()[:20].expand(batch, -1)
    now = torch.full((batch, 1), 3e7)
    assert not bool(sim.resolve_traps(tables, rates, state, others, now, torch.zeros(others.shape)).any())


def test_trap_hits_through_the_env_match_the_stationary_share() -> None:
    """A first hop (from the user) onto a trap finds it bad with probability pi = a / (a + b): here
    trap_rate 0.1/s and bad time 2.5 s give pi = 0.2. About 1200 such hops: standard error 0.012, the
    tolerance 0.06 is five of them."""
    env = make_env("CH-500", batch_size=256, max_candidates=32, seed=0, trap_bad_len_s=2.5)
    to_bad, to_good = env.trap_rates
    pi = to_bad / (to_bad + to_good)
    assert pi == pytest.approx(0.2)
    policy = RandomPolicy(seed=0)
    td = env.reset()
    hits = []
    for _ in range(200):
        td = policy(td)
        at_user = td["context"][:, C["at_user"]] > 0.5
        td, nxt = env.step_and_maybe_reset(td)
        m = td["next", "metrics"]
        hits.append(m["trap_hit"][at_user & (m["on_trap"] > 0.5)])
        td = nxt
    hits = torch.cat(hits)
    print(f"first hops onto a trap: {hits.numel()}, bad share {float(hits.mean()):.3f} (pi {pi:.3f})")
    assert hits.numel() > 600
    assert float(hits.mean()) == pytest.approx(pi, abs=0.06)


def test_bad_trap_extra_latency_matches_the_setting() -> None:
    """The same first decision in 4096 elements, with and without the extra latency of bad traps
    (loss and bandwidth cap off, so the extra latency is the only difference). About 1800 bad hops
    of exponential extra latency: standard error 2.4 % of the mean, tolerance 10 %."""

    def first_step(extra_ms: float | None) -> tuple[EdgeCloudMoEEnv, TensorDictBase]:
        env = make_env(
            "CH-500",
            batch_size=4096,
            max_candidates=32,
            seed=1,
            trap_extra_latency_ms=extra_ms,
            trap_loss=0.0,
            trap_bandwidth_mbps=1e9,
        )
        td = GreedyPolicy()(env.reset())  # greedy picks the top-compute servers: the traps
        return env, env.step(td)["next", "metrics"]

    env, with_extra = first_step(None)
    _, without = first_step(0.0)
    configured = env.settings.trap_extra_latency_ms
    assert configured == 2000.0  # the region's trap_config.json
    hit = with_extra["trap_hit"] > 0.5
    assert torch.equal(hit, without["trap_hit"] > 0.5)
    extra = with_extra["network_ms"] - without["network_ms"]
    print(
        f"bad first hops: {int(hit.sum())} of {int(with_extra['on_trap'].sum())} onto traps; "
        f"mean extra latency {float(extra[hit].mean()):.0f} ms (configured {configured:.0f} ms)"
    )
    assert int(hit.sum()) > 1000
    assert float(extra[hit].mean()) == pytest.approx(configured, rel=0.10)
    assert bool((extra[~hit] == 0).all())


def test_traps_never_go_bad_without_a_trap_rate() -> None:
    env = make_env("CH-500", batch_size=64, max_candidates=32, seed=0, trap_rate_per_s=0.0)
    policy = GreedyPolicy()
    td = env.reset()
    on_trap = 0.0
    for _ in range(100):
        td, nxt = env.step_and_maybe_reset(policy(td))
        assert not bool(td["next", "metrics", "trap_hit"].any())
        on_trap += float(td["next", "metrics", "on_trap"].sum())
        td = nxt
    assert on_trap > 1000


# --- queueing --------------------------------------------------------------------------------------


def queue_share(policy_cls, steps: int = 300) -> float:
    env = make_env("CH-500", batch_size=32, max_candidates=32, seed=0)
    policy = policy_cls()
    td = env.reset()
    queued = []
    for _ in range(steps):
        td, nxt = env.step_and_maybe_reset(policy(td))
        queued.append(td["next", "metrics", "queue_ms"] > 0)
        td = nxt
    return float(torch.stack(queued).float().mean())


def test_queueing_is_real_under_the_default_load() -> None:
    greedy, least_loaded = queue_share(GreedyPolicy), queue_share(LeastLoadedPolicy)
    print(f"CH-500, K=32, default settings: steps that queue: greedy {greedy:.3f}, least-loaded {least_loaded:.3f}")
    assert greedy > 0.2
    assert least_loaded < greedy


def test_busy_clocks_persist_across_the_tasks_of_an_episode(small_region: Path) -> None:
    """Every step of every task goes to one server: each step waits exactly until the step before it
    on that server (of any task) has finished, and some wait behind another task's step."""
    region = load_region(small_region)
    server = int(torch.nonzero((region.instance_count > 0).all(0)).flatten()[0])  # hosts every model type
    env = EdgeCloudMoEEnv(region, batch_size=4, max_candidates=None, tasks_per_episode=6, arrival_rate_per_s=20.0)
    td = env.reset()
    busy_until = torch.zeros(4)
    last_task = torch.full((4,), -1)
    behind_other_task = 0
    for _ in range(30):  # 6 tasks of 5 steps: one episode
        slot_of_server = td["candidate_server"] == server
        assert bool(slot_of_server.any(1).all())
        now, task = env.state.now_ms.clone(), env.state.slot.clone()
        td.set("action", slot_of_server.float().argmax(1))
        td = env.step(td)
        m = td["next", "metrics"]
        arrive = now + m["network_ms"]
        torch.testing.assert_close(m["queue_ms"], (busy_until - arrive).clamp_min(0), rtol=1e-5, atol=0.05)
        behind_other_task += int(((m["queue_ms"] > 0) & (last_task != task) & (last_task >= 0)).sum())
        busy_until = now + m["latency_ms"]
        last_task = task
        td = td["next"]
    assert bool(td["done"].all())
    assert behind_other_task >= 4


# --- evaluation ------------------------------------------------------------------------------------

LEADERBOARD_KEYS = (
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "compute_cost_per_task",
    "transfer_cost_per_task",
    "cost_per_task",
    "slo_violation_rate",
    "trap_hit_rate",
    "trap_share",
    "return",
    "decision_us",
    "efficiency_tokens_per_usd",
)


@pytest.fixture(scope="module")
def ch500_results() -> dict[str, dict]:
    results = {}
    for name in ("oracle", "greedy", "least-loaded", "random"):
        env = make_env("CH-500", batch_size=16, max_candidates=32, seed=0)
        results[name] = evaluate(make_heuristic(name, env), env, episodes=32, seed=0)
    return results


def test_evaluate_reports_sane_leaderboard_metrics(ch500_results: dict[str, dict]) -> None:
    for name, r in ch500_results.items():
        for key in LEADERBOARD_KEYS:
            assert math.isfinite(r[key]), (name, key)
        assert r["episodes"] == 32 and r["tasks"] == 32 * 16 and r["steps"] >= r["tasks"]
        assert 0 < r["latency_p50_ms"] <= r["latency_p95_ms"] <= r["latency_p99_ms"]
        for key in ("slo_violation_rate", "trap_hit_rate", "trap_share", "invalid_action_rate"):
            assert 0.0 <= r[key] <= 1.0, (name, key)
        assert r["cost_per_task"] == pytest.approx(r["compute_cost_per_task"] + r["transfer_cost_per_task"])
        assert r["compute_cost_per_task"] > 0 and r["transfer_cost_per_task"] >= 0
        assert r["return"] < 0 and r["decision_us"] > 0 and r["efficiency_tokens_per_usd"] >= 0
        assert r["invalid_action_rate"] == 0.0


def test_oracle_beats_the_heuristics_and_greedy_walks_into_traps(ch500_results: dict[str, dict]) -> None:
    r = ch500_results
    print(
        {name: round(v["return"], 2) for name, v in r.items()}, {n: round(v["trap_hit_rate"], 3) for n, v in r.items()}
    )
    for name in ("greedy", "least-loaded", "random"):
        assert r["oracle"]["return"] > r[name]["return"], name
    # the traps are the highest-compute servers
    assert r["greedy"]["trap_hit_rate"] > r["least-loaded"]["trap_hit_rate"]
    assert r["greedy"]["trap_share"] > 0.5


def test_evaluate_is_reproducible_for_a_seed() -> None:
    env = make_env("CH-500", batch_size=4, max_candidates=8, seed=0, tasks_per_episode=4)
    policy = RandomPolicy(seed=0)

    def run(seed: int) -> dict:
        policy.generator.manual_seed(0)
        result = evaluate(policy, env, episodes=8, seed=seed)
        result.pop("decision_us")
        return result

    first, second, other = run(0), run(0), run(1)
    assert first == second
    assert first != other


# --- properties over random settings and regions ---------------------------------------------------

unit = st.floats(0.0, 1.0, allow_nan=False)
SETTINGS = st.fixed_dictionaries(
    {
        "tasks_per_episode": st.integers(1, 6),
        "max_candidates": st.none() | st.integers(1, 40),
        "preference": st.none() | st.tuples(unit, unit, unit).filter(lambda p: sum(p) > 0.01),
        "arrival_rate_per_s": st.floats(0.2, 60.0),
        "burst_factor": st.floats(1.0, 50.0),
        "trap_rate_per_s": st.floats(0.0, 2.0),
        "trap_bad_len_s": st.floats(0.05, 30.0),
        "trap_loss": st.floats(0.0, 0.95),
        "background_load": st.floats(0.0, 0.95),
        "full_view": st.booleans(),
        "workload": st.sampled_from(["tasks", "conv", "code"]),
    }
)


@settings(max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    overrides=SETTINGS,
    batch=st.integers(1, 8),
    region_seed=st.integers(0, 3),
    policy_seed=st.integers(0, 2**16),
)
def test_random_settings_keep_the_invariants(region_factory, overrides, batch, region_seed, policy_seed) -> None:
    # four small regions: 20..59 servers, 0..3 traps, workflows of 1..6 steps
    region = region_factory(region_seed, servers=20 + 13 * region_seed, traps=region_seed, workflow_len=(1, 6))
    env = EdgeCloudMoEEnv(region, batch_size=batch, seed=policy_seed, **overrides)
    clip = env.settings.reward_clip
    hosts = region.instance_count > 0  # [M, N]
    choose = random_valid(torch.Generator().manual_seed(policy_seed))
    td = env.reset()
    for _ in range(50):
        # the observation of the pending decision
        for key, value in float_leaves(td).items():
            assert bool(torch.isfinite(value).all()), key
        mask, servers = td["action_mask"], td["candidate_server"]
        assert bool(mask.any(1).all())
        assert bool((servers[~mask] == -1).all())
        model = pending_model(env)
        assert bool((model >= 0).all())
        rows = torch.arange(batch)[:, None].expand_as(mask)[mask]
        assert bool(hosts[model[rows], servers[mask]].all())  # every valid slot hosts the needed type
        torch.testing.assert_close(td["preference"].sum(-1), torch.ones(batch))
        # at most one slot is the current server, never on the first hop (from the user)
        current = td["candidates"][..., F["is_current"]] > 0.5
        assert bool((current.sum(1) <= 1).all()) and bool((current <= mask).all())
        assert not bool(current[td["context"][:, C["at_user"]] > 0.5].any())
        if env.settings.full_view:
            view = td["server_features"]
            assert torch.equal(view[..., V["hosts_type"]] > 0.5, hosts[model])
            # a valid candidate's features are those of its server in the full view (distance to 50 m)
            of_server = view[rows, servers[mask]]
            of_slot = td["candidates"][mask]
            torch.testing.assert_close(
                of_server[:, V["distance_100km"]], of_slot[:, F["distance_100km"]], rtol=0, atol=5e-4
            )
            for name in ("compute", "price_per_1k_10usd", "backlog_s", "obs_rtt_s", "obs_loss", "obs_seen"):
                torch.testing.assert_close(of_server[:, V[name]], of_slot[:, F[name]])
        td.set("action", choose(td))
        td, nxt = env.step_and_maybe_reset(td)
        out = td["next"]
        for key, value in float_leaves(out).items():
            assert bool(torch.isfinite(value).all()), key
        m = out["metrics"]
        for key in NON_NEGATIVE:
            assert bool((m[key] >= 0).all()), key
        assert float(out["reward_vec"].min()) >= -clip and float(out["reward_vec"].max()) <= 0.0
        assert bool((out["reward"] >= -clip - 1e-5).all()) and bool((out["reward"] <= 0).all())
        assert not bool(m["invalid_action"].any())
        td = nxt


# --- devices ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here (torch.cuda.is_available() is False)")
def test_env_runs_on_cuda() -> None:
    env = make_env("CH-500", batch_size=64, max_candidates=32, device="cuda", full_view=True)
    check_env_specs(env)
    td = env.rollout(100, GreedyPolicy(), break_when_any_done=False)
    assert all(value.device.type == "cuda" for value in td.values(True, True))
    assert bool((td["next", "metrics", "latency_ms"] > 0).all())
    result = evaluate(make_heuristic("oracle", env), env, episodes=64, seed=0)
    assert math.isfinite(result["return"])
