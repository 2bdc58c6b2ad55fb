"""Piano-roll datasets: the four benchmarks (seqgen.music.benchmarks), MIDI folders and files, and the
embedded default (music21's Bach chorales). Every roll is bool[T, P], column k = MIDI low_pitch + k.
"""
from __future__ import annotations

import hashlib
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_paths
from seqgen.music.benchmarks import BENCHMARKS, SPLITS, benchmark_file, file_splits, report_dropped
from seqgen.music.midi_paths import MIDI_SUFFIXES
from seqgen.music.pianoroll import (
    MidiReadOptions,
    Quantisation,
    RollFormat,
    midi_to_roll,
    roll_to_midi,
)
from seqgen.music.stats import roll_statistics
from seqgen.runtime import log, progress

DEFAULT_STEPS_PER_QUARTER = 4  # MIDI folders and files: 16th notes, fine enough for most users' music (issue 19)
PICKLE_STEPS_PER_QUARTER = 2  # a roll file of unknown origin: eighth notes, like three of the four benchmarks


@dataclass
class PianoRollDataset:
    """Rolls bool[T, P] per split ("train", "valid", "test"), with their pitch range and frame duration.

    `skipped` maps files left out of a MIDI folder to the reason; `names` gives each piece's name per split.
    """

    name: str
    splits: dict[str, list[np.ndarray]]
    low_pitch: int
    n_pitches: int
    quantisation: Quantisation
    source: str
    skipped: dict[str, str] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    read: MidiReadOptions = field(default_factory=MidiReadOptions)  # how its MIDI files were read (if any)

    @property
    def roll_format(self) -> RollFormat:
        """Pitch range and quantisation of every roll, as one value."""
        return RollFormat(self.quantisation, self.low_pitch, self.n_pitches)


def _numbered(splits: dict[str, list[np.ndarray]]) -> dict[str, list[str]]:
    return {split: [f"{split}-{i:03d}" for i in range(len(rolls))] for split, rolls in splits.items()}


def split_by_hash(keys: list[str], valid: float = 0.1, test: float = 0.1) -> dict[str, list[int]]:
    """Deterministic split of `keys` (e.g. relative paths): rank them by sha1, the first `test` fraction
    goes to test, the next `valid` fraction to valid, the rest to train (valid and test get at least one
    key each once there are 3). Index lists keep the input order."""
    n = len(keys)
    order = sorted(range(n), key=lambda i: hashlib.sha1(keys[i].encode("utf-8")).hexdigest())
    n_test, n_valid = ((max(1, round(f * n)) if n >= 3 else 0) for f in (test, valid))
    parts = {
        "test": order[:n_test],
        "valid": order[n_test : n_test + n_valid],
        "train": order[n_test + n_valid :],
    }
    return {split: sorted(parts[split]) for split in SPLITS}


def _split_pieces(keys: list[str], rolls: list[np.ndarray]) -> tuple[dict, dict]:
    """Rolls and names per split; a top folder named train/valid/test decides, the rest by `split_by_hash`."""
    given = {
        i: key.split("/", 1)[0] for i, key in enumerate(keys) if "/" in key and key.split("/", 1)[0] in SPLITS
    }
    rest = [i for i in range(len(keys)) if i not in given]
    chosen = {split: [i for i, s in given.items() if s == split] for split in SPLITS}
    for split, idx in split_by_hash([keys[i] for i in rest]).items():
        chosen[split] = sorted(chosen[split] + [rest[i] for i in idx])
    return (
        {s: [rolls[i] for i in chosen[s]] for s in SPLITS},
        {s: [keys[i] for i in chosen[s]] for s in SPLITS},
    )


@dataclass(frozen=True)
class MidiInput:
    """How MIDI input becomes rolls: the pitch range, the grid (`steps_per_quarter` or `fs`; neither:
    DEFAULT_STEPS_PER_QUARTER) and the read options. Benchmarks and the embedded default use the range only."""

    low_pitch: int = 21
    n_pitches: int = 88
    steps_per_quarter: int | None = None
    fs: float | None = None
    read: MidiReadOptions = field(default_factory=MidiReadOptions)

    def roll_format(self, tempo_bpm: float = 120.0) -> RollFormat:
        """The roll format of MIDI input read this way, played at `tempo_bpm`."""
        given = self.steps_per_quarter is not None or self.fs is not None
        steps = self.steps_per_quarter if given else DEFAULT_STEPS_PER_QUARTER
        return RollFormat(Quantisation(steps, self.fs, tempo_bpm), self.low_pitch, self.n_pitches)


def _no_notes(result, midi: MidiInput) -> str:
    """Why a MIDI file gave an empty roll."""
    extra = [f"{result.dropped_notes} outside the range"] if result.dropped_notes else []
    extra += [f"{result.drum_notes} drum notes excluded"] if result.drum_notes else []
    return f"no notes in MIDI {midi.low_pitch}..{midi.low_pitch + midi.n_pitches - 1}" + (
        f" ({', '.join(extra)})" if extra else ""
    )


def _state_grid(source: str, quantisation: Quantisation, midi: MidiInput) -> None:
    """Log the grid MIDI input was read on, and whether it was the default (it is stored in every checkpoint)."""
    chosen = midi.steps_per_quarter is not None or midi.fs is not None or midi.read.ticks_per_step is not None
    grid = f"{midi.read.ticks_per_step} ticks" if midi.read.ticks_per_step else quantisation.describe()
    how = "as asked" if chosen else "the default for MIDI files; --steps-per-quarter or --fs to change"
    log.info("%s: one frame = %s (%s)", source, grid, how)


def load_midi_folder(folder: Path, midi: MidiInput = MidiInput()) -> PianoRollDataset:
    """All MIDI files under `folder` (recursive) as a dataset; unreadable or empty files are skipped with
    the reason. Files under a top folder named train/valid/test keep that split, others are split by hash."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise SeqgenError(
            f"{folder}: no MIDI files ({', '.join('*' + s for s in MIDI_SUFFIXES)}) in this folder"
        )
    fmt = midi.roll_format()
    keys, rolls, tempi, skipped, dropped = [], [], [], {}, 0
    with progress(transient=True) as bar:
        task = bar.add_task(f"read {folder.name}", total=len(files), status="")
        for path in files:
            key = path.relative_to(folder).as_posix()
            bar.update(task, advance=1, status=key)
            try:
                result = midi_to_roll(path, fmt, midi.read)
            except SeqgenError as exc:
                skipped[key] = str(exc).removeprefix(f"{path}: ")
                continue
            if not result.roll.any():
                skipped[key] = _no_notes(result, midi)
                continue
            keys.append(key)
            rolls.append(result.roll)
            tempi.append(result.tempo_bpm)
            dropped += result.dropped_notes
    if not rolls:
        first = next(iter(skipped.items()))
        raise SeqgenError(
            f"{folder}: none of its {len(files)} MIDI files gave notes (e.g. {first[0]}: {first[1]})"
        )
    if skipped:
        log.warning("%s: skipped %d of %d MIDI files", folder, len(skipped), len(files))
    report_dropped(str(folder), dropped, midi.low_pitch, midi.n_pitches)
    splits, names = _split_pieces(keys, rolls)
    quantisation = midi.roll_format(round(statistics.median(tempi), 1)).quantisation
    _state_grid(str(folder), quantisation, midi)
    return PianoRollDataset(
        folder.name, splits, midi.low_pitch, midi.n_pitches, quantisation, str(folder), skipped, names, midi.read
    )


def load_midi_file(path: Path, midi: MidiInput = MidiInput()) -> PianoRollDataset:
    """One MIDI file as a dataset of a single test piece (for info, scoring and export)."""
    result = midi_to_roll(path, midi.roll_format(), midi.read)
    if not result.roll.any():
        raise SeqgenError(f"{path}: {_no_notes(result, midi)}")
    report_dropped(str(path), result.dropped_notes, midi.low_pitch, midi.n_pitches)
    splits = {"train": [], "valid": [], "test": [result.roll]}
    names = {"train": [], "valid": [], "test": [path.name]}
    quantisation = midi.roll_format(round(result.tempo_bpm, 1)).quantisation
    _state_grid(str(path), quantisation, midi)
    return PianoRollDataset(
        path.stem, splits, midi.low_pitch, midi.n_pitches, quantisation, str(path), {}, names, midi.read
    )


EMBEDDED_NAME = "bach-chorales"  # `--data bach-chorales` names the embedded default (e.g. to score on it)


def load_embedded(*, low_pitch: int = 21, n_pitches: int = 88, limit: int | None = None) -> PianoRollDataset:
    """The embedded default: music21's Bach chorales (first `limit` only if given), split by hash of name."""
    from seqgen.music import embedded

    names, full = embedded.chorale_rolls(limit)
    lo, hi = max(low_pitch, 0), min(low_pitch + n_pitches, 128)
    rolls = []
    for roll in full:
        cropped = np.zeros((len(roll), n_pitches), dtype=bool)
        cropped[:, lo - low_pitch : hi - low_pitch] = roll[:, lo:hi]
        rolls.append(cropped)
    outside = sum(int(r.sum()) for r in full) - sum(int(r.sum()) for r in rolls)
    if outside:
        log.warning(
            "Bach chorales: %d active frames outside MIDI %d..%d dropped",
            outside,
            low_pitch,
            low_pitch + n_pitches - 1,
        )
    splits, split_names = _split_pieces(names, rolls)
    return PianoRollDataset(
        EMBEDDED_NAME,
        splits,
        low_pitch,
        n_pitches,
        embedded.CHORALE_QUANTISATION,
        "music21 corpus (Bach chorales)",
        {},
        split_names,
    )


def load_dataset(
    spec: str | os.PathLike | None = None,
    *,
    data: Path | None = None,
    midi: MidiInput = MidiInput(),
    limit: int | None = None,
) -> PianoRollDataset:
    """Load a dataset by `spec`: None or "bach-chorales" -> the embedded default (`limit`: its first chorales
    only); a benchmark name (jsb, nottingham, musedata, piano-midi; `data` = file or folder holding it); or a
    path to a MIDI folder, a MIDI file, or a benchmark .pickle/.mat file. `midi` gives the pitch range of
    every roll, and the grid and read options of MIDI input."""
    low_pitch, n_pitches = midi.low_pitch, midi.n_pitches
    if spec is None or str(spec) == EMBEDDED_NAME:
        return load_embedded(low_pitch=low_pitch, n_pitches=n_pitches, limit=limit)
    if str(spec) in BENCHMARKS:
        bench = BENCHMARKS[str(spec)]
        path = benchmark_file(bench, Path(data) if data is not None else None)
        splits = file_splits(path, low_pitch, n_pitches)
        return PianoRollDataset(
            str(spec), splits, low_pitch, n_pitches, bench.quantisation, str(path), {}, _numbered(splits)
        )
    path = Path(spec)
    if path.is_dir():
        return load_midi_folder(path, midi)
    if not path.exists():
        names = ", ".join((*BENCHMARKS, EMBEDDED_NAME))
        raise SeqgenError(f"{spec}: no such file or folder, and not a dataset name ({names})")
    if path.suffix.lower() in (".pickle", ".pkl", ".mat"):
        splits = file_splits(path, low_pitch, n_pitches)
        quantisation = next(
            (b.quantisation for b in BENCHMARKS.values() if path.name in (b.mat.name, b.pickle_name)),
            Quantisation(steps_per_quarter=PICKLE_STEPS_PER_QUARTER),
        )
        return PianoRollDataset(
            path.stem, splits, low_pitch, n_pitches, quantisation, str(path), {}, _numbered(splits)
        )
    return load_midi_file(path, midi)


def describe_dataset(dataset: PianoRollDataset) -> dict:
    """Plain summary: name, source, frame duration and, per split, sequences, frames, note range, mean
    polyphony and empty-frame rate (undefined values as None); plus the skipped files."""
    summary = {
        "name": dataset.name,
        "source": dataset.source,
        "quantisation": dataset.quantisation.to_dict(),
        "frame": dataset.quantisation.describe(),
        "low_pitch": dataset.low_pitch,
        "n_pitches": dataset.n_pitches,
    }
    for split in SPLITS:
        stats = roll_statistics(dataset.splits.get(split, []), dataset.low_pitch)
        summary[split] = {
            "sequences": stats["sequences"],
            "frames": stats["frames"],
            "pitch_min": None if np.isnan(stats["pitch_min"]) else int(stats["pitch_min"]),
            "pitch_max": None if np.isnan(stats["pitch_max"]) else int(stats["pitch_max"]),
            "mean_polyphony": None if np.isnan(stats["mean_polyphony"]) else stats["mean_polyphony"],
            "empty_frame_rate": None if np.isnan(stats["empty_frame_rate"]) else stats["empty_frame_rate"],
        }
    summary["skipped"] = dict(dataset.skipped)
    return summary


def export_split(
    dataset: PianoRollDataset,
    split: str,
    out: Path,
    *,
    limit: int | None = None,
    program: int = 0,
    velocity: int = 80,
) -> list[Path]:
    """Write the rolls of one split as MIDI files `<out>/<index>-<name>.mid` at the dataset's frame rate;
    all files or none (a full disk midway leaves nothing of this call behind)."""
    if split not in SPLITS:
        raise SeqgenError(f"{split}: expected one of {', '.join(SPLITS)}", param="split")
    rolls = dataset.splits[split][:limit]
    names = dataset.names.get(split) or _numbered({split: rolls})[split]
    fmt = dataset.roll_format
    paths = []
    for i, name in enumerate(names[: len(rolls)]):
        suffix = Path(name).suffix
        stem = (name[: -len(suffix)] if suffix.lower() in MIDI_SUFFIXES else name).replace("/", "-")
        paths.append(out / f"{i:03d}-{stem}.mid")
    with progress(transient=True) as bar, atomic_paths(paths) as temps:
        task = bar.add_task(f"export {split}", total=len(rolls), status="")
        for roll, path, tmp in zip(rolls, paths, temps):
            roll_to_midi(roll, tmp, fmt, program=program, velocity=velocity)
            bar.update(task, advance=1, status=path.name)
    return paths
