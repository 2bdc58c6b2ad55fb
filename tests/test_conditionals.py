"""Exactness of the per-frame conditionals: NADE and Bernoulli normalise, RBM log Z, AIS error bars."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from seqgen.music.conditionals import NADE, RBM, Bernoulli, sigmoid_betas


def all_vectors(d: int) -> torch.Tensor:
    """Every v in {0,1}^d as rows [2^d, d] (double)."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)), dtype=torch.float64)


def random_biases(cond, lead=(3,), scale=1.0, seed=0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: scale * torch.randn(*lead, n, generator=gen, dtype=torch.float64) for k, n in cond.bias_sizes.items()}


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
        slow = torch.stack([loop_nade_log_prob(nade, v[n], biases["b_v"][n], biases["b_h"][n]) for n in range(4)])
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
    torch.testing.assert_close(torch.logsumexp(cond.log_prob(v, biases), 0), torch.zeros(3, dtype=torch.float64))


def tiny_rbm(p=6, h=4, scale=1.0, seed=3) -> RBM:
    torch.manual_seed(seed)
    rbm = RBM(p, h).double()
    with torch.no_grad():
        rbm.W.normal_(0, scale)
    return rbm


def test_rbm_exact_log_prob_equals_brute_force():
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
        log_p = rbm.log_prob(vs[:, None, :].expand(-1, 3, -1), biases)
    torch.testing.assert_close(log_p, log_p_brute)


def test_ais_within_error_bars_of_exact_log_z():
    rbm = tiny_rbm(p=20, h=10, scale=0.7)
    biases = random_biases(rbm, lead=(8,), scale=1.0, seed=4)
    exact = rbm.exact_log_partition(biases)
    gen = torch.Generator().manual_seed(0)
    estimate, stderr = rbm.ais_log_partition(biases, runs=100, betas=300, generator=gen)
    assert torch.all(stderr > 0) and torch.all(stderr < 0.5)
    assert torch.all((estimate - exact).abs() < 3 * stderr + 1e-3), (estimate - exact, stderr)


def test_sigmoid_betas_run_from_zero_to_one():
    b = sigmoid_betas(50)
    assert b[0] == 0 and b[-1] == 1 and torch.all(b[1:] > b[:-1])


def test_cd_loss_gradient_treats_negative_sample_as_constant():
    rbm = tiny_rbm(p=5, h=3)
    biases = {k: b.requires_grad_() for k, b in random_biases(rbm).items()}
    v = (torch.rand(3, 5, dtype=torch.float64) < 0.5).double()
    loss = rbm.loss(v, biases, generator=torch.Generator().manual_seed(0)).sum()
    loss.backward()
    assert rbm.W.grad is not None and torch.isfinite(rbm.W.grad).all()


@pytest.mark.parametrize("cond", [Bernoulli(6), NADE(6, 4), RBM(6, 4)])
def test_samples_are_binary_and_seeded(cond):
    biases = {k: torch.randn(2, 3, n) for k, n in cond.bias_sizes.items()}
    draw = [cond.sample(biases, torch.Generator().manual_seed(7), temperature=0.8) for _ in range(2)]
    assert draw[0].shape == (2, 3, 6)
    assert set(draw[0].unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(draw[0], draw[1])
