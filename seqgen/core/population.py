"""Populations: N models of one config as one module whose weights are stacked [N, ...] (`members=N`).

Every model class of seqgen takes `(config, members=None)`; `members=None` is the single model, whose state_dict
is that of earlier versions. `stack_models` builds a population from single models (so member i is exactly the
model its own seed gives), `member_model` takes member i out as a normal single model (for best.pt, sampling,
scoring), and `select_members` keeps some members (dropped or frozen members leave the batch).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def member_axis(members: int | None) -> tuple[int, ...]:
    """The leading shape of a stacked weight: (N,) for a population, () for a single model."""
    return () if members is None else (members,)


def member_slots(members: int | None) -> list:
    """Index of each member's slot in a stacked weight: 0..N−1, or `...` (the whole tensor) for a single model."""
    return [Ellipsis] if members is None else list(range(members))


class MemberLinear(nn.Module):
    """y = x Wᵀ + b per member: weight [(N,) out, in], bias [(N,) out], each member initialised as nn.Linear.

    A population reads x [N, ..., in]; a single model x [..., in] (exactly F.linear).
    """

    def __init__(self, n_in: int, n_out: int, members: int | None = None):
        super().__init__()
        self.members = members
        self.weight = nn.Parameter(torch.empty(*member_axis(members), n_out, n_in))
        self.bias = nn.Parameter(torch.empty(*member_axis(members), n_out))
        with torch.no_grad():
            for slot in member_slots(members):  # nn.Linear.reset_parameters, member by member
                nn.init.kaiming_uniform_(self.weight[slot], a=math.sqrt(5))
                self.bias[slot].uniform_(-1.0 / math.sqrt(n_in), 1.0 / math.sqrt(n_in))

    def forward(self, x: Tensor) -> Tensor:
        if self.members is None:
            return F.linear(x, self.weight, self.bias)
        n, n_in = x.shape[0], x.shape[-1]
        y = torch.baddbmm(self.bias.unsqueeze(1), x.reshape(n, -1, n_in), self.weight.transpose(1, 2))
        return y.view(*x.shape[:-1], self.weight.shape[1])


class MemberEmbedding(nn.Module):
    """Token vectors per member: weight [(N,) V, E] ~ N(0, 1) as nn.Embedding; ids [...] → [(N,) ..., E]."""

    def __init__(self, n_tokens: int, dim: int, members: int | None = None):
        super().__init__()
        self.members = members
        self.weight = nn.Parameter(torch.randn(*member_axis(members), n_tokens, dim))

    def forward(self, ids: Tensor) -> Tensor:
        return F.embedding(ids, self.weight) if self.members is None else self.weight[:, ids]


def _rebuild(template: nn.Module, members: int | None, state: dict[str, Tensor]) -> nn.Module:
    """A model of `template`'s class and config with `members` and the given state (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        model = type(template)(template.config, members=members)
    weight = next(template.parameters())
    model.to(dtype=weight.dtype, device=weight.device).load_state_dict(state)
    return model.train(template.training)


def stack_models(models: list[nn.Module]) -> nn.Module:
    """A population whose member i is `models[i]` (single models of one class and config)."""
    states = [m.state_dict() for m in models]
    return _rebuild(models[0], len(models), {k: torch.stack([s[k] for s in states]) for k in states[0]})


def member_model(population: nn.Module, i: int) -> nn.Module:
    """Member i of a population as a normal single model (a copy)."""
    return _rebuild(population, None, {k: v[i].clone() for k, v in population.state_dict().items()})


def select_members(population: nn.Module, keep: Tensor) -> nn.Module:
    """A population of the members at positions `keep` (a copy)."""
    return _rebuild(population, len(keep), {k: v[keep] for k, v in population.state_dict().items()})


def member_uniforms(generator, n: int, size: int, like: Tensor, out: Tensor | None = None) -> Tensor:
    """Uniforms [n, size] in one block per member: `generator` is one torch.Generator (one stream for all, so a
    single model draws exactly what it drew before), a list of one per member (each member draws what it
    would draw alone), or None (the global stream). `out` [n, size] (e.g. a block kept between calls) is filled
    instead of a fresh tensor, with the same numbers."""
    if isinstance(generator, (list, tuple)):
        out = like.new_empty(n, size) if out is None else out
        for row, g in zip(out, generator):
            row.uniform_(generator=g)
        return out
    if out is None:
        return torch.rand(n, size, generator=generator, device=like.device, dtype=like.dtype)
    return out.uniform_(generator=generator)


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed blocks of up to 32 MB for reuse instead of unmapping them (mallopt M_MMAP_THRESHOLD and
    M_TRIM_THRESHOLD): a population allocates its state buffers afresh every step, and re-faulting their pages cost
    15-35 % of a step's CPU time on this machine. Returns whether it applied (False off glibc)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc) and bool(libc.mallopt(-3, 32 << 20)) and bool(libc.mallopt(-1, 1 << 30))
    except (OSError, AttributeError):
        return False
