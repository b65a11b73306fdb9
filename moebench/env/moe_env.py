"""`EdgeCloudMoEEnv`: the batched TorchRL environment of the Edge-Cloud MoE Bench."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from moebench import perf
from moebench.data.region import Region
from moebench.env import sim, workload
from moebench.env.settings import EnvSettings
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES, build_tables
from moebench.errors import UserError


class EdgeCloudMoEEnv(EnvBase):
    """Schedule the workflow steps of LLM / MoE inference tasks onto the servers of a region.

    A batch element is one region under a stream of tasks. Each task is a workflow of steps, each
    step needs a model type (ChatGPT, GPT-4, GPT-4v in the sample) that only some servers host.
    One env step is one decision: which server runs the pending step. Decisions are taken in
    simulated-time order across all tasks of the episode, so tasks overlap and share servers.

    Observations (all batched [B, ...]):
        candidates        [B, K, 13] float: raw per-candidate telemetry, named by
                          `CANDIDATE_FEATURES`: distance (100 km), hop base latency (100 ms), hop
                          bandwidth (50 Mbps), NormalizedCompute, price (10 USD per 1000 tokens,
                          server multiplier included), background utilization, mean link latency (s),
                          narrowest link (50 Mbps), is-current-server, queue backlog (s), observed hop
                          RTT EMA (s), observed loss EMA, observed flag. Padded slots are all zero.
        action_mask       [B, K] bool: slots that hold a server hosting the needed model type.
        candidate_server  [B, K] int64: the server index of each slot, -1 for padding.
        context           [B, 11] float, `CONTEXT_FEATURES`: workflow position and length, tokens,
                          elapsed time, load, first-hop flag, model type price, recent arrivals.
        preference        [B, 3] float: weights of (latency, cost, transfer), summing to 1.
        server_features   [B, N, 11] (only with `full_view`): every server's features
                          (`sim.SERVER_VIEW_FEATURES`), for graph and attention policies.
        edge_index        [B, 2, E] int64 and edge_attr [B, E, 2] (only with `full_view`): the links.
        history           [B, W, 16] (only with `history_len` W > 0): the element's last W decisions,
                          oldest first: the chosen candidate's 13 features and the step's reward_vec
                          (zeros before the episode's first decisions).
        reward_vec        [B, 3]: the step's negated normalized objectives (see Reward).
        metrics           per-step measurements, each [B] (see `sim.METRIC_KEYS`): latency_ms,
                          network_ms, queue_ms, compute_ms, compute_cost (USD), transfer_cost (USD),
                          trap_hit, on_trap, invalid_action, task_done, task_latency_ms,
                          slo_violated, task_tokens.
        K is `max_candidates` (the K hosts nearest to the current location), or with None every
        host of any model type (the largest host count; unused slots are masked).

    Actions:
        action [B] int64: a candidate slot in [0, K). A masked or out-of-range slot is not an error:
        the step is served by the first valid candidate and `metrics.invalid_action` is 1.

    Dynamics (pure functions in `moebench.env.dynamics`, orchestrated by `moebench.env.sim`):
        network_ms  hop from the current location (the user on step 0, else the previous step's
                    server) to the chosen server: propagation (0.005 ms/km of Haversine distance) +
                    base latency (the listed link's BaseLatencyMs, else a WAN hop; step 0 adds the
                    wireless access hop) + transmission of the payload (activations between steps,
                    the prompt on step 0; the access hop is a Rayleigh-faded Shannon channel).
                    Staying on the same server costs nothing.
        traps       every trap server runs a hidden two-state good/bad Markov process (good -> bad
                    at `trap_rate_per_s`, mean bad time `trap_bad_len_s`). A hop touching a bad trap
                    gets exponential extra latency, a bandwidth cap, and packet loss that costs
                    retransmissions with a timeout each. States are updated lazily and exactly.
        queue_ms    each server serves one step at a time, in the order the steps were dispatched to
                    it: its busy clock persists across the tasks of an episode.
        compute_ms  (prefill + decode_cost x decode tokens) / (tokens_per_s x NormalizedCompute x
                    (1 - background utilization from TrafficRate)).
        costs       compute: tokens / 1000 x CostPerToken x NormalizedCompute ** exponent (x the
                    trap multiplier on traps); transfer: bytes moved between two different servers x
                    a per-GB price that grows with distance.
        telemetry   per-server EMAs of the observed hop RTT and loss, updated when a hop lands.

    Reward:
        reward_vec = -(latency_ms / latency_scale_ms, compute_cost / cost_scale_usd,
        transfer_cost / transfer_scale_usd), each clipped to [-reward_clip, 0];
        reward [B, 1] = preference . reward_vec. Step latencies of a task add up to its latency.

    Episode end:
        `terminated` and `done` when all `tasks_per_episode` tasks are served; never truncated.
        Done elements reset on their own under torchrl's collectors and `rollout`.

    Settings:
        `EnvSettings` (moebench/env/settings.py): every field with its unit and default. Trap
        parameters left at None come from the region's trap_config.json. `compile_dynamics=True`
        runs `sim.step` and `sim.observe` as torch.compile'd graphs (the first step compiles; eager
        with a warning if compilation fails); results match eager to float32 rounding, not bit for
        bit, so evaluation runs eagerly. (torchrl's own `compile=` compiles the whole
        `step_and_maybe_reset`, TensorDict code included.)
    """

    batch_locked = True

    def __init__(
        self,
        region: Region,
        split: str = "train",
        batch_size: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = 0,
        settings: EnvSettings | None = None,
        compile_dynamics: bool = False,
        **overrides,
    ) -> None:
        settings = (settings or EnvSettings()).replace(**overrides) if overrides else (settings or EnvSettings())
        settings = settings.resolved(region.trap)
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("device cuda was asked for, but torch sees no CUDA GPU here")
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        super().__init__(device=device, batch_size=torch.Size([batch_size]))
        self.region = region
        self.split = split
        self.settings = settings
        self.tables = build_tables(region, settings, device)
        try:
            self.task_pool = region.task_indices(split).to(device)
        except ValueError as err:
            raise UserError(str(err)) from None
        if self.task_pool.numel() == 0:
            raise UserError(f"region {region.name} has no {split!r} tasks")
        self.trace = workload.load_trace(settings.trace) if settings.trace else None
        self.trap_rates = sim.trap_rates_per_ms(settings)
        # compile_dynamics: the step and the observation run as torch.compile'd graphs (eager if that
        # fails). Same dynamics, but floating-point results may differ from eager in the last bits,
        # so evaluation and the leaderboard always run eagerly; it is for large-batch throughput.
        self.compile_dynamics = compile_dynamics
        self._sim_step = perf.compiled(sim.step, "the env step") if compile_dynamics else sim.step
        self._observe = perf.compiled(sim.observe, "the env observation") if compile_dynamics else sim.observe
        self.rng = torch.Generator(device=device)
        self.state = sim.new_state(self.tables, settings, batch_size, device)
        self._make_specs()
        self.set_seed(0 if seed is None else seed)

    @property
    def num_candidates(self) -> int:
        return self.tables.num_candidates

    def _make_specs(self) -> None:
        b, k, n = self.batch_size[0], self.num_candidates, self.tables.num_servers
        shape = self.batch_size
        obs = {
            "candidates": Unbounded((b, k, len(CANDIDATE_FEATURES)), device=self.device),
            "action_mask": Binary(n=k, shape=(b, k), device=self.device, dtype=torch.bool),
            "candidate_server": Bounded(-1, max(n - 1, 0), (b, k), device=self.device, dtype=torch.int64),
            "context": Unbounded((b, len(CONTEXT_FEATURES)), device=self.device),
            "preference": Bounded(0.0, 1.0, (b, 3), device=self.device),
            "reward_vec": Bounded(-self.settings.reward_clip, 0.0, (b, 3), device=self.device),
            "metrics": Composite(
                {key: Unbounded((b,), device=self.device) for key in sim.METRIC_KEYS}, shape=shape, device=self.device
            ),
        }
        if self.settings.history_len:
            obs["history"] = Unbounded((b, self.settings.history_len, sim.HISTORY_FEATURES), device=self.device)
        if self.settings.full_view:
            e = self.tables.edge_index.shape[1]
            obs["server_features"] = Unbounded((b, n, len(sim.SERVER_VIEW_FEATURES)), device=self.device)
            obs["edge_index"] = Bounded(0, n - 1, (b, 2, e), device=self.device, dtype=torch.int64)
            obs["edge_attr"] = Unbounded((b, e, 2), device=self.device)
        self.observation_spec = Composite(obs, shape=shape, device=self.device)
        self.action_spec = Categorical(k, shape=(b,), device=self.device, dtype=torch.int64)
        self.reward_spec = Unbounded((b, 1), device=self.device)
        done = Categorical(2, shape=(b, 1), device=self.device, dtype=torch.bool)
        self.done_spec = Composite(
            done=done, terminated=done.clone(), truncated=done.clone(), shape=shape, device=self.device
        )

    def _set_seed(self, seed: int | None) -> None:
        self.rng.manual_seed(int(seed) if seed is not None else 0)

    def _observation(self) -> dict:
        return self._with_graph(self._observe(self.tables, self.settings, self.state))

    def _with_graph(self, obs: dict) -> dict:
        if self.settings.full_view:
            b = self.batch_size[0]
            obs["edge_index"] = self.tables.edge_index.expand(b, -1, -1)
            obs["edge_attr"] = self.tables.edge_attr.expand(b, -1, -1)
        return obs

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        b = self.batch_size[0]
        mask = None if tensordict is None else tensordict.get("_reset", None)
        rows = torch.arange(b, device=self.device) if mask is None else torch.nonzero(mask.reshape(b)).flatten()
        sim.reset_rows(self.tables, self.settings, self.state, rows, self.task_pool, self.rng, self.trace)
        obs = self._observation()
        zeros = torch.zeros(b, device=self.device)
        obs["metrics"] = TensorDict({key: zeros for key in sim.METRIC_KEYS}, batch_size=self.batch_size)
        obs["reward_vec"] = torch.zeros(b, 3, device=self.device)
        false = torch.zeros(b, 1, dtype=torch.bool, device=self.device)
        obs.update(done=false, terminated=false.clone(), truncated=false.clone())
        return TensorDict(obs, batch_size=self.batch_size, device=self.device)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        uniform = torch.rand(self.batch_size[0], sim.NUM_DRAWS, generator=self.rng, device=self.device)
        action = tensordict.get("action")
        out, obs = self._sim_step(self.tables, self.settings, self.state, action, uniform, self.trap_rates)
        obs = self._with_graph(obs)
        obs["metrics"] = TensorDict(out["metrics"], batch_size=self.batch_size)
        obs["reward_vec"] = out["reward_vec"]
        obs["reward"] = out["reward"]
        obs["done"] = out["done"]
        obs["terminated"] = out["done"].clone()
        obs["truncated"] = torch.zeros_like(out["done"])
        return TensorDict(obs, batch_size=self.batch_size, device=self.device)

    # --- privileged access for the oracle (never part of the observation) ----------------------
    def candidate_outcomes(self) -> dict[str, torch.Tensor]:
        """Expected latency, compute and transfer cost [B, K] of serving the pending step on each
        candidate, with the hidden trap states resolved now and the exact queues."""
        return sim.candidate_outcomes(self.tables, self.settings, self.state, self.rng, self.trap_rates)


def make_env(
    region: Region | str,
    split: str = "train",
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    seed: int | None = 0,
    settings: EnvSettings | None = None,
    data_dir: str | None = None,
    compile_dynamics: bool = False,
    **overrides,
) -> EdgeCloudMoEEnv:
    """Build the env on a region (a `Region`, a shipped region's name or a folder path)."""
    from moebench.data.catalog import get_region

    return EdgeCloudMoEEnv(
        get_region(region, data_dir),
        split=split,
        batch_size=batch_size,
        device=device,
        seed=seed,
        settings=settings,
        compile_dynamics=compile_dynamics,
        **overrides,
    )
