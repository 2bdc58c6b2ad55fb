"""The lab's populations are the core's: N RNNs of one `Shape` as a core `Recurrent` with `members=N` and a
stacked linear read-out (seqgen.core.population). Member i is built under its own seed exactly as the single
core RNN of that seed, then stacked; the lab keeps its parameters as a dict of stacked tensors [N, ...] under
short names (W_vu, W_uu, b_u, alpha_logit | W_ih, W_hh, b_ih, b_hh; W_out, b_out), which `run` calls the core with.

Cells are the core's: tanh | relu | sigmoid | linear (f(z) = z, for analytic tests) | lstm | gru. Inputs x
[B, T, I] are shared by all members; states are [N, B, H].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from seqgen.core.population import MemberLinear, stack_models
from seqgen.core.recurrent import CELLS, GATES, Recurrent, RecurrentConfig, State
from seqgen.errors import check_choice

NAMES = {"W_vu": "rnn.W_vu", "W_uu": "rnn.W_uu", "b_u": "rnn.b_u", "alpha_logit": "rnn.alpha_logit",
         "W_ih": "rnn.rnn.weight_ih_l0", "W_hh": "rnn.rnn.weight_hh_l0", "b_ih": "rnn.rnn.bias_ih_l0",
         "b_hh": "rnn.rnn.bias_hh_l0", "W_out": "readout.weight", "b_out": "readout.bias"}  # fmt: skip
_SKELETONS: dict[tuple, nn.Module] = {}


@dataclass(frozen=True)
class Shape:
    """What all members of a population share: sizes, the core cell and its `init`/`init_scale` (plain cells;
    LSTM/GRU keep PyTorch's initialisation), and leaky units with the core's log-uniform τ ≤ `tau_max`."""

    input_size: int
    hidden_size: int
    output_size: int
    cell: str = "tanh"
    init: str = "orthogonal"
    init_scale: float = 1.0
    leaky: bool = False
    tau_max: float = 100.0

    def __post_init__(self):
        check_choice("cell", self.cell, CELLS)

    @property
    def gated(self) -> bool:
        return self.cell in GATES

    def recurrent(self) -> RecurrentConfig:
        """The core settings of the recurrent layer."""
        init = "auto" if self.gated else self.init
        return RecurrentConfig(self.input_size, self.hidden_size, self.cell, self.leaky, tau_max=self.tau_max,
                               init=init, init_scale=self.init_scale)  # fmt: skip


class ReadoutRNN(nn.Module):
    """A core `Recurrent` and a linear read-out of its states (per member with `members`)."""

    def __init__(self, config: Shape, members: int | None = None):
        super().__init__()
        self.config = config
        self.rnn = Recurrent(config.recurrent(), members)
        self.readout = MemberLinear(config.hidden_size, config.output_size, members)


def init_population(shape: Shape, seeds: list[int], dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """Stacked parameters {name: leaf Tensor [N, ...]} for members with the given initialisation seeds."""
    singles = []
    with torch.random.fork_rng(devices=[]):
        for seed in seeds:
            torch.manual_seed(seed)
            singles.append(ReadoutRNN(shape))
    model = stack_models(singles)
    short = {full: name for name, full in NAMES.items()}
    return {short[k]: v.detach().to(dtype).requires_grad_() for k, v in model.state_dict().items()}


def run(
    params: dict[str, Tensor], shape: Shape, x: Tensor, readout_steps: int = 1, keep_states: bool = False
) -> tuple[Tensor, list[Tensor]]:
    """Predictions [N, B, k, O] from the last k = `readout_steps` states for inputs x [B, T, I].

    With `keep_states`, also one zero leaf per step (h_t [N, B, H]; for LSTM h_t and c_t alternate) whose
    gradient is the total ∂L/∂h_t along all paths through time; otherwise none are made.
    """
    n = next(iter(params.values())).shape[0]
    key = (shape, n)
    if key not in _SKELETONS:
        with torch.random.fork_rng(devices=[]):
            _SKELETONS[key] = ReadoutRNN(shape, n)
    model = _SKELETONS[key]
    kept: list[Tensor] = []
    probes = None
    if keep_states:
        lstm = shape.cell == "lstm"
        kept = [x.new_zeros(n, x.shape[0], shape.hidden_size).requires_grad_() for _ in range(x.shape[1] * (1 + lstm))]
        h_leaves = kept[::2] if lstm else kept
        probes = State(torch.stack(h_leaves, 2), torch.stack(kept[1::2], 2) if lstm else None)
    rnn = {NAMES[k][4:]: v for k, v in params.items() if NAMES[k].startswith("rnn.")}
    h, _ = functional_call(model.rnn, rnn, (x, None, probes))
    readout = {"weight": params["W_out"], "bias": params["b_out"]}
    return functional_call(model.readout, readout, (h[:, :, -readout_steps:],)), kept
