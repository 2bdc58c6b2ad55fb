"""The recurrent core: step() agrees with forward(), leaky integration and IRNN initialisation mean
what the papers say, state carries across chunks, dropout leaves the state alone."""

from __future__ import annotations

import math

import pytest
import torch

from seqgen.core.recurrent import Recurrent, RecurrentConfig, State

VARIANTS = [
    ("tanh", False),
    ("relu", False),
    ("sigmoid", False),
    ("tanh", True),
    ("relu", True),
    ("sigmoid", True),
    ("lstm", False),
    ("gru", False),
]


def make(cell="tanh", leaky=False, **kw):
    torch.manual_seed(0)
    return Recurrent(RecurrentConfig(5, 7, cell=cell, leaky=leaky, **kw))


@pytest.mark.parametrize("cell,leaky", VARIANTS)
def test_step_equals_forward_and_chunks_carry_state(cell, leaky):
    rnn = make(cell, leaky)
    x = torch.randn(3, 12, 5)
    h, last = rnn(x)
    assert h.shape == (3, 12, 7)
    state, steps = rnn.initial_state(3), []
    for t in range(12):
        h_t, state = rnn.step(x[:, t], state)
        steps.append(h_t)
    torch.testing.assert_close(torch.stack(steps, 1), h, rtol=0, atol=1e-6)
    h1, mid = rnn(x[:, :5])
    h2, end = rnn(x[:, 5:], mid)
    torch.testing.assert_close(torch.cat([h1, h2], 1), h, rtol=0, atol=1e-6)
    torch.testing.assert_close(end.h, last.h, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell", ["tanh", "relu", "sigmoid"])
def test_leaky_with_alpha_zero_is_the_plain_rnn(cell):
    plain, leaky = make(cell), make(cell, leaky=True)
    leaky.load_state_dict({**plain.state_dict(), "alpha_logit": torch.full((7,), -math.inf)})
    x = torch.randn(2, 9, 5)
    torch.testing.assert_close(leaky(x)[0], plain(x)[0], rtol=0, atol=1e-6)


def test_leaky_step_follows_the_formula():
    rnn = make("tanh", leaky=True)
    x, h0 = torch.randn(2, 5), torch.randn(2, 7)
    alpha = torch.sigmoid(rnn.alpha_logit)
    expected = alpha * h0 + (1 - alpha) * torch.tanh(h0 @ rnn.W_uu.T + x @ rnn.W_vu.T + rnn.b_u)
    torch.testing.assert_close(rnn.step(x, State(h0))[0], expected)


def test_leaky_time_constants_spread_and_learnable_or_fixed():
    alpha = make("tanh", leaky=True, tau_max=50.0).alpha
    tau = 1 / (1 - alpha)
    assert tau.min() < 1.01 and abs(tau.max() - 50.0) < 0.5
    assert torch.all(tau[1:] > tau[:-1])
    learned = make("relu", leaky=True)
    learned(torch.randn(2, 4, 5))[0].sum().backward()
    assert learned.alpha_logit.grad is not None
    fixed = make("relu", leaky=True, learn_alpha=False)
    assert "alpha_logit" not in dict(fixed.named_parameters())
    assert "alpha_logit" in fixed.state_dict()


def test_irnn_initialisation_is_identity_with_zero_bias():
    rnn = make("relu")
    assert torch.equal(rnn.W_uu, torch.eye(7)) and torch.equal(rnn.b_u, torch.zeros(7))
    scaled = make("relu", init_scale=0.01)
    assert torch.equal(scaled.W_uu, 0.01 * torch.eye(7))
    # with zero input the identity recurrence keeps a non-negative state as it is
    h0 = torch.rand(1, 7)
    h, _ = rnn(torch.zeros(1, 20, 5), State(h0))
    torch.testing.assert_close(h[:, -1], h0)


def test_other_initialisations():
    w = make("tanh").W_uu.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(7), rtol=0, atol=1e-5)
    gaussian = make("tanh", init="gaussian", init_scale=0.1).W_uu
    assert 0 < gaussian.std() < 0.1


def test_dropout_acts_on_outputs_not_state():
    rnn = make("tanh", dropout=0.5)
    x = torch.randn(4, 6, 5)
    rnn.train()
    h, state = rnn(x)
    rnn.eval()
    h_eval, state_eval = rnn(x)
    assert (h == 0).any() and not (h_eval == 0).any()
    torch.testing.assert_close(state.h, state_eval.h, rtol=0, atol=1e-6)


def test_state_detach_repeat_and_lstm_layout():
    rnn = make("lstm")
    _, state = rnn(torch.randn(1, 3, 5))
    assert state.h.shape == state.c.shape == (1, 7) and state.h.requires_grad
    cut = state.detach()
    assert not cut.h.requires_grad and torch.equal(cut.h, state.h) and torch.equal(cut.c, state.c)
    many = cut.repeat(4)
    assert many.h.shape == many.c.shape == (4, 7) and torch.equal(many.c[3], state.c[0])
    _, plain = make("tanh")(torch.randn(2, 3, 5))
    assert plain.c is None and plain.detach().c is None


@pytest.mark.parametrize(
    "kw", [{"cell": "elman"}, {"cell": "lstm", "leaky": True}, {"init": "random"}, {"tau_max": 0.5}]
)
def test_bad_config_is_refused(kw):
    with pytest.raises(ValueError):
        RecurrentConfig(5, 7, **kw)


@pytest.mark.parametrize("cell,leaky", VARIANTS)
def test_an_empty_batch_gives_empty_outputs(cell, leaky):
    """A data-parallel rank may get no sequences of the last batch: every cell must accept B = 0."""
    h, state = make(cell, leaky)(torch.zeros(0, 6, 5))
    assert h.shape == (0, 6, 7) and state.h.shape == (0, 7)
