"""GNN-PPO and Transformer PPO are what their names say: the graph policy hears servers L hops away
that TopoFreeRL never sees, both act only on valid slots, are permutation equivariant, run on any
region or K, and train and reload through the shared trainer."""

from collections import deque

import pytest
import torch
from test_topofree import F, inputs

from algorithms.checkpoint import policy_from_checkpoint
from algorithms.gnn_ppo import POLICY_KEYS, GraphScorer
from algorithms.registry import get_entry
from algorithms.topofree import SEScorer
from algorithms.trainer import FINAL, Trainer
from algorithms.trans_ppo import TransformerScorer
from moebench import make_env
from moebench.errors import UserError

TINY = dict(region="CH-500", num_envs=4, rollout_len=20, minibatch_size=40, epochs=2, checkpoint_every=1)


def hop_distances(edge_index: torch.Tensor, source: int, num_servers: int) -> list[int]:
    """Breadth-first graph distance from `source` to every server (-1: unreachable)."""
    neighbours = [[] for _ in range(num_servers)]
    for a, b in edge_index.T.tolist():
        neighbours[a].append(b)
        neighbours[b].append(a)
    distance = [-1] * num_servers
    distance[source] = 0
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if distance[other] < 0:
                distance[other] = distance[node] + 1
                queue.append(other)
    return distance


def graph_logits(scorer: GraphScorer, td) -> torch.Tensor:
    with torch.no_grad():
        return scorer(*(td.get(key) for key in POLICY_KEYS))


def topofree_logits(scorer: SEScorer, td) -> torch.Tensor:
    with torch.no_grad():
        return scorer(td.get("candidates"), td.get("action_mask"), td.get("context"), td.get("preference"))


@pytest.fixture(scope="module")
def full_view():
    """A CH-500 decision (K=8, full view), one valid slot of element 0, and its server's hop distances."""
    env = make_env("CH-500", batch_size=2, max_candidates=8, full_view=True)
    td = env.reset()
    slot = int(td.get("action_mask")[0].nonzero()[0])
    server = int(td.get("candidate_server")[0, slot])
    distance = hop_distances(td.get("edge_index")[0], server, env.tables.num_servers)
    return td, slot, distance


@pytest.fixture(scope="module")
def scorers():
    torch.manual_seed(0)
    return GraphScorer(32, 2, 2, 0.2).eval(), SEScorer(hidden=32, gate_hidden=32).eval()


def far_server(td, distance: list[int], hops: int) -> int:
    candidates = set(td.get("candidate_server")[0].tolist())
    return next(s for s, d in enumerate(distance) if d == hops and s not in candidates)


def test_gnn_hears_a_server_two_hops_away_that_topofree_never_sees(full_view, scorers):
    td, slot, distance = full_view
    gnn, topofree = scorers
    target = far_server(td, distance, 2)
    changed = td.clone()
    changed.get("server_features")[0, target] = changed.get("server_features")[0, target] * 5.0 + 3.0
    before, after = graph_logits(gnn, td), graph_logits(gnn, changed)
    assert (before[0, slot] - after[0, slot]).abs() > 1e-5, "message passing must carry a 2-hop change"
    torch.testing.assert_close(after[1], before[1], rtol=0, atol=0)  # the other batch element is untouched
    torch.testing.assert_close(topofree_logits(topofree, changed), topofree_logits(topofree, td), rtol=0, atol=0)


def test_gnn_hears_the_links_on_the_path(full_view, scorers):
    td, slot, distance = full_view
    gnn, topofree = scorers
    target = far_server(td, distance, 2)
    src, dst = td.get("edge_index")[0]
    # the links between the 2-hop server and its neighbours one hop from the candidate's server
    other_end = torch.where(src == target, dst, src)
    on_path = ((src == target) | (dst == target)) & (torch.tensor(distance)[other_end] == 1)
    assert on_path.any()
    changed = td.clone()
    changed.get("edge_attr")[:, on_path] = torch.tensor([1.5, 0.02])  # slow, narrow links
    before, after = graph_logits(gnn, td), graph_logits(gnn, changed)
    assert (before[0, slot] - after[0, slot]).abs() > 1e-5
    torch.testing.assert_close(topofree_logits(topofree, changed), topofree_logits(topofree, td), rtol=0, atol=0)


def test_gnn_receptive_field_is_its_number_of_layers(full_view, scorers):
    td, slot, distance = full_view
    gnn, _ = scorers
    target = far_server(td, distance, 3)  # beyond L = 2 hops
    changed = td.clone()
    changed.get("server_features")[0, target] = changed.get("server_features")[0, target] * 5.0 + 3.0
    torch.testing.assert_close(graph_logits(gnn, changed)[0, slot], graph_logits(gnn, td)[0, slot])


def test_gnn_logits_are_finite_and_permute_with_the_slots(full_view, scorers):
    td, _, _ = full_view
    gnn, _ = scorers
    logits = graph_logits(gnn, td)
    assert torch.isfinite(logits).all()
    assert bool((logits[~td.get("action_mask")] < -1e8).all())
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    permuted = td.clone()
    for key in ("candidates", "action_mask", "candidate_server"):
        permuted.set(key, td.get(key)[:, perm])
    torch.testing.assert_close(graph_logits(gnn, permuted), logits[:, perm], rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def gnn_algo():
    entry = get_entry("gnn-ppo")
    cfg = entry.make_config()
    torch.manual_seed(0)
    return entry.algorithm(cfg, make_env("CH-500", batch_size=2, **cfg.env))


@pytest.mark.parametrize(("region", "k"), [("CH-500", None), ("GB-1000", 32), ("DE-2000", 32), ("DE-2000", None)])
def test_gnn_acts_only_on_valid_slots_on_any_region_with_the_same_weights(gnn_algo, region, k):
    env = make_env(region, batch_size=3, max_candidates=k, full_view=True)
    torch.manual_seed(0)
    with torch.no_grad():
        rollout = env.rollout(4, gnn_algo.act_module())
        greedy = gnn_algo.eval_policy()(env.reset())
    assert not rollout.get(("next", "metrics", "invalid_action")).any(), "a padded or invalid slot was chosen"
    assert bool(greedy.get("action_mask").gather(1, greedy.get("action")[:, None]).all())
    logits = gnn_algo.policy_net(env.reset()).get("logits")
    assert logits.shape == (3, env.num_candidates) and torch.isfinite(logits).all()


def test_gnn_refuses_an_env_without_the_full_view():
    entry = get_entry("gnn-ppo")
    with pytest.raises(UserError, match="full_view"):
        entry.algorithm(entry.make_config(), make_env("CH-500", batch_size=2, max_candidates=32))


# --- Transformer PPO ------------------------------------------------------------------------------


@pytest.fixture(params=["eval", "train"])
def transformer(request):
    torch.manual_seed(0)
    scorer = TransformerScorer(32, 2, 2, 64, 0.0)
    return scorer.eval() if request.param == "eval" else scorer.train()


def test_transformer_is_permutation_equivariant(transformer):
    candidates, mask, context, preference = inputs(4, 10)
    mask[0, 3] = False
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = transformer(candidates, mask, context, preference)
        permuted = transformer(candidates[:, perm], mask[:, perm], context, preference)
    torch.testing.assert_close(permuted, logits[:, perm], rtol=1e-5, atol=1e-5)


def test_transformer_padded_slots_change_nothing(transformer):
    candidates, mask, context, preference = inputs(3, 6)
    pad = torch.rand(3, 5, F) * 100.0  # garbage in the padded slots
    with torch.no_grad():
        logits = transformer(candidates, mask, context, preference)
        padded = transformer(
            torch.cat([candidates, pad], 1),
            torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], 1),
            context,
            preference,
        )
    torch.testing.assert_close(padded[:, :6], logits, rtol=1e-5, atol=1e-5)
    assert bool((padded[:, 6:] < -1e8).all()), "padded slots must never be chosen"


@pytest.mark.parametrize("k", [8, 500])
def test_transformer_runs_on_any_number_of_candidates(transformer, k):
    candidates, mask, context, preference = inputs(2, k)
    mask[1, k // 2 :] = False
    with torch.no_grad():
        logits = transformer(candidates, mask, context, preference)
    assert logits.shape == (2, k) and torch.isfinite(logits).all()


# --- training and reloading -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "region", "k"), [("gnn-ppo", "GB-1000", 32), ("gnn-ppo", "CH-500", None), ("trans-ppo", "GB-1000", None)]
)
def test_trains_and_reloads_to_identical_actions_elsewhere(name, region, k, tmp_path):
    """Two tiny iterations; the reloaded checkpoint acts exactly like the trained algorithm, also
    on another region and another K than it was trained on."""
    cfg = get_entry(name).make_config(**TINY)
    trainer = Trainer(cfg.replace(frames=2 * cfg.frames_per_iteration), tmp_path / name)
    assert trainer.run(show_progress=False).iterations == 2
    env = make_env(region, split="test", batch_size=5, seed=1, **{**trainer.cfg.env, "max_candidates": k})
    env.set_seed(123)
    td = env.reset()
    expected = trainer.algo.eval_policy()(td.clone()).get("action")
    reloaded = policy_from_checkpoint(tmp_path / name / FINAL, env)(td.clone()).get("action")
    assert torch.equal(expected, reloaded)
    assert bool(td.get("action_mask").gather(1, expected[:, None]).all())
    if name == "gnn-ppo":
        with pytest.raises(UserError, match="full_view"):
            policy_from_checkpoint(tmp_path / name / FINAL, make_env("CH-500", batch_size=2, max_candidates=32))
