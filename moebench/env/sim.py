"""The simulator without torchrl: state, reset, observation and one decision step, batched.

`EdgeCloudMoEEnv` is a thin torchrl wrapper around these functions; the benchmarks call them
directly to measure torchrl's overhead.

Event order. An episode holds `tasks_per_episode` tasks with their arrival times. Each task is a
workflow of steps; the next decision is always the pending step with the earliest ready time (a
task's arrival, or the finish of its previous step), so decisions are taken in simulated-time
order and overlapping tasks contend for servers exactly as they would.

Per-server state (busy clock, trap state, telemetry) lives in [B, N+1] tensors. A step reads and
writes only the entries of the servers it touches (gather / scatter), and trap states are brought
up to date lazily with the closed form of the two-state Markov process, so a step's cost does not
depend on the number of servers (except with `full_view`, which emits every server's features).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from moebench.env import dynamics, workload
from moebench.env.settings import EnvSettings
from moebench.env.tables import CANDIDATE_FEATURES, RegionTables, every_host_hop, hop_static

# Bumped whenever a change to the simulator changes what a step computes: it enters every split's
# fingerprint, so results computed under older dynamics are never ranked with new ones.
DYNAMICS_VERSION = 1
NUM_FEATURES = len(CANDIDATE_FEATURES)
# Width of a history row: the chosen candidate's features and the step's reward_vec.
HISTORY_FEATURES = NUM_FEATURES + 3
# Columns of SimState.servers and SimState.traps.
BUSY, RTT, LOSS, SEEN = range(4)
BAD, TIME = range(2)
# Columns of the per-step uniform draws.
U_SHARE, U_FADING, U_TRAP_SRC, U_TRAP_DST, U_EXTRA, U_LOSS = range(6)
NUM_DRAWS = 6

METRIC_KEYS = (
    "latency_ms",  # this step: network + queue + compute
    "network_ms",
    "queue_ms",
    "compute_ms",
    "compute_cost",  # USD
    "transfer_cost",  # USD, bytes moved between different servers
    "trap_hit",  # 1 if the hop touched a trap in its bad state
    "on_trap",  # 1 if the chosen server is a trap (whatever its state)
    "invalid_action",  # 1 if the action named a masked slot (served by the first valid candidate)
    "task_done",  # 1 if this step finished its task
    "task_latency_ms",  # the finished task's latency (arrival to last step's end), else 0
    "slo_violated",  # 1 if the finished task exceeded the SLO
    "task_tokens",  # the finished task's tokens (prefill + decode, all its steps), else 0
)

# Per-server features of the full view (same units as the candidate features).
SERVER_VIEW_FEATURES = (
    "distance_100km",
    "hosts_type",  # 1 if the server hosts the model type the pending step needs
    "compute",
    "price_per_1k_10usd",
    "background_util",
    "link_mean_latency_s",
    "link_min_bandwidth_50mbps",
    "backlog_s",
    "obs_rtt_s",
    "obs_loss",
    "obs_seen",
)


@dataclass
class SimState:
    """Everything that changes during an episode. B batch elements, T tasks, L steps, N servers."""

    ep_task: Tensor  # [B, T] region task index
    arrival_ms: Tensor  # [B, T]
    ready_ms: Tensor  # [B, T] when the task's next step can start; inf once finished
    step: Tensor  # [B, T] next workflow step
    loc: Tensor  # [B, T] server of the last step, -1 at the user
    access_km: Tensor  # [B, T] distance from the user to their cell
    prefill: Tensor  # [B, T, L] tokens per step
    decode: Tensor  # [B, T, L]
    served_tokens: Tensor  # [B, T] tokens served so far for each task
    servers: Tensor  # [B, N+1, 4] per server: busy-until ms, observed RTT EMA ms, loss EMA, seen (0/1)
    traps: Tensor  # [B, N+1, 2] per server: trap state (1 bad), time of that state ms (-inf: never looked at)
    now_ms: Tensor  # [B] time of the pending decision
    slot: Tensor  # [B] which task the pending decision belongs to
    done_tasks: Tensor  # [B]
    preference: Tensor  # [B, 3]
    cand: Tensor  # [B, K] candidates of the pending decision (sink-padded)
    cand_mask: Tensor  # [B, K]
    cand_features: Tensor  # [B, K, F] their observed features
    history: Tensor  # [B, W, F + 3] the last W decisions: chosen candidate's features, reward_vec

    @property
    def batch(self) -> int:
        return int(self.ep_task.shape[0])

    def flat_index(self, servers: Tensor) -> Tensor:
        """Row indices into `servers.view(-1, 4)` / `traps.view(-1, 2)` of per-element server ids
        ([B] or [B, K]); flat index_select is several times faster than gather here."""
        n1 = self.servers.shape[1]
        b = torch.arange(self.batch, device=servers.device).view(-1, *([1] * (servers.dim() - 1)))
        return (b * n1 + servers).reshape(-1)


def new_state(tables: RegionTables, settings: EnvSettings, batch: int, device: torch.device) -> SimState:
    t, length, n1, k = settings.tasks_per_episode, tables.max_len, tables.num_servers + 1, tables.num_candidates
    f = dict(device=device, dtype=torch.float32)
    i = dict(device=device, dtype=torch.long)
    return SimState(
        ep_task=torch.zeros(batch, t, **i),
        arrival_ms=torch.zeros(batch, t, **f),
        ready_ms=torch.zeros(batch, t, **f),
        step=torch.zeros(batch, t, **i),
        loc=torch.full((batch, t), -1, **i),
        access_km=torch.ones(batch, t, **f),
        prefill=torch.zeros(batch, t, length, **f),
        decode=torch.zeros(batch, t, length, **f),
        served_tokens=torch.zeros(batch, t, **f),
        servers=torch.zeros(batch, n1, 4, **f),
        traps=torch.tensor([0.0, -float("inf")], **f).repeat(batch, n1, 1),
        now_ms=torch.zeros(batch, **f),
        slot=torch.zeros(batch, **i),
        done_tasks=torch.zeros(batch, **i),
        preference=torch.zeros(batch, 3, **f),
        cand=torch.full((batch, k), tables.num_servers, **i),
        cand_mask=torch.zeros(batch, k, device=device, dtype=torch.bool),
        cand_features=torch.zeros(batch, k, HISTORY_FEATURES - 3, **f),
        history=torch.zeros(batch, settings.history_len, HISTORY_FEATURES, **f),
    )


def reset_rows(
    tables: RegionTables,
    settings: EnvSettings,
    state: SimState,
    rows: Tensor,
    task_pool: Tensor,
    generator: torch.Generator,
    trace: workload.Trace | None = None,
) -> None:
    """Start a new episode in the batch elements `rows` (int64 indices): draw its tasks, arrivals,
    token counts and preference, and clear their per-server state."""
    r, t, device = rows.numel(), settings.tasks_per_episode, state.now_ms.device
    if r == 0:
        return
    pick = torch.randint(0, task_pool.numel(), (r, t), generator=generator, device=device)
    ep_task = task_pool[pick]
    length = tables.max_len
    if trace is not None:
        arrivals, prefill, decode = workload.trace_window(trace, r, t, settings.trace_rate_scale, generator, device)
        prefill = prefill[:, :, None].expand(r, t, length)
        decode = decode[:, :, None].expand(r, t, length)
    elif settings.workload in workload.PROFILES:
        p = workload.PROFILES[settings.workload]
        arrivals = workload.mmpp_arrivals_ms(
            r, t, p.arrival_rate_per_s, p.burst_factor, p.burst_len_s, p.calm_len_s, generator, device, p.burst_phases
        )
        prefill = workload.lognormal_tokens((r, t, 1), *p.prefill_lognormal, generator, device).expand(r, t, length)
        decode = workload.lognormal_tokens((r, t, 1), *p.decode_lognormal, generator, device).expand(r, t, length)
    else:
        arrivals = workload.mmpp_arrivals_ms(
            r,
            t,
            settings.arrival_rate_per_s,
            settings.burst_factor,
            settings.burst_len_s,
            settings.calm_len_s,
            generator,
            device,
        )
        if tables.step_input_tokens is not None:
            prefill, decode = tables.step_input_tokens[ep_task], tables.step_output_tokens[ep_task]
        else:
            size = tables.task_size[ep_task][:, :, None].expand(r, t, length)
            prefill, decode = settings.prefill_share * size, (1.0 - settings.prefill_share) * size
    lo, hi = settings.access_distance_km
    access = lo + (hi - lo) * torch.rand(r, t, generator=generator, device=device)
    if settings.preference is None:
        alpha = torch.tensor(settings.preference_alpha, device=device, dtype=torch.float32)
        gamma = torch._standard_gamma(alpha.expand(r, 3).contiguous(), generator=generator)
        preference = gamma / gamma.sum(-1, keepdim=True)
    else:
        preference = torch.tensor(settings.preference, device=device, dtype=torch.float32).expand(r, 3)

    state.ep_task[rows] = ep_task
    state.arrival_ms[rows] = arrivals
    state.ready_ms[rows] = arrivals
    state.step[rows] = 0
    state.loc[rows] = -1
    state.access_km[rows] = access
    state.prefill[rows] = prefill
    state.decode[rows] = decode
    state.served_tokens[rows] = 0.0
    state.servers[rows] = 0.0
    state.traps[rows, :, BAD] = 0.0
    state.traps[rows, :, TIME] = -float("inf")
    state.done_tasks[rows] = 0
    state.history[rows] = 0.0
    state.preference[rows] = preference
    _select_next(state)


def _select_next(state: SimState) -> None:
    """Point every element at its earliest pending step (finished episodes keep their clock)."""
    ready, slot = state.ready_ms.min(dim=1)
    state.slot = slot
    state.now_ms = torch.where(torch.isfinite(ready), ready, state.now_ms)


def _current(tables: RegionTables, state: SimState) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(task, step, location, model type, batch index) of each element's pending decision."""
    b = torch.arange(state.batch, device=state.slot.device)
    task = state.ep_task[b, state.slot]
    step = state.step[b, state.slot].clamp_max(tables.max_len - 1)  # finished rows: any valid step
    loc = state.loc[b, state.slot]
    model = tables.task_models[task, step].clamp_min(0)
    return task, step, loc, model, b


def _location(tables: RegionTables, task: Tensor, loc: Tensor) -> tuple[Tensor, Tensor]:
    at_user = loc < 0
    server = loc.clamp_min(0)
    lat = torch.where(at_user, tables.task_lat[task], tables.lat[server])
    lon = torch.where(at_user, tables.task_lon[task], tables.lon[server])
    return lat, lon


def resolve_traps(
    tables: RegionTables,
    trap_rates: tuple[float, float],
    state: SimState,
    servers: Tensor,
    now_ms: Tensor,
    uniform: Tensor,
) -> Tensor:
    """Bring the trap state of `servers` (shape [B] or [B, K]) up to `now_ms` and return it (bad).

    Exact: the two-state process is sampled from its closed-form transition law over the time since
    the server was last looked at; the result is stored, so later looks stay consistent.
    """
    flat = state.flat_index(servers)
    traps = state.traps.view(-1, 2)
    before = traps.index_select(0, flat)
    now = now_ms.expand(servers.shape).reshape(-1)
    bad = _look(tables, trap_rates, before[:, BAD], before[:, TIME], now, uniform.reshape(-1), servers.reshape(-1))
    traps.index_copy_(0, flat, torch.stack([bad.float(), now], -1))
    return bad.view(servers.shape)


def _look(
    tables: RegionTables,
    trap_rates: tuple[float, float],
    bad: Tensor,
    since_ms: Tensor,
    now_ms: Tensor,
    uniform: Tensor,
    servers: Tensor,
) -> Tensor:
    """Draw whether `servers` are bad at `now_ms`, given their state `bad` (0/1) recorded at `since_ms`
    (only trap servers can be)."""
    p_bad = dynamics.trap_bad_probability(bad, now_ms - since_ms, *trap_rates)
    return (uniform < p_bad) & tables.trap_mask[servers]


def _resolve_hop_traps(
    tables: RegionTables,
    trap_rates: tuple[float, float],
    state: SimState,
    src: Tensor,
    dst: Tensor,
    now_ms: Tensor,
    uniform: Tensor,
) -> Tensor:
    """`resolve_traps` on the destination, then on the source of a hop ([B] each): is either bad?

    The same draws as two `resolve_traps` calls in that order, with one read and one write of the
    trap table, so a compiled step updates it in place (two writes make torch.compile copy it)."""
    flat_dst, flat_src = state.flat_index(dst), state.flat_index(src)
    traps = state.traps.view(-1, 2)
    before = traps.index_select(0, torch.cat([flat_dst, flat_src]))
    before_dst, before_src = before[: dst.numel()], before[dst.numel() :]
    bad_dst = _look(tables, trap_rates, before_dst[:, BAD], before_dst[:, TIME], now_ms, uniform[:, U_TRAP_DST], dst)
    # a hop that stays on one server looks at it twice: the second look sees the first one's record
    same = src == dst
    src_state = torch.where(same, bad_dst.float(), before_src[:, BAD])
    src_time = torch.where(same, now_ms, before_src[:, TIME])
    bad_src = _look(tables, trap_rates, src_state, src_time, now_ms, uniform[:, U_TRAP_SRC], src)
    # where src == dst both rows are one: write the last look's state to both, so the order is moot
    record_dst = torch.stack([torch.where(same, bad_src, bad_dst).float(), now_ms], -1)
    record_src = torch.stack([bad_src.float(), now_ms], -1)
    traps.index_put_((torch.cat([flat_dst, flat_src]),), torch.cat([record_dst, record_src]))
    return bad_dst | bad_src


def trap_rates_per_ms(settings: EnvSettings) -> tuple[float, float]:
    """(good -> bad, bad -> good) transition rates per ms of a trap (settings resolved on a region)."""
    return settings.trap_rate_per_s * 1e-3, 1.0 / (settings.trap_bad_len_s * 1e3)


def observe(tables: RegionTables, settings: EnvSettings, state: SimState) -> dict[str, Tensor]:
    """The observation of every element's pending decision; also caches its candidates in `state`."""
    task, step, loc, model, b = _current(tables, state)
    n = tables.num_servers
    # One concatenation writes the [B, K, 13] features in a single pass (the largest tensor of a step).
    if tables.nearest_mode:
        row = torch.where(loc >= 0, loc, n + task) * tables.num_types + model
        cand = tables.cand_servers.index_select(0, row)  # [B, K]
        mask = cand < n
        static = [tables.cand_block.index_select(0, row)]  # padded slots are zero already
    else:
        cand = tables.cand_servers.index_select(0, model)  # [B, H]
        mask = cand < n
        valid = mask.float()
        distance, base, bandwidth = every_host_hop(tables, settings, task, loc, model, cand)
        static = [
            distance.mul_(valid).mul_(0.01).unsqueeze(-1),
            base.mul_(valid).mul_(0.01).unsqueeze(-1),
            bandwidth.mul_(valid).mul_(1.0 / 50.0).unsqueeze(-1),
            tables.cand_block.index_select(0, model),
        ]
    state.cand, state.cand_mask = cand, mask
    dyn = state.servers.view(-1, 4).index_select(0, state.flat_index(cand)).view(*cand.shape, 4)
    dyn[..., BUSY] = (dyn[..., BUSY] - state.now_ms[:, None]).clamp_min(0.0) * 1e-3
    dyn[..., RTT] *= 1e-3
    features = torch.cat([*static, (cand == loc[:, None]).unsqueeze(-1).float(), dyn.mul_(mask[..., None])], -1)
    state.cand_features = features
    obs = {
        "candidates": features,
        "action_mask": mask,
        "candidate_server": torch.where(mask, cand, -1),
        "context": _context(tables, settings, state, task, step, loc, model, b),
        "preference": state.preference.clone(),
    }
    if settings.full_view:
        obs["server_features"] = _server_view(tables, state, task, loc, model)
    if settings.history_len:
        obs["history"] = state.history.clone()
    return obs


def _context(tables, settings, state, task, step, loc, model, b) -> Tensor:
    length = tables.task_len[task].float()
    now = state.now_ms
    t = float(settings.tasks_per_episode)
    arrived = state.arrival_ms <= now[:, None]
    in_flight = (arrived & torch.isfinite(state.ready_ms)).sum(1).float()
    recent = (arrived & (state.arrival_ms > (now - 1000.0)[:, None])).sum(1).float()
    context = torch.stack(
        [
            step.float() / length,
            length * 0.1,
            (length - 1.0 - step.float()) * 0.1,
            state.prefill[b, state.slot, step] * 1e-3,
            state.decode[b, state.slot, step] * 1e-3,
            (now - state.arrival_ms[b, state.slot]) * 1e-3,
            in_flight / t,
            (loc < 0).float(),
            tables.type_min_price[model] * 10.0,
            recent / t,
            state.done_tasks.float() / t,
        ],
        dim=-1,
    )
    return context


def _server_view(tables: RegionTables, state: SimState, task: Tensor, loc: Tensor, model: Tensor) -> Tensor:
    n = tables.num_servers
    lat, lon = _location(tables, task, loc)
    distance = dynamics.haversine_km(lat[:, None], lon[:, None], tables.lat[None, :n], tables.lon[None, :n])
    block = tables.server_block.index_select(0, model)[:, :n]  # [B, N, 5]
    dyn = state.servers[:, :n].clone()
    dyn[..., BUSY] = (dyn[..., BUSY] - state.now_ms[:, None]).clamp_min(0.0) * 1e-3
    dyn[..., RTT] *= 1e-3
    hosts = (tables.price_per_1k.index_select(0, model)[:, :n] > 0).float()
    return torch.cat([(distance * 0.01)[..., None], hosts[..., None], block, dyn], -1)


def _outcome(
    tables: RegionTables,
    settings: EnvSettings,
    state: SimState,
    *,
    dst: Tensor,
    model: Tensor,
    now: Tensor,
    distance: Tensor,
    base: Tensor,
    bandwidth: Tensor,
    at_user: Tensor,
    stay: Tensor,
    bad: Tensor,
    extra_ms: Tensor,
    attempts: Tensor,
    share: Tensor,
    fading: Tensor,
    access_km: Tensor,
    prefill: Tensor,
    decode: Tensor,
) -> dict[str, Tensor]:
    """Latency parts, finish time and costs of serving a step on `dst` (any broadcastable shape:
    [B] for the chosen server, [B, K] for every candidate). Reads the state, never writes it."""
    bandwidth = torch.where(bad, bandwidth.clamp_max(settings.trap_bandwidth_mbps), bandwidth)
    wireless = dynamics.wireless_capacity_mbps(
        share,
        fading,
        access_km,
        settings.access_bandwidth_mhz,
        settings.access_tx_power_dbm,
        settings.access_noise_dbm_per_hz,
        settings.access_path_loss_exp,
        settings.access_floor_mbps,
    )
    bandwidth = torch.where(at_user, torch.minimum(bandwidth, wireless), bandwidth)
    tokens = prefill + decode
    payload = torch.where(
        at_user, prefill * settings.prompt_bytes_per_token, tokens * settings.activation_bytes_per_token
    )
    network, fixed = dynamics.hop_latency_ms(
        distance,
        base,
        bandwidth,
        payload,
        attempts,
        extra_ms,
        settings.propagation_ms_per_km,
        settings.retransmit_timeout_ms,
    )
    network = torch.where(stay, 0.0, network)
    busy = state.servers.view(-1, 4)[:, BUSY].index_select(0, state.flat_index(dst)).view(dst.shape)
    queue, compute, finish = dynamics.queue_and_compute(
        now + network, busy, prefill + settings.decode_cost * decode, tables.tokens_per_ms[dst]
    )
    return {
        "network_ms": network,
        "fixed_ms": fixed,
        "queue_ms": queue,
        "compute_ms": compute,
        "finish_ms": finish,
        "attempts": attempts.expand_as(network),
        "compute_cost": dynamics.compute_cost_usd(
            tokens, tables.price_per_1k[model, dst], tables.price_multiplier[dst]
        ),
        "transfer_cost": dynamics.transfer_cost_usd(
            payload, distance, ~at_user & ~stay, settings.transfer_usd_per_gb, settings.transfer_distance_km
        ),
    }


def candidate_outcomes(
    tables: RegionTables,
    settings: EnvSettings,
    state: SimState,
    generator: torch.Generator,
    trap_rates: tuple[float, float],
) -> dict[str, Tensor]:
    """Expected outcome [B, K] of serving the pending step on each candidate (privileged: the oracle).

    The hidden trap states of the candidates and of the current server are resolved now (and stored,
    so the step that follows sees the same states); random parts enter by their expectation.
    """
    task, step, loc, model, b = _current(tables, state)
    n = tables.num_servers
    cand = state.cand
    k = cand.shape[1]
    now = state.now_ms[:, None]
    at_user = (loc < 0)[:, None]
    if tables.nearest_mode:
        row = torch.where(loc >= 0, loc, n + task) * tables.num_types + model
        distance, base, bandwidth = tables.cand_hop.index_select(0, row).unbind(-1)
    else:
        distance, base, bandwidth = every_host_hop(tables, settings, task, loc, model, cand)
    uniform = torch.rand(state.batch, k + 1, generator=generator, device=cand.device)
    src = torch.where(loc < 0, n, loc)
    bad_src = resolve_traps(tables, trap_rates, state, src, state.now_ms, uniform[:, 0])
    stay = cand == loc[:, None]
    bad = (resolve_traps(tables, trap_rates, state, cand, now.expand(-1, k), uniform[:, 1:]) | bad_src[:, None]) & ~stay
    loss = torch.where(bad, settings.trap_loss, 0.0)
    slot = state.slot
    out = _outcome(
        tables,
        settings,
        state,
        dst=cand,
        model=model[:, None],
        now=now,
        distance=distance,
        base=base,
        bandwidth=bandwidth,
        at_user=at_user,
        stay=stay,
        bad=bad,
        extra_ms=torch.where(bad, settings.trap_extra_latency_ms, 0.0),
        attempts=dynamics.expected_attempts(loss, settings.max_attempts),
        share=torch.tensor(0.625, device=cand.device),
        fading=torch.tensor(1.0, device=cand.device),
        access_km=state.access_km[b, slot][:, None],
        prefill=state.prefill[b, slot, step][:, None],
        decode=state.decode[b, slot, step][:, None],
    )
    latency = out["finish_ms"] - now
    return {
        "latency_ms": latency,
        "compute_cost": out["compute_cost"],
        "transfer_cost": out["transfer_cost"],
        "trap_bad": bad,
        "reward_vec": dynamics.reward_vector(
            latency,
            out["compute_cost"],
            out["transfer_cost"],
            settings.latency_scale_ms,
            settings.cost_scale_usd,
            settings.transfer_scale_usd,
            settings.reward_clip,
        ),
    }


def advance(
    tables: RegionTables,
    settings: EnvSettings,
    state: SimState,
    action: Tensor,
    uniform: Tensor,
    trap_rates: tuple[float, float],
) -> dict[str, Tensor]:
    """Serve every element's pending step on the server its `action` slot names; move time on.

    `uniform` holds the step's random draws [B, NUM_DRAWS]. Returns reward_vec [B, 3], reward [B, 1],
    done [B, 1] and the metrics (each [B]). Must follow `observe` (it uses the cached candidates).
    """
    task, step, loc, model, b = _current(tables, state)
    n = tables.num_servers
    slot = state.slot
    k = state.cand.shape[1]
    requested = action.reshape(-1).long()
    in_range = (requested >= 0) & (requested < k)
    action = requested.clamp(0, k - 1)
    valid = state.cand_mask.gather(1, action[:, None]).squeeze(1) & in_range
    first_valid = state.cand_mask.float().argmax(1)
    action = torch.where(valid, action, first_valid)
    dst = state.cand.gather(1, action[:, None]).squeeze(1)
    now = state.now_ms

    prefill = state.prefill[b, slot, step]
    decode = state.decode[b, slot, step]
    tokens = prefill + decode
    at_user = loc < 0
    stay = loc == dst
    if tables.nearest_mode:
        row = torch.where(at_user, n + task, loc) * tables.num_types + model
        flat_hop = row * tables.num_candidates + action
        distance, base, bandwidth = tables.cand_hop.view(-1, 3).index_select(0, flat_hop).unbind(-1)
    else:
        lat, lon = _location(tables, task, loc)
        distance, base, bandwidth = hop_static(tables, settings, loc, lat, lon, dst)

    src = torch.where(at_user, torch.full_like(loc, n), loc)
    bad = _resolve_hop_traps(tables, trap_rates, state, src, dst, now, uniform) & ~stay
    extra = torch.where(bad, dynamics.exponential(uniform[:, U_EXTRA], settings.trap_extra_latency_ms), 0.0)
    loss = torch.where(bad, settings.trap_loss, 0.0)
    out = _outcome(
        tables,
        settings,
        state,
        dst=dst,
        model=model,
        now=now,
        distance=distance,
        base=base,
        bandwidth=bandwidth,
        at_user=at_user,
        stay=stay,
        bad=bad,
        extra_ms=extra,
        attempts=dynamics.retransmission_attempts(uniform[:, U_LOSS], loss, settings.max_attempts),
        share=0.25 + 0.75 * uniform[:, U_SHARE],
        fading=-torch.log1p(-uniform[:, U_FADING].clamp_max(1.0 - 1e-7)),
        access_km=state.access_km[b, slot],
        prefill=prefill,
        decode=decode,
    )
    network, attempts, finish, fixed = out["network_ms"], out["attempts"], out["finish_ms"], out["fixed_ms"]
    # the server's queue, and its telemetry of the hop (a step that stays put observes nothing)
    rows = state.servers.view(-1, 4)
    flat = state.flat_index(dst)
    record = rows.index_select(0, flat)
    seen = record[:, SEEN] > 0.5
    observed = ~stay
    w = settings.telemetry_ema
    record[:, BUSY] = finish
    lost_share = (attempts - 1.0) / attempts
    record[:, RTT] = torch.where(observed, dynamics.ema(record[:, RTT], fixed, w, seen), record[:, RTT])
    record[:, LOSS] = torch.where(observed, dynamics.ema(record[:, LOSS], lost_share, w, seen), record[:, LOSS])
    record[:, SEEN] = torch.where(observed, 1.0, record[:, SEEN])
    rows.index_copy_(0, flat, record)

    # the task moves on
    next_step = step + 1
    task_done = next_step >= tables.task_len[task]
    state.ready_ms[b, slot] = torch.where(task_done, torch.full_like(finish, float("inf")), finish)
    state.step[b, slot] = next_step
    state.loc[b, slot] = dst
    state.done_tasks = state.done_tasks + task_done.long()
    served = state.served_tokens[b, slot] + tokens
    state.served_tokens[b, slot] = served
    task_latency = torch.where(task_done, finish - state.arrival_ms[b, slot], torch.zeros_like(finish))
    _select_next(state)

    latency = finish - now
    compute_cost, transfer_cost = out["compute_cost"], out["transfer_cost"]
    reward_vec = dynamics.reward_vector(
        latency,
        compute_cost,
        transfer_cost,
        settings.latency_scale_ms,
        settings.cost_scale_usd,
        settings.transfer_scale_usd,
        settings.reward_clip,
    )
    if settings.history_len:
        chosen = state.cand_features[b, action]
        row = torch.cat([chosen, reward_vec], -1)[:, None]
        state.history = torch.cat([state.history[:, 1:], row], 1)
    done_f = task_done.float()
    metrics = {
        "latency_ms": latency,
        "network_ms": network,
        "queue_ms": out["queue_ms"],
        "compute_ms": out["compute_ms"],
        "compute_cost": compute_cost,
        "transfer_cost": transfer_cost,
        "trap_hit": bad.float(),
        "on_trap": tables.trap_mask[dst].float(),
        "invalid_action": (~valid).float(),
        "task_done": done_f,
        "task_latency_ms": task_latency,
        "slo_violated": (task_latency > settings.slo_ms).float(),
        "task_tokens": served * done_f,
    }
    return {
        "reward_vec": reward_vec,
        "reward": (state.preference * reward_vec).sum(-1, keepdim=True),
        "done": (state.done_tasks >= settings.tasks_per_episode)[:, None],
        "metrics": metrics,
    }


def step(
    tables: RegionTables,
    settings: EnvSettings,
    state: SimState,
    action: Tensor,
    uniform: Tensor,
    trap_rates: tuple[float, float],
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """`advance`, then `observe` the next decision: one function, so it compiles to one graph."""
    out = advance(tables, settings, state, action, uniform, trap_rates)
    return out, observe(tables, settings, state)
