"""RNN-NADE, RNN-RBM and RNN (Bernoulli) music models: an RNN whose state sets the biases of a per-frame conditional.

The 2012 parametrisation (Boulanger-Lewandowski et al.): b_v^t = b_v + W_uv u_{t−1}, b_h^t = b_h + W_uh u_{t−1},
u_t = f(b_u + W_vu v_t + W_uu u_{t−1}) from seqgen.core.recurrent; u_0 = 0 (so frame 0 gets b_v, b_h).
Rolls are time-major [B, T, P], P = 88 keys (MIDI 21..108) unless configured. A population (`members=N`,
seqgen.core.population) reads the same rolls for every member and returns biases [N, B, T, size].
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqgen.core.population import MemberLinear
from seqgen.core.recurrent import Recurrent, RecurrentConfig, State
from seqgen.errors import check_choice
from seqgen.music.ais import AISSettings
from seqgen.music.conditionals import NADE, RBM, Bernoulli, Biases, Conditional
from seqgen.music.note_order import NOTE_ORDERS, DescendingNADE

KINDS = ("rnn-nade", "rnn-rbm", "rnn")
WEIGHT_INITS = ("default", "small")


@dataclass
class MusicModelConfig:
    """Sizes and settings of a MusicModel; plain values so that `asdict` goes into checkpoints.

    `recurrent` is the RNN u_t (input v_t [P], output u_t [recurrent.hidden_size]); `cond_hidden` the
    NADE/RBM hidden layer H (unused for "rnn"); `cd_k` the Gibbs steps of CD-k training and
    `sample_steps` the Gibbs steps per generated frame (RBM only); `ais_*` size the RBM's log-likelihood
    estimate (seqgen.music.ais); `weight_init` "small" is the 2012 tutorial's initialisation (`apply_weight_init`).
    """

    kind: str = "rnn-nade"
    n_visible: int = 88
    cond_hidden: int = 150
    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(88, 100))
    cd_k: int = 15
    sample_steps: int = 25
    # --- RNN-RBM estimation and initialisation (issue 8) ---
    ais_runs: int = AISSettings.runs
    ais_steps: int = AISSettings.steps
    ais_schedule: str = AISSettings.schedule
    weight_init: str = "default"
    # --- end ---
    note_order: str = "ascending"  # NADE only: "descending" makes the highest pitch its first unit (issue 19)

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        check_choice("weight_init", self.weight_init, WEIGHT_INITS)
        check_choice("note_order", self.note_order, NOTE_ORDERS)
        if self.recurrent.input_size != self.n_visible:
            self.recurrent = replace(self.recurrent, input_size=self.n_visible)

    @classmethod
    def from_dict(cls, d: dict) -> MusicModelConfig:
        """Inverse of `asdict`; unknown or missing keys raise TypeError/KeyError."""
        return cls(**{**d, "recurrent": RecurrentConfig(**d["recurrent"])})


_MODEL_FIELDS = {f.name for f in fields(MusicModelConfig)} - {"recurrent"}
_RECURRENT_FIELDS = {f.name for f in fields(RecurrentConfig)} - {"input_size", "hidden_size"}


def make_config(preset: str | None = None, **overrides) -> MusicModelConfig:
    """A preset (or the defaults) with fields replaced: model fields, `rnn_hidden` (u_t size) and the
    RecurrentConfig fields (cell, leaky, init, ...). None values are ignored; an unknown name is a ValueError."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    base = PRESETS[preset] if preset else MusicModelConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - _MODEL_FIELDS - _RECURRENT_FIELDS - {"rnn_hidden"}
    if unknown:
        raise ValueError(f"unknown music model setting(s): {', '.join(sorted(unknown))}")
    recurrent = replace(
        base.recurrent,
        hidden_size=given.pop("rnn_hidden", base.recurrent.hidden_size),
        **{k: given.pop(k) for k in list(given) if k in _RECURRENT_FIELDS},
    )
    return replace(base, recurrent=recurrent, **given)


def _preset(kind: str, rnn_hidden: int = 100, cond_hidden: int = 150, **recurrent) -> MusicModelConfig:
    return MusicModelConfig(kind, 88, cond_hidden, RecurrentConfig(88, rnn_hidden, **recurrent))


# Paper sizes. RBM: the deeplearning.net RNN-RBM tutorial (H = 150, RNN 100, CD-15, 25 Gibbs steps when
# generating). NADE and plain RNN: the same sizes (ICML 2012 chose sizes per dataset on validation and
# does not list them per model). "gru-nade" is our larger modern variant used for the JSB targets.
PRESETS: dict[str, MusicModelConfig] = {
    "paper-rbm": replace(_preset("rnn-rbm"), weight_init="small"),  # the tutorial's init (results/jsb-rnn-rbm-*.json)
    "paper-nade": _preset("rnn-nade"),
    "paper-rnn": _preset("rnn"),
    "gru-nade": _preset("rnn-nade", 200, 200, cell="gru", dropout=0.3),
}


def make_conditional(config: MusicModelConfig, members: int | None = None) -> Conditional:
    """The per-frame conditional named by `config.kind` (with `members` stacked weights)."""
    if config.kind == "rnn-nade":
        nade = DescendingNADE if config.note_order == "descending" else NADE
        return nade(config.n_visible, config.cond_hidden, members)
    if config.kind == "rnn-rbm":
        ais = AISSettings(runs=config.ais_runs, steps=config.ais_steps, schedule=config.ais_schedule)
        return RBM(config.n_visible, config.cond_hidden, config.cd_k, config.sample_steps, ais, members)
    return Bernoulli(config.n_visible, members)


# --- weight_init (issue 8) ---
@torch.no_grad()
def apply_weight_init(model: nn.Module, scheme: str) -> None:
    """"small": the 2012 RNN-RBM tutorial's initialisation: conditional weights ~ N(0, 0.01²), RNN and bias-map
    weights ~ N(0, 1e-4²), biases 0 (leaky α kept); "default": PyTorch's and the recurrent module's own."""
    if scheme == "default":
        return
    for name, p in model.named_parameters():
        if name.startswith("conditional."):
            p.normal_(0.0, 0.01)
        elif p.dim() - (getattr(model, "members", None) is not None) >= 2:  # a matrix (per member)
            p.normal_(0.0, 1e-4)
        elif "alpha" not in name:
            p.zero_()


# --- end ---


class TeacherForced(NamedTuple):
    """Frame t's biases from frames < t (dict of [B, T, size]), the final state, and u [B, T, H_u]."""

    biases: Biases
    state: State
    hidden: Tensor


class MusicModel(nn.Module):
    """RNN u_t plus a per-frame conditional whose biases are an affine map of u_{t−1} (N of them with `members`)."""

    def __init__(self, config: MusicModelConfig, members: int | None = None):
        super().__init__()
        self.config, self.members = config, members
        self.rnn = Recurrent(config.recurrent, members)
        self.conditional = make_conditional(config, members)
        self.bias_names = list(self.conditional.bias_sizes)
        self.bias_split = [self.conditional.bias_sizes[k] for k in self.bias_names]
        # weight rows [W_uv; W_uh] [P + H, H_u], bias [b_v; b_h]
        self.to_biases = MemberLinear(config.recurrent.hidden_size, sum(self.bias_split), members)
        apply_weight_init(self, config.weight_init)

    def initial_state(self, batch_size: int) -> State:
        """u_0 = 0 (and c_0 = 0 for LSTM) on the model's device and dtype."""
        return self.rnn.initial_state(batch_size)

    def _biases(self, u: Tensor) -> Biases:
        """{b_v: b_v + W_uv u, b_h: b_h + W_uh u} for u [..., H_u]."""
        return dict(zip(self.bias_names, self.to_biases(u).split(self.bias_split, -1)))

    def next_biases(self, state: State) -> Biases:
        """Biases [B, size] of the next frame from u_{t−1} in `state`."""
        return self._biases(state.h)

    def step(self, v_t: Tensor, state: State) -> tuple[Biases, State]:
        """Read frame v_t [(N,) B, P]: (biases [(N,) B, size] of frame t + 1, the new state u_t)."""
        state = self.rnn.step(v_t, state)[1]
        return self._biases(state.h), state

    def teacher_forced(self, rolls: Tensor, state: State | None = None) -> TeacherForced:
        """Run the RNN over rolls [B, T, P]; frame t's biases come from u_{t−1} (u_{−1} from `state`)."""
        if state is None:
            state = self.initial_state(rolls.shape[-3])
        hidden, final = self.rnn(rolls, state)
        u_prev = torch.cat([state.h.unsqueeze(-2), hidden[..., :-1, :]], -2)
        return TeacherForced(self._biases(u_prev), final, hidden)

    def teacher_forced_biases(self, rolls: Tensor, state: State | None = None) -> tuple[Biases, State]:
        """(biases dict of [B, T, size], final state) for rolls [B, T, P]; frame t sees only frames < t."""
        out = self.teacher_forced(rolls, state)
        return out.biases, out.state
