"""`EnvSettings`: every knob of the Edge-Cloud MoE environment, with its unit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from moebench.data.region import TrapConfig
from moebench.errors import UserError


@dataclass
class EnvSettings:
    """Settings of `EdgeCloudMoEEnv`. Units are in the names; defaults are documented per field.

    Trap parameters left at None take their value from the region's `trap_config.json`.
    """

    # --- episodes and workload -----------------------------------------------------------
    tasks_per_episode: int = 16  # tasks in one episode; the episode ends when all are served
    arrival_rate_per_s: float = 6.0  # long-run mean task arrival rate of the modulated Poisson process
    burst_factor: float = 4.0  # arrival rate in the burst state / rate in the calm state
    burst_len_s: float = 2.0  # mean duration of a burst
    calm_len_s: float = 8.0  # mean time between bursts
    prefill_share: float = 0.6  # share of TaskSize that is prompt (prefill); the rest is decode (seed)
    workload: str = "tasks"  # token counts: "tasks" (TaskSize / request log), or a profile: "conv", "code"
    trace: str | None = None  # CSV of arrived_at, num_prefill_tokens, num_decode_tokens to replay
    trace_rate_scale: float = 1.0  # replayed arrivals are this many times denser than the trace
    # --- compute ---------------------------------------------------------------------------
    tokens_per_s: float = 2000.0  # prefill tokens per second of a server with NormalizedCompute 1 (seed)
    decode_cost: float = 2.0  # one decode token takes this many prefill-token times
    background_load: float = 0.5  # utilization by background traffic of the server with the top TrafficRate
    # --- network ---------------------------------------------------------------------------
    propagation_ms_per_km: float = 0.005  # light in fibre, about 200,000 km/s
    wan_hop_ms: float = 5.0  # base latency of a hop between servers that share no listed link
    activation_bytes_per_token: float = 2048.0  # bytes moved per token between workflow steps
    prompt_bytes_per_token: float = 4.0  # bytes per prompt token on the user's first hop
    access_base_ms: float = 5.0  # fixed latency of the user's wireless access hop
    access_bandwidth_mhz: float = 20.0  # channel width; a user gets a U(0.25, 1) share of it
    access_tx_power_dbm: float = 23.0  # user equipment transmit power
    access_noise_dbm_per_hz: float = -174.0  # thermal noise density
    access_path_loss_exp: float = 2.5  # path loss (0.1 km / d) ** exp, Rayleigh fading on top
    access_distance_km: tuple[float, float] = (0.05, 1.0)  # user to its cell, uniform in this range
    access_floor_mbps: float = 0.05  # capacity never falls below this (50 kbit/s, as in the seed)
    # --- traps (a two-state good/bad Markov process per trap server) -------------------------
    trap_rate_per_s: float | None = None  # good -> bad rate; None: trap_config.json trap_rate
    trap_bad_len_s: float = 10.0  # mean duration of a bad state
    trap_extra_latency_ms: float | None = None  # mean (exponential) extra latency of a bad hop; None: trap_latency
    trap_bandwidth_mbps: float | None = None  # bandwidth cap of a bad hop; None: trap_bandwidth
    trap_loss: float = 0.3  # packet-loss probability of a bad hop (each loss costs a retransmission)
    retransmit_timeout_ms: float = 200.0  # wait before each retransmission
    max_attempts: int = 8  # transmissions of one payload at most
    trap_cost_multiplier: float | None = None  # compute price multiplier on traps; None: trap_cost_multiplier
    # --- prices ----------------------------------------------------------------------------
    compute_price_exponent: float = 0.5  # server price multiplier = NormalizedCompute ** exponent
    transfer_usd_per_gb: float = 0.09  # price of bytes moved between two different servers
    transfer_distance_km: float = 100.0  # price per GB x (1 + distance_km / this): double at this distance
    # --- objectives ------------------------------------------------------------------------
    slo_ms: float = 3000.0  # a task slower than this violates its service-level objective
    latency_scale_ms: float = 1000.0  # reward_vec[0] = -latency_ms / latency_scale_ms
    cost_scale_usd: float = 0.01  # reward_vec[1] = -compute_cost / cost_scale_usd
    transfer_scale_usd: float = 0.0001  # reward_vec[2] = -transfer_cost / transfer_scale_usd
    reward_clip: float = 4.0  # each objective's reward lies in [-reward_clip, 0]
    preference: tuple[float, float, float] | None = (0.5, 0.25, 0.25)  # None: Dirichlet per episode
    preference_alpha: tuple[float, float, float] = (1.0, 1.0, 1.0)  # Dirichlet concentration
    # --- observation -----------------------------------------------------------------------
    max_candidates: int | None = None  # K nearest hosts of the needed model type; None: every host
    full_view: bool = False  # also emit every server's features and the link graph
    telemetry_ema: float = 0.5  # weight of the newest observation in the per-server telemetry
    history_len: int = 0  # > 0: also emit the last `history_len` decisions (chosen features, reward_vec)

    def __post_init__(self) -> None:
        checks = [
            (self.tasks_per_episode >= 1, "tasks_per_episode must be at least 1"),
            (self.arrival_rate_per_s > 0, "arrival_rate_per_s must be positive"),
            (self.burst_factor >= 1, "burst_factor must be at least 1"),
            (self.burst_len_s > 0 and self.calm_len_s > 0, "burst_len_s and calm_len_s must be positive"),
            (0 <= self.prefill_share <= 1, "prefill_share must lie in [0, 1]"),
            (self.tokens_per_s > 0, "tokens_per_s must be positive"),
            (0 <= self.background_load < 1, "background_load must lie in [0, 1)"),
            (self.trap_bad_len_s > 0, "trap_bad_len_s must be positive"),
            (0 <= self.trap_loss < 1, "trap_loss must lie in [0, 1)"),
            (self.max_attempts >= 1, "max_attempts must be at least 1"),
            (self.slo_ms > 0, "slo_ms must be positive"),
            (self.max_candidates is None or self.max_candidates >= 1, "max_candidates must be None or >= 1"),
            (0 < self.telemetry_ema <= 1, "telemetry_ema must lie in (0, 1]"),
            (self.history_len >= 0, "history_len must be >= 0"),
            (self.workload in ("tasks", "conv", "code"), "workload must be one of tasks, conv, code"),
            (self.trace_rate_scale > 0, "trace_rate_scale must be positive"),
        ]
        if self.preference is not None:
            pref = tuple(float(p) for p in self.preference)
            checks.append(
                (
                    len(pref) == 3 and min(pref) >= 0 and sum(pref) > 0,
                    "preference must be three non-negative weights (latency, cost, transfer)",
                )
            )
        for ok, message in checks:
            if not ok:
                raise UserError(f"invalid env setting: {message}")
        if self.preference is not None:
            total = sum(self.preference)
            self.preference = tuple(float(p) / total for p in self.preference)

    def resolved(self, trap: TrapConfig) -> EnvSettings:
        """A copy with every trap parameter left at None taken from the region's trap_config.json."""
        return dataclasses.replace(
            self,
            trap_rate_per_s=trap.rate_per_s if self.trap_rate_per_s is None else self.trap_rate_per_s,
            trap_extra_latency_ms=trap.latency_ms if self.trap_extra_latency_ms is None else self.trap_extra_latency_ms,
            trap_bandwidth_mbps=trap.bandwidth_mbps if self.trap_bandwidth_mbps is None else self.trap_bandwidth_mbps,
            trap_cost_multiplier=(
                trap.cost_multiplier if self.trap_cost_multiplier is None else self.trap_cost_multiplier
            ),
        )

    def replace(self, **changes) -> EnvSettings:
        """A copy with `changes` applied (unknown names raise `UserError`)."""
        return EnvSettings.from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, values: dict) -> EnvSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserError(f"unknown env setting(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        converted = dict(values)
        for key in ("preference", "preference_alpha", "access_distance_km"):
            if isinstance(converted.get(key), list):
                converted[key] = tuple(converted[key])
        return cls(**converted)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
