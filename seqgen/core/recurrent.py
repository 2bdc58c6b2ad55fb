"""The recurrent core shared by music, text and the lab: tanh | relu | sigmoid | linear units with optional leaky
integration and identity (IRNN) initialisation, plus LSTM and GRU baselines, for one model or N members.

Plain units follow u_t = f(W_uu u_{t−1} + W_vu x_t + b_u); leaky units (Bengio et al. 2013)
h_t = α ⊙ h_{t−1} + (1 − α) ⊙ f(W_uu h_{t−1} + W_vu x_t + b_u) with one α per unit.
Shapes are batch-first: x [B, T, I], h [B, T, H]. The carried state is a `State` (h [B, H], and the
cell c [B, H] for LSTM) that only this module looks inside: callers use `.h`, `.detach()`, `.repeat(n)`.
A population (`members=N`) stacks every weight [N, ...] and runs the same code: inputs [B, T, I] shared by all
members or [N, B, T, I] per member, outputs [N, B, T, H], states [N, B, H]. A single model is the case N = 1
with the member axis squeezed away, so its state_dict keys and shapes are those of earlier versions
(LSTM/GRU weights keep nn.LSTM's names `rnn.weight_ih_l0`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqgen.core.recurrent_scan import scan
from seqgen.errors import check_choice

CELLS = ("tanh", "relu", "sigmoid", "linear", "lstm", "gru")  # linear: f(z) = z, for analytic tests
GATES = {"lstm": 4, "gru": 3}
INITS = ("auto", "identity", "orthogonal", "gaussian")


@dataclass
class RecurrentConfig:
    """Settings of a `Recurrent` layer; plain values only so that `asdict` goes into checkpoints.

    `init` chooses W_uu [H, H] for tanh/relu/sigmoid: "identity" is s·I (IRNN; s = `init_scale`,
    e.g. 0.01 for scaled identity), "orthogonal" has gain s, "gaussian" has std s/√H; "auto" is
    identity for relu and orthogonal otherwise. `tau_max` bounds the initial leaky time constants.
    """

    input_size: int
    hidden_size: int
    cell: str = "tanh"
    leaky: bool = False
    learn_alpha: bool = True
    tau_max: float = 100.0
    dropout: float = 0.0
    init: str = "auto"
    init_scale: float = 1.0

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, CELLS)
        check_choice("init", self.init, INITS)
        if self.leaky and self.cell in ("lstm", "gru"):
            raise ValueError(f"leaky integration applies to tanh/relu/sigmoid/linear units, not {self.cell}")
        if self.tau_max < 1.0:
            raise ValueError(f"tau_max {self.tau_max}: time constants are at least 1 step")


@dataclass(frozen=True)
class State:
    """What a recurrent layer carries between steps: the output h = u_t [B, H] and, for LSTM, the cell c [B, H]."""

    h: Tensor
    c: Tensor | None = None

    def detach(self) -> State:
        """The same values cut from the graph (truncated BPTT between chunks)."""
        return State(self.h.detach(), None if self.c is None else self.c.detach())

    def repeat(self, n: int) -> State:
        """A batch-1 state repeated for n sequences [..., n, H] (one context, n continuations)."""
        grow = lambda s: s.expand(*s.shape[:-2], n, s.shape[-1]).contiguous()
        return State(grow(self.h), None if self.c is None else grow(self.c))

    def select(self, keep: Tensor) -> State:
        """The states of the members at positions `keep` (population states [N, B, H])."""
        return State(self.h[keep], None if self.c is None else self.c[keep])


def leaky_alpha_logits(hidden_size: int, tau_max: float) -> Tensor:
    """Logits of α [H] with α_i = 1 − 1/τ_i and τ_i spread log-uniformly (geometrically) over [1, τ_max].

    α is clamped to [1e-3, 1 − 1e-4] so the logits are finite; α ≈ 0 is a plain unit.
    """
    tau = torch.logspace(0.0, math.log10(tau_max), hidden_size, dtype=torch.float64)
    alpha = (1.0 - 1.0 / tau).clamp(1e-3, 1.0 - 1e-4)
    return torch.logit(alpha).float()


class Recurrent(nn.Module):
    """One recurrent layer [B, T, I] → [B, T, H] (or N members, see the module docstring) whose only Python
    loop is over time steps; tanh/relu/sigmoid/linear units run in `recurrent_scan.Scan`.

    Leaky α is learned by default through a sigmoid of a per-unit logit (`alpha_logit` [H]),
    initialised with time constants τ log-uniform in [1, τ_max] (α = 1 − 1/τ); with
    `learn_alpha=False` it stays fixed at that initialisation. Dropout acts on the outputs only,
    never on the carried state. For ReLU units the returned h is the activation an L1 penalty uses.
    """

    def __init__(self, config: RecurrentConfig, members: int | None = None):
        super().__init__()
        self.config, self.members = config, members
        lead = () if members is None else (members,)
        cell, n_in, n_hid = config.cell, config.input_size, config.hidden_size
        if cell in GATES:
            g = GATES[cell] * n_hid
            self.rnn = nn.Module()  # holds nn.LSTM/GRU's parameter names, initialised as they are
            shapes = {"weight_ih_l0": (g, n_in), "weight_hh_l0": (g, n_hid), "bias_ih_l0": (g,), "bias_hh_l0": (g,)}
            bound = 1.0 / math.sqrt(n_hid)
            for name, shape in shapes.items():
                self.rnn.register_parameter(name, nn.Parameter(torch.empty(*lead, *shape)))
            with torch.no_grad():
                for slot in _members(lead):
                    for p in self.rnn.parameters():
                        p[slot].uniform_(-bound, bound)
        else:
            self.W_vu = nn.Parameter(torch.empty(*lead, n_hid, n_in))
            self.W_uu = nn.Parameter(torch.empty(*lead, n_hid, n_hid))
            self.b_u = nn.Parameter(torch.zeros(*lead, n_hid))
            if config.leaky:
                logits = leaky_alpha_logits(n_hid, config.tau_max).expand(*lead, n_hid).clone()
                if config.learn_alpha:
                    self.alpha_logit = nn.Parameter(logits)
                else:
                    self.register_buffer("alpha_logit", logits)
            for slot in _members(lead):
                self._reset_custom(slot)
        self.dropout = nn.Dropout(config.dropout)

    def _reset_custom(self, slot) -> None:
        """W_vu ~ U(±1/√I); W_uu per `config.init`; b_u = 0 (IRNN starts with zero biases); one member's slot."""
        c = self.config
        bound = 1.0 / math.sqrt(c.input_size)
        w_uu = self.W_uu[slot]
        with torch.no_grad():
            self.W_vu[slot].uniform_(-bound, bound)
            init = c.init if c.init != "auto" else ("identity" if c.cell == "relu" else "orthogonal")
            if init == "identity":
                w_uu.copy_(c.init_scale * torch.eye(c.hidden_size))
            elif init == "orthogonal":
                nn.init.orthogonal_(w_uu, gain=c.init_scale)
            else:
                w_uu.normal_(0.0, c.init_scale / math.sqrt(c.hidden_size))

    def _stacked(self, tensor: Tensor) -> Tensor:
        """A weight with its member axis [N, ...] (N = 1 for a single model)."""
        return tensor if self.members else tensor.unsqueeze(0)

    @property
    def alpha(self) -> Tensor | None:
        """Per-unit leak α [H] (or [N, H]) = σ(alpha_logit), or None for non-leaky units."""
        return torch.sigmoid(self.alpha_logit) if self.config.leaky else None

    def initial_state(self, batch_size: int) -> State:
        """Zero state (h, and c for LSTM) [B, H] (or [N, B, H]) on the layer's device and dtype."""
        lead = () if self.members is None else (self.members,)
        h = next(self.parameters()).new_zeros(*lead, batch_size, self.config.hidden_size)
        return State(h, h.clone() if self.config.cell == "lstm" else None)

    def forward(self, x: Tensor, state: State | None = None, probes: State | None = None) -> tuple[Tensor, State]:
        """Run x [B, T, I] (or [N, B, T, I]) from `state` (zeros if None); return outputs h [(N,) B, T, H] and the
        final state. `probes` (a population's zeros [N, B, T, H]: h, and c for LSTM) receive as gradient the total
        ∂L/∂h_t (∂L/∂c_t) along all paths through time, for gradient diagnostics."""
        batch = x.shape[-3]
        if state is None:
            state = self.initial_state(batch)
        h0, c0 = self._stacked(state.h), None if state.c is None else self._stacked(state.c)
        if self.config.cell in GATES and not self.members and probes is None:  # PyTorch's kernel: x7 faster (LSTM)
            h, last = _library(self.config.cell, x, state, list(self.rnn.parameters()), self.training)
            return self.dropout(h), last
        drive = self._drive(x if x.dim() == 4 else x.unsqueeze(0))  # shared inputs get a member axis of 1
        if probes is not None:  # time-major views, like the drives
            probes = State(probes.h.transpose(1, 2), None if probes.c is None else probes.c.transpose(1, 2))
        if x.shape[-2] == 0:
            h, last = drive.new_zeros(*drive.shape[:3], self.config.hidden_size), State(h0, c0)
        elif self.config.cell in GATES:
            r = self.rnn
            weights = (self._stacked(r.weight_hh_l0), self._stacked(r.bias_hh_l0))
            h, last = _gated(self.config.cell, drive, h0, c0, *weights, probes)
        else:
            alpha = None if self.alpha is None else self._stacked(self.alpha)
            probe = None if probes is None else probes.h
            h = scan(drive, h0, self._stacked(self.W_uu), alpha, self.config.cell, probe)
            last = State(h[:, -1])
        h = h.transpose(1, 2)  # [N, B, T, H], a view of the time-major states
        if not self.members:
            h, last = h.squeeze(0), State(last.h.squeeze(0), None if last.c is None else last.c.squeeze(0))
        return self.dropout(h), last

    def _drive(self, x: Tensor) -> Tensor:
        """W_in x_t + b for all steps, time-major [N, T, B, G·H], in one batched matmul; x [1 or N, B, T, I]."""
        if self.config.cell in GATES:
            r = self.rnn
            lstm = self.config.cell == "lstm"  # a GRU's reset gate multiplies b_hh, so it stays in the step
            w, b = self._stacked(r.weight_ih_l0), self._stacked(r.bias_ih_l0 + r.bias_hh_l0 if lstm else r.bias_ih_l0)
        else:
            w, b = self._stacked(self.W_vu), self._stacked(self.b_u)
        n, (_, batch, steps, n_in) = w.shape[0], x.shape
        rows = x.transpose(1, 2).reshape(x.shape[0], steps * batch, n_in)
        flat = torch.baddbmm(b.unsqueeze(1), rows.expand(n, -1, -1), w.transpose(1, 2))
        return flat.view(n, steps, batch, w.shape[1])

    def step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step x_t [B, I] (or [N, B, I]) → (h_t [(N,) B, H], state): `forward` on a length-1 sequence."""
        h, last = self.forward(x_t.unsqueeze(-2), state)
        return h.squeeze(-2), last


def _members(lead: tuple[int, ...]) -> list:
    """Index of each member's slot: [i for i < N], or [...] for a single model (the whole tensor)."""
    return list(range(lead[0])) if lead else [Ellipsis]


def _library(cell: str, x: Tensor, state: State, weights: list[Tensor], train: bool) -> tuple[Tensor, State]:
    """A single LSTM / GRU through PyTorch's fused kernel (the same weights and gate layout as `_gated`, which
    population tests check it against); x [B, T, I], state [B, H]."""
    if cell == "lstm":
        h, h_n, c_n = torch.lstm(
            x, (state.h.unsqueeze(0), state.c.unsqueeze(0)), weights, True, 1, 0.0, train, False, True
        )
        return h, State(h_n.squeeze(0), c_n.squeeze(0))
    h, h_n = torch.gru(x, state.h.unsqueeze(0), weights, True, 1, 0.0, train, False, True)
    return h, State(h_n.squeeze(0))


def _gated(
    cell: str, drive: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor, probes: State | None = None
) -> tuple[Tensor, State]:
    """LSTM / GRU steps over time-major drives [N, T, B, G·H] in PyTorch's gate layout (i, f, g, o) and (r, z, n):
    LSTM c = σ(f)c + σ(i)tanh(g), h = σ(o)tanh(c); GRU n = tanh(i_n + r(W_hn h + b_hn)), h = (1 − z)n + zh
    (the LSTM's drive holds both biases, the GRU's only b_ih)."""
    w_t, hidden, outputs, b_hh = w_hh.transpose(1, 2), h.shape[-1], [], b_hh.unsqueeze(1)
    for t, d in enumerate(drive.unbind(1)):  # unbind: its backward is one stack, not T scatters
        if cell == "lstm":
            gates = torch.baddbmm(d, h, w_t)
            sig = torch.sigmoid(gates)
            c = torch.addcmul(
                sig[..., hidden : 2 * hidden] * c, sig[..., :hidden], torch.tanh(gates[..., 2 * hidden : 3 * hidden])
            )
            h = sig[..., 3 * hidden :] * torch.tanh(c)
        else:
            gh = torch.baddbmm(b_hh, h, w_t)
            rz = torch.sigmoid(d[..., : 2 * hidden] + gh[..., : 2 * hidden])
            n = torch.tanh(torch.addcmul(d[..., 2 * hidden :], rz[..., :hidden], gh[..., 2 * hidden :]))
            h = torch.lerp(n, h, rz[..., hidden:])
        if probes is not None:
            h = h + probes.h[:, t]
            c = None if c is None else c + probes.c[:, t]
        outputs.append(h)
    return torch.stack(outputs, 1), State(h, c)
