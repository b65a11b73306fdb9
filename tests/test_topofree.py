"""TopoFreeRL's policy is what the method says: SE gating, linear in K, permutation equivariant;
DWA moves weights the way its definition says."""

import pytest
import torch

from algorithms.dwa import DWAPPOLoss, DynamicWeights
from algorithms.topofree import SEScorer
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES

F, G = len(CANDIDATE_FEATURES), len(CONTEXT_FEATURES)


def inputs(batch: int, k: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    candidates = torch.rand(batch, k, F, generator=g)
    mask = torch.ones(batch, k, dtype=torch.bool)
    context = torch.rand(batch, G, generator=g)
    preference = torch.softmax(torch.rand(batch, 3, generator=g), -1)
    return candidates, mask, context, preference


@pytest.fixture
def scorer():
    torch.manual_seed(0)
    return SEScorer(hidden=32, gate_hidden=32, use_se=True).eval()


def test_permuting_candidates_permutes_logits(scorer):
    candidates, mask, context, preference = inputs(4, 10)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    logits = scorer(candidates, mask, context, preference)
    permuted = scorer(candidates[:, perm], mask[:, perm], context, preference)
    torch.testing.assert_close(permuted, logits[:, perm], rtol=1e-5, atol=1e-5)


def test_padded_candidates_change_nothing(scorer):
    candidates, mask, context, preference = inputs(3, 6)
    logits = scorer(candidates, mask, context, preference)
    pad = torch.rand(3, 5, F) * 100.0  # garbage in the padded slots
    padded = scorer(
        torch.cat([candidates, pad], 1), torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], 1), context, preference
    )
    torch.testing.assert_close(padded[:, :6], logits, rtol=1e-5, atol=1e-5)
    assert bool((padded[:, 6:] < -1e8).all()), "padded slots must never be chosen"


@pytest.mark.parametrize("k", [8, 500, 2000])
def test_same_module_runs_on_any_number_of_candidates(scorer, k):
    candidates, mask, context, preference = inputs(2, k)
    logits = scorer(candidates, mask, context, preference)
    assert logits.shape == (2, k)
    assert torch.isfinite(logits).all()


def test_gates_depend_on_the_preference(scorer):
    candidates, mask, context, _ = inputs(1, 12)
    embedding = scorer.encoder(candidates, context, torch.tensor([[1 / 3, 1 / 3, 1 / 3]]))
    gates_latency = scorer.gates(embedding, mask, torch.tensor([[1.0, 0.0, 0.0]]))
    gates_cost = scorer.gates(embedding, mask, torch.tensor([[0.0, 1.0, 0.0]]))
    assert gates_latency.shape == (1, 32)
    assert ((gates_latency > 0) & (gates_latency < 1)).all()
    assert (gates_latency - gates_cost).abs().max() > 1e-4
    # and they rescale the logits: with the SE step switched off, a preference change does less
    logits_a = scorer(candidates, mask, context, torch.tensor([[1.0, 0.0, 0.0]]))
    logits_b = scorer(candidates, mask, context, torch.tensor([[0.0, 1.0, 0.0]]))
    assert (logits_a - logits_b).abs().max() > 1e-5


def test_no_se_ablation_has_no_gating():
    torch.manual_seed(0)
    plain = SEScorer(hidden=16, gate_hidden=16, use_se=False).eval()
    candidates, mask, context, preference = inputs(2, 7)
    embedding = plain.encoder(candidates, context, preference)
    expected = plain.head(embedding.reshape(-1, 16)).view(2, 7)
    torch.testing.assert_close(plain(candidates, mask, context, preference), expected)


def test_decision_cost_is_linear_in_k(scorer):
    """Each candidate's logit depends on the others only through the pooled squeeze: doubling K
    with a copy of the same candidates leaves every logit unchanged (mean and max are unchanged)."""
    candidates, mask, context, preference = inputs(2, 9)
    logits = scorer(candidates, mask, context, preference)
    doubled = scorer(torch.cat([candidates, candidates], 1), torch.cat([mask, mask], 1), context, preference)
    torch.testing.assert_close(doubled, torch.cat([logits, logits], 1), rtol=1e-5, atol=1e-5)


# --- DWA ---------------------------------------------------------------------------------------


def test_dwa_weights_keep_their_sum_and_move_toward_the_worse_objective():
    dwa = DynamicWeights(3, temperature=0.2, smoothing=0.5)
    dwa.update(torch.tensor([1.0, 1.0, 1.0]))
    before = dwa.weights.clone()
    dwa.update(torch.tensor([1.5, 1.0, 1.0]))  # latency got worse
    assert torch.isclose(dwa.weights.sum(), torch.tensor(1.0))
    assert dwa.weights[0] > before[0]
    assert dwa.weights[1] < before[1] and dwa.weights[2] < before[2]


def test_dwa_temperature_limits():
    drift = torch.tensor([1.2, 1.0, 0.9])
    hot = DynamicWeights.entropy_regularized(drift, temperature=100.0)
    cold = DynamicWeights.entropy_regularized(drift, temperature=0.01)
    torch.testing.assert_close(hot, torch.full((3,), 1 / 3), atol=1e-3, rtol=0)
    assert cold[0] > 0.99
    for t in (0.05, 0.2, 1.0):
        w = DynamicWeights.entropy_regularized(drift, t)
        assert torch.isclose(w.sum(), torch.tensor(1.0))


def test_dwa_bounds_hold():
    dwa = DynamicWeights(3, temperature=0.01, smoothing=1.0, min_weight=0.1, max_weight=0.7)
    dwa.update(torch.tensor([1.0, 1.0, 1.0]))
    for _ in range(5):
        dwa.update(torch.tensor([10.0, 1.0, 1.0]))
    assert dwa.weights.min() >= 0.1 - 1e-6 and dwa.weights.max() <= 0.7 + 1e-6
    assert torch.isclose(dwa.weights.sum(), torch.tensor(1.0))


def test_fixed_weights_do_not_move():
    dwa = DynamicWeights(3, adapt=False)
    dwa.update(torch.tensor([1.0, 1.0, 1.0]))
    dwa.update(torch.tensor([5.0, 1.0, 0.1]))
    torch.testing.assert_close(dwa.weights, torch.full((3,), 1 / 3))


def test_dwa_loss_combines_advantages_with_weights_and_preference():
    from tensordict import TensorDict

    dwa = DynamicWeights(3)
    dwa.weights.copy_(torch.tensor([0.5, 0.3, 0.2]))
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, td):
            seen["advantage"] = td.get("advantage").clone()
            return TensorDict({})

    loss = DWAPPOLoss(Recorder(), dwa)
    td = TensorDict(
        {"advantage_vec": torch.tensor([[1.0, 2.0, 3.0]]), "preference": torch.tensor([[0.2, 0.3, 0.5]])}, [1]
    )
    loss(td)
    expected = 0.5 * 0.2 * 1.0 + 0.3 * 0.3 * 2.0 + 0.2 * 0.5 * 3.0
    assert torch.isclose(seen["advantage"], torch.tensor([[expected]])).all()
