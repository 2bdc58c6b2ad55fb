"""MIDI <-> piano-roll: quantise notes on the beat grid, a tick grid or in seconds, and write rolls back.

A roll is time-major `bool[T, P]`: `roll[t, k]` is True while MIDI pitch `low_pitch + k` sounds in frame t
(P = 88 keys = MIDI 21..108 by default). Onsets and offsets are rounded to the nearest frame boundary
and every note keeps at least one frame, so notes shorter than a frame survive.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_path

MidiSource = str | os.PathLike | mido.MidiFile | pretty_midi.PrettyMIDI


@dataclass(frozen=True)
class Quantisation:
    """What one frame is: 1/`steps_per_quarter` of a quarter note (beat grid) or 1/`fs` seconds.

    `tempo_bpm` (quarter notes per minute) sets the playback speed of beat-grid rolls written as MIDI.
    """

    steps_per_quarter: int | None = None
    fs: float | None = None
    tempo_bpm: float = 120.0

    def __post_init__(self) -> None:
        _check_grid(self.steps_per_quarter, self.fs)
        if not self.tempo_bpm > 0:
            raise SeqgenError(f"quantisation: tempo must be positive, got {self.tempo_bpm}")

    @property
    def frame_seconds(self) -> float:
        """Duration of one frame when played (seconds)."""
        if self.fs is not None:
            return 1.0 / self.fs
        return 60.0 / (self.tempo_bpm * self.steps_per_quarter)

    def grid_kwargs(self) -> dict:
        """The grid as keyword arguments for `midi_to_roll` / `roll_to_midi`."""
        if self.fs is not None:
            return {"fs": self.fs}
        return {"steps_per_quarter": self.steps_per_quarter}

    def describe(self) -> str:
        """Human-readable frame duration, e.g. '1/2 quarter note (0.250 s at 120 bpm)'."""
        if self.fs is not None:
            return f"1/{self.fs:g} s"
        share = "1" if self.steps_per_quarter == 1 else f"1/{self.steps_per_quarter}"
        return f"{share} quarter note ({self.frame_seconds:.3f} s at {self.tempo_bpm:g} bpm)"

    def to_dict(self) -> dict:
        """Plain JSON-able dict (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Quantisation:
        """Inverse of `to_dict`; a malformed dict raises SeqgenError."""
        try:
            return cls(d.get("steps_per_quarter"), d.get("fs"), float(d["tempo_bpm"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SeqgenError(f"quantisation {d!r}: malformed ({exc})") from None


@dataclass
class RollResult:
    """A MIDI file read as a piano-roll `roll` bool[T, P], with what was left out and the first tempo."""

    roll: np.ndarray
    dropped_notes: int
    tempo_bpm: float
    drum_notes: int = 0


def _check_grid(steps_per_quarter: int | None, fs: float | None, ticks_per_step: int | None = None) -> None:
    """Exactly one grid, and a positive one."""
    given = {
        k: v
        for k, v in [("steps_per_quarter", steps_per_quarter), ("fs", fs), ("ticks_per_step", ticks_per_step)]
        if v is not None
    }
    if len(given) != 1:
        names = (
            "steps_per_quarter or fs" if ticks_per_step is None else "steps_per_quarter, fs or ticks_per_step"
        )
        raise SeqgenError(f"quantisation: give exactly one of {names} (got {', '.join(given) or 'none'})")
    ((name, value),) = given.items()
    if not value > 0 or (name != "fs" and int(value) != value):
        raise SeqgenError(
            f"quantisation: {name} must be a positive {'number' if name == 'fs' else 'integer'}, got {value}"
        )


def _read(source: MidiSource) -> tuple[pretty_midi.PrettyMIDI, str]:
    """Parse `source` into PrettyMIDI, turning any parser failure into SeqgenError('<file>: <problem>').

    pretty_midi reads tempo only from the first track and overlays a type-2 file's independent tracks;
    such files are first merged into one track (tempo events count on every track, as in mido) with the
    type-2 tracks played one after the other.
    """
    if isinstance(source, pretty_midi.PrettyMIDI):
        return source, "<in-memory MIDI>"
    name = "<in-memory MIDI>" if isinstance(source, mido.MidiFile) else str(source)
    try:
        if isinstance(source, mido.MidiFile):
            midi, data = source, None
        else:
            path = Path(source)
            if path.is_dir():
                raise SeqgenError(f"{name}: is a folder, not a MIDI file")
            data = path.read_bytes()
            if not data:
                raise SeqgenError(f"{name}: empty file (0 bytes), not a MIDI file")
            midi = mido.MidiFile(file=io.BytesIO(data))
        tracks = midi.tracks
        tempo_elsewhere = any(msg.type == "set_tempo" for t in tracks[1:] for msg in t)
        if data is None or midi.type == 2 or tempo_elsewhere:
            if midi.type == 2:
                starts = np.cumsum([0] + [sum(msg.time for msg in t) for t in tracks[:-1]])
                tracks = [
                    mido.MidiTrack([t[0].copy(time=t[0].time + int(s)), *t[1:]]) if t else t
                    for t, s in zip(tracks, starts)
                ]
            merged = mido.MidiFile(type=0, ticks_per_beat=midi.ticks_per_beat)
            merged.tracks.append(mido.merge_tracks(tracks))
            buffer = io.BytesIO()
            merged.save(file=buffer)
            data = buffer.getvalue()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pretty_midi.PrettyMIDI(io.BytesIO(data)), name
    except SeqgenError:
        raise
    except FileNotFoundError:
        raise SeqgenError(f"{name}: no such file") from None
    except EOFError:
        raise SeqgenError(f"{name}: MIDI data ends unexpectedly (truncated or malformed)") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure on untrusted bytes is a bad-input error
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise SeqgenError(f"{name}: not a readable MIDI file ({problem})") from None


def _quarters(pm: pretty_midi.PrettyMIDI, times: np.ndarray) -> np.ndarray:
    """Positions in quarter notes of `times` (seconds) [N], following the tempo map."""
    change_times, tempi = pm.get_tempo_changes()
    at_change = np.concatenate([[0.0], np.cumsum(np.diff(change_times) * tempi[:-1] / 60.0)])
    i = np.maximum(np.searchsorted(change_times, times, side="right") - 1, 0)
    return at_change[i] + (times - change_times[i]) * tempi[i] / 60.0


def _sustained(inst: pretty_midi.Instrument, ends: np.ndarray, music_end: float) -> np.ndarray:
    """Note ends [N] (seconds) moved to the pedal release when they fall while CC64 (>= 64) is down.

    A pedal never released holds to `music_end`."""
    cc = np.array(sorted((c.time, c.value >= 64) for c in inst.control_changes if c.number == 64)).reshape(
        -1, 2
    )
    times, down = cc[:, 0], cc[:, 1].astype(bool)
    changed = down != np.concatenate([[False], down[:-1]])
    presses, releases = times[changed & down], times[changed & ~down]
    if not len(presses):
        return ends
    releases = np.concatenate([releases, [music_end] * (len(presses) - len(releases))])
    k = np.searchsorted(presses, ends, side="right") - 1
    held = (k >= 0) & (ends < releases[np.maximum(k, 0)])
    return np.where(held, np.maximum(ends, releases[np.maximum(k, 0)]), ends)


def notes_to_roll(
    starts: np.ndarray,
    ends: np.ndarray,
    pitches: np.ndarray,
    *,
    low_pitch: int = 21,
    n_pitches: int = 88,
    n_frames: int | None = None,
) -> tuple[np.ndarray, int]:
    """Roll bool[T, P] from notes at frame positions `starts`, `ends` [N] (float) with MIDI `pitches` [N].

    Positions are rounded half up to frame boundaries and each note keeps at least one frame. Returns the
    roll and the number of notes dropped for lying outside MIDI `low_pitch`..`low_pitch + n_pitches - 1`.
    T is `n_frames` if given (at least the last note's end).
    """
    first = np.floor(np.asarray(starts, dtype=float) + 0.5).astype(np.int64)
    last = np.maximum(np.floor(np.asarray(ends, dtype=float) + 0.5).astype(np.int64), first + 1)
    keys = np.asarray(pitches, dtype=np.int64) - low_pitch
    inside = (keys >= 0) & (keys < n_pitches)
    first, last, keys = first[inside], last[inside], keys[inside]
    n = max(int(last.max(initial=0)), n_frames or 0)
    count = np.zeros((n + 1, n_pitches), dtype=np.int32)
    np.add.at(count, (first, keys), 1)
    np.add.at(count, (last, keys), -1)
    return np.cumsum(count, axis=0)[:n] > 0, int((~inside).sum())


def midi_to_roll(
    source: MidiSource,
    *,
    low_pitch: int = 21,
    n_pitches: int = 88,
    steps_per_quarter: int | None = None,
    fs: float | None = None,
    ticks_per_step: int | None = None,
    include_drums: bool = False,
    sustain: bool = False,
) -> RollResult:
    """Read a MIDI file (path, mido.MidiFile or PrettyMIDI) as a roll bool[T, P] on exactly one grid.

    Returns the roll, the number of notes outside MIDI `low_pitch`..`low_pitch + n_pitches - 1` (dropped),
    the number of drum notes left out and the first tempo (bpm).

    Grids: `steps_per_quarter` frames per quarter note (follows tempo changes), `fs` frames per second,
    or `ticks_per_step` MIDI ticks per frame (for files whose header resolution is not their real grid,
    e.g. the JSB Chorales MIDI files). All pitched instruments are merged; drums are left out unless
    `include_drums`; `sustain` extends notes released while the pedal (CC64) is down to its release.
    T runs to the end of the last note (drums too) or text event; tempo, controller and signature events
    after the music (common in real files) add no silent frames. Unreadable files raise
    SeqgenError('<file>: <problem>').
    """
    _check_grid(steps_per_quarter, fs, ticks_per_step)
    pm, _ = _read(source)

    def frame_positions(times: np.ndarray) -> np.ndarray:
        """Seconds [N] -> positions in frames [N] on the chosen grid."""
        if fs is not None:
            return times * fs
        return _quarters(pm, times) * (steps_per_quarter or pm.resolution / ticks_per_step)

    spans = [
        np.array([(n.start, n.end, n.pitch) for n in inst.notes], float).reshape(-1, 3)
        for inst in pm.instruments
    ]
    music_end = max(
        [span[:, 1].max(initial=0.0) for span in spans] + [e.time for e in pm.text_events + pm.lyrics],
        default=0.0,
    )
    starts, ends, pitches, drum_notes = [], [], [], 0
    for inst, span in zip(pm.instruments, spans):
        if inst.is_drum and not include_drums:
            drum_notes += len(span)
            continue
        starts.append(span[:, 0])
        ends.append(_sustained(inst, span[:, 1], music_end) if sustain else span[:, 1])
        pitches.append(span[:, 2])
    roll, dropped = notes_to_roll(
        frame_positions(np.concatenate([[], *starts])),
        frame_positions(np.concatenate([[], *ends])),
        np.concatenate([[], *pitches]),
        low_pitch=low_pitch,
        n_pitches=n_pitches,
        n_frames=int(np.floor(frame_positions(np.array([music_end]))[0] + 0.5)),  # sustain may add more
    )
    tempo_bpm = float(pm.get_tempo_changes()[1][0])
    return RollResult(roll=roll, dropped_notes=dropped, tempo_bpm=tempo_bpm, drum_notes=drum_notes)


def note_runs(roll: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Notes of a roll bool[T, P] as runs of consecutive active frames: (keys, starts, ends) [N] each.

    `keys` are column indices, `starts`/`ends` frame indices (end exclusive), ordered by key then time.
    """
    roll = np.asarray(roll, dtype=bool)
    n_frames = roll.shape[0]
    padded = np.zeros((roll.shape[1], n_frames + 2), dtype=np.int8)
    padded[:, 1:-1] = roll.T
    edges = np.diff(padded.ravel())
    onsets, offsets = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return onsets // (n_frames + 2), onsets % (n_frames + 2), offsets % (n_frames + 2)


def roll_to_midi(
    roll: np.ndarray,
    path: str | os.PathLike,
    *,
    low_pitch: int = 21,
    steps_per_quarter: int | None = None,
    fs: float | None = None,
    tempo_bpm: float = 120.0,
    program: int = 0,
    velocity: int = 80,
) -> None:
    """Write a roll bool[T, P] as a one-instrument MIDI file (atomically), one note per run of frames.

    Frames are 1/`steps_per_quarter` quarter notes at `tempo_bpm`, or 1/`fs` seconds. A text event at
    the end keeps trailing silent frames, so `midi_to_roll` on the same grid gives back the same roll.
    """
    _check_grid(steps_per_quarter, fs)
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise SeqgenError(f"{path}: a piano-roll must be 2-D [T, P], got shape {roll.shape}")
    if not (0 <= program <= 127 and 1 <= velocity <= 127 and tempo_bpm > 0):
        raise SeqgenError(
            f"{path}: need program 0..127, velocity 1..127 and a positive tempo "
            f"(got {program}, {velocity}, {tempo_bpm})"
        )
    if low_pitch < 0 or low_pitch + roll.shape[1] > 128:
        raise SeqgenError(
            f"{path}: pitches {low_pitch}..{low_pitch + roll.shape[1] - 1} are not all MIDI 0..127"
        )
    if fs is not None:
        seconds_per_frame = 1.0 / fs
        resolution = min(32767, max(480, math.ceil(1200 * fs / tempo_bpm)))  # >= 20 ticks per frame
    else:
        seconds_per_frame = 60.0 / (tempo_bpm * steps_per_quarter)
        resolution = steps_per_quarter * max(1, 480 // steps_per_quarter)  # frames fall on whole ticks
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo_bpm)
    instrument = pretty_midi.Instrument(program=program)
    keys, starts, ends = note_runs(roll)
    instrument.notes = [
        pretty_midi.Note(velocity, int(k) + low_pitch, s * seconds_per_frame, e * seconds_per_frame)
        for k, s, e in zip(keys, starts, ends)
    ]
    pm.instruments.append(instrument)
    pm.text_events.append(pretty_midi.Text("end", roll.shape[0] * seconds_per_frame))
    with atomic_path(path) as tmp:
        pm.write(str(tmp))
