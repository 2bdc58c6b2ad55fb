"""MIDI file names: the suffixes seqgen reads, and folders expanded to the MIDI files under them (no heavy imports,
so the CLI can refuse a folder without MIDI files before torch is loaded)."""

from __future__ import annotations

from pathlib import Path

from seqgen.errors import SeqgenError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")


def midi_paths(paths: list[Path]) -> list[Path]:
    """The files given, each folder replaced by the MIDI files under it (sorted); a folder without any is refused."""
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
            if not found:
                raise SeqgenError(f"{path}: no MIDI files ({', '.join('*' + s for s in MIDI_SUFFIXES)}) in this folder")
            out += found
        else:
            out.append(path)
    return out
