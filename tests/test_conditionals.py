"""The per-frame conditionals: NADE and Bernoulli normalise, the RBM against enumeration, one interface for all."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from seqgen.music.conditionals import NADE, RBM, Bernoulli, LogLikelihood


def all_vectors(d: int) -> torch.Tensor:
    """Every v in {0,1}^d as rows [2^d, d] (double)."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)), dtype=torch.float64)


def random_biases(cond, lead=(3,), scale=1.0, seed=0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        k: scale * torch.randn(*lead, n, generator=gen, dtype=torch.float64)
        for k, n in cond.bias_sizes.items()
    }


def loop_nade_log_prob(nade: NADE, v: torch.Tensor, b_v: torch.Tensor, b_h: torch.Tensor) -> torch.Tensor:
    """The textbook per-dimension loop, for one frame v [P]."""
    a, total = b_h.clone(), torch.zeros((), dtype=v.dtype)
    for i in range(nade.n_visible):
        p = torch.sigmoid(b_v[i] + torch.sigmoid(a) @ nade.V[i])
        total = total + torch.log(p if v[i] else 1 - p)
        a = a + v[i] * nade.W[i]
    return total


def test_nade_normalises_over_all_vectors():
    torch.manual_seed(0)
    nade = NADE(5, 4).double()
    with torch.no_grad():
        nade.W.mul_(3)
        nade.V.mul_(3)
    biases = random_biases(nade)
    v = all_vectors(5)[:, None, :].expand(-1, 3, -1)  # [32, 3, 5]
    with torch.no_grad():
        total = torch.logsumexp(nade.log_prob(v, biases), 0)
    torch.testing.assert_close(total, torch.zeros(3, dtype=torch.float64))


def test_nade_vectorised_equals_loop():
    torch.manual_seed(1)
    nade = NADE(7, 5).double()
    biases = random_biases(nade, lead=(4,))
    v = (torch.rand(4, 7, dtype=torch.float64) < 0.4).double()
    with torch.no_grad():
        fast = nade.log_prob(v, biases)
        slow = torch.stack(
            [loop_nade_log_prob(nade, v[n], biases["b_v"][n], biases["b_h"][n]) for n in range(4)]
        )
    torch.testing.assert_close(fast, slow)


def test_nade_sparse_gradient_matches_dense_formula():
    torch.manual_seed(2)
    nade = NADE(6, 4).double()
    b_h = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    b_v = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    v = (torch.rand(5, 6, dtype=torch.float64) < 0.5).double()
    fast = nade.log_prob(v, {"b_v": b_v, "b_h": b_h}).sum()
    grads_fast = torch.autograd.grad(fast, [b_v, b_h, nade.W, nade.V])
    a = b_h[:, None, :] + torch.cumsum(v[:, :, None] * nade.W, 1) - v[:, :, None] * nade.W
    logits = b_v + (torch.sigmoid(a) * nade.V).sum(-1)
    slow = -F.binary_cross_entropy_with_logits(logits, v, reduction="sum")
    grads_slow = torch.autograd.grad(slow, [b_v, b_h, nade.W, nade.V])
    for g_fast, g_slow in zip(grads_fast, grads_slow):
        torch.testing.assert_close(g_fast, g_slow)


def test_bernoulli_normalises():
    cond = Bernoulli(4)
    biases = random_biases(cond)
    v = all_vectors(4)[:, None, :].expand(-1, 3, -1)
    torch.testing.assert_close(
        torch.logsumexp(cond.log_prob(v, biases), 0), torch.zeros(3, dtype=torch.float64)
    )


def tiny_rbm(p=6, h=4, scale=1.0, seed=3) -> RBM:
    torch.manual_seed(seed)
    rbm = RBM(p, h).double()
    with torch.no_grad():
        rbm.W.normal_(0, scale)
    return rbm


def exact_log_partition(rbm: RBM, biases) -> torch.Tensor:
    """log Z [...] = logsumexp_h [h·b_h + Σ_i softplus(b_v,i + W_i·h)] over all 2^H hidden states."""
    hs = all_vectors(rbm.n_hidden)
    terms = biases["b_h"] @ hs.T + F.softplus(biases["b_v"][..., None, :] + hs @ rbm.W.T).sum(-1)
    return torch.logsumexp(terms, -1)


def test_rbm_free_energy_and_log_z_equal_brute_force():
    rbm = tiny_rbm()
    biases = random_biases(rbm)
    vs, hs = all_vectors(rbm.n_visible), all_vectors(rbm.n_hidden)
    # brute force: Z = Σ_{v,h} exp(v·b_v + h·b_h + vWh) for each of the 3 frames
    neg_energy = (
        (vs @ biases["b_v"].T)[:, None, :]
        + (hs @ biases["b_h"].T)[None, :, :]
        + ((vs @ rbm.W) @ hs.T)[:, :, None]
    )  # [2^P, 2^H, 3]
    log_p_brute = torch.logsumexp(neg_energy, 1) - torch.logsumexp(neg_energy, (0, 1))  # [2^P, 3]
    with torch.no_grad():
        log_p = -rbm.free_energy(vs[:, None, :], biases) - exact_log_partition(rbm, biases)
    torch.testing.assert_close(log_p, log_p_brute)


def test_rbm_log_likelihood_brackets_exact_value_within_error_bars():
    rbm = tiny_rbm(p=12, h=8, scale=0.7)
    rbm.configure(ais_runs=32, ais_steps=200)
    biases = random_biases(rbm, lead=(2, 4), seed=4)
    v = (torch.rand(2, 4, 12, generator=torch.Generator().manual_seed(5), dtype=torch.float64) < 0.3).double()
    exact = -rbm.free_energy(v, biases) - exact_log_partition(rbm, biases)
    ll = rbm.log_likelihood(v, biases, torch.Generator().manual_seed(0))
    assert all(t.shape == (2, 4) for t in ll) and torch.all(ll.stderr > 0)
    assert torch.all((ll.value - exact).abs() < 4 * ll.stderr + 1e-3), (ll.value - exact, ll.stderr)
    assert torch.all((ll.lower - exact).abs() < 0.05) and torch.equal(ll.upper, ll.value)


@pytest.mark.parametrize("cond", [Bernoulli(5), NADE(5, 4)])
def test_exact_conditionals_report_zero_error_and_a_closed_bracket(cond):
    cond = cond.double()
    biases = random_biases(cond)
    v = (torch.rand(3, 5, dtype=torch.float64) < 0.5).double()
    with torch.no_grad():
        ll = cond.log_likelihood(v, biases)
    assert isinstance(ll, LogLikelihood) and cond.describe() == {"estimator": "exact"}
    torch.testing.assert_close(ll.value, cond.log_prob(v, biases))
    assert torch.equal(ll.stderr, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(ll.lower, ll.value) and torch.equal(ll.upper, ll.value)


def test_configure_sets_restores_and_rejects_unknown_settings():
    rbm = RBM(6, 4, sample_steps=25)
    previous = rbm.configure(sample_steps=3, ais_runs=None)
    assert previous == {"sample_steps": 25} and rbm.sample_steps == 3 and rbm.describe()["sample_steps"] == 3
    rbm.configure(**previous)
    assert rbm.sample_steps == 25
    with pytest.raises(ValueError, match="sample_steps"):
        NADE(6, 4).configure(sample_steps=3)
    assert NADE(6, 4).configure(sample_steps=None) == {}


def test_rbm_sample_runs_its_own_gibbs_steps():
    rbm = tiny_rbm(p=6, h=4, scale=2.0)
    biases = random_biases(rbm, lead=(50,))
    rbm.configure(sample_steps=4)
    drawn = rbm.sample(biases, torch.Generator().manual_seed(9))
    gen = torch.Generator().manual_seed(9)
    v0 = (torch.rand(50, 6, generator=gen, dtype=torch.float64) < torch.sigmoid(biases["b_v"])).double()
    torch.testing.assert_close(drawn, rbm.gibbs(v0, biases, 4, gen))


def test_cd_loss_gradient_is_data_minus_negative_statistics():
    """∂(F(v) − F(ṽ))/∂θ with ṽ the k-step chain from v, held constant: −(v − ṽ) for b_v, −(vᵀσ(x) − ṽᵀσ(x̃)) for W."""
    rbm = tiny_rbm(p=5, h=3, scale=1.5)
    rbm.cd_k = 3
    biases = {k: b.requires_grad_() for k, b in random_biases(rbm, lead=(40,)).items()}
    v = (torch.rand(40, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64) < 0.5).double()
    rbm.loss(v, biases, generator=torch.Generator().manual_seed(0)).sum().backward()
    with torch.no_grad():
        neg = rbm.gibbs(v, biases, 3, torch.Generator().manual_seed(0))
        assert not torch.equal(neg, v)
        h_pos, h_neg = (torch.sigmoid(biases["b_h"] + x @ rbm.W) for x in (v, neg))
    torch.testing.assert_close(biases["b_v"].grad, neg - v)
    torch.testing.assert_close(biases["b_h"].grad, h_neg - h_pos)
    torch.testing.assert_close(rbm.W.grad, neg.T @ h_neg - v.T @ h_pos)


@pytest.mark.parametrize("cond", [Bernoulli(6), NADE(6, 4), RBM(6, 4)])
def test_samples_are_binary_and_seeded(cond):
    biases = {k: torch.randn(2, 3, n) for k, n in cond.bias_sizes.items()}
    draw = [cond.sample(biases, torch.Generator().manual_seed(7), temperature=0.8) for _ in range(2)]
    assert draw[0].shape == (2, 3, 6)
    assert set(draw[0].unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(draw[0], draw[1])
