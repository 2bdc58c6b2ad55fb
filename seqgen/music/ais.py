"""Annealed importance sampling (AIS) for the log partition function of RBMs with per-frame biases.

RBM over v [P], h [H] with weights W [P, H] and biases b_v [N, P], b_h [N, H] (one RBM per frame, N frames).
Path (geometric average of base and target): log f_β(v) = ((1 − β) a + β b_v)·v + Σ_j softplus(β (b_h + vW)_j),
base (β = 0) the factorised Bernoulli σ(a) with log Z_0 = Σ_i softplus(a_i) + H log 2, where the note log-odds
a [N, P] = b_v + λ (a_mf − b_v) move a fraction λ from the frame's own b_v towards the mean-field log-odds a_mf
(mean field alone is mode-seeking, too narrow a base for strongly coupled RBMs; b_v alone ignores the hidden units).
Transitions: one block-Gibbs round h ~ σ(β x), v ~ σ((1 − β) a + β (b_v + W h)).

- forward AIS (Neal 2001; Salakhutdinov & Murray 2008): chains from the base; log Ẑ is a stochastic LOWER bound
  on log Z, so −F(v) − log Ẑ OVERestimates log p(v) in expectation.
- reverse AIS from the data (RAISE, Burda, Grosse & Salakhutdinov 2015): chains start at the scored frame v and
  anneal back to the base; −F(v) − log Ẑ_rev is a stochastic lower bound on the annealed model's log p(v) and in
  practice UNDERestimates log p(v). The two bracket the truth; their gap measures AIS's convergence.
All chains (runs × frames) advance together; uniforms come from the caller's generator on the biases' device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

SCHEDULES = ("sigmoid", "linear")


@dataclass(frozen=True)
class AISSettings:
    """AIS sizing: `runs` chains per frame, `steps` intermediate distributions on a `schedule` of β (see `betas`),
    `reverse` also runs RAISE from the data (doubling the cost), `base_mean_field` the fraction λ of the way from
    b_v to the mean-field log-odds for the base. Defaults: forward and reverse agree within 0.02 nats/frame on
    the JSB and Bach RNN-RBMs (results/bench_ais.json)."""

    runs: int = 8
    steps: int = 300
    schedule: str = "sigmoid"
    reverse: bool = True
    base_mean_field: float = 0.25

    def __post_init__(self) -> None:
        if self.runs < 2 or self.steps < 1:
            raise ValueError(f"ais runs {self.runs} and steps {self.steps}: need runs ≥ 2 and steps ≥ 1")
        if not 0.0 <= self.base_mean_field <= 1.0:
            raise ValueError(f"ais base_mean_field {self.base_mean_field}: expected a fraction in [0, 1]")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"ais schedule {self.schedule!r}: expected one of {', '.join(SCHEDULES)}")


class AISResult(NamedTuple):
    """Per-frame [N] estimates in nats: log Ẑ from forward AIS and its standard error (delta method), log Ẑ from
    reverse AIS (NaN when not run) and its error, and the forward weights' effective sample size (1..runs)."""

    log_z: Tensor
    stderr: Tensor
    log_z_reverse: Tensor
    stderr_reverse: Tensor
    ess: Tensor


def betas(steps: int, schedule: str = "sigmoid", spread: float = 4.0) -> Tensor:
    """Inverse temperatures 0 = β_0 < … < β_steps = 1 (float64): "linear", or "sigmoid"-spaced (denser at both ends)."""
    if schedule == "linear":
        return torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    s = torch.sigmoid(torch.linspace(-spread, spread, steps + 1, dtype=torch.float64))
    return (s - s[0]) / (s[-1] - s[0])


def mean_field_logits(W: Tensor, b_v: Tensor, b_h: Tensor, iters: int) -> Tensor:
    """Log-odds a [N, P] of the notes under `iters` damped mean-field rounds m ← σ(b_v + W σ(b_h + mW)), from σ(b_v)."""
    a = b_v
    m = torch.sigmoid(a)
    for _ in range(iters):
        a = b_v + torch.sigmoid(b_h + m @ W) @ W.T
        m = 0.5 * m + 0.5 * torch.sigmoid(a)
    return torch.logit(m.clamp(1e-4, 1 - 1e-4)) if iters else a


def _bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """0/1 draws (dtype of p) with probabilities p."""
    return torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype).lt_(p)


def _gibbs(beta: float, x: Tensor, W: Tensor, a: Tensor, b_v: Tensor, generator) -> Tensor:
    """One Gibbs round at β from a state with x = b_h + vW [R, N, H]: h ~ σ(β x), v ~ σ((1 − β) a + β (b_v + W h))."""
    h = _bernoulli(torch.sigmoid(beta * x), generator)
    y = torch.matmul(h, W.T).add_(b_v).mul_(beta).add_(a, alpha=1.0 - beta)
    return _bernoulli(y.sigmoid_(), generator)


def _anneal(
    W: Tensor, b_v: Tensor, b_h: Tensor, a: Tensor, v: Tensor, path: list[float], reverse: bool, generator
) -> Tensor:
    """Log importance weights [R, N] of chains from states v [R, N, P] along `path` (β values in visiting order).

    Forward (β increasing; v exact base samples): w += log f_{β_k}(v) − log f_{β_{k−1}}(v), then a Gibbs round at β_k.
    Reverse (β decreasing; v the data): a Gibbs round at β_{k−1} first, then the same increment.
    """
    d = b_v - a
    log_w = v.new_zeros(v.shape[:2])
    x = torch.matmul(v, W).add_(b_h)
    for k in range(1, len(path)):
        prev, beta = path[k - 1], path[k]
        if reverse:
            v = _gibbs(prev, x, W, a, b_v, generator)
            x = torch.matmul(v, W).add_(b_h)
        log_w += (v * d).sum(-1).mul_(beta - prev) + (F.softplus(beta * x) - F.softplus(prev * x)).sum(-1)
        if not reverse and k < len(path) - 1:
            v = _gibbs(beta, x, W, a, b_v, generator)
            x = torch.matmul(v, W).add_(b_h)
    return log_w


def _log_mean_exp(log_w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """log-mean-exp over runs [N], the delta-method standard error of its log [N], and the effective sample size [N]."""
    runs = log_w.shape[0]
    m = torch.logsumexp(log_w, 0) - math.log(runs)
    w = torch.exp(log_w - m)  # weights relative to their mean
    stderr = w.std(0, unbiased=True) / math.sqrt(runs)
    ess = runs / w.pow(2).mean(0)
    return m, stderr, ess


@torch.no_grad()
def log_partition(
    W: Tensor, b_v: Tensor, b_h: Tensor, settings: AISSettings, v: Tensor | None = None, generator=None
) -> AISResult:
    """AIS estimates of log Z for N RBMs (biases b_v [N, P], b_h [N, H], shared W [P, H]).

    Reverse AIS runs when `settings.reverse` and data frames v [N, P] are given (its chains start at v).
    """
    a = b_v + settings.base_mean_field * (mean_field_logits(W, b_v, b_h, 10) - b_v)
    log_z0 = F.softplus(a).sum(-1) + W.shape[1] * math.log(2.0)
    path = betas(settings.steps, settings.schedule).tolist()
    R = settings.runs
    v0 = _bernoulli(torch.sigmoid(a).expand(R, *a.shape), generator)
    m, stderr, ess = _log_mean_exp(_anneal(W, b_v, b_h, a, v0, path, False, generator))
    log_z_rev = stderr_rev = torch.full_like(m, math.nan)
    if settings.reverse and v is not None:
        m_rev, stderr_rev, _ = _log_mean_exp(
            _anneal(W, b_v, b_h, a, v.expand(R, *v.shape), path[::-1], True, generator)
        )
        log_z_rev = log_z0 - m_rev
    return AISResult(log_z0 + m, stderr, log_z_rev, stderr_rev, ess)
