"""MIDI <-> piano-roll: quantise notes on the beat grid, a tick grid or in seconds, and write rolls back.

A roll is time-major `bool[T, P]`: `roll[t, k]` is True while MIDI pitch `low_pitch + k` sounds in frame t
(P = 88 keys = MIDI 21..108 by default). Onsets and offsets are rounded to the nearest frame boundary
and every note keeps at least one frame, so notes shorter than a frame survive.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from seqgen.errors import SeqgenError
from seqgen.fileio import write_bytes_atomic
from seqgen.music.midi_events import midi_file_bytes, read_events, sustained, track_bytes

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


@dataclass(frozen=True)
class RollFormat:
    """What a roll bool[T, P] holds: columns are MIDI `low_pitch`..`low_pitch + n_pitches - 1` (P =
    `n_pitches`), frames are `quantisation`. Stored in checkpoints as one entry (`to_dict`)."""

    quantisation: Quantisation
    low_pitch: int = 21
    n_pitches: int = 88

    def __post_init__(self) -> None:
        if not isinstance(self.quantisation, Quantisation):
            raise SeqgenError(f"roll format: quantisation must be a Quantisation, got {self.quantisation!r}")
        if not (0 <= self.low_pitch and 1 <= self.n_pitches and self.low_pitch + self.n_pitches <= 128):
            raise SeqgenError(
                f"roll format: pitches {self.low_pitch}..{self.low_pitch + self.n_pitches - 1}"
                " are not all MIDI 0..127"
            )

    def to_dict(self) -> dict:
        """Plain JSON-able dict: low_pitch, n_pitches and the quantisation's dict."""
        return {
            "low_pitch": self.low_pitch,
            "n_pitches": self.n_pitches,
            "quantisation": self.quantisation.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> RollFormat:
        """Inverse of `to_dict` (other keys are ignored); a malformed dict raises SeqgenError."""
        try:
            return cls(Quantisation.from_dict(d["quantisation"]), int(d["low_pitch"]), int(d["n_pitches"]))
        except KeyError as exc:
            raise SeqgenError(f"roll format: no {exc.args[0]!r} entry") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise SeqgenError(f"roll format: malformed ({exc})") from None


# The longest Piano-midi.de piece has 3,857 eighth notes (1,929 quarters): 193,000 frames even at 60 bpm and
# fs = 100 (the longest piano-midi.de file in shared/data: 249 s, 24,889 frames). 1,000,000 frames: 88 MB.
DEFAULT_MAX_FRAMES = 1_000_000
MAX_MIDI_BYTES = 16 * 2**20  # real MIDI files are kilobytes; mido holds each event as a Python object


@dataclass(frozen=True)
class MidiReadOptions:
    """How to read MIDI files: keep drum notes (channel 10), apply the sustain pedal (CC64), read on a grid
    of `ticks_per_step` MIDI ticks instead of the format's quantisation (for files whose header resolution is
    not their real grid, e.g. the JSB Chorales MIDI files), and refuse files longer than `max_frames`."""

    include_drums: bool = False
    sustain: bool = False
    ticks_per_step: int | None = None
    max_frames: int = DEFAULT_MAX_FRAMES

    def __post_init__(self) -> None:
        for name in ("ticks_per_step", "max_frames"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise SeqgenError(f"{value!r}: must be a positive integer", param=name)


@dataclass
class RollResult:
    """A MIDI file read as a piano-roll `roll` bool[T, P], with what was left out and the first tempo."""

    roll: np.ndarray
    dropped_notes: int
    tempo_bpm: float
    drum_notes: int = 0


def _check_grid(steps_per_quarter: int | None, fs: float | None) -> None:
    """Exactly one grid, and a positive one."""
    given = {k: v for k, v in [("steps_per_quarter", steps_per_quarter), ("fs", fs)] if v is not None}
    if len(given) != 1:
        raise SeqgenError(
            f"quantisation: give exactly one of steps_per_quarter or fs (got {', '.join(given) or 'none'})"
        )
    ((name, value),) = given.items()
    if not value > 0 or (name != "fs" and int(value) != value):
        raise SeqgenError(
            f"{value}: must be a positive {'number' if name == 'fs' else 'integer'}", param=name
        )


def _parse(source: MidiSource) -> tuple[mido.MidiFile, str]:
    """Parse `source` with mido, turning any parser failure into SeqgenError('<file>: <problem>')."""
    if isinstance(source, mido.MidiFile):
        return source, "<in-memory MIDI>"
    if isinstance(source, pretty_midi.PrettyMIDI):
        buffer = io.BytesIO()
        source.write(buffer)
        return mido.MidiFile(file=io.BytesIO(buffer.getvalue())), "<in-memory MIDI>"
    name = str(source)
    try:
        path = Path(source)
        if path.is_dir():
            raise SeqgenError(f"{name}: is a folder, not a MIDI file")
        if path.exists() and not path.is_file():
            raise SeqgenError(f"{name}: not a regular file (a FIFO, device or socket), not a MIDI file")
        if path.exists() and path.stat().st_size > MAX_MIDI_BYTES:
            raise SeqgenError(f"{name}: {path.stat().st_size:,} bytes, too large for a MIDI file")
        data = path.read_bytes()
        if not data:
            raise SeqgenError(f"{name}: empty file (0 bytes), not a MIDI file")
        return mido.MidiFile(file=io.BytesIO(data)), name
    except SeqgenError:
        raise
    except FileNotFoundError:
        raise SeqgenError(f"{name}: no such file") from None
    except EOFError:
        raise SeqgenError(f"{name}: MIDI data ends unexpectedly (truncated or malformed)") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure on untrusted bytes is a bad-input error
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise SeqgenError(f"{name}: not a readable MIDI file ({problem})") from None


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
    n = max(int(last[inside].max(initial=0)), n_frames or 0)
    order = np.lexsort((first, keys))
    order = order[inside[order]]
    first, last, keys = first[order], last[order], keys[order]
    offset = keys * (n + 2)  # per key, so that one running maximum serves every key
    reach = np.maximum.accumulate(last + offset) - offset  # end of the notes so far on this key
    new_key = np.concatenate([[True], keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, bool)
    begins = new_key | (first > np.concatenate([[0], reach[:-1]]))  # a note starting after a silence
    stops = np.concatenate([begins[1:], [True]]) if len(keys) else begins
    edges = np.zeros((n + 1, n_pitches), dtype=np.int8)  # +1 where a span of merged notes starts, -1 after
    edges[first[begins], keys[begins]] = 1
    edges[reach[stops], keys[stops]] = -1
    return np.cumsum(edges, axis=0, dtype=np.int8)[:n] > 0, int((~inside).sum())


def midi_to_roll(
    source: MidiSource, fmt: RollFormat, options: MidiReadOptions = MidiReadOptions()
) -> RollResult:
    """Read a MIDI file (path, mido.MidiFile or PrettyMIDI) as a roll bool[T, P] in format `fmt`.

    Returns the roll, the number of notes outside the format's pitch range (dropped), the number of drum
    notes left out and the first tempo (bpm). Frames follow `fmt.quantisation` (steps per quarter note
    follow tempo changes; `fs` counts seconds) unless `options.ticks_per_step` is set. All pitched channels
    are merged; notes are paired as in `midi_events` (none vanishes). T runs to the end of the last note
    (drums too) or text event; tempo, controller and signature events after the music add no frames.
    Unreadable files, and files longer than `options.max_frames` (checked before the roll is allocated),
    raise SeqgenError('<file>: <problem>').
    """
    midi, name = _parse(source)
    if midi.ticks_per_beat <= 0:
        raise SeqgenError(f"{name}: SMPTE time division ({midi.ticks_per_beat}) is not supported")
    events = read_events(midi)
    if (events.tempi <= 0).any():
        raise SeqgenError(f"{name}: a tempo of 0 microseconds per quarter note is not playable")
    q = fmt.quantisation

    def frame_positions(ticks: np.ndarray) -> np.ndarray:
        """Ticks [N] -> positions in frames [N] on the chosen grid."""
        if options.ticks_per_step is not None:
            return ticks / options.ticks_per_step
        if q.fs is not None:
            return events.seconds(ticks) * q.fs
        return ticks * (q.steps_per_quarter / events.ticks_per_beat)

    music_end = int(max(events.ends.max(initial=0), events.text_end))
    drums = events.channels == 9
    pitched = np.ones_like(drums) if options.include_drums else ~drums
    ends = events.ends[pitched]
    if options.sustain:
        ends = sustained(events, ends, events.channels[pitched], music_end)
    last = frame_positions(np.array([max(music_end, ends.max(initial=0))], dtype=float))[0]
    if not last <= options.max_frames:  # (NaN-proof)
        raise SeqgenError(
            f"{name}: the roll would have {last:,.0f} frames, more than the limit of {options.max_frames:,}"
            " (max_frames); is the file corrupt?"
        )
    roll, dropped = notes_to_roll(
        frame_positions(events.starts[pitched]),
        frame_positions(ends),
        events.pitches[pitched],
        low_pitch=fmt.low_pitch,
        n_pitches=fmt.n_pitches,
        n_frames=int(np.floor(frame_positions(np.array([music_end], dtype=float))[0] + 0.5)),
    )
    tempo_bpm = 60e6 / float(events.tempi[0])
    return RollResult(
        roll=roll, dropped_notes=dropped, tempo_bpm=tempo_bpm, drum_notes=int((drums & ~pitched).sum())
    )


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


MAX_DELTA = (1 << 28) - 1  # the longest time between two events that MIDI can store (ticks)


def midi_bytes(roll: np.ndarray, fmt: RollFormat, *, program: int = 0, velocity: int = 80) -> bytes:
    """A one-track MIDI file (bytes) of a roll bool[T, P] in format `fmt`, one note per run of frames.

    Frames are 1/`steps_per_quarter` quarter notes at the quantisation's `tempo_bpm`, or 1/`fs` seconds.
    The file carries the tempo and a 4/4 time signature. A text event at the end keeps trailing silent frames,
    so `midi_to_roll` in the same format gives back
    the same roll. The bytes are built with NumPy from the note runs (no per-note objects).
    """
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != fmt.n_pitches:
        raise SeqgenError(f"a piano-roll must be [T, {fmt.n_pitches}] for this format, got {roll.shape}")
    if not (0 <= program <= 127 and 1 <= velocity <= 127):
        raise SeqgenError(f"need program 0..127 and velocity 1..127 (got {program}, {velocity})")
    q = fmt.quantisation
    tempo = min(max(round(60e6 / q.tempo_bpm), 1), 0xFFFFFF)  # microseconds per quarter note, as stored
    if q.fs is not None:
        resolution = min(32767, max(480, math.ceil(1200 * q.fs / q.tempo_bpm)))  # >= 20 ticks per frame
        ticks_per_frame = resolution * 1e6 / (tempo * q.fs)
    else:
        resolution = q.steps_per_quarter * max(1, 480 // q.steps_per_quarter)  # frames fall on whole ticks
        ticks_per_frame = resolution // q.steps_per_quarter
    keys, starts, ends = note_runs(roll)
    frames = np.concatenate([ends, starts])  # note-offs first at equal ticks
    order = np.argsort(frames, kind="stable")
    ticks = np.round(frames[order] * ticks_per_frame).astype(np.int64)
    last, end_tick = int(ticks.max(initial=0)), round(roll.shape[0] * ticks_per_frame)
    if np.diff(ticks, prepend=0).max(initial=0) > MAX_DELTA or end_tick - last > MAX_DELTA:
        raise SeqgenError(f"a silence of more than {MAX_DELTA:,} MIDI ticks cannot be written")
    off = order < len(ends)
    events = np.empty((len(ticks), 3), dtype=np.uint8)
    events[:, 0] = np.where(off, 0x80, 0x90)
    events[:, 1] = np.concatenate([keys, keys])[order] + fmt.low_pitch
    events[:, 2] = np.where(off, 0, velocity)
    four_four = b"\x00\xff\x58\x04\x04\x02\x18\x08"  # time signature 4/4, 24 clocks per click, 8 32nds per beat
    header = b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big") + four_four + bytes([0, 0xC0, program])
    return midi_file_bytes(resolution, header, track_bytes(ticks, events), end_tick - last)


def roll_to_midi(
    roll: np.ndarray, path: str | os.PathLike, fmt: RollFormat, *, program: int = 0, velocity: int = 80
) -> None:
    """Write a roll bool[T, P] in format `fmt` as a MIDI file (atomically); see `midi_bytes`."""
    try:
        data = midi_bytes(roll, fmt, program=program, velocity=velocity)
    except SeqgenError as exc:
        raise SeqgenError(f"{path}: {exc}") from None
    write_bytes_atomic(path, data)
