"""Optimisers for stacked parameters [N, ...] with per-member hyper-parameters (learning rate ε [N],
momentum μ [N], clipping threshold c [N]), so each member follows exactly the update it would follow alone.

The formulas are the core's (`seqgen.core.optim`): simplified Nesterov momentum of Bengio et al. (2013)
with μ_t from `momentum_at`; classical momentum SGD and Adam as in torch.optim; gradient-norm clipping
g ← c·g/‖g‖ when ‖g‖ > c, here with each member's own norm ‖g_i‖ (c = 0 disables it for that member).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgen.core.optim import OPTIMIZERS, momentum_at


def _per_member(values: Tensor, like: Tensor) -> Tensor:
    """Broadcast a per-member vector [N] against a stacked tensor [N, ...]."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def member_grad_norms(grads: dict[str, Tensor]) -> Tensor:
    """‖g_i‖ [N]: each member's global gradient norm over all of its parameters."""
    return torch.stack([g.pow(2).flatten(1).sum(1) for g in grads.values()]).sum(0).sqrt()


def clip_members(grads: dict[str, Tensor], norms: Tensor, max_norm: Tensor) -> Tensor:
    """Scale each member's gradients in place by min(1, c_i/(‖g_i‖ + 1e-6)) where c_i > 0; return clipped [N]."""
    clipped = (max_norm > 0) & (norms > max_norm)
    scale = torch.where(clipped, max_norm / (norms + 1e-6), torch.ones_like(norms))
    for g in grads.values():
        g.mul_(_per_member(scale, g))
    return clipped


class PopulationOptimizer:
    """`name` ∈ {"nesterov", "sgd", "adam"} over stacked parameters with per-member ε and μ.

    "nesterov": v_t = μ_{t−1} v_{t−1} − ε ∇f;  Θ_t = Θ_{t−1} + μ_t μ_{t−1} v_{t−1} − (1 + μ_t) ε ∇f, with
    μ_t = min(μ_i, momentum_at(t, 1, schedule, period)); "sgd": buf = μ buf + ∇f (buf = ∇f at the first
    step), Θ −= ε buf; "adam": torch.optim.Adam's update with β = (0.9, 0.999), eps 1e-8.
    """

    def __init__(
        self,
        name: str,
        params: dict[str, Tensor],
        lr: Tensor,
        momentum: Tensor,
        schedule: str = "constant",
        period: int = 250,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if name not in OPTIMIZERS:
            raise ValueError(f"optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")
        self.name, self.params, self.lr, self.momentum = name, params, lr, momentum
        self.schedule, self.period, self.betas, self.eps = schedule, period, betas, eps
        self.t = 0
        n_states = 2 if name == "adam" else 1
        self.state = [{k: torch.zeros_like(p) for k, p in params.items()} for _ in range(n_states)]

    def _mu(self, t: int) -> Tensor:
        """μ_t per member: the core schedule capped by each member's μ."""
        return self.momentum.clamp(max=momentum_at(t, 1.0, self.schedule, self.period))

    @torch.no_grad()
    def step(self, grads: dict[str, Tensor]) -> None:
        """Apply one update to every member."""
        self.t += 1
        for k, p in self.params.items():
            g, lr = grads[k], _per_member(self.lr, p)
            if self.name == "nesterov":
                v = self.state[0][k]
                mu0, mu1 = _per_member(self._mu(self.t - 1), p), _per_member(self._mu(self.t), p)
                p.add_(mu1 * mu0 * v - (1.0 + mu1) * lr * g)
                v.mul_(mu0).sub_(lr * g)
            elif self.name == "sgd":
                buf = self.state[0][k]
                buf.copy_(g if self.t == 1 else _per_member(self.momentum, p) * buf + g)
                p.sub_(lr * buf)
            else:
                m, v = self.state[0][k], self.state[1][k]
                (b1, b2), t = self.betas, self.t
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = v.sqrt() / (1 - b2**t) ** 0.5 + self.eps
                p.sub_(lr / (1 - b1**t) * m / denom)

    def select(self, params: dict[str, Tensor], keep: Tensor) -> None:
        """Keep only the members at positions `keep` (after they were dropped from `params`)."""
        self.params = params
        self.lr, self.momentum = self.lr[keep], self.momentum[keep]
        self.state = [{k: s[keep] for k, s in state.items()} for state in self.state]
