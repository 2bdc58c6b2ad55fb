"""The embedded default corpus: the 371 four-part Bach chorales shipped in music21's corpus, as piano-rolls.

Each chorale's S/A/T/B parts are merged on a beat grid of 2 steps per quarter note (one frame = one
eighth note, so the chorales' passing eighths are kept exactly; JSB uses quarter notes) and played at
100 quarter notes per minute (the speed of the original JSB MIDI files). Converted once, then cached.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from seqgen.datafiles import cache_dir
from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_path
from seqgen.music.pianoroll import Quantisation, notes_to_roll
from seqgen.runtime import log, progress

CHORALE_QUANTISATION = Quantisation(steps_per_quarter=2, tempo_bpm=100.0)
CACHE_VERSION = 1


def _music21():
    """The music21 corpus module, or a one-line SeqgenError saying how to install it."""
    try:
        from music21 import corpus
    except ImportError:
        raise SeqgenError(
            "music21 is not installed; the embedded Bach chorales need it: pip install 'seqgen[embedded]'"
        ) from None
    return corpus


def chorale_names() -> list[str]:
    """Corpus names of the chorales (e.g. 'bach/bwv269'), in Riemenschneider order."""
    return list(_music21().chorales.Iterator(returnType="filename"))


def convert_chorale(name: str) -> np.ndarray:
    """Parse one chorale with music21 and return its full-range roll bool[T, 128] (MIDI 0..127).

    Zero-length (grace) notes are left out; tied notes give consecutive frames and so merge.
    """
    score = _music21().parse(name)
    notes = np.array(
        [
            (n.offset, n.offset + n.quarterLength, p.midi)
            for part in score.parts
            for n in part.flatten().notes
            if n.quarterLength > 0
            for p in n.pitches
        ],
        dtype=float,
    ).reshape(-1, 3)
    steps = CHORALE_QUANTISATION.steps_per_quarter
    roll, _ = notes_to_roll(notes[:, 0] * steps, notes[:, 1] * steps, notes[:, 2], low_pitch=0, n_pitches=128)
    return roll


def _cache_path(count: int, total: int) -> Path:
    """Where the rolls of the first `count` of `total` chorales are cached."""
    subset = "" if count == total else f"-first{count}"
    steps = CHORALE_QUANTISATION.steps_per_quarter
    return cache_dir() / "embedded" / f"bach-chorales-spq{steps}-v{CACHE_VERSION}{subset}.npz"


def _read_cache(path: Path) -> tuple[list[str], list[np.ndarray]] | None:
    """Rolls and names from a cache file, or None if it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            names, lengths, frames = list(npz["names"]), npz["lengths"], npz["frames"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s: unreadable cache (%s); converting again", path, exc)
        return None
    return [str(n) for n in names], np.split(frames, np.cumsum(lengths)[:-1])


def chorale_rolls(limit: int | None = None, workers: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    """Names and full-range rolls bool[T, 128] of the first `limit` chorales (all 371 by default).

    Reads the cache under `cache_dir()/embedded`; otherwise converts with `workers` processes (default:
    up to 2, one per CPU) and writes the cache. A full cache also serves any `limit`.
    """
    names = chorale_names()
    total = len(names)
    if not total:
        raise SeqgenError(
            "music21's corpus holds no Bach chorales (is music21 installed without its corpus?)"
        )
    count = total if limit is None else min(max(limit, 1), total)
    for path in dict.fromkeys([_cache_path(total, total), _cache_path(count, total)]):
        cached = _read_cache(path)
        if cached is not None and cached[0][:count] == names[:count]:
            return cached[0][:count], cached[1][:count]
    names = names[:count]
    workers = workers or min(2, os.cpu_count() or 1, max(1, count // 20))
    log.info("converting %d Bach chorales from music21's corpus (once; cached afterwards)", count)
    rolls, frames_done = [], 0
    with progress(transient=True) as bar, contextlib.ExitStack() as stack:
        mapper = stack.enter_context(ProcessPoolExecutor(workers)).map if workers > 1 else map
        task = bar.add_task("convert chorales", total=count, status="")
        for roll in mapper(convert_chorale, names):
            rolls.append(roll)
            frames_done += len(roll)
            bar.update(task, advance=1, status=f"{frames_done} frames")
    lengths = np.array([len(r) for r in rolls], dtype=np.int64)
    frames = np.concatenate(rolls)
    with atomic_path(_cache_path(count, total)) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, names=np.array(names), lengths=lengths, frames=frames)
    return names, rolls
