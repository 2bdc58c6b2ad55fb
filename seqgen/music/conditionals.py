"""Per-frame conditional distributions p(v_t | u_{t-1}) over a piano-roll frame v [..., P].

Each conditional takes EXTERNAL biases (computed from the RNN state by the model) and offers the same interface:
`log_likelihood(v, biases) -> (value, stderr, lower, upper)`, `loss` and `sample`; RNN-RBM, RNN-NADE and
RNN-Bernoulli differ only in which one they use (Boulanger-Lewandowski et al. 2012). Settings that a conditional
reads when sampling or estimating (e.g. the RBM's Gibbs and AIS sizes) are attributes named in `settings`.
Temperature T divides every logit / energy.

Populations (`members=N`, seqgen.core.population): NADE and RBM weights are stacked [N, P, H]; biases come as
[N, ..., size], frames v as [..., P] (shared by all members) or [N, ..., P]; results are [N, ...]. A single model
(members None) is the same code with N = 1 and keeps the shapes above.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.core.population import member_axis, member_uniforms
from seqgen.music.ais import AISSettings, log_partition

Biases = dict[str, Tensor]

# Chains (frames × AIS runs) per AIS chunk: bounds memory at about AIS_ROWS × (P + H) × 8 floats.
AIS_ROWS = 1 << 14


class LogLikelihood(NamedTuple):
    """log p(v) [...] in nats: `value`, its Monte Carlo standard error `stderr` (0 when exact), and `lower` / `upper`,
    estimates that bound it in expectation (both equal `value` when exact)."""

    value: Tensor
    stderr: Tensor
    lower: Tensor
    upper: Tensor


class Conditional(nn.Module):
    """Base class: a distribution over v [..., P] in {0,1}^P whose biases are given per frame.

    `estimator` names how `log_likelihood` is computed ("exact" unless overridden); `settings` names the attributes
    that sampling and estimation read, which `configure` changes.
    """

    bias_sizes: dict[str, int]
    estimator = "exact"
    settings: tuple[str, ...] = ()

    def log_prob(self, v: Tensor, biases: Biases) -> Tensor:
        """Exact log p(v) [...] in nats (exact conditionals only)."""
        raise NotImplementedError

    def log_likelihood(self, v: Tensor, biases: Biases, generator: torch.Generator | None = None) -> LogLikelihood:
        """log p(v) [...] with its error; exact here (stderr 0, lower = upper = value)."""
        value = self.log_prob(v, biases)
        return LogLikelihood(value, torch.zeros_like(value), value, value)

    def loss(self, v: Tensor, biases: Biases, generator: torch.Generator | None = None) -> Tensor:
        """Per-frame training loss [...] (the negative log-likelihood for exact conditionals)."""
        return -self.log_prob(v, biases)

    def sample(self, biases: Biases, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """A true draw v [..., P] (float 0/1) from the conditional at temperature T."""
        raise NotImplementedError

    def configure(self, **values) -> dict:
        """Set the given settings (None values are skipped); returns their previous values, for restoring.

        Raises ValueError for a setting this conditional does not read.
        """
        given = {k: v for k, v in values.items() if v is not None}
        unknown = sorted(set(given) - set(self.settings))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a setting of the {type(self).__name__} conditional")
        previous = {k: getattr(self, k) for k in given}
        for k, v in given.items():
            setattr(self, k, v)
        return previous

    def describe(self) -> dict:
        """The estimator's name and the current settings, for score reports."""
        return {"estimator": self.estimator, **{k: getattr(self, k) for k in self.settings}}


def _lead_shape(b_v: Tensor, b_h: Tensor) -> tuple[int, ...]:
    """Broadcast leading shape [...] of biases [..., P] and [..., H] (numpy's: torch's imports torch.fx)."""
    return np.broadcast_shapes(b_v.shape[:-1], b_h.shape[:-1])


def _bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """Draw 0/1 (same dtype as p) with probabilities p, from an explicit generator.

    `rand.lt_(p)` writes the comparison into the uniforms in place (a bool mask then `.to` is ~20x slower).
    """
    return torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype).lt_(p)


def _bernoulli_log_prob(v: Tensor, logits: Tensor) -> Tensor:
    """Σ_i [v_i log σ(x_i) + (1 − v_i) log σ(−x_i)] = Σ_i [v_i x_i − softplus(x_i)] [...], broadcasting."""
    return (v * logits - F.softplus(logits)).sum(-1)


class Bernoulli(Conditional):
    """Independent notes: p(v_i = 1) = σ(b_v,i); the plain RNN's output layer."""

    def __init__(self, n_visible: int, members: int | None = None) -> None:
        super().__init__()
        self.n_visible, self.members = n_visible, members
        self.bias_sizes = {"b_v": n_visible}

    def log_prob(self, v: Tensor, biases: Biases) -> Tensor:
        """Σ_i log Bernoulli(v_i; σ(b_v,i)) [...]."""
        return _bernoulli_log_prob(v, biases["b_v"])

    def sample(self, biases, generator=None, temperature=1.0):
        """Each note drawn independently from σ(b_v / T)."""
        return _bernoulli(torch.sigmoid(biases["b_v"] / temperature), generator)


class NADE(Conditional):
    """NADE with weights W, V [P, H] and external biases b_v [..., P], b_h [..., H] (Larochelle & Murray 2011).

    p(v_i = 1 | v_<i) = σ(b_v,i + V_i · σ(b_h + Σ_{j<i} W_j v_j)), notes in increasing pitch order.
    """

    def __init__(self, n_visible: int, n_hidden: int, members: int | None = None) -> None:
        super().__init__()
        self.n_visible, self.n_hidden, self.members = n_visible, n_hidden, members
        self.bias_sizes = {"b_v": n_visible, "b_h": n_hidden}
        lead = member_axis(members)
        self.W = nn.Parameter(torch.randn(*lead, n_visible, n_hidden) / math.sqrt(n_visible))
        self.V = nn.Parameter(torch.randn(*lead, n_visible, n_hidden) / math.sqrt(n_hidden))

    def logits(self, v: Tensor, biases: Biases) -> Tensor:
        """Logits of p(v_i = 1 | v_<i) [..., P] for all notes of all frames at once; v must be 0/1.

        a_i = b_h + Σ_{j<i} W_j v_j only changes after an on-note, so with at most K on-notes a frame has K + 1
        distinct hidden vectors h_s = σ(a_s) (s = number of on-notes below i). Their sums are one masked GEMM
        (mask_sj = v_j when fewer than s on-notes lie below j) [N, M·(K+1), P] × W, and one batched matmul
        h_s V^T [N, M·(K+1), P] gives every segment's logits, of which each note takes its own.
        """
        W, V, b_h = _stack(self, self.W), _stack(self, self.V), _stack(self, biases["b_h"])
        n, (p, h) = W.shape[0], W.shape[1:]
        vs = v if self.members and v.dim() == b_h.dim() else v.unsqueeze(0)  # [1 or N, ..., P]
        lead = (n, *_lead_shape(vs, b_h)[1:])
        flat = vs.expand(vs.shape[0], *lead[1:], p).reshape(vs.shape[0], -1, p)  # [1 or N, M, P]
        m = flat.shape[1]
        below = torch.cumsum(flat, -1) - flat  # on-notes strictly below i [1 or N, M, P]
        k1 = 1 + (int(flat.sum(-1).max()) if flat.numel() else 0)
        segments = torch.arange(k1, device=W.device, dtype=flat.dtype).view(k1, 1)
        mask = (flat[:, :, None, :] * (below[:, :, None, :] < segments)).view(flat.shape[0], m * k1, p)
        sums = torch.bmm(mask.to(W.dtype).expand(n, -1, -1), W).view(n, m, k1, h)
        a = b_h.expand(*lead, h).reshape(n, m, 1, h) + sums
        per_segment = torch.bmm(torch.sigmoid(a).view(n, m * k1, h), V.transpose(1, 2)).view(n, m, k1, p)
        s = per_segment.gather(2, below.long().expand(n, m, p)[:, :, None, :]).squeeze(2)
        return _unstack(self, _stack(self, biases["b_v"]) + s.reshape(*lead, p))

    def log_prob(self, v: Tensor, biases: Biases) -> Tensor:
        """Exact log p(v) = Σ_i log p(v_i | v_<i) [...]."""
        return _bernoulli_log_prob(v, self.logits(v, biases))

    @torch.no_grad()
    def sample(self, biases, generator=None, temperature=1.0):
        """Ancestral sampling note by note: v_i ~ Bernoulli(σ(logit_i / T)), a true draw each note."""
        W, V = _stack(self, self.W), _stack(self, self.V) / temperature
        b_v, b_h = _stack(self, biases["b_v"]), _stack(self, biases["b_h"])
        n, lead = W.shape[0], _lead_shape(b_v, b_h)
        a = b_h.expand(*lead, self.n_hidden).reshape(n, -1, self.n_hidden).clone()  # [N, M, H]
        b_v = (b_v / temperature).expand(*lead, self.n_visible).reshape(n, -1, self.n_visible)
        u = torch.rand(self.n_visible, n, a.shape[1], generator=generator, device=a.device, dtype=a.dtype)
        h = torch.sigmoid(a)
        for i in range(self.n_visible):  # u[i] becomes v_i in place: 1 where u_i < p(v_i = 1 | v_<i)
            u[i].lt_(torch.baddbmm(b_v[:, :, i, None], h, V[:, i, :, None]).squeeze(-1).sigmoid_())
            torch.sigmoid(a.baddbmm_(u[i][:, :, None], W[:, i][:, None, :]), out=h)
        return _unstack(self, u.permute(1, 2, 0).reshape(*lead, self.n_visible))


def _stack(cond: Conditional, t: Tensor) -> Tensor:
    """A weight or bias with its member axis (N = 1 added for a single model)."""
    return t if cond.members else t.unsqueeze(0)


def _unstack(cond: Conditional, t: Tensor) -> Tensor:
    """Inverse of `_stack` for results."""
    return t if cond.members else t.squeeze(0)


class RBM(Conditional):
    """Binary RBM with weights W [P, H] and external biases b_v [..., P], b_h [..., H].

    Energy E(v, h) = −v·b_v − h·b_h − vWh; free energy F(v) = −v·b_v − Σ_j softplus(b_h + vW)_j. Trained by CD-k
    (`cd_k`); samples by `sample_steps` block-Gibbs rounds; log-likelihood −F(v) − log Z per frame with log Z from
    forward AIS of `ais_runs` × `ais_steps` (β `ais_schedule`), bracketed by reverse AIS (seqgen.music.ais).
    """

    estimator = "ais"
    settings = ("sample_steps", "ais_runs", "ais_steps", "ais_schedule")

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        cd_k: int = 15,
        sample_steps: int = 25,
        ais: AISSettings | None = None,
        members: int | None = None,
    ) -> None:
        super().__init__()
        self.n_visible, self.n_hidden, self.members = n_visible, n_hidden, members
        self.cd_k, self.sample_steps = cd_k, sample_steps
        ais = ais or AISSettings()
        self.ais_runs, self.ais_steps, self.ais_schedule = ais.runs, ais.steps, ais.schedule
        self.bias_sizes = {"b_v": n_visible, "b_h": n_hidden}
        self.W = nn.Parameter(0.01 * torch.randn(*member_axis(members), n_visible, n_hidden))
        self.streams = None  # CD-k's generator(s) when `loss` is given none: a population sets one per member
        self._uniforms: Tensor | None = None  # Gibbs' uniform block, kept between calls (see `_uniform_block`)

    def free_energy(self, v: Tensor, biases: Biases) -> Tensor:
        """F(v) [...] = −v·b_v − Σ_j softplus(b_h + vW)_j."""
        W, b_h = _stack(self, self.W), _stack(self, biases["b_h"])
        vs = v if self.members and v.dim() == b_h.dim() else v.unsqueeze(0)  # [1 or N, ..., P]
        vw = torch.matmul(vs.reshape(vs.shape[0], -1, self.n_visible), W).view(W.shape[0], *vs.shape[1:-1], -1)
        return -(v * biases["b_v"]).sum(-1) - _unstack(self, F.softplus(b_h + vw).sum(-1))

    @torch.no_grad()
    def gibbs(self, v: Tensor, biases: Biases, steps: int, generator=None, temperature: float = 1.0) -> Tensor:
        """`steps` rounds of block Gibbs v → h ~ σ((b_h + vW)/T) → v ~ σ((b_v + Wh)/T) on chains v [(N,) ..., P].

        The uniforms of all rounds are drawn in one block per member (`member_uniforms`: `generator` may be one
        per member), in the order the rounds use them.
        """
        W = _stack(self, self.W) / temperature
        b_v, b_h = _stack(self, biases["b_v"]) / temperature, _stack(self, biases["b_h"]) / temperature
        n = W.shape[0]
        lead = (n, *_lead_shape(_stack(self, v), b_h)[1:])
        v = _stack(self, v).expand(*lead, self.n_visible).reshape(n, -1, self.n_visible)
        m, sizes = v.shape[1], (v.shape[1] * self.n_hidden, v.shape[1] * self.n_visible)
        block = self._uniform_block(n, steps * sum(sizes), v) if self.members else None
        u = member_uniforms(generator, n, steps * sum(sizes), v, block).view(n, steps, sum(sizes))
        b_v, b_h = (
            b_v.expand(*lead, self.n_visible).reshape(n, m, -1),
            b_h.expand(*lead, self.n_hidden).reshape(n, m, -1),
        )
        for step in range(steps):
            u_h, u_v = u[:, step, : sizes[0]].view(n, m, -1), u[:, step, sizes[0] :].view(n, m, -1)
            h = u_h.lt_(torch.baddbmm(b_h, v, W).sigmoid_()).to(v.dtype)
            v = u_v.lt_(torch.baddbmm(b_v, h, W.transpose(1, 2)).sigmoid_()).to(v.dtype)
        v = v.reshape(*lead, self.n_visible)
        return _unstack(self, v if block is None else v.clone())  # a population's v was written into the block

    def _uniform_block(self, n: int, size: int, like: Tensor) -> Tensor:
        """A population's uniforms [n, size] in the largest block drawn so far: one for CD-15, N = 8 and 400 frames
        (46 MB) is over glibc's 32 MB mmap limit, and a fresh one cost 11,000 page faults per step."""
        block = self._uniforms
        if block is None or block.numel() < n * size or block.dtype != like.dtype or block.device != like.device:
            block = self._uniforms = like.new_empty(n * size)
        return block[: n * size].view(n, size)

    def loss(self, v, biases, generator=None):
        """CD-k loss F(v) − F(ṽ) [...], ṽ the end of a k-step Gibbs chain from the data, held constant."""
        with torch.no_grad():
            generator = self.streams if generator is None else generator
            neg = self.gibbs(v, {k: b.detach() for k, b in biases.items()}, self.cd_k, generator)
        return self.free_energy(v, biases) - self.free_energy(neg, biases)

    def sample(self, biases, generator=None, temperature=1.0):
        """`sample_steps` block-Gibbs rounds started from v_0 ~ σ(b_v / T)."""
        lead = _lead_shape(biases["b_v"], biases["b_h"])
        b_v = biases["b_v"].expand(*lead, self.n_visible)
        v0 = _bernoulli(torch.sigmoid(b_v / temperature), generator)
        return self.gibbs(v0, biases, self.sample_steps, generator, temperature)

    @torch.no_grad()
    def log_likelihood(self, v, biases, generator=None):
        """−F(v) − log Ẑ [...] with log Ẑ from forward AIS (value, stderr; `upper` = value) and reverse AIS from v
        (`lower`); frames are processed in chunks of at most `AIS_ROWS` chains."""
        if self.members:
            raise ValueError("AIS estimates one model at a time: take the member out (seqgen.core.population)")
        settings = AISSettings(self.ais_runs, self.ais_steps, self.ais_schedule)
        lead = v.shape[:-1]
        flat_v = v.reshape(-1, self.n_visible)
        b_v = biases["b_v"].expand(*lead, self.n_visible).reshape(-1, self.n_visible)
        b_h = biases["b_h"].expand(*lead, self.n_hidden).reshape(-1, self.n_hidden)
        chunk = max(1, AIS_ROWS // settings.runs)
        parts = [
            log_partition(self.W, b_v[s : s + chunk], b_h[s : s + chunk], settings, flat_v[s : s + chunk], generator)
            for s in range(0, flat_v.shape[0], chunk)
        ]
        neg_f = -self.free_energy(flat_v, {"b_v": b_v, "b_h": b_h})
        forward = neg_f - torch.cat([p.log_z for p in parts])
        reverse = neg_f - torch.cat([p.log_z_reverse for p in parts])
        stderr = torch.cat([p.stderr for p in parts])
        return LogLikelihood(*(t.reshape(lead) for t in (forward, stderr, reverse, forward)))

    def describe(self) -> dict:
        """Settings plus what `lower` and `upper` are."""
        return {
            **super().describe(),
            "lower_estimator": "reverse AIS from the data (RAISE)",
            "upper_estimator": "forward AIS",
        }
