"""The time loop of tanh | relu | sigmoid | linear units (optionally leaky) for N members at once, as one autograd
Function whose backward takes the recurrent weight gradient as ONE batched matmul over all T·B rows.

Members have stacked weights W_uu [N, H, H] and leaks α [N, H]; drives d_t = W_vu x_t + b_u come in as [N, B, T, H]:
  a_t = f(d_t + W_uu h_{t−1}),  h_t = α ⊙ h_{t−1} + (1 − α) ⊙ a_t   (α = 0 without leaky integration).
Backward, with g_t = ∂L/∂h_t from outside: δ_t = g_t + α ⊙ δ_{t+1} + W_uu^T ε_{t+1}, ε_t = (1 − α) ⊙ f'(a_t) ⊙ δ_t;
then ∂L/∂W_uu = Σ_t ε_t^T h_{t−1} (one bmm), ∂L/∂d = ε, ∂L/∂α = Σ_t δ_t ⊙ (h_{t−1} − a_t),
∂L/∂h_0 = α ⊙ δ_1 + W_uu^T ε_1. An optional zero `probe` [N, B, T, H] receives δ_t, the total ∂L/∂h_t along all
paths through time (the lab's gradient diagnostics).
"""

from __future__ import annotations

import torch
from torch import Tensor

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "linear": lambda z: z}


def _slope(a: Tensor, cell: str) -> Tensor:
    """f'(z) from the activation a = f(z) [..., H] (relu: 1 where a > 0, as autograd takes it)."""
    if cell == "tanh":
        return torch.addcmul(torch.ones_like(a), a, a, value=-1.0)
    if cell == "sigmoid":
        return a - a * a
    if cell == "relu":
        return (a > 0).to(a.dtype)
    return torch.ones_like(a)


class Scan(torch.autograd.Function):
    """h [N, B, T, H] = the recurrence above from h_0 [N, B, H]; `alpha` [N, H] or None (plain units)."""

    @staticmethod
    def forward(ctx, drive: Tensor, h0: Tensor, w_uu: Tensor, alpha: Tensor | None, cell: str, probe=None) -> Tensor:
        f = ACTIVATIONS[cell]
        out = drive.new_empty(drive.shape)
        acts = out if alpha is None else drive.new_empty(drive.shape)
        a_ = None if alpha is None else alpha.unsqueeze(1)
        w_t, h = w_uu.transpose(1, 2), h0
        for t in range(drive.shape[2]):
            z = torch.baddbmm(drive[:, :, t], h, w_t)
            if a_ is None:
                out[:, :, t] = f(z)
            else:
                acts[:, :, t] = f(z)
                torch.lerp(acts[:, :, t], h, a_, out=z)
                out[:, :, t] = z
            h = out[:, :, t]
        ctx.cell = cell
        ctx.save_for_backward(out, acts if alpha is not None else None, h0, w_uu, alpha)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        out, acts, h0, w_uu, alpha = ctx.saved_tensors
        acts = out if acts is None else acts
        n, b, steps, hidden = out.shape
        slope = _slope(acts, ctx.cell)
        if alpha is not None:
            slope.mul_((1.0 - alpha)[:, None, None, :])
            a_ = alpha.unsqueeze(1)
        grad = grad.contiguous()
        eps = torch.empty_like(out)
        delta_all = torch.empty_like(out) if alpha is not None or ctx.needs_input_grad[5] else None
        delta = grad[:, :, -1].clone() if steps else h0.new_zeros(h0.shape)
        for t in range(steps - 1, -1, -1):
            if delta_all is not None:
                delta_all[:, :, t] = delta
            eps_t = eps[:, :, t]
            torch.mul(delta, slope[:, :, t], out=eps_t)
            carry = grad[:, :, t - 1] if t else None
            if alpha is not None:
                carry = torch.addcmul(carry, delta, a_) if carry is not None else delta * a_
            delta = torch.bmm(eps_t, w_uu) if carry is None else torch.baddbmm(carry, eps_t, w_uu)
        h_prev = torch.cat([h0.unsqueeze(2), out[:, :, :-1]], 2).reshape(n, b * steps, hidden)
        grad_w = torch.bmm(eps.reshape(n, b * steps, hidden).transpose(1, 2), h_prev)
        grad_alpha = None
        if alpha is not None and ctx.needs_input_grad[3]:
            grad_alpha = (delta_all.reshape(n, -1, hidden) * (h_prev - acts.reshape(n, -1, hidden))).sum(1)
        return eps, delta, grad_w, grad_alpha, None, delta_all if ctx.needs_input_grad[5] else None


def scan(drive: Tensor, h0: Tensor, w_uu: Tensor, alpha: Tensor | None, cell: str, probe=None) -> Tensor:
    """Outputs h [N, B, T, H] of the plain or leaky recurrence (see the module docstring)."""
    return Scan.apply(drive, h0, w_uu, alpha, cell, probe)
