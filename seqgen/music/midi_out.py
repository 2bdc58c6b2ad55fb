"""MIDI files that keep a source file's notes verbatim (a primer, a melody) and add the notes of a roll.

The source's notes keep their ticks, velocities and tempo map; the roll's frames are placed on the same
grid the source was read on (`frame_ticks`), so a roll read from the source lines up with its notes.
The time signature is the source's first one, else 4/4.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import mido
import numpy as np

from seqgen.music.midi_events import MidiEvents, read_events
from seqgen.music.pianoroll import MidiReadOptions, MidiSource, RollFormat, _parse, note_runs

DRUMS = 9


@dataclass(frozen=True)
class KeptNotes:
    """A source file's notes to copy: `events` (seqgen.music.midi_events) with the drums already left out
    unless asked, and the grid it was read on."""

    events: MidiEvents
    fmt: RollFormat
    read: MidiReadOptions

    def frame_ticks(self, frames: np.ndarray) -> np.ndarray:
        """Source ticks [N] (float) of frame boundaries `frames` [N] on the grid the source was read on."""
        q, frames = self.fmt.quantisation, np.asarray(frames, dtype=float)
        if self.read.ticks_per_step is not None:
            return frames * self.read.ticks_per_step
        if q.fs is not None:
            return self.events.ticks_at(frames / q.fs)
        return frames * self.events.ticks_per_beat / q.steps_per_quarter

    def until(self, frame: int) -> KeptNotes:
        """The notes that start before frame `frame`, cut off there (a primer's first frames)."""
        end = self.frame_ticks(np.array([frame]))[0]
        e = self.events
        keep = e.starts < end
        cut = replace(
            e, starts=e.starts[keep], ends=np.minimum(e.ends[keep], np.floor(end)).astype(np.int64),
            pitches=e.pitches[keep], channels=e.channels[keep], velocities=e.velocities[keep],
        )  # fmt: skip
        return replace(self, events=cut)


def read_kept(source: MidiSource, fmt: RollFormat, read: MidiReadOptions) -> KeptNotes:
    """The notes of a MIDI file to copy verbatim (drums only with `read.include_drums`)."""
    midi, _ = _parse(source)
    events = read_events(midi)
    keep = (events.channels != DRUMS) | read.include_drums
    events = replace(
        events, starts=events.starts[keep], ends=events.ends[keep], pitches=events.pitches[keep],
        channels=events.channels[keep], velocities=events.velocities[keep],
    )  # fmt: skip
    return KeptNotes(events, fmt, read)


def kept_tempo_bpm(kept: KeptNotes) -> float:
    """The source's first tempo in quarter notes per minute."""
    return 60e6 / float(kept.events.tempi[0])


def merged_midi_bytes(
    kept: KeptNotes,
    roll: np.ndarray,
    first_frame: int = 0,
    *,
    tempo_bpm: float | None = None,
    program: int = 0,
    velocity: int = 80,
    end_frame: int | None = None,
) -> bytes:
    """A type-0 MIDI file: the kept notes as they are, plus one note per run of frames of `roll` bool[T, P]
    placed from frame `first_frame` on the source's grid, at `velocity`. The tempo map is the source's, or
    one tempo `tempo_bpm` when given (the ticks, so the beats, stay); the file lasts to frame `end_frame`
    (default: the roll's end) or its last note."""
    e, fmt = kept.events, kept.fmt
    keys, starts, ends = note_runs(roll)
    rstart = np.round(kept.frame_ticks(starts + first_frame)).astype(np.int64)
    rend = np.maximum(np.round(kept.frame_ticks(ends + first_frame)).astype(np.int64), rstart + 1)
    pitch = np.concatenate([e.pitches, keys + fmt.low_pitch]).astype(int)
    begin, stop = np.concatenate([e.starts, rstart]), np.concatenate([e.ends, rend])
    vel = np.concatenate([e.velocities, np.full(len(keys), velocity)]).clip(1, 127).astype(int)
    chan = np.concatenate([np.where(e.channels == DRUMS, DRUMS, 0), np.zeros(len(keys), int)]).astype(int)
    last = end_frame if end_frame is not None else first_frame + len(roll)
    end_tick = max(int(np.round(kept.frame_ticks(np.array([last]))[0])), int(stop.max(initial=0)))
    timed = []
    if tempo_bpm is None:
        timed += [(int(t), 0, mido.MetaMessage("set_tempo", tempo=int(v))) for t, v in zip(e.tempo_ticks, e.tempi)]
    else:
        timed.append((0, 0, mido.MetaMessage("set_tempo", tempo=min(max(round(60e6 / tempo_bpm), 1), 0xFFFFFF))))
    num, den = e.time_signature or (4, 4)
    timed.append((0, 0, mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    timed.append((0, 0, mido.Message("program_change", channel=0, program=program)))
    for b, s, p, v, c in zip(begin.tolist(), stop.tolist(), pitch.tolist(), vel.tolist(), chan.tolist()):
        timed.append((b, 2, mido.Message("note_on", channel=c, note=p, velocity=v)))
        timed.append((s, 1, mido.Message("note_off", channel=c, note=p, velocity=0)))  # offs before ons
    timed.sort(key=lambda item: (item[0], item[1]))
    track, now = mido.MidiTrack(), 0
    for tick, _, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("text", text="end", time=end_tick - now))
    track.append(mido.MetaMessage("end_of_track", time=0))
    out = mido.MidiFile(type=0, ticks_per_beat=e.ticks_per_beat)
    out.tracks.append(track)
    buffer = io.BytesIO()
    out.save(file=buffer)
    return buffer.getvalue()
