"""Input files checked at the edge, before any work and before torch is imported, so that a missing, folder or
unreadable input is one line in a tenth of a second (the products check them again when they read them)."""

from __future__ import annotations

import os
from pathlib import Path

from seqgen.errors import SeqgenError


def check_input(path: str | os.PathLike, what: str, folder_ok: bool = False) -> None:
    """Refuse `path` unless it is a readable regular file (or, with `folder_ok`, a readable folder)."""
    path = Path(path)
    if path.is_dir():
        if not folder_ok:
            hint = f" (give e.g. {path / 'best.pt'})" if what == "checkpoint file" else ""
            raise SeqgenError(f"{path}: is a folder, not a {what}{hint}")
        if not os.access(path, os.R_OK | os.X_OK):
            raise SeqgenError(f"{path}: permission denied")
        return
    if not path.exists():
        raise SeqgenError(f"{path}: no such {what}")
    if not path.is_file():  # opening a FIFO would block
        raise SeqgenError(f"{path}: not a regular file (a FIFO, device or socket), not a {what}")
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        raise SeqgenError(f"{path}: permission denied") from None
    except OSError as exc:
        raise SeqgenError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def dataset_names() -> tuple[str, ...]:
    """The names `--data` accepts besides a path: the music benchmarks, the embedded chorales, the text corpora."""
    from seqgen.music.datasets import BENCHMARKS, EMBEDDED_NAME
    from seqgen.text.task import CORPORA

    return (*BENCHMARKS, EMBEDDED_NAME, *CORPORA)


def check_data(data: str | None) -> None:
    """`--data` is a dataset name, or a path that can be read (a file, or a folder of MIDI files)."""
    names = dataset_names()
    if data is None or data in names:
        return
    if not os.path.lexists(data):
        raise SeqgenError(f"{data}: no such file or folder, and not a dataset name ({', '.join(names)})")
    check_input(data, "data file", folder_ok=True)


def check_inputs(options: dict, files: dict[str, str]) -> None:
    """Check each given option in `files` (option name → what it holds, e.g. "model": "checkpoint file"),
    in that order, then `--data` if the command has it. A shipped model's name as --model becomes its file."""
    if "model" in files and options.get("model") is not None:
        from seqgen.music.shipped import resolve_model

        options["model"] = resolve_model(options["model"])
    for name, what in files.items():
        if options.get(name) is not None:
            check_input(options[name], what)
    if "data" in options:
        check_data(options["data"])


def check_sample_length(options: dict) -> None:
    """`--frames` and `--length` fit the fixed maximum and, for `--n` samples, the memory available now
    (seqgen.memory), before torch is imported; `--seconds` is checked once the model's frame rate is known."""
    from seqgen.memory import MUSIC_FRAME_BYTES, TEXT_TOKEN_BYTES, check_sample_size

    if options.get("frames") is not None:
        check_sample_size("frames", options["frames"], options["n"], MUSIC_FRAME_BYTES)
    if options.get("length") is not None:
        check_sample_size("length", options["length"], options["n"], TEXT_TOKEN_BYTES, "tokens")
