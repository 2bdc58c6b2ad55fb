"""The time loop of tanh | relu | sigmoid | linear units (optionally leaky) for N members at once, as one autograd
Function whose backward takes the recurrent weight gradient as ONE batched matmul over all T·B rows.

Members have stacked weights W_uu [N, H, H] and leaks α [N, H]; drives d_t = W_vu x_t + b_u come in as [N, T, B, H]:
  a_t = f(d_t + W_uu h_{t−1}),  h_t = α ⊙ h_{t−1} + (1 − α) ⊙ a_t   (α = 0 without leaky integration).
Backward, with g_t = ∂L/∂h_t from outside: δ_t = g_t + α ⊙ δ_{t+1} + W_uu^T ε_{t+1}, ε_t = (1 − α) ⊙ f'(a_t) ⊙ δ_t;
then ∂L/∂W_uu = Σ_t ε_t^T h_{t−1} (one bmm), ∂L/∂d = ε, ∂L/∂α = Σ_t δ_t ⊙ (h_{t−1} − a_t),
∂L/∂h_0 = α ⊙ δ_1 + W_uu^T ε_1. An optional zero `probe` [N, T, B, H] receives δ_t, the total ∂L/∂h_t along all
paths through time (the lab's gradient diagnostics).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# From this many elements a step's tanh runs in numpy's SIMD kernel (at most 1.4 ulp from the true value, torch's 0.5):
# 0.26 ns/element against torch's 2.4 on this CPU (AVX-512, torch 2.13), 19.5 against 4.6 µs at 6,400 elements
# with the conversion (the two break even near 700); below it, or off the CPU, torch's tanh_, so a single small model
# (batch × hidden under 2,048) keeps exactly its values.
NUMPY_TANH_MIN = 2048
_NUMPY_DTYPES = (torch.float32, torch.float64)


def _activate_(z: Tensor, cell: str) -> None:
    """f(z) in place: tanh_ (numpy's for large blocks, see NUMPY_TANH_MIN), relu_, sigmoid_ or nothing (linear)."""
    if cell == "tanh" and z.numel() >= NUMPY_TANH_MIN and z.device.type == "cpu" and z.dtype in _NUMPY_DTYPES:
        a = z.numpy()
        np.tanh(a, out=a)
    elif cell != "linear":
        getattr(z, f"{cell}_")()


_SLOPES = {"tanh": torch.ops.aten.tanh_backward.grad_input, "sigmoid": torch.ops.aten.sigmoid_backward.grad_input}


def _backprop_slope_(out: Tensor, delta: Tensor, a: Tensor, cell: str) -> None:
    """out = delta ⊙ f'(z) from the activation a = f(z) [N, B, H], in one op: tanh δ(1 − a²) and sigmoid δ(1 − a)a
    with autograd's own kernels, relu δ where a > 0 (as autograd takes it), linear δ."""
    if cell in _SLOPES:
        _SLOPES[cell](delta, a, grad_input=out)
    elif cell == "relu":
        torch.mul(delta, a > 0, out=out)
    else:
        out.copy_(delta)


class Scan(torch.autograd.Function):
    """h [N, T, B, H] (time-major) = the recurrence above from h_0 [N, B, H], drives [N, T, B, H]; `alpha` [N, H] or
    None (plain units). States live in one buffer [N, T + 1, B, H] whose slices h_{0..T−1} are the rows of the
    weight gradient's single bmm."""

    @staticmethod
    def forward(ctx, drive: Tensor, h0: Tensor, w_uu: Tensor, alpha: Tensor | None, cell: str, probe=None) -> Tensor:
        n, steps, b, hidden = drive.shape
        states = drive.new_empty(n, steps + 1, b, hidden)
        states[:, 0] = h0
        acts = None if alpha is None else drive.new_empty(drive.shape)
        a_ = None if alpha is None else alpha.unsqueeze(1)
        w_t, h = w_uu.transpose(1, 2), h0
        for t in range(steps):  # into fresh contiguous tensors, then copied: bmm writes strided outputs slowly
            z = torch.baddbmm(drive[:, t], h, w_t)
            _activate_(z, cell)
            if alpha is not None:
                acts[:, t] = z
                z = torch.lerp(z, h, a_)
            states[:, t + 1] = h = z
        ctx.cell = cell
        ctx.save_for_backward(states, acts, w_uu, alpha)
        return states[:, 1:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        states, acts, w_uu, alpha = ctx.saved_tensors
        n, steps, b, hidden = states.shape[0], states.shape[1] - 1, states.shape[2], states.shape[3]
        out = states[:, 1:]
        acts = out if acts is None else acts
        a_ = None if alpha is None else alpha.unsqueeze(1)
        keep_delta = alpha is not None or ctx.needs_input_grad[5]
        eps = torch.empty_like(out)
        delta_all = torch.empty_like(out) if keep_delta else None
        delta = grad[:, -1].clone() if steps else states.new_zeros(n, b, hidden)
        for t in range(steps - 1, -1, -1):
            if keep_delta:
                delta_all[:, t] = delta
            eps_t = eps[:, t]  # written in place: a strided batch is as fast as a contiguous one in the bmm below
            _backprop_slope_(eps_t, delta if a_ is None else delta - delta * a_, acts[:, t], ctx.cell)
            carry = grad[:, t - 1] if t else None
            if a_ is not None:
                carry = delta * a_ if carry is None else torch.addcmul(carry, delta, a_)
            delta = torch.bmm(eps_t, w_uu) if carry is None else torch.baddbmm(carry, eps_t, w_uu)
        h_prev = states[:, :-1].reshape(n, steps * b, hidden)
        grad_w = torch.bmm(eps.reshape(n, steps * b, hidden).transpose(1, 2), h_prev)
        grad_alpha = None
        if alpha is not None and ctx.needs_input_grad[3]:
            grad_alpha = (delta_all.reshape(n, -1, hidden) * (h_prev - acts.reshape(n, -1, hidden))).sum(1)
        return eps, delta, grad_w, grad_alpha, None, delta_all if ctx.needs_input_grad[5] else None


def scan(drive: Tensor, h0: Tensor, w_uu: Tensor, alpha: Tensor | None, cell: str, probe=None) -> Tensor:
    """Outputs h [N, T, B, H] (time-major) of the plain or leaky recurrence (see the module docstring)."""
    return Scan.apply(drive, h0, w_uu, alpha, cell, probe)
