"""The one checkpoint schema: a plain dict written atomically and read with torch.load(weights_only=True).

`CheckpointSchema` below is the only definition of what a checkpoint holds. Values are JSON-like, tensors
or bytes, so loading never executes code. Older format versions are upgraded on load (`_UPGRADES`), so
every checkpoint a release wrote keeps loading.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, TypedDict

import torch

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_path

FORMAT_VERSION = 2


class TrainingState(TypedDict, total=False):
    """What `--resume` needs; absent from checkpoints that were never trained by `fit` (none ship so)."""

    optimizer_state: dict  # the optimiser's state_dict
    step: int  # optimiser steps taken
    epoch: int  # completed epochs
    best_valid: float  # best validation score so far (higher is better; -inf before the first epoch)
    best_epoch: int  # epoch (1-based) of best_valid; 0 before the first epoch
    bad_epochs: int  # epochs since best_epoch without a better score (early stopping counter)
    train_config: dict  # asdict(TrainConfig)
    optim_config: dict  # asdict(OptimConfig)
    rng: dict  # global torch RNG states ("torch", and "cuda" when present)
    metrics: list  # one record per completed epoch; metrics.jsonl is rewritten from it on resume


class CheckpointSchema(TrainingState):
    """Every checkpoint: which registered task reads it, the model, the data settings it was trained on."""

    format_version: int  # FORMAT_VERSION
    task: str  # the product that wrote it; `sample`/`score` need it registered (seqgen.tasks): "music", "text"
    kind: str  # the model family within the task, e.g. "rnn-nade", "text-lm"
    model_config: dict  # the task's model config as a nested plain dict
    state_dict: dict  # parameter and buffer tensors
    seed: int  # seed of the training run
    data: dict  # the task's data settings (music: "roll_format" (RollFormat.to_dict), "dataset", "train_stats",
    #              "midi_read" (include_drums, sustain, ticks_per_step; absent: all off, music.task.midi_read_of);
    #              text: corpus facts)
    tokenizer: dict  # text only: the tokenizer entry (kind, bytes or vocabulary)


REQUIRED_KEYS = ("format_version", "task", "kind", "model_config", "state_dict", "data")
TRAINING_KEYS = ("optimizer_state", "step", "epoch", "best_valid", "best_epoch", "bad_epochs", "train_config",
                 "optim_config", "rng")


def _v1_to_v2(ckpt: dict) -> dict:
    """Version 1 stored the music RNN settings flat in model_config and the pitch range and quantisation as
    three data entries; version 2 nests them in `recurrent` and in one `roll_format` entry."""
    config, data = dict(ckpt["model_config"]), dict(ckpt.get("data") or {})
    if ckpt.get("task") == "music" and "recurrent" not in config:
        recurrent_keys = ("cell", "leaky", "learn_alpha", "tau_max", "init", "init_scale", "dropout")
        recurrent = {k: config.pop(k) for k in recurrent_keys if k in config}
        recurrent["input_size"] = config.get("n_visible", 88)
        recurrent["hidden_size"] = config.pop("rnn_hidden", 100)
        config["recurrent"] = recurrent
    if ckpt.get("task") == "music" and "roll_format" not in data and "quantisation" in data:
        data["roll_format"] = {k: data.pop(k) for k in ("low_pitch", "n_pitches", "quantisation") if k in data}
    return {**ckpt, "model_config": config, "data": data, "format_version": 2}


_UPGRADES = {1: _v1_to_v2}


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> None:
    """Write `ckpt` to `path` atomically; refuse a dict that would not load back or has non-finite weights."""
    path = Path(path)
    _validate(path, ckpt)
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)  # to memory first: torch.save on a full disk raises an opaque RuntimeError
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint of this or an earlier format version; anything else is a one-line SeqgenError."""
    path = Path(path)
    if path.is_dir():
        raise SeqgenError(f"{path}: is a folder, not a checkpoint file (give e.g. {path / 'best.pt'})")
    if not path.is_file():
        raise SeqgenError(f"{path}: no such checkpoint file")
    try:
        if not zipfile.is_zipfile(path):
            raise SeqgenError(f"{path}: not a seqgen checkpoint (not a PyTorch zip archive)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise SeqgenError(f"{path}: not a seqgen checkpoint (holds objects a weights-only load refuses)") from None
    except PermissionError:
        raise SeqgenError(f"{path}: permission denied") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, OSError):
        raise SeqgenError(f"{path}: not a seqgen checkpoint (a zip archive torch.load cannot read)") from None
    if isinstance(ckpt, dict):
        while ckpt.get("format_version") in _UPGRADES:
            ckpt = _UPGRADES[ckpt["format_version"]](ckpt)
    _validate(path, ckpt)
    return ckpt


def _validate(path: Path, ckpt: Any) -> None:
    """Check the schema every reader relies on, and that every weight is finite."""
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise SeqgenError(f"{path}: not a seqgen checkpoint (no format_version)")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise SeqgenError(
            f"{path}: checkpoint format_version {ckpt['format_version']!r} is not supported "
            f"(this seqgen reads 1 to {FORMAT_VERSION})"
        )
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise SeqgenError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if not isinstance(ckpt["task"], str) or not ckpt["task"]:
        raise SeqgenError(f"{path}: checkpoint task {ckpt['task']!r} is not a task name")
    for key in ("model_config", "state_dict", "data"):
        if not isinstance(ckpt[key], dict):
            raise SeqgenError(f"{path}: checkpoint {key} must be a dict")
    for name, value in ckpt["state_dict"].items():
        if not isinstance(value, torch.Tensor):
            raise SeqgenError(f"{path}: checkpoint weight {name} is not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise SeqgenError(f"{path}: checkpoint weight {name} is not finite (NaN or infinity)")
    best = ckpt.get("best_valid")
    if best is not None and not isinstance(best, (int, float)) or (isinstance(best, float) and math.isnan(best)):
        raise SeqgenError(f"{path}: checkpoint best_valid {best!r} is not a number")


def load_weights(model: torch.nn.Module, state_dict: dict[str, Any]) -> None:
    """Copy checkpoint weights into `model`; ValueError naming missing, unexpected, mis-shaped or
    integer-for-float tensors (load_state_dict would cast dtypes silently)."""
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in state_dict]
    problems += [f"unexpected {k}" for k in state_dict if k not in expected]
    for key, value in state_dict.items():
        want = expected.get(key)
        if want is None or not isinstance(value, torch.Tensor):
            continue
        if value.shape != want.shape:
            problems.append(f"{key} is {list(value.shape)}, the model's {list(want.shape)}")
        elif value.is_floating_point() != want.is_floating_point():
            problems.append(f"{key} is {value.dtype}, the model's {want.dtype}")
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ValueError(f"weights do not fit the model: {'; '.join(problems[:3])}{more}")
    model.load_state_dict(state_dict)


def malformed_reason(exc: BaseException) -> str:
    """Why a checkpoint entry could not be used, in a few words: the missing key, or the error's first line."""
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} entry"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def has_training_state(ckpt: dict[str, Any]) -> bool:
    """Whether `ckpt` carries everything `--resume` needs."""
    return all(key in ckpt for key in TRAINING_KEYS)
