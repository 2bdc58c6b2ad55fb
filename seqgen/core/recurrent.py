"""The recurrent core shared by music and text: tanh | relu | sigmoid units with optional leaky
integration and identity (IRNN) initialisation, plus LSTM and GRU baselines.

Plain units follow u_t = f(W_uu u_{t−1} + W_vu x_t + b_u); leaky units (Bengio et al. 2013)
h_t = α ⊙ h_{t−1} + (1 − α) ⊙ f(W_uu h_{t−1} + W_vu x_t + b_u) with one α per unit.
Shapes are batch-first: x [B, T, I], h [B, T, H]. The carried state is a `State` (h [B, H], and the
cell c [B, H] for LSTM) that only this module looks inside: callers use `.h`, `.detach()`, `.repeat(n)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqgen.errors import check_choice

CELLS = ("tanh", "relu", "sigmoid", "lstm", "gru")
INITS = ("auto", "identity", "orthogonal", "gaussian")
_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


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
            raise ValueError(f"leaky integration applies to tanh/relu/sigmoid units, not {self.cell}")
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
        """A batch-1 state repeated for n sequences [n, H] (one context, n continuations)."""
        h = self.h.expand(n, -1).contiguous()
        return State(h, None if self.c is None else self.c.expand(n, -1).contiguous())


def leaky_alpha_logits(hidden_size: int, tau_max: float) -> Tensor:
    """Logits of α [H] with α_i = 1 − 1/τ_i and τ_i spread log-uniformly (geometrically) over [1, τ_max].

    α is clamped to [1e-3, 1 − 1e-4] so the logits are finite; α ≈ 0 is a plain unit.
    """
    tau = torch.logspace(0.0, math.log10(tau_max), hidden_size, dtype=torch.float64)
    alpha = (1.0 - 1.0 / tau).clamp(1e-3, 1.0 - 1e-4)
    return torch.logit(alpha).float()


class Recurrent(nn.Module):
    """One recurrent layer [B, T, I] → [B, T, H] whose only Python loop is over time steps.

    Leaky α is learned by default through a sigmoid of a per-unit logit (`alpha_logit` [H]),
    initialised with time constants τ log-uniform in [1, τ_max] (α = 1 − 1/τ); with
    `learn_alpha=False` it stays fixed at that initialisation. Dropout acts on the outputs only,
    never on the carried state. For ReLU units the returned h is the activation an L1 penalty uses.
    """

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        cell, n_in, n_hid = config.cell, config.input_size, config.hidden_size
        if cell in ("lstm", "gru"):
            self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(n_in, n_hid, batch_first=True)
        else:
            self.W_vu = nn.Parameter(torch.empty(n_hid, n_in))
            self.W_uu = nn.Parameter(torch.empty(n_hid, n_hid))
            self.b_u = nn.Parameter(torch.zeros(n_hid))
            if config.leaky:
                logits = leaky_alpha_logits(n_hid, config.tau_max)
                if config.learn_alpha:
                    self.alpha_logit = nn.Parameter(logits)
                else:
                    self.register_buffer("alpha_logit", logits)
            self._reset_custom()
        self.dropout = nn.Dropout(config.dropout)

    def _reset_custom(self) -> None:
        """W_vu ~ U(±1/√I); W_uu per `config.init`; b_u = 0 (IRNN starts with zero biases)."""
        c = self.config
        bound = 1.0 / math.sqrt(c.input_size)
        with torch.no_grad():
            self.W_vu.uniform_(-bound, bound)
            init = c.init if c.init != "auto" else ("identity" if c.cell == "relu" else "orthogonal")
            if init == "identity":
                self.W_uu.copy_(c.init_scale * torch.eye(c.hidden_size))
            elif init == "orthogonal":
                nn.init.orthogonal_(self.W_uu, gain=c.init_scale)
            else:
                self.W_uu.normal_(0.0, c.init_scale / math.sqrt(c.hidden_size))

    @property
    def alpha(self) -> Tensor | None:
        """Per-unit leak α [H] = σ(alpha_logit), or None for non-leaky units."""
        return torch.sigmoid(self.alpha_logit) if self.config.leaky else None

    def initial_state(self, batch_size: int) -> State:
        """Zero state (h, and c for LSTM) [B, H] on the layer's device and dtype."""
        h = next(self.parameters()).new_zeros(batch_size, self.config.hidden_size)
        return State(h, h.clone() if self.config.cell == "lstm" else None)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Run x [B, T, I] from `state` (zeros if None); return outputs h [B, T, H] and the final state."""
        if state is None:
            state = self.initial_state(x.shape[0])
        cell = self.config.cell
        if cell in ("lstm", "gru"):
            h, state = self._forward_library(x, state)
        elif self.config.leaky or cell == "sigmoid":
            h = self._forward_loop(x, state.h)
            state = State(h[:, -1])
        else:
            fused = torch.rnn_tanh if cell == "tanh" else torch.rnn_relu
            params = [self.W_vu, self.W_uu, self.b_u, torch.zeros_like(self.b_u)]
            h, last = fused(x, state.h.unsqueeze(0), params, True, 1, 0.0, self.training, False, True)
            state = State(last.squeeze(0))
        return self.dropout(h), state

    def step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step x_t [B, I] → (h_t [B, H], state); equals `forward` on a length-1 sequence."""
        if self.config.cell in ("lstm", "gru"):  # the cell functions skip nn.LSTM/GRU's per-call weight packing
            r = self.rnn
            weights = (r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0)
            if self.config.cell == "lstm":
                h, c = torch.lstm_cell(x_t, (state.h, state.c), *weights)
                return self.dropout(h), State(h, c)
            h = torch.gru_cell(x_t, state.h, *weights)
            return self.dropout(h), State(h)
        z = torch.addmm(torch.addmm(self.b_u, x_t, self.W_vu.t()), state.h, self.W_uu.t())
        h = _ACTIVATIONS[self.config.cell](z)
        if self.config.leaky:
            h = torch.lerp(h, state.h, self.alpha)
        return self.dropout(h), State(h)

    def _forward_loop(self, x: Tensor, h: Tensor) -> Tensor:
        """Time loop for leaky or sigmoid units; W_vu x_t + b_u for all t in one matmul [B, T, H]."""
        drive = torch.addmm(self.b_u, x.reshape(-1, x.shape[-1]), self.W_vu.t()).view(*x.shape[:2], len(self.b_u))
        f = _ACTIVATIONS[self.config.cell]
        w_uu_t, alpha = self.W_uu.t(), self.alpha
        outputs = []
        for drive_t in drive.unbind(1):  # unbind, not drive[:, t]: its backward is one stack, not T scatters
            a = f(torch.addmm(drive_t, h, w_uu_t))
            h = a if alpha is None else torch.lerp(a, h, alpha)
            outputs.append(h)
        return torch.stack(outputs, dim=1)

    def _forward_library(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """nn.LSTM / nn.GRU with our batch-first state layout ([B, H] instead of [1, B, H])."""
        if state.c is not None:
            h, (h_n, c_n) = self.rnn(x, (state.h.unsqueeze(0), state.c.unsqueeze(0)))
            return h, State(h_n.squeeze(0), c_n.squeeze(0))
        h, h_n = self.rnn(x, state.h.unsqueeze(0))
        return h, State(h_n.squeeze(0))
