"""Static tensors of a region, prepared once per env on its device.

Per-server arrays carry one extra "sink" entry at index N: padded candidate slots point there, so
gathers read harmless values and scatters never collide with a real server.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from moebench.data.region import Region
from moebench.env import dynamics
from moebench.env.settings import EnvSettings

# Names of the per-candidate features, in order (the last dimension of obs["candidates"]).
# The first eight depend only on the location, the server and the model type (static tables);
# the last five change during an episode.
CANDIDATE_FEATURES = (
    "distance_100km",  # great-circle distance from the current location
    "hop_base_100ms",  # base latency of the hop (listed link, or WAN hop; user access hop at step 0)
    "hop_bandwidth_50mbps",  # bandwidth of that hop
    "compute",  # NormalizedCompute
    "price_per_1k_10usd",  # price of 1000 tokens of the needed model type here, x10 USD
    "background_util",  # utilization by background traffic
    "link_mean_latency_s",  # mean base latency of the server's listed links
    "link_min_bandwidth_50mbps",  # narrowest listed link of the server
    "is_current",  # 1 if the candidate is the server of the previous step (no transfer)
    "backlog_s",  # time until the server's queue drains
    "obs_rtt_s",  # telemetry: EMA of the fixed latency of hops into the server (propagation+base+trap)
    "obs_loss",  # telemetry: EMA of the share of lost transmissions on hops into the server
    "obs_seen",  # 1 once any hop into the server was observed this episode
)
NUM_STATIC = 8
CONTEXT_FEATURES = (
    "step_frac",  # workflow position / length
    "workflow_len_10",  # workflow length / 10
    "remaining_10",  # steps left after this one / 10
    "prefill_1k",  # prompt tokens / 1000
    "decode_1k",  # decode tokens / 1000
    "elapsed_s",  # time since the task arrived
    "in_flight_frac",  # tasks arrived and unfinished / tasks per episode
    "at_user",  # 1 on the first hop (from the user)
    "type_price_10usd",  # cheapest price of the needed model type, x10 USD per 1000 tokens
    "recent_arrivals_frac",  # tasks arrived in the last second / tasks per episode
    "done_frac",  # tasks finished / tasks per episode
)


@dataclass
class RegionTables:
    """Device tensors of one region under one set of env settings.

    Candidate tables. With `max_candidates=K` (nearest mode) the candidates of every (location,
    model type) pair are fixed, so their servers [R*M, K], hop parameters [R*M, K, 3] (distance km,
    base ms, bandwidth Mbps) and static features [R*M, K, 8] are tabulated once; rows are
    `location * M + model_type`, locations being the servers (0..N-1) then the task ingress points.
    With every host as a candidate, the tables are per model type ([M, H], [M, H, 5] location-free
    features) and the location-dependent part is computed per step.
    """

    num_servers: int
    num_types: int
    max_len: int
    nearest_mode: bool
    lat: Tensor  # [N+1] degrees
    lon: Tensor
    xyz: Tensor  # [N+1, 3] float64 unit vectors (for distances to every host at once)
    task_xyz: Tensor  # [T, 3] float64
    access_bandwidth_mbps: Tensor  # [N+1]
    tokens_per_ms: Tensor  # [N+1] effective speed after background load
    price_per_1k: Tensor  # [M, N+1] USD per 1000 tokens
    price_multiplier: Tensor  # [N+1]
    type_min_price: Tensor  # [M]
    trap_mask: Tensor  # [N+1] bool
    link_keys: Tensor  # [E] sorted src * (N+1) + dst
    link_latency_ms: Tensor  # [E]
    link_bandwidth_mbps: Tensor  # [E]
    out_dst: Tensor  # [N+1, D] listed links of each server (sink-padded)
    out_latency_ms: Tensor  # [N+1, D]
    out_bandwidth_mbps: Tensor  # [N+1, D]
    edge_index: Tensor  # [2, E] int64 (for the full view)
    edge_attr: Tensor  # [E, 2] (latency /1000 ms, bandwidth /50 Mbps)
    server_block: Tensor  # [M, N+1, 5] compute, price x10, util, link mean latency s, link min bw /50
    task_lat: Tensor  # [T]
    task_lon: Tensor
    task_size: Tensor
    task_models: Tensor  # [T, L] int64, -1 after the end
    task_len: Tensor  # [T]
    step_input_tokens: Tensor | None  # [T, L]
    step_output_tokens: Tensor | None
    cand_servers: Tensor  # nearest: [R*M, K]; every host: [M, H]; padded with the sink N
    cand_block: Tensor  # nearest: [R*M, K, 8]; every host: [M, H, 5]
    cand_hop: Tensor | None  # nearest: [R*M, K, 3] distance km, base ms, bandwidth Mbps
    type_xyz: Tensor | None  # every host: [3, M, H] float64, the x, y and z planes of each type's hosts
    slot_of: Tensor | None  # every host: [M, N+1] a server's slot among the type's hosts (H if none)

    @property
    def num_candidates(self) -> int:
        return int(self.cand_servers.shape[-1])


def link_lookup(tables: RegionTables, src: Tensor, dst: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(linked, base_latency_ms, bandwidth_mbps) of the listed link src -> dst, by binary search."""
    keys = src * (tables.num_servers + 1) + dst
    pos = torch.searchsorted(tables.link_keys, keys).clamp_max(tables.link_keys.numel() - 1)
    linked = tables.link_keys[pos] == keys
    return linked, tables.link_latency_ms[pos], tables.link_bandwidth_mbps[pos]


def hop_static(
    tables: RegionTables, settings: EnvSettings, src_server: Tensor, src_lat: Tensor, src_lon: Tensor, dst: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(distance_km, base_ms, bandwidth_mbps) of a hop before any trap effect.

    `src_server` < 0 means the user: the hop is the wireless access hop plus a WAN hop (its bandwidth
    here is the server side; the wireless capacity is drawn per step). Staying on a server is free.
    """
    distance = dynamics.haversine_km(src_lat, src_lon, tables.lat[dst], tables.lon[dst])
    at_user = src_server < 0
    src = src_server.clamp_min(0)
    linked, link_ms, link_mbps = link_lookup(tables, src, dst)
    wan_mbps = torch.minimum(tables.access_bandwidth_mbps[src], tables.access_bandwidth_mbps[dst])
    base = torch.where(linked, link_ms, torch.full_like(link_ms, settings.wan_hop_ms))
    bandwidth = torch.where(linked, link_mbps, wan_mbps)
    base = torch.where(at_user, torch.full_like(base, settings.access_base_ms + settings.wan_hop_ms), base)
    bandwidth = torch.where(at_user, tables.access_bandwidth_mbps[dst], bandwidth)
    stay = (src_server == dst) & ~at_user
    base = torch.where(stay, torch.zeros_like(base), base)
    return distance, base, bandwidth


_CANDIDATE_CACHE: dict[tuple, Tensor] = {}


def candidate_table(region: Region, k: int | None) -> Tensor:
    """Candidate servers per (location, model type): the K nearest hosts [R, M, K], or every host
    [1, M, H] when `k` is None. Cached per region content and K (building DE-2000's takes ~1 s)."""
    key = (region.name, region.fingerprint, region.num_servers, k)
    if key not in _CANDIDATE_CACHE:
        _CANDIDATE_CACHE[key] = _build_candidate_table(region, k)
    return _CANDIDATE_CACHE[key]


def _build_candidate_table(region: Region, k: int | None) -> Tensor:
    n = region.num_servers
    hosts = region.instance_count > 0  # [M, N]
    if k is None:
        width = int(hosts.sum(1).max())
        table = torch.full((1, region.num_model_types, width), n, dtype=torch.int64)
        for m in range(region.num_model_types):
            idx = region.hosts(m)
            table[0, m, : idx.numel()] = idx
        return table
    loc_lat = torch.cat([region.lat_deg, region.task_lat_deg]).float()
    loc_lon = torch.cat([region.lon_deg, region.task_lon_deg]).float()
    dist = dynamics.haversine_km(
        loc_lat[:, None], loc_lon[:, None], region.lat_deg.float()[None, :], region.lon_deg.float()[None, :]
    )  # [R, N]
    rows = []
    for m in range(region.num_model_types):
        masked = torch.where(hosts[m][None, :], dist, torch.full_like(dist, float("inf")))
        order = torch.sort(masked, dim=1, stable=True).indices[:, :k]
        valid = torch.gather(masked, 1, order).isfinite()
        rows.append(torch.where(valid, order, torch.full_like(order, n)))
    table = torch.stack(rows, dim=1)  # [R, M, k']
    if table.shape[-1] < k:  # fewer servers than K: pad
        pad = torch.full((*table.shape[:2], k - table.shape[-1]), n, dtype=torch.int64)
        table = torch.cat([table, pad], dim=-1)
    return table


def unit_vectors(lat_deg: Tensor, lon_deg: Tensor) -> Tensor:
    lat, lon = torch.deg2rad(lat_deg.double()), torch.deg2rad(lon_deg.double())
    return torch.stack([torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], -1)


def build_tables(region: Region, settings: EnvSettings, device: torch.device) -> RegionTables:
    n, m_types = region.num_servers, region.num_model_types
    f32 = dict(dtype=torch.float32)

    def with_sink(x: Tensor, fill: float = 0.0) -> Tensor:
        return torch.cat([x.to(**f32), torch.full((1,), fill, **f32)])

    util = settings.background_load * region.traffic_rate / region.traffic_rate.max()
    speed = settings.tokens_per_s * 1e-3 * region.normalized_compute * (1.0 - util)
    multiplier = region.normalized_compute**settings.compute_price_exponent
    multiplier = torch.where(region.trap_mask, multiplier * settings.trap_cost_multiplier, multiplier)
    price = torch.cat([region.instance_price, torch.zeros(m_types, 1, dtype=torch.float64)], dim=1)
    hosted = region.instance_count > 0
    type_min_price = torch.stack([region.instance_price[m][hosted[m]].min() for m in range(m_types)])

    # links: sorted keys for binary search, and each server's outgoing links padded to the max degree
    keys = region.link_src * (n + 1) + region.link_dst
    order = torch.argsort(keys)
    degree = torch.bincount(region.link_src, minlength=n + 1)
    max_degree = max(int(degree.max()), 1)
    src_sorted = region.link_src[order]
    rank = torch.arange(order.numel()) - torch.cumsum(degree, 0)[src_sorted] + degree[src_sorted]
    out_dst = torch.full((n + 1, max_degree), n, dtype=torch.int64)
    out_latency = torch.zeros(n + 1, max_degree)
    out_bandwidth = torch.ones(n + 1, max_degree)
    out_dst[src_sorted, rank] = region.link_dst[order]
    out_latency[src_sorted, rank] = region.link_latency_ms[order].float()
    out_bandwidth[src_sorted, rank] = region.link_bandwidth_mbps[order].float()
    link_mean_ms = torch.zeros(n, dtype=torch.float64).index_add_(0, region.link_src, region.link_latency_ms)
    link_mean_ms = link_mean_ms / degree[:n].clamp_min(1)
    link_min_mbps = region.access_bandwidth_mbps.clone().scatter_reduce(
        0, region.link_src, region.link_bandwidth_mbps, reduce="amin", include_self=True
    )
    price_x10 = (price * with_sink(multiplier, 1.0).double()[None, :] * 10.0).float()
    location_free = torch.stack(
        [
            with_sink(region.normalized_compute),
            with_sink(util),
            with_sink(link_mean_ms / 1e3),
            with_sink(link_min_mbps / 50),
        ],
        -1,
    )
    server_block = torch.cat(
        [
            location_free[None, :, :1].expand(m_types, -1, -1),
            price_x10[..., None],
            location_free[None, :, 1:].expand(m_types, -1, -1),
        ],
        -1,
    )
    cand = candidate_table(region, settings.max_candidates)
    nearest = settings.max_candidates is not None
    tables = RegionTables(
        num_servers=n,
        num_types=m_types,
        max_len=region.max_workflow_len,
        nearest_mode=nearest,
        lat=with_sink(region.lat_deg),
        lon=with_sink(region.lon_deg),
        xyz=torch.cat([unit_vectors(region.lat_deg, region.lon_deg), torch.zeros(1, 3, dtype=torch.float64)]),
        task_xyz=unit_vectors(region.task_lat_deg, region.task_lon_deg),
        access_bandwidth_mbps=with_sink(region.access_bandwidth_mbps, 1.0),
        tokens_per_ms=with_sink(speed, 1.0),
        price_per_1k=price.to(**f32),
        price_multiplier=with_sink(multiplier, 1.0),
        type_min_price=type_min_price.to(**f32),
        trap_mask=torch.cat([region.trap_mask, torch.zeros(1, dtype=torch.bool)]),
        link_keys=keys[order],
        link_latency_ms=region.link_latency_ms[order].to(**f32),
        link_bandwidth_mbps=region.link_bandwidth_mbps[order].to(**f32),
        out_dst=out_dst,
        out_latency_ms=out_latency,
        out_bandwidth_mbps=out_bandwidth,
        edge_index=torch.stack([region.link_src, region.link_dst]),
        edge_attr=torch.stack([region.link_latency_ms / 1e3, region.link_bandwidth_mbps / 50.0], -1).to(**f32),
        server_block=server_block,
        task_lat=region.task_lat_deg.to(**f32),
        task_lon=region.task_lon_deg.to(**f32),
        task_size=region.task_size.to(**f32),
        task_models=region.task_models.clone(),
        task_len=region.task_len.clone(),
        step_input_tokens=None if region.step_input_tokens is None else region.step_input_tokens.to(**f32),
        step_output_tokens=None if region.step_output_tokens is None else region.step_output_tokens.to(**f32),
        cand_servers=cand.reshape(-1, cand.shape[-1]) if nearest else cand[0],
        cand_block=torch.empty(0),
        cand_hop=None,
        type_xyz=None,
        slot_of=None,
    )
    tables = _to_device(tables, device)
    if nearest:
        _tabulate_nearest(tables, settings, cand.shape[0])
    else:
        _tabulate_every_host(tables)
    return tables


def _tabulate_nearest(tables: RegionTables, settings: EnvSettings, rows: int) -> None:
    """Hop parameters and static features of every (location, model type, slot)."""
    n, m_types = tables.num_servers, tables.num_types
    device = tables.lat.device
    loc = torch.arange(rows, device=device).repeat_interleave(m_types)  # row-major (location, type)
    model = torch.arange(m_types, device=device).repeat(rows)
    cand = tables.cand_servers
    src = torch.where(loc < n, loc, -1)
    lat = torch.where(loc < n, tables.lat[loc.clamp_max(n)], tables.task_lat[(loc - n).clamp_min(0)])
    lon = torch.where(loc < n, tables.lon[loc.clamp_max(n)], tables.task_lon[(loc - n).clamp_min(0)])
    k = cand.shape[1]
    distance, base, bandwidth = hop_static(
        tables, settings, src[:, None].expand(-1, k), lat[:, None].expand(-1, k), lon[:, None].expand(-1, k), cand
    )
    valid = (cand < n)[..., None]
    tables.cand_hop = torch.stack([distance, base, bandwidth], -1)
    scaled = torch.stack([distance * 0.01, base * 0.01, bandwidth / 50.0], -1)
    tables.cand_block = torch.cat([scaled, tables.server_block[model[:, None], cand]], -1) * valid


def _tabulate_every_host(tables: RegionTables) -> None:
    n, m_types = tables.num_servers, tables.num_types
    cand = tables.cand_servers  # [M, H]
    h = cand.shape[1]
    tables.cand_block = tables.server_block[torch.arange(m_types, device=cand.device)[:, None], cand]
    tables.cand_block = tables.cand_block * (cand < n)[..., None]
    tables.type_xyz = tables.xyz[cand].reshape(m_types, h, 3).permute(2, 0, 1).contiguous()
    slot_of = torch.full((m_types, n + 1), h, dtype=torch.int64, device=cand.device)
    slot_of.scatter_(1, cand, torch.arange(h, device=cand.device).expand(m_types, h).contiguous())
    slot_of[:, n] = h
    tables.slot_of = slot_of


def every_host_hop(
    tables: RegionTables, settings: EnvSettings, task: Tensor, loc: Tensor, model: Tensor, cand: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(distance_km, base_ms, bandwidth_mbps) [B, H] from each element's location to every host of
    its model type: one matrix product for the distances, the element's few listed links overlaid."""
    b, h = cand.shape
    at_user = loc < 0
    server = loc.clamp_min(0)
    src_xyz = torch.where(at_user[:, None], tables.task_xyz[task], tables.xyz[server])
    # the dot product with the needed type's hosts only (a [B, 3] x [3, M H] matmul is 5x slower on CPU)
    x, y, z = tables.type_xyz.index_select(1, model).unbind(0)  # [B, H] each
    dot = torch.addcmul(torch.addcmul(src_xyz[:, 0:1] * x, src_xyz[:, 1:2], y), src_xyz[:, 2:3], z)
    distance = (2.0 * dynamics.EARTH_RADIUS_KM * torch.asin(torch.sqrt(((1.0 - dot) * 0.5).clamp(0.0, 1.0)))).float()
    base = torch.full((b, h + 1), settings.wan_hop_ms, device=cand.device)  # the last column absorbs
    wan = torch.minimum(tables.access_bandwidth_mbps[server][:, None], tables.access_bandwidth_mbps[cand])
    bandwidth = torch.cat([wan, torch.ones(b, 1, device=cand.device)], 1)  # links to servers without the type
    slots = tables.slot_of[model[:, None], tables.out_dst[server]]  # [B, D]
    slots = torch.where(at_user[:, None], h, slots)
    base.scatter_(1, slots, tables.out_latency_ms[server])
    bandwidth.scatter_(1, slots, tables.out_bandwidth_mbps[server])
    base, bandwidth = base[:, :h], bandwidth[:, :h]
    user_base = settings.access_base_ms + settings.wan_hop_ms
    base = torch.where(at_user[:, None], user_base, torch.where(cand == loc[:, None], 0.0, base))
    bandwidth = torch.where(at_user[:, None], tables.access_bandwidth_mbps[cand], bandwidth)
    return distance, base, bandwidth


def _to_device(tables: RegionTables, device: torch.device) -> RegionTables:
    for name, value in vars(tables).items():
        if isinstance(value, Tensor):
            setattr(tables, name, value.to(device))
    return tables
