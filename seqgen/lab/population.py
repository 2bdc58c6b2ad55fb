"""N independent RNNs of one shape as one batched model: stacked weights [N, ...], one batched matmul per
time step. Each member is initialised by the shared core (`seqgen.core.recurrent.Recurrent` and a linear
read-out built under the member's own seed), so member i equals the single RNN that seed gives.

Units follow the core: u_t = f(W_uu u_{t−1} + W_vu x_t + b_u) with f = tanh | relu | identity ("linear",
for analytic tests), optionally leaky h_t = α ⊙ h_{t−1} + (1 − α) ⊙ f(·); LSTM and GRU follow PyTorch's
gate layout (i, f, g, o) and (r, z, n). Inputs x [B, T, I] are shared by all members; states are [N, B, H].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqgen.core.recurrent import Recurrent, RecurrentConfig

CELLS = ("tanh", "relu", "linear", "lstm", "gru")
GATES = {"lstm": 4, "gru": 3}
_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}


@dataclass(frozen=True)
class Shape:
    """What all members of a population share. `init`/`init_scale` follow `RecurrentConfig` (tanh/relu/
    linear only; LSTM/GRU keep PyTorch's initialisation); `leaky` uses the core's log-uniform τ ≤ `tau_max`."""

    input_size: int
    hidden_size: int
    output_size: int
    cell: str = "tanh"
    init: str = "orthogonal"
    init_scale: float = 1.0
    leaky: bool = False
    tau_max: float = 100.0

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell {self.cell!r}: expected one of {', '.join(CELLS)}")

    @property
    def gated(self) -> bool:
        return self.cell in GATES


def _member_params(shape: Shape, seed: int) -> dict[str, Tensor]:
    """One member's parameters, built by the core `Recurrent` and `nn.Linear` under `seed` (global RNG restored)."""
    config = RecurrentConfig(
        shape.input_size,
        shape.hidden_size,
        cell="tanh" if shape.cell == "linear" else shape.cell,
        leaky=shape.leaky,
        tau_max=shape.tau_max,
        init=shape.init if not shape.gated else "auto",
        init_scale=shape.init_scale,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rnn = Recurrent(config)
        readout = nn.Linear(shape.hidden_size, shape.output_size)
    if shape.gated:
        r = rnn.rnn
        params = {"W_ih": r.weight_ih_l0, "W_hh": r.weight_hh_l0, "b_ih": r.bias_ih_l0, "b_hh": r.bias_hh_l0}
    else:
        params = {"W_vu": rnn.W_vu, "W_uu": rnn.W_uu, "b_u": rnn.b_u}
        if shape.leaky:
            params["alpha_logit"] = rnn.alpha_logit
    params.update(W_out=readout.weight, b_out=readout.bias)
    return {name: p.detach() for name, p in params.items()}


def init_population(shape: Shape, seeds: list[int], dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """Stacked parameters {name: leaf Tensor [N, ...]} for members with the given initialisation seeds."""
    members = [_member_params(shape, s) for s in seeds]
    return {k: torch.stack([m[k] for m in members]).to(dtype).requires_grad_() for k in members[0]}


def run(
    params: dict[str, Tensor], shape: Shape, x: Tensor, readout_steps: int = 1, keep_states: bool = False
) -> tuple[Tensor, list[Tensor]]:
    """Predictions [N, B, k, O] from the last k = `readout_steps` states for inputs x [B, T, I].

    With `keep_states`, also the carried states of every step (h_t [N, B, H]; for LSTM h_t and c_t
    alternate), e.g. to take ∂L/∂h_t; otherwise only the last k are kept (evaluation memory stays small).
    """
    n = next(iter(params.values())).shape[0]
    batch = x.shape[0]
    h = x.new_zeros(n, batch, shape.hidden_size)
    w_in, b_in = (params["W_ih"], params["b_ih"]) if shape.gated else (params["W_vu"], params["b_u"])
    drive = torch.matmul(x.reshape(1, -1, x.shape[-1]), w_in.transpose(1, 2)) + b_in.unsqueeze(1)
    drive = drive.view(n, batch, x.shape[1], -1)
    kept: list[Tensor] = []
    outputs: list[Tensor] = []
    if shape.cell == "lstm":
        _lstm(params, drive, h, kept, outputs, keep_states, readout_steps)
    elif shape.cell == "gru":
        _gru(params, drive, h, kept, outputs, keep_states, readout_steps)
    else:
        f = _ACTIVATIONS[shape.cell]
        w_t = params["W_uu"].transpose(1, 2)
        alpha = torch.sigmoid(params["alpha_logit"]).unsqueeze(1) if shape.leaky else None
        for d in drive.unbind(2):  # unbind: its backward is one stack, not T scatters
            a = f(torch.baddbmm(d, h, w_t))
            h = a if alpha is None else torch.lerp(a, h, alpha)
            _keep(h, kept, outputs, keep_states, readout_steps)
    last = torch.stack(outputs, 2)  # [N, B, k, H]
    pred = torch.matmul(last.flatten(1, 2), params["W_out"].transpose(1, 2)) + params["b_out"].unsqueeze(1)
    return pred.view(n, batch, readout_steps, -1), kept


def _keep(h: Tensor, kept: list, outputs: list, keep_states: bool, k: int, c: Tensor | None = None) -> None:
    """Record the step's state for diagnostics and keep the last k outputs for the read-out."""
    if keep_states:
        kept.append(h)
        if c is not None:
            kept.append(c)
    outputs.append(h)
    if len(outputs) > k:
        outputs.pop(0)


def _lstm(params, drive, h, kept, outputs, keep_states, k) -> None:
    """LSTM steps: gates = W_ih x + b_ih + W_hh h + b_hh; c = σ(f)c + σ(i)tanh(g); h = σ(o)tanh(c)."""
    w_t = params["W_hh"].transpose(1, 2)
    drive = drive + params["b_hh"][:, None, None, :]
    c = torch.zeros_like(h)
    for d in drive.unbind(2):
        i, f, g, o = torch.baddbmm(d, h, w_t).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        _keep(h, kept, outputs, keep_states, k, c)


def _gru(params, drive, h, kept, outputs, keep_states, k) -> None:
    """GRU steps: r, z = σ(W_i x + b_i + W_h h + b_h); n = tanh(W_in x + b_in + r(W_hn h + b_hn)); h = (1−z)n + zh."""
    w_t = params["W_hh"].transpose(1, 2)
    b_hh = params["b_hh"].unsqueeze(1)
    for d in drive.unbind(2):
        gh = torch.baddbmm(b_hh, h, w_t)
        i_r, i_z, i_n = d.chunk(3, -1)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        h = torch.lerp(torch.tanh(i_n + r * h_n), h, z)
        _keep(h, kept, outputs, keep_states, k)
