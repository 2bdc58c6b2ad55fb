"""Optimisation of Bengio, Boulanger-Lewandowski & Pascanu (2013): simplified Nesterov momentum with a
momentum schedule, gradient-norm clipping, an L1 penalty on rectifier activations, learning-rate
schedules, and `make_optimizer` with plain SGD and Adam as baselines."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from seqgen.errors import check_choice

OPTIMIZERS = ("nesterov", "sgd", "adam")
MOMENTUM_SCHEDULES = ("constant", "sutskever")
LR_SCHEDULES = ("constant", "exponential", "step")


def momentum_at(t: int, mu_max: float, schedule: str = "constant", period: int = 250) -> float:
    """μ_t: `mu_max` for "constant"; "sutskever" is min(1 − 2^(−1 − log2(⌊t/period⌋ + 1)), μ_max)."""
    if schedule == "constant":
        return mu_max
    if schedule == "sutskever":
        return min(1.0 - 2.0 ** (-1.0 - math.log2(t // period + 1)), mu_max)
    raise ValueError(f"momentum schedule {schedule!r}: expected one of {', '.join(MOMENTUM_SCHEDULES)}")


class SimplifiedNesterov(torch.optim.Optimizer):
    """SGD with the simplified Nesterov momentum of Bengio et al. (2013), with velocity v per parameter:

    v_t = μ_{t−1} v_{t−1} − ε_{t−1} ∇f(Θ_{t−1});  Θ_t = Θ_{t−1} + μ_t μ_{t−1} v_{t−1} − (1 + μ_t) ε_{t−1} ∇f(Θ_{t−1}).

    ε is the group's `lr` (so learning-rate schedules work as usual) and μ_t = `momentum_at(t, momentum,
    momentum_schedule, momentum_period)` with t the number of updates already made. For constant μ and ε
    this equals torch.optim.SGD(nesterov=True); under a momentum schedule it does not.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        momentum_schedule: str = "constant",
        momentum_period: int = 250,
    ):
        if lr < 0.0 or not 0.0 <= momentum < 1.0:
            raise ValueError(f"need lr ≥ 0 and 0 ≤ momentum < 1, got lr={lr}, momentum={momentum}")
        momentum_at(0, momentum, momentum_schedule, momentum_period)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "momentum_schedule": momentum_schedule,
            "momentum_period": momentum_period,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["velocity"] = torch.zeros_like(p)
                t, v, g = state["step"] + 1, state["velocity"], p.grad
                mu = [
                    momentum_at(s, group["momentum"], group["momentum_schedule"], group["momentum_period"])
                    for s in (t - 1, t)
                ]
                p.add_(v, alpha=mu[1] * mu[0]).add_(g, alpha=-(1.0 + mu[1]) * lr)
                v.mul_(mu[0]).add_(g, alpha=-lr)
                state["step"] = t
        return loss


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule; plain values for checkpoints.

    `name`: "nesterov" (the 2013 paper), "sgd" (classical momentum, torch.optim.SGD) or "adam".
    `momentum` is μ (or μ_max under the "sutskever" schedule). Learning rate at epoch e:
    constant lr; "exponential" lr·γ^e; "step" lr·γ^⌊e/lr_step⌋ with γ = `lr_decay`.
    """

    name: str = "nesterov"
    lr: float = 0.001
    momentum: float = 0.9
    momentum_schedule: str = "constant"
    momentum_period: int = 250
    lr_schedule: str = "constant"
    lr_decay: float = 1.0
    lr_step: int = 10

    def __post_init__(self) -> None:
        check_choice("optimizer", self.name, OPTIMIZERS)
        check_choice("lr schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("momentum schedule", self.momentum_schedule, MOMENTUM_SCHEDULES)


def make_optimizer(params: Iterable, config: OptimConfig) -> torch.optim.Optimizer:
    """Build the optimiser named by `config.name` over `params`."""
    if config.name == "nesterov":
        return SimplifiedNesterov(
            params, config.lr, config.momentum, config.momentum_schedule, config.momentum_period
        )
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    return torch.optim.Adam(params, lr=config.lr)


def learning_rate_at(epoch: int, config: OptimConfig) -> float:
    """ε for epoch `epoch` (0-based) under `config.lr_schedule`; stateless, so resuming needs nothing."""
    if config.lr_schedule == "exponential":
        return config.lr * config.lr_decay**epoch
    if config.lr_schedule == "step":
        return config.lr * config.lr_decay ** (epoch // config.lr_step)
    return config.lr


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set ε in every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


class GradClipper:
    """Gradient-norm clipping g ← c·g/‖g‖ when ‖g‖ > c (c = `max_norm`; 0 disables clipping), counting
    how often it clipped and the norms seen since the last `reset()`."""

    def __init__(self, max_norm: float):
        self.max_norm = max_norm
        self.reset()

    def reset(self) -> None:
        """Forget the counts (e.g. at the start of an epoch)."""
        self.steps = 0
        self.clipped = 0
        self.norm_sum = 0.0
        self.norm_max = 0.0

    def __call__(self, params: Iterable[Tensor]) -> tuple[float, bool]:
        """Clip the gradients of `params` in place; return (‖g‖ before clipping, whether it clipped).

        A non-finite norm leaves the gradients alone and is not counted: the caller skips that step.
        """
        params = [p for p in params if p.grad is not None]
        norm = float(torch.nn.utils.get_total_norm([p.grad for p in params])) if params else 0.0
        if not math.isfinite(norm):
            return norm, False
        clipped = 0.0 < self.max_norm < norm
        if clipped:
            torch.nn.utils.clip_grads_with_norm_(params, self.max_norm, torch.tensor(norm, dtype=torch.float64))
        self.steps += 1
        self.clipped += clipped
        self.norm_sum += norm
        self.norm_max = max(self.norm_max, norm)
        return norm, clipped

    @property
    def clip_rate(self) -> float:
        """Fraction of counted steps that were clipped."""
        return self.clipped / self.steps if self.steps else 0.0

    @property
    def norm_mean(self) -> float:
        """Mean gradient norm over counted steps."""
        return self.norm_sum / self.steps if self.steps else 0.0


def l1_activation_penalty(activations: Tensor, weight: float) -> Tensor:
    """λ · mean over frames/tokens of Σ_units |h| for activations [..., H] (sparse rectifier units)."""
    return weight * activations.abs().sum(-1).mean()


# --- populations: stacked parameters [N, ...], one ε, μ_max and clipping threshold per member ---
def _per_member(values: Tensor, like: Tensor) -> Tensor:
    """A per-member vector [N] shaped to broadcast against a stacked tensor [N, ...]."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def member_grad_norms(grads: Iterable[Tensor]) -> Tensor:
    """‖g_i‖ [N]: each member's global gradient norm over all of its (stacked) parameters."""
    return torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()


def clip_members(grads: Iterable[Tensor], norms: Tensor, max_norm: Tensor) -> Tensor:
    """Scale member i's gradients in place by c_i/(‖g_i‖ + 1e-6) where 0 < c_i < ‖g_i‖ (exactly GradClipper's
    torch.nn.utils.clip_grads_with_norm_ alone); return which members were clipped [N]."""
    clipped = (max_norm > 0) & (norms > max_norm)
    scale = torch.where(clipped, max_norm / (norms + 1e-6), torch.ones_like(norms))
    for g in grads:
        g.mul_(_per_member(scale.to(g.dtype), g))
    return clipped


class MemberOptimizer:
    """`name` ∈ OPTIMIZERS over stacked parameters {name: [N, ...]} with per-member ε [N] and μ_max [N]: member i
    follows exactly the update `make_optimizer` gives it alone.

    "nesterov": SimplifiedNesterov with μ_t = momentum_at(t, μ_i, schedule, period); "sgd": torch.optim.SGD's
    momentum (buf = ∇f at the first step, then μ buf + ∇f; Θ −= ε buf); "adam": torch.optim.Adam's defaults.
    """

    def __init__(self, params: dict[str, Tensor], config: OptimConfig, lr: Tensor, momentum: Tensor):
        self.params, self.config, self.lr, self.momentum = params, config, lr, momentum
        self.t = 0
        n_states = 2 if config.name == "adam" else 1
        self.state = [{k: torch.zeros_like(p) for k, p in params.items()} for _ in range(n_states)]

    def _mu(self, t: int) -> Tensor:
        """μ_t per member: min(μ_i, the schedule's value at t)."""
        c = self.config
        return self.momentum.clamp(max=momentum_at(t, 1.0, c.momentum_schedule, c.momentum_period))

    @torch.no_grad()
    def step(self, scale: Tensor | None = None) -> None:
        """One update of every member from the parameters' `.grad`; `scale` [N] multiplies ε (the schedule's
        factor for this epoch, or 0 for a member that must not move)."""
        self.t += 1
        lr_all = self.lr if scale is None else self.lr * scale
        mu0, mu1 = self._mu(self.t - 1), self._mu(self.t)
        for k, p in self.params.items():
            g, lr = p.grad, _per_member(lr_all, p)
            if self.config.name == "nesterov":
                v, m0, m1 = self.state[0][k], _per_member(mu0, p), _per_member(mu1, p)
                p.add_(m1 * m0 * v - (1.0 + m1) * lr * g)
                v.mul_(m0).sub_(lr * g)
            elif self.config.name == "sgd":
                buf = self.state[0][k]
                buf.copy_(g if self.t == 1 else _per_member(self.momentum, p) * buf + g)
                p.sub_(lr * buf)
            else:
                m, v, t, (b1, b2) = self.state[0][k], self.state[1][k], self.t, (0.9, 0.999)
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.sub_(lr / (1 - b1**t) * m / (v.sqrt() / (1 - b2**t) ** 0.5 + 1e-8))

    def select(self, params: dict[str, Tensor], keep: Tensor) -> None:
        """Keep only the members at positions `keep` (the parameters of the smaller population are given)."""
        self.params, self.lr, self.momentum = params, self.lr[keep], self.momentum[keep]
        self.state = [{k: s[keep] for k, s in state.items()} for state in self.state]
