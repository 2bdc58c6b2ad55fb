"""The shipped models: their index (seqgen/models/models.json: name, file, data, test score and the command that
made each) and their files, found by name. Imports neither torch nor numpy, so `seqgen models` is instant."""

from __future__ import annotations

import json
import os
from pathlib import Path

import seqgen
from seqgen.errors import SeqgenError

PACKAGE_MODELS = Path(seqgen.__file__).resolve().parent / "models"
INDEX = PACKAGE_MODELS / "models.json"
DEFAULT_MODEL = "bach-rnn-nade.pt"


def models_dir() -> Path:
    """Where the shipped model files are: $SEQGEN_MODELS_DIR, else seqgen/models/ beside the code."""
    return Path(os.environ.get("SEQGEN_MODELS_DIR") or PACKAGE_MODELS)


def shipped_model(file: str = DEFAULT_MODEL) -> Path:
    """Path of a shipped model file (carried by the wheel) in `models_dir()`."""
    path = models_dir() / file
    if not path.is_file():
        raise SeqgenError(f"{path}: no shipped model there (pass --model M.pt or set $SEQGEN_MODELS_DIR)")
    return path


def shipped_index() -> list[dict]:
    """The index's records, one per shipped model, in the index's order (each has at least name and file)."""
    try:
        records = json.loads(INDEX.read_text(encoding="utf-8"))["models"]
        if not all(isinstance(r["name"], str) and isinstance(r["file"], str) for r in records):
            raise TypeError("a name or file is not a string")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SeqgenError(f"{INDEX}: not a readable model index ({exc})") from None
    return records


def model_names() -> tuple[str, ...]:
    """The names `--model` takes besides a path."""
    return tuple(r["name"] for r in shipped_index())


def named_model(name: str) -> Path | None:
    """The file of the shipped model called `name`, or None if no shipped model has that name."""
    record = next((r for r in shipped_index() if r["name"] == name), None)
    return None if record is None else shipped_model(record["file"])


def resolve_model(given: str | os.PathLike) -> Path:
    """What --model names: a path (it exists, or has a folder or a suffix) is itself; a bare word is a shipped
    model's name (`seqgen models`), else refused in one line."""
    if os.path.lexists(given) or os.sep in str(given) or Path(given).suffix:
        return Path(given)
    found = named_model(str(given))
    if found is None:
        raise SeqgenError(f"{given}: no such checkpoint file, and not a shipped model's name "
                          f"({', '.join(model_names())}; see seqgen models)")  # fmt: skip
    return found
