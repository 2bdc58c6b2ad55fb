"""The studio's built-in primers: short phrases written out as MIDI (mido), for users without a file at hand."""

from __future__ import annotations

import io

import mido

TICKS = 480  # per quarter note
CADENCE = [  # (MIDI pitches, quarter notes): I IV V I in C major, four voices
    ((48, 64, 67, 72), 2), ((53, 65, 69, 72), 2), ((55, 62, 67, 71), 2), ((48, 64, 67, 72), 2),
]  # fmt: skip
ODE = [  # Beethoven's Ode to Joy, the first phrase, in D major
    ((66,), 1), ((66,), 1), ((67,), 1), ((69,), 1), ((69,), 1), ((67,), 1), ((66,), 1), ((64,), 1),
    ((62,), 1), ((62,), 1), ((64,), 1), ((66,), 1), ((66,), 1.5), ((64,), 0.5), ((64,), 2),
]  # fmt: skip
ARPEGGIO = [((p,), 0.5) for p in (57, 60, 64, 69, 72, 69, 64, 60) * 2]  # A minor, in eighth notes

PRIMERS = {  # name: (label, phrase, tempo in BPM)
    "cadence": ("I-IV-V-I cadence in C (4 voices, 2 bars)", CADENCE, 90.0),
    "ode": ("Ode to Joy, first phrase (melody, 4 bars)", ODE, 110.0),
    "arpeggio": ("A minor arpeggio (eighth notes, 2 bars)", ARPEGGIO, 100.0),
}


def primer_midi(name: str) -> bytes:
    """The built-in primer `name` (a key of PRIMERS) as a type-0 MIDI file: tempo, 4/4, piano, velocity 80."""
    _, phrase, tempo = PRIMERS[name]
    timed, now = [], 0
    for pitches, quarters in phrase:
        end = now + round(quarters * TICKS)
        timed += [(now, 1, mido.Message("note_on", note=p, velocity=80)) for p in pitches]
        timed += [(end, 0, mido.Message("note_off", note=p, velocity=0)) for p in pitches]
        now = end
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)),
                            mido.MetaMessage("time_signature", numerator=4, denominator=4)])  # fmt: skip
    last = 0
    for tick, _, message in sorted(timed, key=lambda item: (item[0], item[1])):
        track.append(message.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS)
    midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()
