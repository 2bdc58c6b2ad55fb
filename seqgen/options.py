"""The training contract: the options every product shares, assembled with each product's own (declared in
seqgen/music/options.py and seqgen/text/options.py), and the one way options become a run's settings
(`training_options`).

Commands are built from lists of `Opt` (see `command`), so `train`, `train-music`, `train-text`, `seqgen
reproduce` and the scripts share one definition of `--lr`. An option that belongs to one product carries
`tasks`; giving it to another product is rejected in one place (`reject_inapplicable`). Training options whose
best value differs between products default to None here and take the product's value from its config module
(`DEFAULTS` in seqgen/music/configs.py and seqgen/text/configs.py). Imports neither torch nor the CLI.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.music import options as music
from seqgen.music.options import MAX_FRAMES, MIDI_INPUT, MUSIC_DATA  # noqa: F401 - the CLI takes them from here
from seqgen.option_spec import MUSIC, TEXT, Choice, D, M, O, Opt, T, _flag, _o  # noqa: F401 - likewise
from seqgen.text import options as text

PRODUCT_CONFIGS = {"music": "seqgen.music.configs", "text": "seqgen.text.configs"}


Cell = Choice("Cell", {v: v for v in ("tanh", "relu", "sigmoid", "lstm", "gru")})
Init = Choice("Init", {v: v for v in ("auto", "identity", "orthogonal", "gaussian")})
Optimizer = Choice("Optimizer", {v: v for v in ("nesterov", "sgd", "adam")})
LrSchedule = Choice("LrSchedule", {v: v for v in ("constant", "exponential", "step")})
MomentumSchedule = Choice("MomentumSchedule", {v: v for v in ("constant", "sutskever")})
Device = Choice("Device", {v: v for v in ("auto", "cpu", "cuda")})
Split = Choice("Split", {v: v for v in ("train", "valid", "test")})
TaskName = Choice("TaskName", {v: v for v in ("music", "text")})

# ---- the options, grouped as `--help` shows them ------------------------------------------------------
SEED = _o("seed", int, 0, "Random seed: the same seed and options give the same result.")
DEVICE = _o("device", Device, Device.auto, "Where to compute: auto picks cuda when a GPU is present.")
OUT_RUN = _o("out", Path, Path("runs/run"), "Folder for best.pt, last.pt and metrics.jsonl. A symlink given as OUT "
             "is written through: the files go into the folder it points to.")
THREADS = _o("threads", int, 1, "Intra-op torch threads of this process (of each with --nproc). 1 is fastest for "
             "these small models on a shared CPU; raise it for large batches on idle cores.", min=1, max=1024)

MODEL_OPTS = [
    _o("hidden", int | None, None, "Recurrent units (size of u_t).",
       "--hidden", "--rnn-hidden", panel=M, min=1),
    _o("cell", Cell | None, None, "Recurrent unit. Default: music the preset's (tanh), text tanh.", panel=M),
    _o("leaky", bool | None, None, "Leaky integration with a learned leak per unit (tanh, relu, sigmoid). "
       "Default: on for tanh, relu and sigmoid units, off for LSTM and GRU.", "--leaky/--no-leaky", panel=M),
    _o("learn_alpha", bool | None, None, "Learn the leak α per unit, or keep it at its initial value. Default: learn.",
       "--learn-alpha/--fixed-alpha", panel=M),
    _o("tau_max", float | None, None, "Largest initial leaky time constant, in steps. Default: 100.", panel=M, min=1.0),
    _o("init", Init | None, None, "W_uu initialisation: identity is the IRNN, auto = identity for relu, "
       "orthogonal otherwise. Default: auto.", panel=M),
    _o("init_scale", float | None, None, "Scale of the W_uu initialisation (0.01 with identity: scaled identity). "
       "Default: 1.", panel=M, min=0.0),
    _o("dropout", float | None, None, "Dropout on the recurrent outputs. Default: music the preset's, text 0.",
       panel=M, min=0.0, max=0.99),
]
OPTIM_OPTS = [
    _o("optimizer", Optimizer | None, None, "nesterov: the simplified Nesterov momentum of Bengio et al. 2013; "
       "sgd: classical momentum; adam.", panel=O),
    _o("lr", float | None, None, "Learning rate ε (at epoch 0).", panel=O, min=0.0),
    _o("momentum", float | None, None, "Momentum μ (μ_max under the sutskever schedule).", panel=O, min=0.0,
       max=0.9999),
    _o("momentum_schedule", MomentumSchedule | None, None, "constant μ, or sutskever: μ_t = min(1 − 2^(−1 − "
       "log2(⌊t/250⌋ + 1)), μ_max).", panel=O),
    _o("lr_schedule", LrSchedule | None, None, "Per-epoch learning rate: constant, exponential (ε·γ^e) or "
       "step (ε·γ^⌊e/lr_step⌋).", panel=O),
    _o("lr_decay", float | None, None, "γ of the learning-rate schedule.", panel=O, min=0.0),
    _o("lr_step", int | None, None, "Epochs per step of the step schedule.", panel=O, min=1),
    _o("clip", float | None, None, "Gradient-norm clipping threshold; 0 turns clipping off.", panel=O, min=0.0),
    _o("l1", float | None, None, "Weight of the L1 penalty on ReLU activations; 0 is off.", panel=O, min=0.0),
]
TRAIN_OPTS = [
    _o("epochs", int | None, None, "Epochs to train (a resumed run counts its earlier epochs).", panel=T, min=1),
    _o("batch_size", int | None, None, "Sequences (music pieces, text rows) per mini-batch.", panel=T, min=1),
    _o("chunk_len", int | None, None, "Frames or tokens per truncated-BPTT chunk (the state is carried between).",
       panel=T, min=1),
    _o("patience", int | None, None, "Stop after this many epochs without a better validation score; 0 never "
       "stops early.", panel=T, min=0),
    SEED,
    DEVICE,
    THREADS,
    _o("nproc", int, 1, "Data-parallel processes on this machine: runs the command as that many ranks (one GPU "
       "each with --device cuda); --batch-size stays the global batch.", panel=T, min=1),
    OUT_RUN,
    _flag("resume", "Continue the run in OUT from last.pt with its own settings.", panel=T),
    _flag("override", "With --resume, accept training settings that differ from the checkpoint's.", panel=T),
    _flag("force", "Replace the run already in OUT (its best.pt, last.pt and metrics.jsonl are deleted first); "
          "without --force or --resume an existing run is refused.", panel=T),
]
DATA_OPTS = [
    _o("data", str | None, None, f"Training data: {MUSIC_DATA}; or ptb / ptb-char (text). "
       "Default: the embedded bach-chorales.", panel=D),  # train-text and train-music show DATA_HELP
]
SHARED_DEFAULTS: dict[str, Any] = {
    "optimizer": "nesterov", "leaky": "auto", "lr_step": 10, "l1": 0.0,
}


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def with_defaults(option: Opt) -> Opt:
    """`option` with its help ending in the defaults it takes, read from SHARED_DEFAULTS or the products'
    DEFAULTS, so that each value is written once (a product without one takes its preset's)."""
    products = {task: importlib.import_module(module).DEFAULTS for task, module in PRODUCT_CONFIGS.items()}
    if option.default is not None or option.name == "leaky":  # leaky "auto" is described in its help
        return option
    if option.name in SHARED_DEFAULTS:
        said = _shown(SHARED_DEFAULTS[option.name])
    elif any(option.name in d for d in products.values()):
        applies = {task: d for task, d in products.items() if option.tasks is None or task in option.tasks}
        shown = lambda d: _shown(d[option.name]) if option.name in d else "the preset's"
        said = ", ".join(f"{task} {shown(d)}" for task, d in applies.items()) if len(applies) > 1 else shown(
            next(iter(applies.values())))  # fmt: skip
    else:
        return option
    return replace(option, help=f"{option.help} Default: {said}.")


# each --help panel lists the shared options, then music's, then text's
PANELS = [
    music.MODEL + MODEL_OPTS + text.MODEL,
    OPTIM_OPTS + music.OPTIM,
    TRAIN_OPTS + music.TRAIN,
    DATA_OPTS + text.DATA + music.MIDI_INPUT,
]
TRAIN = [with_defaults(o) for panel in PANELS for o in panel]


def command(options: list[Opt]) -> Callable[[Callable[[dict[str, Any]], None]], Callable[..., None]]:
    """Turn `body(opts: dict)` into a typer command whose parameters are `options`; enums become strings."""

    def decorate(body: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        def run(**kwargs: Any) -> None:
            body({k: v.value if isinstance(v, Enum) else v for k, v in kwargs.items()})

        run.__signature__ = inspect.Signature([o.parameter() for o in options])  # type: ignore[attr-defined]
        run.__doc__, run.__name__ = body.__doc__, body.__name__
        return run

    return decorate


def reject_inapplicable(options: list[Opt], given: dict[str, Any], task: str) -> None:
    """One-line error if an option of another product was given (differs from its default)."""
    wrong = [
        o.flag for o in options
        if o.tasks is not None and task not in o.tasks and o.name in given and given[o.name] != o.default
    ]  # fmt: skip
    if wrong:
        raise SeqgenError(f"{', '.join(wrong)}: not an option for {task} models")


def product_configs(task: str):
    """The product's config module (its DEFAULTS and build_configs): seqgen.music.configs or seqgen.text.configs."""
    if task not in PRODUCT_CONFIGS:
        raise SeqgenError(f"{task}: not a product ({', '.join(PRODUCT_CONFIGS)})")
    return importlib.import_module(PRODUCT_CONFIGS[task])


def resolve_training(options: dict[str, Any], task: str) -> dict[str, Any]:
    """Fill the unset (None) shared training options with the product's defaults."""
    defaults = {**SHARED_DEFAULTS, **product_configs(task).DEFAULTS}
    return {k: defaults.get(k) if v is None else v for k, v in options.items()}


DATA_HELP = {
    "music": f"Training data: {MUSIC_DATA}. Default: the embedded bach-chorales.",
    "text": "Named text corpus: ptb (words) or ptb-char (characters); or give --text FILE.",
}


def only(options: list[Opt], task: str) -> list[Opt]:
    """The options that apply to `task` (for the train-music / train-text aliases), --data described for it."""
    return [replace(o, help=DATA_HELP[task]) if o.name == "data" and o in DATA_OPTS else o
            for o in options if o.tasks is None or task in o.tasks]


def training_options(task: str, **given: Any) -> dict[str, Any]:
    """Every training option of `task`: the given ones, else the option's default, else the product's default.
    `train`, `seqgen reproduce` and the scripts all start here, so the same options train the same model."""
    known = {o.name: o.default for o in only(TRAIN, task)}
    unknown = set(given) - set(known)
    if unknown:
        raise SeqgenError(f"unknown {task} training option(s): {', '.join(sorted(unknown))}")
    values = {k: v.value if hasattr(v, "value") else v for k, v in {**known, **given}.items()}
    return resolve_training(values, task)
