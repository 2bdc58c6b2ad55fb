"""Real MIDI files: every file in shared/data/midi gives a roll or a one-line error, and the 382 original
JSB Chorales MIDI files convert to exactly the benchmark pickle's sequences."""

from __future__ import annotations

from collections import Counter

import mido
import numpy as np

from seqgen.errors import SeqgenError
from seqgen.music.benchmarks import read_mat, read_pickle
from seqgen.music.pianoroll import DEFAULT_MAX_FRAMES, MidiReadOptions, Quantisation, RollFormat, midi_to_roll

BEATS = {s: RollFormat(Quantisation(steps_per_quarter=s)) for s in (1, 2, 4)}

BROKEN = {  # the files that mido and pretty_midi cannot read (shared/data/README.md, "fails")
    "test-corrupt-file-missing-byte.mid",
    "test-empty-file.mid",
    "test-illegal-message-all.mid",
    "test-non-midi-track.mid",
    "test-not-a-midi-file.mid",
    "test-running-status-sysex.mid",
}


def test_every_shared_midi_file_gives_a_roll_or_a_one_line_error(data_dir):
    files = sorted((data_dir / "midi").rglob("*.mid"))
    assert len(files) == 40
    rolls, errors = {}, {}
    for path in files:
        for fmt, options in [
            (BEATS[4], MidiReadOptions()),
            (RollFormat(Quantisation(fs=20.0)), MidiReadOptions(sustain=True)),
        ]:
            try:
                result = midi_to_roll(path, fmt, options)
            except SeqgenError as exc:
                errors[path.name] = str(exc)
                continue
            assert result.roll.dtype == bool and result.roll.ndim == 2 and result.roll.shape[1] == 88
            rolls[path.name] = result
    assert set(errors) == BROKEN
    for name, message in errors.items():
        assert name in message and "\n" not in message and message.split(": ", 1)[1]
    assert len(rolls) == 34
    assert rolls["test-empty.mid"].roll.shape == (0, 88)


def test_edge_case_files_read_as_documented(data_dir):
    base = data_dir / "midi" / "test-midi-files"
    type1 = midi_to_roll(base / "test-2-tracks-type-1.mid", BEATS[2]).roll
    type0 = midi_to_roll(base / "test-2-tracks-type-0.mid", BEATS[2]).roll  # 2 tracks: nonconforming
    type2 = midi_to_roll(base / "test-2-tracks-type-2.mid", BEATS[2]).roll  # "must play sequentially"
    np.testing.assert_array_equal(type0, type1)
    assert len(type2) == 2 * len(type1) and type2.sum() == type1.sum()
    drums = midi_to_roll(base / "test-all-gm-percussion.mid", BEATS[2])
    assert not drums.roll.any() and drums.drum_notes == 183
    assert midi_to_roll(
        base / "test-all-gm-percussion.mid", BEATS[2], MidiReadOptions(include_drums=True)
    ).roll.any()
    tenth = RollFormat(Quantisation(fs=10))
    damper = [
        midi_to_roll(base / "test-control-40-damper.mid", tenth, MidiReadOptions(sustain=s)).roll
        for s in (False, True)
    ]
    assert damper[0].shape == damper[1].shape and damper[1].sum() > damper[0].sum()
    assert (damper[1] >= damper[0]).all()
    extra = midi_to_roll(base / "test-corrupt-file-extra-byte.mid", BEATS[1]).roll
    assert extra.any(axis=0).sum() == 8  # trailing garbage ignored: the 8 notes of a C major scale


def test_piano_midi_benchmark_frames_are_eighth_notes_of_the_beat_grid(data_dir):
    """piano-midi.de's bach_847.mid at 2 steps per quarter has the benchmark test piece's length (+-1)."""
    roll = midi_to_roll(data_dir / "midi" / "piano-midi.de" / "bach_847.mid", BEATS[2]).roll
    benchmark = read_mat(data_dir / "boulanger2012_mat" / "Piano_midi.mat")["test"][2]
    assert abs(len(roll) - len(benchmark)) <= 1


def test_jsb_midi_files_convert_to_exactly_the_pickle_sequences(data_dir):
    """THE acceptance test: all 382 JSB MIDI files on their 120-tick grid give the pickle's sequences.

    The header says 100 ticks per quarter and there is no tempo event, but every note starts and ends on
    a multiple of 120 ticks: one quarter note of the chorales is 120 ticks, so `ticks_per_step=120`.
    """
    folder = data_dir / "boulanger2012" / "JSB Chorales"
    on_120_ticks = MidiReadOptions(ticks_per_step=120)
    pickle_splits = read_pickle(data_dir / "boulanger2012" / "JSB Chorales.pickle")
    for split, sequences in pickle_splits.items():
        files = sorted((folder / split).glob("*.mid"))
        assert len(files) == len(sequences)
        for path in files:
            midi = mido.MidiFile(path)
            ticks = np.cumsum([msg.time for msg in midi.tracks[0]])
            note_ticks = [t for t, msg in zip(ticks, midi.tracks[0]) if msg.type in ("note_on", "note_off")]
            assert midi.ticks_per_beat == 100 and np.all(np.asarray(note_ticks) % 120 == 0)
        got = Counter(_key(midi_to_roll(path, BEATS[1], on_120_ticks).roll) for path in files)
        want = Counter(_key(roll) for roll in sequences)
        assert got == want, f"{split}: {sum((want - got).values())} pickle sequences not matched"


def _key(roll: np.ndarray) -> bytes:
    """Hashable identity of a roll (its length and bits)."""
    return len(roll).to_bytes(4, "little") + np.packbits(roll).tobytes()


def test_piano_midi_files_pass_the_frame_limit_with_margin(data_dir):
    """Every piano-midi.de file at 100 frames per second stays under a tenth of the default frame limit."""
    hundredth = RollFormat(Quantisation(fs=100.0))
    lengths = [
        len(midi_to_roll(p, hundredth).roll) for p in (data_dir / "midi" / "piano-midi.de").glob("*.mid")
    ]
    assert len(lengths) == 13 and 20_000 < max(lengths) < DEFAULT_MAX_FRAMES / 10
