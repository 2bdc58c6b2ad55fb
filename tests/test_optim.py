"""Simplified Nesterov momentum equals PyTorch's Nesterov SGD for constant μ, ε and follows the 2013
paper's formula under a momentum schedule; clipping, L1 penalty and learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch

from seqgen.core.optim import (
    GradClipper,
    OptimConfig,
    SimplifiedNesterov,
    l1_activation_penalty,
    learning_rate_at,
    make_optimizer,
    momentum_at,
)

STEPS = 300


def loss_fn(theta: torch.Tensor) -> torch.Tensor:
    """A non-quadratic loss, so that the gradient depends on where it is taken."""
    return (theta[0] - 1) ** 2 + 3 * (theta[1] + theta[0] ** 2) ** 2 + torch.cos(theta).sum()


def trajectory(make_opt, steps=STEPS) -> torch.Tensor:
    theta = torch.nn.Parameter(torch.tensor([1.5, -0.5, 0.3], dtype=torch.float64))
    opt = make_opt([theta])
    points = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(theta).backward()
        opt.step()
        points.append(theta.detach().clone())
    return torch.stack(points)


def test_constant_settings_equal_torch_sgd_nesterov():
    ours = trajectory(lambda p: SimplifiedNesterov(p, lr=0.01, momentum=0.9))
    torch_sgd = trajectory(lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True))
    torch.testing.assert_close(ours, torch_sgd, rtol=0, atol=1e-12)
    assert (ours[0] - ours[-1]).abs().max() > 0.1  # it really moved


def test_schedule_follows_the_paper_formula_and_differs_from_sgd():
    mu_max, lr, period = 0.95, 0.01, 20
    ours = trajectory(lambda p: SimplifiedNesterov(p, lr, mu_max, "sutskever", period))
    theta = torch.tensor([1.5, -0.5, 0.3], dtype=torch.float64, requires_grad=True)
    v = torch.zeros(3, dtype=torch.float64)
    by_hand = []
    for t in range(1, STEPS + 1):
        mu_prev = min(1 - 2 ** (-1 - math.log2((t - 1) // period + 1)), mu_max)
        mu_t = min(1 - 2 ** (-1 - math.log2(t // period + 1)), mu_max)
        (g,) = torch.autograd.grad(loss_fn(theta), theta)
        with torch.no_grad():
            theta += mu_t * mu_prev * v - (1 + mu_t) * lr * g
        v = mu_prev * v - lr * g
        by_hand.append(theta.detach().clone())
    torch.testing.assert_close(ours, torch.stack(by_hand), rtol=0, atol=1e-12)
    torch_sgd = trajectory(lambda p: torch.optim.SGD(p, lr=lr, momentum=mu_max, nesterov=True))
    assert (ours - torch_sgd).abs().max() > 1e-3


def test_sutskever_schedule_values():
    assert momentum_at(0, 0.99, "sutskever") == 0.5
    assert momentum_at(249, 0.99, "sutskever") == 0.5
    assert momentum_at(250, 0.99, "sutskever") == 0.75
    assert momentum_at(750, 0.99, "sutskever") == 0.875
    assert momentum_at(10**6, 0.99, "sutskever") == 0.99
    assert momentum_at(5, 0.9) == 0.9


def test_state_dict_round_trip_continues_the_same_trajectory():
    straight = trajectory(lambda p: SimplifiedNesterov(p, 0.01, 0.9, "sutskever", 5), steps=40)[-1]
    theta = torch.nn.Parameter(torch.tensor([1.5, -0.5, 0.3], dtype=torch.float64))
    opt = SimplifiedNesterov([theta], 0.01, 0.9, "sutskever", 5)
    for i in range(40):
        if i == 20:
            saved = opt.state_dict()
            opt = SimplifiedNesterov([theta], 0.01, 0.9, "sutskever", 5)
            opt.load_state_dict(saved)
        opt.zero_grad()
        loss_fn(theta).backward()
        opt.step()
    torch.testing.assert_close(theta.detach(), straight, rtol=0, atol=0)


def test_clipper_clips_counts_and_ignores_non_finite():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    clip = GradClipper(1.0)
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])
    assert clip([a, b]) == (5.0, True)
    torch.testing.assert_close(torch.cat([a.grad, b.grad]), torch.tensor([0.6, 0.0, 0.8]))
    a.grad, b.grad = torch.tensor([0.3, 0.0]), torch.tensor([0.4])
    assert clip([a, b]) == (pytest.approx(0.5), False)
    torch.testing.assert_close(torch.cat([a.grad, b.grad]), torch.tensor([0.3, 0.0, 0.4]))
    a.grad = torch.tensor([math.nan, 1.0])
    norm, clipped = clip([a, b])
    assert math.isnan(norm) and not clipped and torch.isnan(a.grad[0])
    assert (clip.steps, clip.clip_rate, clip.norm_max) == (2, 0.5, 5.0)
    assert clip.norm_mean == pytest.approx(2.75)
    clip.reset()
    assert clip.steps == 0 and clip.clip_rate == 0.0
    a.grad = torch.tensor([30.0, 40.0])
    assert GradClipper(0.0)([a]) == (50.0, False)


def test_l1_penalty_is_mean_over_frames_of_unit_sums():
    h = torch.tensor([[[1.0, -2.0], [0.0, 3.0]]])  # [B=1, T=2, H=2]
    assert float(l1_activation_penalty(h, 0.1)) == pytest.approx(0.1 * (3 + 3) / 2)


def test_learning_rate_schedules():
    assert learning_rate_at(7, OptimConfig(lr=0.1)) == 0.1
    assert learning_rate_at(2, OptimConfig(lr=0.1, lr_schedule="exponential", lr_decay=0.5)) == 0.025
    step = OptimConfig(lr=0.1, lr_schedule="step", lr_decay=0.1, lr_step=3)
    assert [learning_rate_at(e, step) for e in (0, 2, 3, 6)] == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_make_optimizer_and_config_checks():
    p = [torch.nn.Parameter(torch.zeros(1))]
    assert isinstance(make_optimizer(p, OptimConfig()), SimplifiedNesterov)
    sgd = make_optimizer(p, OptimConfig(name="sgd", lr=0.1, momentum=0.5))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.5
    assert isinstance(make_optimizer(p, OptimConfig(name="adam")), torch.optim.Adam)
    for bad in ({"name": "rmsprop"}, {"lr_schedule": "cosine"}, {"momentum_schedule": "linear"}):
        with pytest.raises(ValueError):
            OptimConfig(**bad)
