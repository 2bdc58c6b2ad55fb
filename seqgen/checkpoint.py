"""Self-describing checkpoints: one plain dict, written atomically, read with torch.load(weights_only=True).

Keys: `format_version` (1), `task` ("music" | "text"), `kind`, `model_config` (dict), `state_dict`,
`optimizer_state`, `step`, `epoch`, `best_valid`, `seed`, `data` (dict) and, for text, `tokenizer`;
the training loop adds `train_config`, `optim_config` and `rng` for resuming. Values are JSON-like,
tensors or bytes only, so loading never executes code.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_path

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "task", "kind", "model_config", "state_dict")
TASKS = ("music", "text")


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> None:
    """Write `ckpt` to `path` atomically; refuse a dict that would not load back or has non-finite weights."""
    _validate(Path(path), ckpt)
    for name, value in ckpt["state_dict"].items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise SeqgenError(f"{path}: refusing to save a checkpoint whose weight {name} is not finite")
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; raise a one-line SeqgenError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise SeqgenError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise SeqgenError(f"{path}: not a seqgen checkpoint (not a PyTorch zip archive)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise SeqgenError(
            f"{path}: not a seqgen checkpoint (holds objects a weights-only load refuses)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, OSError):
        raise SeqgenError(f"{path}: not a seqgen checkpoint (a zip archive torch.load cannot read)") from None
    _validate(path, ckpt)
    return ckpt


def _validate(path: Path, ckpt: Any) -> None:
    """Check the dict shape every reader relies on."""
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise SeqgenError(f"{path}: not a seqgen checkpoint (no format_version)")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise SeqgenError(
            f"{path}: checkpoint format_version {ckpt['format_version']!r} is not supported "
            f"(this seqgen reads {FORMAT_VERSION})"
        )
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise SeqgenError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if ckpt["task"] not in TASKS:
        raise SeqgenError(f"{path}: checkpoint task {ckpt['task']!r} is not one of {', '.join(TASKS)}")
    if not isinstance(ckpt["model_config"], dict) or not isinstance(ckpt["state_dict"], dict):
        raise SeqgenError(f"{path}: checkpoint model_config and state_dict must be dicts")
