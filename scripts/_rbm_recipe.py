"""Temporary copy of the recipe helpers for runs against a snapshot of HEAD (removed once in the library)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn


def apply_weight_init(model: nn.Module, scheme: str) -> None:
    """'small': the 2012 tutorial's init: conditional weights ~ N(0, 0.01²), RNN and bias-map weights ~ N(0, 1e-4²),
    all biases 0 (leaky α logits kept); 'default': leave PyTorch's / the recurrent module's init."""
    if scheme == "default":
        return
    if scheme != "small":
        raise ValueError(f"weight_init {scheme!r}: expected 'default' or 'small'")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "alpha" in name:
                continue
            if name.startswith("conditional."):
                p.normal_(0.0, 0.01)
            elif p.dim() >= 2:
                p.normal_(0.0, 1e-4)
            else:
                p.zero_()


def pretrain_rbm(
    model, rolls: list[np.ndarray], epochs: int, *, seed: int = 0, lr: float = 0.01, momentum: float = 0.9,
    batch_size: int = 100, weight_decay: float = 1e-4,
) -> dict:
    """CD-k on single frames of `rolls` (bool[T_i, P]) as a frame-level RBM: fits W [P, H] and the static biases
    b_v, b_h (the bias of `model.to_biases`); b_v starts at the log-odds of the notes' frequencies."""
    if epochs <= 0:
        return {"epochs": 0}
    started = time.perf_counter()
    rbm, bias = model.conditional, model.to_biases.bias
    P = rbm.n_visible
    frames = torch.as_tensor(np.concatenate(rolls), dtype=bias.dtype, device=bias.device)
    with torch.no_grad():
        bias.zero_()
        bias[:P] = torch.logit(frames.mean(0).clamp(1e-3, 1 - 1e-3))
    gen = torch.Generator(device=bias.device).manual_seed(seed)
    opt = torch.optim.SGD([rbm.W, bias], lr=lr, momentum=momentum)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(frames), generator=torch.Generator().manual_seed(seed + len(losses)))
        total = 0.0
        for s in range(0, len(frames), batch_size):
            v = frames[order[s : s + batch_size]]
            loss = rbm.loss(v, {"b_v": bias[:P], "b_h": bias[P:]}, gen).mean()
            loss = loss + 0.5 * weight_decay * rbm.W.pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(v)
        losses.append(total / len(frames))
    return {"epochs": epochs, "lr": lr, "momentum": momentum, "batch_size": batch_size,
            "weight_decay": weight_decay, "cd_loss": losses, "seconds": time.perf_counter() - started}
