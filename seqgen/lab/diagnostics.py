"""Gradient diagnostics of a population: the VEG profile ‖∂L/∂h_t‖ for every t, its earliest/latest
ratio, and the spectral radius of W_uu; and the precise rule for "VEG occurred during training".

Johnston et al. (2025) ask whether "VEG occurs during optimization"; the public record (the abstract) gives
no numeric rule, so seqgen states one. With r = ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (gradient of the minibatch loss with
respect to the first and the last carried state, all paths through time included), measured every
`diag_every` updates: vanishing occurred if r < 10^−3 at some measurement, exploding if r > 10^3 at some
measurement or a gradient became non-finite; VEG occurred if either did. The continuous VEG measure is
max over measurements of |log10 r|. That whole-sequence rule (kept in each run record as `veg`) depends on T;
reports use the per-step rate of seqgen.lab.veg instead, which does not.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

VANISH_LOG10 = -3.0
EXPLODE_LOG10 = 3.0
PROFILE_POINTS = 20


def veg_profile(state_grads: list[Tensor], gated_pairs: bool = False) -> Tensor:
    """‖∂L/∂h_t‖ [N, T] per member from the gradients of the carried states (each [N, B, H]); for LSTM
    (`gated_pairs`) h_t and c_t alternate and their norms combine as √(‖∂L/∂h_t‖² + ‖∂L/∂c_t‖²)."""
    sq = torch.stack(state_grads, 1).pow(2).sum((2, 3))  # [N, T or 2T]
    if gated_pairs:
        sq = sq.view(sq.shape[0], -1, 2).sum(-1)
    return sq.sqrt()


def log10_ratio(profile: Tensor) -> Tensor:
    """log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖) [N]; ±inf when one end is exactly zero."""
    return torch.log10(profile[:, 0]) - torch.log10(profile[:, -1])


def spectral_radius(w_uu: Tensor | None, n: int) -> Tensor:
    """max |eigenvalue| of each member's W_uu [N, H, H]; NaN [n] for gated cells (no single W_uu)."""
    if w_uu is None:
        return torch.full((n,), math.nan)
    return torch.linalg.eigvals(w_uu.detach().double()).abs().amax(-1)


def profile_positions(length: int, points: int = PROFILE_POINTS) -> list[int]:
    """Up to `points` evenly spaced steps t (1-based, including 1 and T) at which profiles are stored."""
    return sorted({round(1 + i * (length - 1) / (points - 1)) for i in range(points)}) if length > 1 else [1]


def veg_summary(log10_ratios: list[float], nonfinite_grad: bool) -> dict:
    """Apply the rule above to one run's measurements: vanishing, exploding, occurred, max |log10 r|."""
    vanishing = any(r < VANISH_LOG10 for r in log10_ratios)
    exploding = nonfinite_grad or any(r > EXPLODE_LOG10 for r in log10_ratios)
    measure = max((abs(r) for r in log10_ratios if not math.isnan(r)), default=math.nan)
    return {
        "vanishing": vanishing,
        "exploding": exploding,
        "occurred": vanishing or exploding,
        "max_abs_log10_ratio": measure,
    }
