"""RNN-NADE, RNN-RBM and RNN (Bernoulli) music models: an RNN whose state sets the biases of a per-frame conditional.

The 2012 parametrisation (Boulanger-Lewandowski et al.): b_v^t = b_v + W_uv u_{t−1}, b_h^t = b_h + W_uh u_{t−1},
u_t = f(b_u + W_vu v_t + W_uu u_{t−1}) from seqgen.core.recurrent; u_0 = 0 (so frame 0 gets b_v, b_h).
Rolls are time-major [B, T, P], P = 88 keys (MIDI 21..108) unless configured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqgen.core.recurrent import Recurrent, RecurrentConfig, State
from seqgen.errors import SeqgenError
from seqgen.music.conditionals import NADE, RBM, Bernoulli, Biases, Conditional

KINDS = ("rnn-nade", "rnn-rbm", "rnn")


@dataclass
class MusicModelConfig:
    """Sizes and settings of a MusicModel; plain values so that `asdict` goes into checkpoints.

    `rnn_hidden` is the size of u_t, `cond_hidden` the NADE/RBM hidden layer H (unused for "rnn");
    cell/leaky/learn_alpha/tau_max/init/init_scale/dropout are forwarded to RecurrentConfig;
    `cd_k` is the Gibbs steps of CD-k training, `sample_steps` the Gibbs steps per generated frame (RBM).
    """

    kind: str = "rnn-nade"
    n_visible: int = 88
    rnn_hidden: int = 100
    cond_hidden: int = 150
    cell: str = "tanh"
    leaky: bool = False
    learn_alpha: bool = True
    tau_max: float = 100.0
    init: str = "auto"
    init_scale: float = 1.0
    dropout: float = 0.0
    cd_k: int = 15
    sample_steps: int = 25

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model kind {self.kind!r}: expected one of {', '.join(KINDS)}")

    def recurrent_config(self) -> RecurrentConfig:
        """The RecurrentConfig of u_t: input v_t [P], output u_t [rnn_hidden]."""
        return RecurrentConfig(
            input_size=self.n_visible,
            hidden_size=self.rnn_hidden,
            cell=self.cell,
            leaky=self.leaky,
            learn_alpha=self.learn_alpha,
            tau_max=self.tau_max,
            dropout=self.dropout,
            init=self.init,
            init_scale=self.init_scale,
        )


# Paper sizes. RBM: the deeplearning.net RNN-RBM tutorial (H = 150, RNN 100, CD-15, 25 Gibbs steps when
# generating). NADE and plain RNN: the same sizes (ICML 2012 chose sizes per dataset on validation and
# does not list them per model). "gru-nade" is our larger modern variant used for the JSB targets.
PRESETS: dict[str, MusicModelConfig] = {
    "paper-rbm": MusicModelConfig(kind="rnn-rbm", rnn_hidden=100, cond_hidden=150, cd_k=15, sample_steps=25),
    "paper-nade": MusicModelConfig(kind="rnn-nade", rnn_hidden=100, cond_hidden=150),
    "paper-rnn": MusicModelConfig(kind="rnn", rnn_hidden=100),
    "gru-nade": MusicModelConfig(kind="rnn-nade", rnn_hidden=200, cond_hidden=200, cell="gru", dropout=0.3),
}


def make_config(preset: str | None = None, **overrides) -> MusicModelConfig:
    """A preset (or the defaults) with the given fields replaced; None values are ignored."""
    if preset is not None and preset not in PRESETS:
        raise SeqgenError(f"--preset {preset}: expected one of {', '.join(PRESETS)}")
    base = PRESETS[preset] if preset else MusicModelConfig()
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def make_conditional(config: MusicModelConfig) -> Conditional:
    """The per-frame conditional named by `config.kind`."""
    if config.kind == "rnn-nade":
        return NADE(config.n_visible, config.cond_hidden)
    if config.kind == "rnn-rbm":
        return RBM(config.n_visible, config.cond_hidden, cd_k=config.cd_k, sample_steps=config.sample_steps)
    return Bernoulli(config.n_visible)


class TeacherForced(NamedTuple):
    """Frame t's biases from frames < t (dict of [B, T, size]), the final state, and u [B, T, rnn_hidden]."""

    biases: Biases
    state: State
    hidden: Tensor


class MusicModel(nn.Module):
    """RNN u_t plus a per-frame conditional whose biases are an affine map of u_{t−1}."""

    def __init__(self, config: MusicModelConfig):
        super().__init__()
        self.config = config
        self.rnn = Recurrent(config.recurrent_config())
        self.conditional = make_conditional(config)
        self.bias_names = list(self.conditional.bias_sizes)
        self.bias_split = [self.conditional.bias_sizes[k] for k in self.bias_names]
        # weight rows [W_uv; W_uh] [P + H, rnn_hidden], bias [b_v; b_h]
        self.to_biases = nn.Linear(config.rnn_hidden, sum(self.bias_split))

    def initial_state(self, batch_size: int, like: Tensor) -> State:
        """u_0 = 0 (and c_0 = 0 for LSTM) on `like`'s device and dtype."""
        return self.rnn.initial_state(batch_size, like)

    @staticmethod
    def _output(state: State) -> Tensor:
        """u [B, H] of a state (h of an LSTM's (h, c))."""
        return state[0] if isinstance(state, tuple) else state

    def _biases(self, u: Tensor) -> Biases:
        """{b_v: b_v + W_uv u, b_h: b_h + W_uh u} for u [..., rnn_hidden]."""
        return dict(zip(self.bias_names, self.to_biases(u).split(self.bias_split, -1)))

    def next_biases(self, state: State) -> Biases:
        """Biases [B, size] of the next frame from u_{t−1} in `state`."""
        return self._biases(self._output(state))

    def advance(self, v_t: Tensor, state: State) -> State:
        """u_t from v_t [B, P] and u_{t−1}."""
        return self.rnn.step(v_t, state)[1]

    def teacher_forced(self, rolls: Tensor, state: State | None = None) -> TeacherForced:
        """Run the RNN over rolls [B, T, P]; frame t's biases come from u_{t−1} (u_{−1} from `state`)."""
        if state is None:
            state = self.initial_state(rolls.shape[0], rolls)
        hidden, final = self.rnn(rolls, state)
        u_prev = torch.cat([self._output(state)[:, None], hidden[:, :-1]], 1)
        return TeacherForced(self._biases(u_prev), final, hidden)

    def teacher_forced_biases(self, rolls: Tensor, state: State | None = None) -> tuple[Biases, State]:
        """(biases dict of [B, T, size], final state) for rolls [B, T, P]; frame t sees only frames < t."""
        out = self.teacher_forced(rolls, state)
        return out.biases, out.state


def model_from_checkpoint(ckpt: dict) -> MusicModel:
    """Rebuild a MusicModel (eval mode) from a checkpoint dict's `model_config` and `state_dict`."""
    try:
        known = {f.name for f in fields(MusicModelConfig)}
        config = MusicModelConfig(**{k: v for k, v in ckpt["model_config"].items() if k in known})
        model = MusicModel(config)
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeqgenError(f"checkpoint does not hold a usable music model: {first_line}") from exc
    return model.eval()
