"""MIDI events as arrays: notes paired from raw mido events, tempo map, sustain pedal, and a fast writer.

Times here are MIDI ticks (int64). Notes are paired per (track, channel, pitch) by counting: a pitch sounds
from a note-on while silent until the note-off that balances every note-on since, so a re-struck note
sounds until its last note-off, a zero-length note stays (as a zero-length span) and a note-on never
followed by a note-off lasts to the end of its track. Stray note-offs are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import mido
import numpy as np

DEFAULT_TEMPO = 500_000  # microseconds per quarter note (120 bpm), MIDI's default


@dataclass
class MidiEvents:
    """What a roll needs from a MIDI file, in ticks: paired notes `[N]` arrays, pedal, tempo map, ends."""

    ticks_per_beat: int
    starts: np.ndarray  # note start ticks [N]
    ends: np.ndarray  # note end ticks [N] (>= starts)
    pitches: np.ndarray  # MIDI pitches [N]
    channels: np.ndarray  # MIDI channels [N] (9 = drums)
    pedal: np.ndarray  # CC64 events [K, 3]: tick, channel, down (value >= 64), in file order
    tempo_ticks: np.ndarray  # ticks where the tempo changes [C] (first is 0)
    tempi: np.ndarray  # microseconds per quarter note from each change [C]
    text_end: int  # tick of the last text or lyrics event (0 if none)
    velocities: np.ndarray | None = None  # velocity of each note's opening note-on [N]
    time_signature: tuple[int, int] | None = None  # (numerator, denominator) of the first time-signature event

    def seconds(self, ticks: np.ndarray) -> np.ndarray:
        """Seconds [N] at `ticks` [N], following the tempo map."""
        change, tempi = self.tempo_ticks.astype(float), self.tempi.astype(float) / (1e6 * self.ticks_per_beat)
        at_change = np.concatenate([[0.0], np.cumsum(np.diff(change) * tempi[:-1])])
        i = np.maximum(np.searchsorted(change, ticks, side="right") - 1, 0)
        return at_change[i] + (ticks - change[i]) * tempi[i]

    def ticks_at(self, seconds: np.ndarray) -> np.ndarray:
        """Ticks [N] (float) at `seconds` [N]: the inverse of `seconds` under the tempo map."""
        change = self.tempo_ticks.astype(float)
        per_tick = self.tempi.astype(float) / (1e6 * self.ticks_per_beat)
        at_change = np.concatenate([[0.0], np.cumsum(np.diff(change) * per_tick[:-1])])
        i = np.maximum(np.searchsorted(at_change, seconds, side="right") - 1, 0)
        return change[i] + (np.asarray(seconds, dtype=float) - at_change[i]) / per_tick[i]


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """bool [N]: True where a sorted key array [N] starts a new group."""
    return np.concatenate([[True], keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, bool)


def pair_notes(
    ticks: np.ndarray, groups: np.ndarray, is_on: np.ndarray, stops: np.ndarray, values: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Sounding spans from note events [N] (tick, group id, note-on?, end of the track) in file order.

    Returns (group, start tick, end tick) [S] per span, and the `values` [S] of each span's opening event when
    given (e.g. velocities); a span still open at its group's last event ends at that event's `stops` tick.
    """
    order = np.lexsort((np.arange(len(ticks)), ticks, groups))
    ticks, groups, stops, step = ticks[order], groups[order], stops[order], np.where(is_on[order], 1, -1)
    first = _group_starts(groups)
    dense = np.cumsum(first) * (2 * len(ticks) + 1)  # group offsets that dwarf any count
    index = np.arange(len(ticks))
    head = np.maximum.accumulate(np.where(first, index, 0))  # index of each event's group start
    total = np.cumsum(step)
    running = total - (total - step)[head]  # unclamped count within the group
    floor = np.minimum.accumulate(running - dense) + dense  # running minimum within the group
    count = running - np.minimum(floor, 0)  # stray note-offs cannot take the count below zero
    before = np.where(first, 0, np.concatenate([[0], count[:-1]]))
    last = np.concatenate([first[1:], [True]]) if len(ticks) else first
    opens, closes = (before == 0) & (count > 0), (before > 0) & (count == 0)
    dangling = last & (count > 0)
    end_ticks = np.where(dangling, stops, ticks)[closes | dangling]
    if values is not None:
        return groups[opens], ticks[opens], end_ticks, values[order][opens]
    return groups[opens], ticks[opens], end_ticks


def read_events(midi: mido.MidiFile) -> MidiEvents:
    """Notes (paired per track, channel and pitch), pedal, tempo map and text end of a parsed MIDI file.

    Tempo events count on every track; a type-2 file's tracks play one after the other.
    """
    notes, pedal, tempo, text_end, stops, offset, signature = [], [], [], 0, [], 0, None
    for index, track in enumerate(midi.tracks):
        ticks = (offset + np.cumsum([msg.time for msg in track], dtype=np.int64)).tolist()
        for tick, msg in zip(ticks, track):
            kind = msg.type
            if kind == "note_on" or kind == "note_off":
                on = kind == "note_on" and msg.velocity > 0
                notes.append((tick, (index * 16 + msg.channel) * 128 + msg.note, on, msg.velocity))
            elif kind == "control_change" and msg.control == 64:
                pedal.append((tick, msg.channel, msg.value >= 64))
            elif kind == "set_tempo":
                tempo.append((tick, msg.tempo))
            elif kind == "text" or kind == "lyrics":
                text_end = max(text_end, tick)
            elif kind == "time_signature" and (signature is None or tick < signature[0]):
                signature = (tick, msg.numerator, msg.denominator)
        end = ticks[-1] if ticks else offset
        stops.extend([end] * (len(notes) - len(stops)))
        offset = end if midi.type == 2 else 0
    note_array = np.array(notes, dtype=np.int64).reshape(-1, 4)
    groups, starts, ends, velocities = pair_notes(
        note_array[:, 0], note_array[:, 1], note_array[:, 2] > 0, np.array(stops, dtype=np.int64), note_array[:, 3]
    )
    tempo_ticks, tempi = _tempo_map(np.array(tempo, dtype=np.int64).reshape(-1, 2))
    return MidiEvents(
        midi.ticks_per_beat,
        starts,
        ends,
        groups % 128,
        groups // 128 % 16,
        np.array(pedal, dtype=np.int64).reshape(-1, 3),
        tempo_ticks,
        tempi,
        text_end,
        velocities,
        None if signature is None else signature[1:],
    )


def _tempo_map(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Change ticks [C] and tempi [C] from (tick, tempo) events [E, 2]; the last event at a tick wins."""
    events = events[np.argsort(events[:, 0], kind="stable")]
    keep = np.concatenate([events[1:, 0] != events[:-1, 0], [True]]) if len(events) else np.zeros(0, bool)
    ticks, tempi = events[keep, 0], events[keep, 1]
    if not len(ticks) or ticks[0] != 0:
        ticks, tempi = np.concatenate([[0], ticks]), np.concatenate([[DEFAULT_TEMPO], tempi])
    return ticks, tempi


def sustained(events: MidiEvents, ends: np.ndarray, channels: np.ndarray, music_end: int) -> np.ndarray:
    """Note end ticks [N] moved to the pedal release when they fall while CC64 is down on their channel.

    The pedal acts on its channel in every track (piano-midi.de files keep it in a track of its own);
    a pedal never released holds to `music_end`."""
    ends = ends.copy()
    for channel in np.unique(events.pedal[:, 1]):
        pedal = events.pedal[events.pedal[:, 1] == channel]
        pedal = pedal[np.argsort(pedal[:, 0], kind="stable")]
        down = pedal[:, 2] > 0
        changed = down != np.concatenate([[False], down[:-1]])
        times, down = pedal[changed, 0], down[changed]
        presses = times[down]
        if not len(presses):
            continue
        releases = np.concatenate([times[~down], [music_end] * (len(presses) - (~down).sum())])
        mine = np.flatnonzero(channels == channel)
        k = np.searchsorted(presses, ends[mine], side="right") - 1
        release = releases[np.maximum(k, 0)]
        held = (k >= 0) & (ends[mine] < release)
        ends[mine[held]] = release[held]
    return ends


def _varlen(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MIDI variable-length quantities of `values` [N] (< 2**28): their byte counts [N] and bytes [4, N]."""
    sizes = 1 + (values >= 1 << 7) + (values >= 1 << 14) + (values >= 1 << 21)
    j = np.arange(4)[:, None]
    shift = 7 * np.maximum(sizes - 1 - j, 0)
    more = np.where(j < sizes - 1, 0x80, 0)
    return sizes, ((values >> shift) & 0x7F) | more


def track_bytes(ticks: np.ndarray, events: np.ndarray) -> bytes:
    """A track chunk's body from absolute `ticks` [N] (sorted) and 3-byte channel `events` uint8[N, 3]."""
    sizes, varlen = _varlen(np.diff(ticks, prepend=0))
    ends = np.cumsum(sizes + 3)
    out = np.zeros(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
    begins = ends - sizes - 3
    for j in range(4):
        sel = sizes > j
        out[begins[sel] + j] = varlen[j, sel]
    for j in range(3):
        out[ends - 3 + j] = events[:, j]
    return out.tobytes()


def midi_file_bytes(resolution: int, header_events: bytes, body: bytes, end_delta: int) -> bytes:
    """A type-0 MIDI file: `header_events` (delta-time 0 each, already encoded), the channel events `body`,
    then a text event 'end' `end_delta` ticks after the last event, and the end of the track."""
    sizes, varlen = _varlen(np.array([end_delta], dtype=np.int64))
    tail = varlen[: sizes[0], 0].astype(np.uint8).tobytes() + b"\xff\x01\x03end\x00\xff\x2f\x00"
    track = header_events + body + tail
    return (
        b"MThd"
        + (6).to_bytes(4, "big")
        + (0).to_bytes(2, "big")
        + (1).to_bytes(2, "big")
        + resolution.to_bytes(2, "big")
        + b"MTrk"
        + len(track).to_bytes(4, "big")
        + track
    )
