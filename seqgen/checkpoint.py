"""The one checkpoint schema: a plain dict written atomically and read with torch.load(weights_only=True).

`CheckpointSchema` below is the only definition of what a checkpoint holds. Values are JSON-like, tensors
or bytes, so loading never executes code. Older format versions are upgraded on load (`_UPGRADES`), so
every checkpoint a release wrote keeps loading.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, TypedDict

import torch

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_path

FORMAT_VERSION = 2
DIGEST_KEY = "tensor_sha256"


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
    epoch_progress: dict | None  # a run stopped mid-epoch: where it stopped (core.run_files.progress_entry); else None


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
    search: dict  # best.pt of a learning-rate search: which member it is and its row (core.population_search)
    tensor_sha256: str  # written by save_checkpoint: SHA-256 of every tensor (`_tensor_digest`), checked and removed
    #                     on load (absent in checkpoints written before it: then only the zip CRCs are checked)


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


def build_checkpoint(info: dict[str, Any], model_config: dict, state_dict: dict, **entries: Any) -> CheckpointSchema:
    """The one place a checkpoint dict is assembled: the task's `checkpoint_info()` (task, kind, data, ...), the
    model's config and weights, and any other CheckpointSchema entries (seed, training state); an entry the schema
    does not name is refused, so every writer stays within the schema."""
    ckpt = {**info, "format_version": FORMAT_VERSION, "model_config": model_config, "state_dict": state_dict, **entries}
    unknown = set(ckpt) - CheckpointSchema.__required_keys__ - CheckpointSchema.__optional_keys__  # inherited too
    if unknown:
        raise ValueError(f"checkpoint entries outside CheckpointSchema: {', '.join(sorted(unknown))}")
    return ckpt  # type: ignore[return-value]


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> None:
    """Write `ckpt` to `path` atomically; refuse a dict that would not load back or has non-finite weights."""
    path = Path(path)
    _validate(path, ckpt)
    buffer = io.BytesIO()
    # to memory first: torch.save on a full disk raises an opaque RuntimeError
    torch.save({**ckpt, DIGEST_KEY: _tensor_digest(ckpt)}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint of this or an earlier format version; anything else, a damaged archive included (every
    member's CRC is checked first), is a one-line SeqgenError naming the file."""
    path = Path(path)
    ckpt = _read_checked(path, map_location)
    try:
        while isinstance(ckpt, dict) and _version(ckpt) in _UPGRADES:
            ckpt = _UPGRADES[_version(ckpt)](ckpt)
        _validate(path, ckpt)
    except SeqgenError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a damaged data.pkl may fail anywhere in an upgrade or the checks
        raise SeqgenError(f"{path}: not a seqgen checkpoint (its contents do not fit the schema: {_reason(exc)})"
                          ) from None  # fmt: skip
    return ckpt


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a resumable state that is not a model checkpoint (a search's search.pt) atomically, with the tensor
    digest `load_state` checks."""
    buffer = io.BytesIO()
    torch.save({**state, DIGEST_KEY: _tensor_digest(state)}, buffer)
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read what `save_state` wrote, with a checkpoint's checks (zip CRCs, weights-only, tensor digest); a
    damaged or foreign file is a one-line SeqgenError naming it."""
    path = Path(path)
    state = _read_checked(path, "cpu")
    if not isinstance(state, dict):
        raise SeqgenError(f"{path}: not a seqgen state file (holds a {type(state).__name__}, not a dict)")
    return state


def _read_checked(path: Path, map_location: str | torch.device) -> Any:
    """torch.load(weights_only=True) after the archive checks, then the digest check (which removes the digest)."""
    if path.is_dir():
        raise SeqgenError(f"{path}: is a folder, not a checkpoint file (give e.g. {path / 'best.pt'})")
    if not path.is_file():
        raise SeqgenError(f"{path}: no such checkpoint file")
    try:
        _check_archive(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except SeqgenError:
        raise
    except pickle.UnpicklingError:
        raise SeqgenError(f"{path}: not a seqgen checkpoint (holds objects a weights-only load refuses)") from None
    except PermissionError:
        raise SeqgenError(f"{path}: permission denied") from None
    except Exception as exc:  # noqa: BLE001 -- whatever a damaged archive makes zipfile or torch raise is one line
        raise SeqgenError(f"{path}: not a seqgen checkpoint, or a damaged one (a zip archive torch.load cannot "
                          f"read: {_reason(exc)})") from None  # fmt: skip
    try:
        _check_digest(path, ckpt)
    except SeqgenError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a damaged data.pkl may hold values the digest cannot walk
        raise SeqgenError(f"{path}: not a seqgen checkpoint (its contents do not fit the schema: {_reason(exc)})"
                          ) from None  # fmt: skip
    return ckpt


def _reason(exc: BaseException) -> str:
    """The exception's type and first line, without torch's "[enforce fail at file.cc:N] ." prefix, at most 120
    characters."""
    text = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", malformed_reason(exc))
    return f"{type(exc).__name__}: {text}"[:120]


def _check_archive(path: Path) -> None:
    """Refuse a file that is not a zip archive, a member that does not match its stored CRC-32, or one marked as a
    folder (torch.load checks neither: a flipped bit would load as a changed weight, or as uninitialised memory)."""
    if not zipfile.is_zipfile(path):
        raise SeqgenError(f"{path}: not a seqgen checkpoint (not a PyTorch zip archive)")
    with zipfile.ZipFile(path) as archive:
        folders = [info.filename for info in archive.infolist() if info.is_dir() or info.external_attr & 0x10]
        if folders:
            raise SeqgenError(f"{path}: damaged checkpoint (member {_short(folders[0])} is marked as a folder)")
        bad = archive.testzip()
    if bad is not None:
        raise SeqgenError(f"{path}: damaged checkpoint (member {_short(bad)} does not match its CRC-32 checksum)")


def _tensor_digest(ckpt: dict) -> str:
    """SHA-256 of the dtype, shape and bytes of every tensor in `ckpt` (nested dicts, lists and tuples, in order)."""
    digest = hashlib.sha256()

    def visit(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{value.dtype}{tuple(value.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        elif isinstance(value, dict):
            for key, item in value.items():
                digest.update(repr(key).encode())
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit({k: v for k, v in ckpt.items() if k != DIGEST_KEY})
    return digest.hexdigest()


def _check_digest(path: Path, ckpt: Any) -> None:
    """Compare the stored tensor digest (if any) with the loaded tensors, and drop it from `ckpt`."""
    if not isinstance(ckpt, dict) or DIGEST_KEY not in ckpt:
        return
    if ckpt.pop(DIGEST_KEY) != _tensor_digest(ckpt):
        raise SeqgenError(f"{path}: damaged checkpoint (its tensors do not match their stored SHA-256 digest)")


def _version(ckpt: dict) -> int | None:
    """The checkpoint's format_version if it is an integer, else None."""
    version = ckpt.get("format_version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _validate(path: Path, ckpt: Any) -> None:
    """Check the schema every reader relies on, and that every weight is finite."""
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise SeqgenError(f"{path}: not a seqgen checkpoint (no format_version)")
    if _version(ckpt) != FORMAT_VERSION:
        raise SeqgenError(
            f"{path}: checkpoint format_version {_short(ckpt['format_version'])} is not supported "
            f"(this seqgen reads 1 to {FORMAT_VERSION})"
        )
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise SeqgenError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if not isinstance(ckpt["task"], str) or not ckpt["task"]:
        raise SeqgenError(f"{path}: checkpoint task {_short(ckpt['task'])} is not a task name")
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
        raise SeqgenError(f"{path}: checkpoint best_valid {_short(best)} is not a number")


def _short(value: Any) -> str:
    """repr(value) on one line and at most 60 characters, for messages about a damaged entry."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


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
