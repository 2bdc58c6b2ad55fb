"""MIDI writing speed: frames written per second by `roll_to_midi`, against the pretty_midi writer it replaced.

Usage: python scripts/bench_midi_write.py [--songs 256] [--frames 128] [--out results/bench_midi_write.json]
Songs are `--frames`-long excerpts of the Piano-midi.de benchmark's test split ($SEQGEN_DATA_DIR, real
polyphony) or, without the data, random rolls with the same note density. One process, one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pretty_midi

from seqgen.fileio import atomic_path, write_text_atomic
from seqgen.music.pianoroll import Quantisation, RollFormat, midi_bytes, note_runs, roll_to_midi

FORMAT = RollFormat(Quantisation(steps_per_quarter=2, tempo_bpm=120.0))


def write_with_pretty_midi(roll: np.ndarray, path: Path) -> None:
    """The writer before: one pretty_midi.Note object per run, then PrettyMIDI.write (atomically)."""
    seconds = FORMAT.quantisation.frame_seconds
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=FORMAT.quantisation.tempo_bpm)
    instrument = pretty_midi.Instrument(program=0)
    keys, starts, ends = note_runs(roll)
    instrument.notes = [
        pretty_midi.Note(80, int(k) + FORMAT.low_pitch, s * seconds, e * seconds) for k, s, e in zip(keys, starts, ends)
    ]
    pm.instruments.append(instrument)
    pm.text_events.append(pretty_midi.Text("end", roll.shape[0] * seconds))
    with atomic_path(path) as tmp:
        pm.write(str(tmp))


def songs(n: int, frames: int) -> tuple[list[np.ndarray], str]:
    """`n` rolls bool[frames, 88] and where they come from."""
    mat = Path(os.environ.get("SEQGEN_DATA_DIR", "../shared/data")) / "boulanger2012_mat" / "Piano_midi.mat"
    if mat.is_file():
        from seqgen.music.datasets import read_mat

        joined = np.concatenate(read_mat(mat)["test"])
        starts = np.random.default_rng(0).integers(0, len(joined) - frames, n)
        return [joined[s : s + frames] for s in starts], f"Piano-midi.de test split excerpts ({mat})"
    rng = np.random.default_rng(0)
    return [rng.random((frames, 88)) < 0.05 for _ in range(n)], "random rolls (5% of cells on)"


def frames_per_second(write, rolls: list[np.ndarray], folder: Path, repeats: int) -> float:
    """Frames written per second of this process's CPU time, best of `repeats` passes over all rolls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for i, roll in enumerate(rolls):
            write(roll, folder / f"{i}.mid")
        best = min(best, time.process_time() - start)
    return sum(len(r) for r in rolls) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=256)
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/bench_midi_write.json"))
    args = parser.parse_args()
    rolls, source = songs(args.songs, args.frames)
    with tempfile.TemporaryDirectory() as folder:
        before = frames_per_second(write_with_pretty_midi, rolls, Path(folder), args.repeats)
        after = frames_per_second(lambda r, p: roll_to_midi(r, p, FORMAT), rolls, Path(folder), args.repeats)
        encode = frames_per_second(lambda r, p: midi_bytes(r, FORMAT), rolls, Path(folder), args.repeats)
    notes = sum(len(note_runs(r)[0]) for r in rolls)
    result = {
        "songs": args.songs,
        "frames_per_song": args.frames,
        "notes_per_song": notes / args.songs,
        "source": source,
        "before_pretty_midi_frames_per_s": round(before),
        "after_roll_to_midi_frames_per_s": round(after),
        "speedup": round(after / before, 1),
        "encode_only_midi_bytes_frames_per_s": round(encode),
        "ms_per_song_before": round(1000 * args.frames / before, 3),
        "ms_per_song_after": round(1000 * args.frames / after, 3),
        "timing": "CPU time of this process, best of --repeats passes; before/after include the atomic file writes",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(
        f"{source}: {notes / args.songs:.0f} notes per {args.frames}-frame song\n"
        f"before (pretty_midi objects): {before:,.0f} frames/s ({result['ms_per_song_before']} ms per song)\n"
        f"after (bytes from note runs): {after:,.0f} frames/s ({result['ms_per_song_after']} ms per song), "
        f"{result['speedup']}x\n"
        f"encoding alone (midi_bytes, no file): {encode:,.0f} frames/s"
    )
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
