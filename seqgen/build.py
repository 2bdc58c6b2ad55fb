"""The one builder: resolved training options (a dict keyed like the CLI options) → the configs of a run.

The CLI, `seqgen reproduce` and the scripts all call `training_options` then `build_configs`, so an
option means the same everywhere and has one default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from seqgen.core.optim import OptimConfig
from seqgen.core.recurrent import RecurrentConfig
from seqgen.core.train import TrainConfig
from seqgen.errors import SeqgenError

RECURRENT_OPTIONS = ("cell", "leaky", "learn_alpha", "tau_max", "init", "init_scale", "dropout")


@dataclass
class RunConfigs:
    """Model, optimiser and training configs of one run (the model config is the task's own class)."""

    model: Any
    optim: OptimConfig
    train: TrainConfig


def training_options(task: str, **given: Any) -> dict[str, Any]:
    """Every training option of `task`: the given ones, else the CLI default, else the task's default."""
    from seqgen.cli.options import TRAIN, only, resolve_training

    known = {o.name: o.default for o in only(TRAIN, task)}
    unknown = set(given) - set(known)
    if unknown:
        raise SeqgenError(f"unknown {task} training option(s): {', '.join(sorted(unknown))}")
    values = {k: v.value if hasattr(v, "value") else v for k, v in {**known, **given}.items()}
    return resolve_training(values, task)


def midi_input(options: dict[str, Any]):
    """The MidiInput (pitch range, grid, read options) of the MIDI-input options."""
    from seqgen.music.datasets import MidiInput
    from seqgen.music.pianoroll import MidiReadOptions

    read = MidiReadOptions(options["include_drums"], options["sustain"], max_frames=options["max_frames"])
    return MidiInput(options["low_pitch"], options["n_pitches"], options["steps_per_quarter"], options["fs"], read)


def build_configs(task: str, options: dict[str, Any], n_inputs: int | None = None) -> RunConfigs:
    """Configs from resolved options; `n_inputs` is the pitch count (music) or vocabulary size (text)."""
    try:
        optim = OptimConfig(
            name=options["optimizer"], lr=options["lr"], momentum=options["momentum"],
            momentum_schedule=options["momentum_schedule"], lr_schedule=options["lr_schedule"],
            lr_decay=options["lr_decay"], lr_step=options["lr_step"],
        )  # fmt: skip
        train = TrainConfig(
            epochs=options["epochs"], batch_size=options["batch_size"], chunk_len=options["chunk_len"],
            patience=options["patience"], clip=options["clip"], l1=options["l1"], seed=options["seed"],
            device=options["device"],
        )  # fmt: skip
        recurrent = {k: options[k] for k in RECURRENT_OPTIONS if options.get(k) not in (None, "auto")}
        if task == "music":
            from seqgen.music.model import make_config

            model = make_config(
                options.get("preset"), kind=options.get("model"), n_visible=n_inputs, rnn_hidden=options.get("hidden"),
                cond_hidden=options.get("cond_hidden"), cd_k=options.get("cd_k"),
                weight_init=options.get("weight_init"), note_order=options.get("note_order"), **recurrent,
            )  # fmt: skip
            rnn = model.recurrent
        else:
            from seqgen.text.model import TextModelConfig

            embedding = options["embedding"]
            rnn = RecurrentConfig(embedding, options["hidden"], **recurrent)
            model = TextModelConfig(n_inputs or 1, embedding, rnn)
        if options.get("leaky") == "auto":  # leaky where the cell has it (tanh, relu, sigmoid), not LSTM/GRU
            model = replace(model, recurrent=replace(rnn, leaky=rnn.cell not in ("lstm", "gru")))
    except ValueError as exc:
        raise SeqgenError(str(exc)) from None
    return RunConfigs(model, optim, train)
