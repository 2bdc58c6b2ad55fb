"""The music product's contract for training: its defaults (one per setting) and its configs from options.

Both products default to the 2013 paper's method: simplified Nesterov momentum, clipping, leaky units (on the
cells that have them: "auto"). On JSB it ends level with the best Adam run (gap 0.0002 nats/frame at 30
epochs) and reaches test -6.0 in 13 s of training (docs/reproduce.md, results/reproduce/optimizer-gap/).
"""

from __future__ import annotations

from typing import Any

from seqgen.errors import SeqgenError

DEFAULTS: dict[str, Any] = {
    "lr": 0.5, "lr_schedule": "exponential", "lr_decay": 0.9,  # large steps early, settled by epoch 30
    "momentum": 0.95, "momentum_schedule": "sutskever",  # μ rises to 0.95 as in the paper
    "clip": 10.0, "epochs": 30, "batch_size": 4,  # JSB's 229 pieces: 58 steps per epoch
    "chunk_len": 200, "patience": 20,  # most pieces fit one chunk; RBM validation is noisy
}


def midi_input(options: dict[str, Any]):
    """The MidiInput (pitch range, grid, read options) of the MIDI-input options."""
    from seqgen.music.datasets import MidiInput
    from seqgen.music.pianoroll import MidiReadOptions

    read = MidiReadOptions(options["include_drums"], options["sustain"], max_frames=options["max_frames"])
    return MidiInput(options["low_pitch"], options["n_pitches"], options["steps_per_quarter"], options["fs"], read)


def build_configs(options: dict[str, Any], n_inputs: int | None = None):
    """RunConfigs of a music model from resolved options; `n_inputs` is the pitch count."""
    from seqgen.core.run_configs import recurrent_overrides, run_configs
    from seqgen.music.model import make_config

    try:
        model = make_config(
            options.get("preset"), kind=options.get("model"), n_visible=n_inputs, rnn_hidden=options.get("hidden"),
            cond_hidden=options.get("cond_hidden"), cd_k=options.get("cd_k"), weight_init=options.get("weight_init"),
            note_order=options.get("note_order"), **recurrent_overrides(options),
        )  # fmt: skip
        return run_configs(model, options)
    except ValueError as exc:
        raise SeqgenError(str(exc)) from None
