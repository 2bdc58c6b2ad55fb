"""The VEG profile ‖∂L/∂h_t‖ is exact where it can be computed by hand, and the VEG rule is as stated."""

from __future__ import annotations

import math

import pytest
import torch

from seqgen.lab.diagnostics import log10_ratio, profile_positions, spectral_radius, veg_profile, veg_summary
from seqgen.lab.population import Shape, init_population, run


@pytest.mark.parametrize("a", [0.5, 0.9, 1.0, 1.2])
def test_linear_rnn_profile_is_a_to_the_T_minus_t(a):
    """Linear units with W_uu = a·I: ∂h_{t+1}/∂h_t = a·I, so ‖∂L/∂h_t‖ = a^(T−t) ‖∂L/∂h_T‖ for every member."""
    T, H = 30, 5
    shape = Shape(2, H, 1, cell="linear")
    params = init_population(shape, [0, 1, 2], torch.float64)
    with torch.no_grad():
        params["W_uu"].copy_(a * torch.eye(H, dtype=torch.float64).expand(3, H, H))
    x = torch.randn(4, T, 2, dtype=torch.float64)
    pred, states = run(params, shape, x, keep_states=True)
    grads = torch.autograd.grad(pred.pow(2).sum(), states)
    profile = veg_profile(list(grads))
    t = torch.arange(1, T + 1, dtype=torch.float64)
    expected = a ** (T - t) * profile[:, -1:]
    torch.testing.assert_close(profile, expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(log10_ratio(profile), torch.full((3,), (T - 1) * math.log10(a), dtype=torch.float64))
    torch.testing.assert_close(spectral_radius(params["W_uu"], 3), torch.full((3,), a, dtype=torch.float64))


def test_lstm_profile_combines_h_and_c():
    """For LSTM the carried state is (h, c): the profile is √(‖∂L/∂h_t‖² + ‖∂L/∂c_t‖²)."""
    g = [torch.full((1, 1, 1), v) for v in (3.0, 4.0, 6.0, 8.0)]  # h_1, c_1, h_2, c_2
    torch.testing.assert_close(veg_profile(g, gated_pairs=True), torch.tensor([[5.0, 10.0]]))
    assert math.isnan(float(spectral_radius(None, 1)[0]))


def test_veg_rule():
    """Vanishing below 10^−3, exploding above 10^3 or on a non-finite gradient; measure max |log10 r|."""
    assert veg_summary([-1.0, -2.9], False) == {
        "vanishing": False, "exploding": False, "occurred": False, "max_abs_log10_ratio": 2.9}  # fmt: skip
    assert veg_summary([-1.0, -3.5], False)["vanishing"]
    assert veg_summary([3.2], False)["exploding"] and veg_summary([0.0], True)["occurred"]
    assert veg_summary([float("nan"), 1.0], False)["max_abs_log10_ratio"] == 1.0


def test_profile_positions_keep_both_ends():
    assert profile_positions(100)[0] == 1 and profile_positions(100)[-1] == 100
    assert len(profile_positions(100)) == 20 and profile_positions(5) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("a", [0.5, 0.9, 1.0, 1.3])
@pytest.mark.parametrize("T", [2, 5, 40, 150])
def test_per_step_rate_of_a_linear_rnn_is_a_at_every_length(a, T):
    """W_uu = a·I: the per-step factor r^(1/(T−1)) is a whatever T, and its category follows θ = 0.1 decades."""
    from seqgen.lab.veg import THRESHOLD, category, per_step_log10

    H = 4
    shape = Shape(1, H, 1, cell="linear")
    params = init_population(shape, [0, 1], torch.float64)
    with torch.no_grad():
        params["W_uu"].copy_(a * torch.eye(H, dtype=torch.float64).expand(2, H, H))
    pred, states = run(params, shape, torch.randn(3, T, 1, dtype=torch.float64), keep_states=True)
    profile = veg_profile(list(torch.autograd.grad(pred.pow(2).sum(), states)))
    for ratio in log10_ratio(profile).tolist():
        assert 10 ** per_step_log10(ratio, T) == pytest.approx(a, rel=1e-9)
        expected = "vanishing" if math.log10(a) < -THRESHOLD else "exploding" if math.log10(a) > THRESHOLD else "none"
        assert category(per_step_log10(ratio, T)) == expected


def test_dead_and_diverged_runs_are_their_own_categories():
    from seqgen.lab.veg import categories

    base = {"seq_len": 11, "diag_steps": [1, 50], "status": "fail"}
    assert categories({**base, "log10_ratio": [-20.0, -0.5]}) == ("vanishing", "none")  # -2/step, then -0.05
    assert categories({**base, "log10_ratio": [-20.0, -math.inf]}) == ("vanishing", "dead")  # ‖∂L/∂h_1‖ = 0
    assert categories({**base, "log10_ratio": [0.0, None]}) == ("none", "dead")  # no gradient at either end
    assert categories({**base, "status": "diverged", "log10_ratio": [30.0, 0.0]}) == ("exploding", "diverged")
    assert categories({**base, "status": "success", "diag_steps": [1], "log10_ratio": [0.0]}) == ("none", "stopped")


def test_an_underflowed_gradient_is_vanishing_at_its_profile_rate_and_a_zero_one_is_dead():
    """‖∂L/∂h_1‖ = 0 in float32: a float32 linear RNN with W_uu = 0.5·I over T = 300 steps underflows, yet its
    profile decays as 0.5^(T−t) where it is positive, so the run is vanishing at ρ = 0.5; a gradient that is 0 at
    every stored t < T (behind dead ReLUs) is dead."""
    from seqgen.lab.veg import categories, measurements

    T, a = 300, 0.5
    shape = Shape(1, 4, 1, cell="linear")
    params = init_population(shape, [0], torch.float32)
    with torch.no_grad():
        params["W_uu"].copy_(a * torch.eye(4).expand(1, 4, 4))
    pred, states = run(params, shape, torch.randn(3, T, 1), keep_states=True)
    profile = veg_profile(list(torch.autograd.grad(pred.pow(2).sum(), states)))
    at = profile_positions(T)
    stored = [float(profile[0, t - 1]) for t in at]
    ratio = float(log10_ratio(profile)[0])
    assert ratio == -math.inf and stored[-2] > 0  # underflow at t = 1, still positive near T
    base = {"seq_len": T, "diag_steps": [1, 50], "status": "fail", "profile_t": at}
    record = {**base, "log10_ratio": [ratio, ratio], "profiles": [stored, stored]}
    assert 10 ** measurements(record)[1] == pytest.approx(a, rel=1e-3)
    assert categories(record) == ("vanishing", "vanishing")
    dead = [0.0] * (len(at) - 1) + [0.4]
    assert categories({**record, "profiles": [dead, dead]}) == ("dead", "dead")
