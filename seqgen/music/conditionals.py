"""Per-frame conditional distributions p(v_t | u_{t-1}) over a piano-roll frame v [..., P].

Each conditional takes EXTERNAL biases (computed from the RNN state by the model) and offers
`log_prob`, `loss` and `sample`; RNN-RBM, RNN-NADE and RNN-Bernoulli differ only in which one they
use (Boulanger-Lewandowski et al. 2012). Temperature T divides every logit / energy.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

Biases = dict[str, Tensor]


class Conditional(nn.Module):
    """Base class: a distribution over v [..., P] in {0,1}^P whose biases are given per frame."""

    bias_sizes: dict[str, int]
    exact: bool

    def log_prob(self, v: Tensor, biases: Biases) -> Tensor:
        """log p(v) [...] in nats."""
        raise NotImplementedError

    def loss(self, v: Tensor, biases: Biases, generator: torch.Generator | None = None) -> Tensor:
        """Per-frame training loss [...] (the negative log-likelihood for exact conditionals)."""
        return -self.log_prob(v, biases)

    def sample(
        self,
        biases: Biases,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        gibbs_steps: int | None = None,
    ) -> Tensor:
        """A true draw v [..., P] (float 0/1) from the conditional at temperature T."""
        raise NotImplementedError


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

    exact = True

    def __init__(self, n_visible: int) -> None:
        super().__init__()
        self.n_visible = n_visible
        self.bias_sizes = {"b_v": n_visible}

    def log_prob(self, v: Tensor, biases: Biases) -> Tensor:
        """Σ_i log Bernoulli(v_i; σ(b_v,i)) [...]."""
        return _bernoulli_log_prob(v, biases["b_v"])

    def sample(self, biases, generator=None, temperature=1.0, gibbs_steps=None):
        """Each note drawn independently from σ(b_v / T)."""
        return _bernoulli(torch.sigmoid(biases["b_v"] / temperature), generator)


def _active_notes(v: Tensor) -> tuple[Tensor, Tensor]:
    """Positions of the on-notes of each frame v [N, P] in increasing order, padded: (index [N, K], valid [N, K]).

    K is the largest number of on-notes in any frame (at least 1).
    """
    position = torch.arange(v.shape[-1], device=v.device)
    key = torch.where(v > 0, position, position + v.shape[-1])  # on-notes first, in pitch order
    k = max(1, int((v > 0).sum(-1).max()) if v.numel() else 1)
    index = key.sort(-1).values[:, :k]
    valid = index < v.shape[-1]
    return torch.where(valid, index, 0), valid


class NADE(Conditional):
    """NADE with weights W, V [P, H] and external biases b_v [..., P], b_h [..., H] (Larochelle & Murray 2011).

    p(v_i = 1 | v_<i) = σ(b_v,i + V_i · σ(b_h + Σ_{j<i} W_j v_j)), notes in increasing pitch order.
    """

    exact = True

    def __init__(self, n_visible: int, n_hidden: int) -> None:
        super().__init__()
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.bias_sizes = {"b_v": n_visible, "b_h": n_hidden}
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden) / math.sqrt(n_visible))
        self.V = nn.Parameter(torch.randn(n_visible, n_hidden) / math.sqrt(n_hidden))

    def logits(self, v: Tensor, biases: Biases) -> Tensor:
        """Logits of p(v_i = 1 | v_<i) [..., P] for all notes of all frames at once; v must be 0/1.

        a_i = b_h + Σ_{j<i} W_j v_j only changes after an on-note, so with K on-notes a frame has K + 1
        distinct hidden vectors h_s = σ(a_s) (s = number of on-notes below i): a cumulative sum over
        the on-notes [N, K+1, H] and one matmul h_s V^T [N, K+1, P] replace the dense [N, P, H] cumsum.
        """
        flat = v.reshape(-1, self.n_visible)
        b_h = biases["b_h"].expand(*v.shape[:-1], self.n_hidden).reshape(-1, self.n_hidden)
        index, valid = _active_notes(flat)
        rows = self.W[index] * valid[..., None]  # W_j of the on-notes [N, K, H]
        a = b_h[:, None, :] + torch.cat([torch.zeros_like(rows[:, :1]), torch.cumsum(rows, 1)], 1)
        per_segment = torch.sigmoid(a) @ self.V.T  # V_i · h_s for every s and i [N, K+1, P]
        segment = (torch.cumsum(flat, -1) - flat).long()  # on-notes strictly below i [N, P]
        s = per_segment.gather(1, segment[:, None, :]).squeeze(1)
        return biases["b_v"] + s.reshape(v.shape)

    def log_prob(self, v: Tensor, biases: Biases) -> Tensor:
        """Exact log p(v) = Σ_i log p(v_i | v_<i) [...]."""
        return _bernoulli_log_prob(v, self.logits(v, biases))

    @torch.no_grad()
    def sample(self, biases, generator=None, temperature=1.0, gibbs_steps=None):
        """Ancestral sampling note by note: v_i ~ Bernoulli(σ(logit_i / T)), a true draw each note."""
        b_v, b_h = biases["b_v"], biases["b_h"]
        lead = _lead_shape(b_v, b_h)
        a = b_h.expand(*lead, self.n_hidden).reshape(-1, self.n_hidden).clone()  # [N, H]
        b_v = (b_v / temperature).expand(*lead, self.n_visible).reshape(-1, self.n_visible)
        V = self.V / temperature
        u = torch.rand(self.n_visible, a.shape[0], generator=generator, device=a.device, dtype=a.dtype)
        h = torch.sigmoid(a)
        for i in range(self.n_visible):  # u[i] becomes v_i in place: 1 where u_i < p(v_i = 1 | v_<i)
            u[i].lt_(torch.addmv(b_v[:, i], h, V[i]).sigmoid_())
            torch.sigmoid(a.addr_(u[i], self.W[i]), out=h)
        return u.T.reshape(*lead, self.n_visible)


class RBM(Conditional):
    """Binary RBM with weights W [P, H] and external biases b_v [..., P], b_h [..., H].

    Energy E(v, h) = −v·b_v − h·b_h − vWh; free energy F(v) = −v·b_v − Σ_j softplus(b_h + vW)_j.
    Trained by CD-k; log-likelihood needs log Z per frame: exact (enumerating h, tiny H) or AIS.
    """

    exact = False

    def __init__(self, n_visible: int, n_hidden: int, cd_k: int = 15, sample_steps: int = 25) -> None:
        super().__init__()
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.cd_k, self.sample_steps = cd_k, sample_steps
        self.bias_sizes = {"b_v": n_visible, "b_h": n_hidden}
        self.W = nn.Parameter(0.01 * torch.randn(n_visible, n_hidden))

    def free_energy(self, v: Tensor, biases: Biases) -> Tensor:
        """F(v) [...] = −v·b_v − Σ_j softplus(b_h + vW)_j."""
        return -(v * biases["b_v"]).sum(-1) - F.softplus(biases["b_h"] + v @ self.W).sum(-1)

    def gibbs(
        self, v: Tensor, biases: Biases, steps: int, generator=None, temperature: float = 1.0
    ) -> Tensor:
        """`steps` rounds of block Gibbs v → h ~ σ((b_h + vW)/T) → v ~ σ((b_v + Wh)/T)."""
        W, b_v, b_h = self.W / temperature, biases["b_v"] / temperature, biases["b_h"] / temperature
        for _ in range(steps):
            h = _bernoulli((v @ W).add_(b_h).sigmoid_(), generator)
            v = _bernoulli((h @ W.T).add_(b_v).sigmoid_(), generator)
        return v

    def loss(self, v, biases, generator=None):
        """CD-k loss F(v) − F(ṽ) [...], ṽ the end of a k-step Gibbs chain from the data, held constant."""
        with torch.no_grad():
            neg = self.gibbs(v, {k: b.detach() for k, b in biases.items()}, self.cd_k, generator)
        return self.free_energy(v, biases) - self.free_energy(neg, biases)

    def sample(self, biases, generator=None, temperature=1.0, gibbs_steps=None):
        """Block Gibbs, `gibbs_steps` (default `sample_steps`) rounds started from v_0 ~ σ(b_v / T)."""
        steps = self.sample_steps if gibbs_steps is None else gibbs_steps
        lead = _lead_shape(biases["b_v"], biases["b_h"])
        b_v = biases["b_v"].expand(*lead, self.n_visible)
        v0 = _bernoulli(torch.sigmoid(b_v / temperature), generator)
        return self.gibbs(v0, biases, steps, generator, temperature)

    def log_prob(self, v: Tensor, biases: Biases, log_z: Tensor | None = None) -> Tensor:
        """log p(v) = −F(v) − log Z [...]; log Z given (e.g. from AIS) or exact by enumeration (tiny H)."""
        if log_z is None:
            log_z = self.exact_log_partition(biases)
        return -self.free_energy(v, biases) - log_z

    def exact_log_partition(self, biases: Biases) -> Tensor:
        """log Z [...] = logsumexp_h [h·b_h + Σ_i softplus(b_v,i + W_i·h)] over all 2^H hidden states."""
        if self.n_hidden > 20:
            raise ValueError(f"exact log Z enumerates 2^H hidden states; H = {self.n_hidden} is too many")
        H = self.n_hidden
        hs = ((torch.arange(2**H, device=self.W.device)[:, None] >> torch.arange(H, device=self.W.device)) & 1)
        hs = hs.to(self.W.dtype)  # [2^H, H]
        b_v, b_h = biases["b_v"], biases["b_h"]
        terms = b_h @ hs.T + F.softplus(b_v[..., None, :] + hs @ self.W.T).sum(-1)  # [..., 2^H]
        return torch.logsumexp(terms, -1)

    def _log_unnormalised(self, v: Tensor, b_v: Tensor, b_h: Tensor, beta: float) -> Tensor:
        """log p*_β(v) = v·b_v + Σ_j softplus(b_h + β vW)_j for the RBM with weights βW."""
        return (v * b_v).sum(-1) + F.softplus(b_h + beta * (v @ self.W)).sum(-1)

    @torch.no_grad()
    def ais_log_partition(
        self, biases: Biases, runs: int = 100, betas: Tensor | int = 1000, generator=None
    ) -> tuple[Tensor, Tensor]:
        """AIS estimate of log Z [...] and its standard error [...], batched over frames and runs.

        Base: the RBM with W = 0 and the frame's own b_v, b_h (log Z_0 = Σ softplus(b_v) + Σ softplus(b_h),
        exact samples); path p_β with weights βW, one Gibbs round per β (Salakhutdinov & Murray 2008).
        log Ẑ = log Z_0 + log-mean-exp of the runs' log-weights; stderr by the delta method,
        std(w) / (√runs · mean(w)). `betas` is a schedule from 0 to 1 or a number of sigmoid-spaced steps.
        """
        if isinstance(betas, int):
            betas = sigmoid_betas(betas)
        lead = _lead_shape(biases["b_v"], biases["b_h"])
        b_v = biases["b_v"].expand(*lead, self.n_visible).reshape(1, -1, self.n_visible)
        b_h = biases["b_h"].expand(*lead, self.n_hidden).reshape(1, -1, self.n_hidden)
        n = b_v.shape[1]
        v = _bernoulli(torch.sigmoid(b_v).expand(runs, n, self.n_visible), generator)
        log_w = b_v.new_zeros(runs, n)
        betas = betas.tolist()
        w_t = self.W.T.expand(runs, self.n_hidden, self.n_visible)
        for prev, beta in itertools.pairwise(betas):
            vW = v @ self.W
            x = torch.add(b_h, vW, alpha=beta)
            log_w += F.softplus(x).sum(-1) - F.softplus(torch.add(b_h, vW, alpha=prev)).sum(-1)
            h = _bernoulli(torch.sigmoid(x), generator)
            v = _bernoulli(torch.sigmoid(torch.baddbmm(b_v, h, w_t, alpha=beta)), generator)
        log_z0 = F.softplus(b_v[0]).sum(-1) + F.softplus(b_h[0]).sum(-1)
        log_mean_w = torch.logsumexp(log_w, 0) - math.log(runs)
        w = torch.exp(log_w - log_mean_w)  # weights relative to their mean
        stderr = w.std(0, unbiased=True) / math.sqrt(runs) if runs > 1 else torch.full_like(log_z0, math.inf)
        return (log_z0 + log_mean_w).reshape(lead), stderr.reshape(lead)


def sigmoid_betas(steps: int, spread: float = 4.0) -> Tensor:
    """An inverse-temperature schedule 0 = β_0 < … < β_steps = 1, sigmoid-spaced (denser at both ends)."""
    s = torch.sigmoid(torch.linspace(-spread, spread, steps + 1, dtype=torch.float64))
    return (s - s[0]) / (s[-1] - s[0])
