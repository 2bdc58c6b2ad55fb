"""MIDI <-> piano-roll on hand-built files with hand-computed rolls, round trips and bad input."""

from __future__ import annotations

import mido
import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seqgen.errors import SeqgenError
from seqgen.music.pianoroll import (
    MidiReadOptions,
    Quantisation,
    RollFormat,
    midi_to_roll,
    note_runs,
    notes_to_roll,
    roll_to_midi,
)


def fmt(low_pitch: int = 21, n_pitches: int = 88, tempo_bpm: float = 120.0, **grid) -> RollFormat:
    """A roll format on one grid (steps_per_quarter= or fs=)."""
    return RollFormat(Quantisation(**grid, tempo_bpm=tempo_bpm), low_pitch, n_pitches)


def note(start: int, end: int, pitch: int, channel: int = 0) -> list:
    """Note-on/off events (tick, message) of one note."""
    return [
        (start, mido.Message("note_on", note=pitch, velocity=90, channel=channel)),
        (end, mido.Message("note_off", note=pitch, channel=channel)),
    ]


def tempo(tick: int, bpm: float) -> list:
    return [(tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))]


def pedal(tick: int, down: bool) -> list:
    return [(tick, mido.Message("control_change", control=64, value=127 if down else 0))]


def track(events: list) -> mido.MidiTrack:
    """A track from (absolute tick, message) pairs."""
    out, now = mido.MidiTrack(), 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        out.append(msg.copy(time=tick - now))
        now = tick
    return out


def midi(*tracks: list, tpq: int = 480, kind: int | None = None) -> mido.MidiFile:
    """An in-memory MIDI file with one track per event list."""
    mf = mido.MidiFile(type=kind if kind is not None else int(len(tracks) > 1), ticks_per_beat=tpq)
    mf.tracks.extend(track(events) for events in tracks)
    return mf


def expected(n_frames: int, spans: list[tuple[int, int, int]], low_pitch: int = 21, n_pitches: int = 88):
    """Roll bool[T, P] with (MIDI pitch, first frame, end frame) spans set."""
    roll = np.zeros((n_frames, n_pitches), dtype=bool)
    for pitch, first, end in spans:
        roll[first:end, pitch - low_pitch] = True
    return roll


def test_beat_grid_follows_tempo_changes_and_fs_grid_follows_seconds():
    # 120 bpm, then 60 bpm from tick 960 (quarter 2 = 1.0 s): C4 q0-1, E4 q1-3, G4 q3-4
    mf = midi(tempo(0, 120) + tempo(960, 60) + note(0, 480, 60) + note(480, 1440, 64) + note(1440, 1920, 67))
    beats = midi_to_roll(mf, fmt(steps_per_quarter=2))
    np.testing.assert_array_equal(beats.roll, expected(8, [(60, 0, 2), (64, 2, 6), (67, 6, 8)]))
    assert beats.tempo_bpm == pytest.approx(120) and beats.dropped_notes == 0
    # seconds: C4 0-0.5 s, E4 0.5-2.0 s, G4 2.0-3.0 s; fs = 2 frames per second
    seconds = midi_to_roll(mf, fmt(fs=2))
    np.testing.assert_array_equal(seconds.roll, expected(6, [(60, 0, 1), (64, 1, 4), (67, 4, 6)]))


def test_tick_grid_reads_files_whose_header_resolution_is_not_their_grid():
    mf = midi(note(0, 240, 60) + note(240, 360, 62), tpq=100)  # notes on a 120-tick grid
    roll = midi_to_roll(mf, fmt(steps_per_quarter=1), MidiReadOptions(ticks_per_step=120)).roll
    np.testing.assert_array_equal(roll, expected(3, [(60, 0, 2), (62, 2, 3)]))


def test_onsets_and_offsets_round_to_the_grid_and_short_notes_keep_one_frame():
    # frame = 240 ticks: [0, 0.25] -> frame 0; [1.25, 1.67] -> 1; [2.5, 2.71] -> onset rounds up to 3
    mf = midi(note(0, 60, 60) + note(300, 400, 62) + note(600, 650, 64))
    roll = midi_to_roll(mf, fmt(steps_per_quarter=2)).roll
    np.testing.assert_array_equal(roll, expected(4, [(60, 0, 1), (62, 1, 2), (64, 3, 4)]))


def test_drums_are_excluded_by_default_and_counted():
    mf = midi(note(0, 480, 60) + note(0, 480, 36, channel=9))
    default = midi_to_roll(mf, fmt(steps_per_quarter=1))
    np.testing.assert_array_equal(default.roll, expected(1, [(60, 0, 1)]))
    assert default.drum_notes == 1
    with_drums = midi_to_roll(mf, fmt(steps_per_quarter=1), MidiReadOptions(include_drums=True))
    np.testing.assert_array_equal(with_drums.roll, expected(1, [(60, 0, 1), (36, 0, 1)]))


def test_notes_outside_the_range_are_dropped_and_counted():
    mf = midi(note(0, 480, 20) + note(0, 480, 21) + note(480, 960, 108) + note(480, 960, 109))
    result = midi_to_roll(mf, fmt(steps_per_quarter=1))
    np.testing.assert_array_equal(result.roll, expected(2, [(21, 0, 1), (108, 1, 2)]))
    assert result.dropped_notes == 2
    narrow = midi_to_roll(mf, fmt(100, 10, steps_per_quarter=1))
    np.testing.assert_array_equal(narrow.roll, expected(2, [(108, 1, 2), (109, 1, 2)], 100, 10))
    assert narrow.dropped_notes == 2


def test_sustain_pedal_extends_released_notes_to_the_pedal_release():
    # frame = 240 ticks. Pedal down 120..960, and again from 1300 to the end of the file.
    events = (
        note(0, 240, 60)
        + note(480, 720, 64)
        + note(1200, 1440, 67)
        + note(1680, 1920, 72)
        + pedal(120, True)
        + pedal(960, False)
        + pedal(1300, True)
    )
    mf = midi(events)
    plain = midi_to_roll(mf, fmt(steps_per_quarter=2)).roll
    np.testing.assert_array_equal(plain, expected(8, [(60, 0, 1), (64, 2, 3), (67, 5, 6), (72, 7, 8)]))
    held = midi_to_roll(mf, fmt(steps_per_quarter=2), MidiReadOptions(sustain=True)).roll
    np.testing.assert_array_equal(held, expected(8, [(60, 0, 4), (64, 2, 4), (67, 5, 8), (72, 7, 8)]))


def test_type2_tracks_play_one_after_another_and_tempo_counts_on_any_track():
    sequential = midi(note(0, 480, 60), note(0, 480, 62), kind=2)
    np.testing.assert_array_equal(
        midi_to_roll(sequential, fmt(steps_per_quarter=1)).roll, expected(2, [(60, 0, 1), (62, 1, 2)])
    )
    # tempo 60 bpm in the second track: 960 ticks = 2 quarters = 2 s
    tempo_elsewhere = midi(note(0, 960, 60), tempo(0, 60))
    np.testing.assert_array_equal(midi_to_roll(tempo_elsewhere, fmt(fs=1)).roll, expected(2, [(60, 0, 2)]))


def test_in_memory_pretty_midi_on_the_seconds_grid():
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, 60, 0.0, 0.5), pretty_midi.Note(80, 64, 0.5, 1.0)]
    pm.instruments.append(piano)
    np.testing.assert_array_equal(midi_to_roll(pm, fmt(fs=4)).roll, expected(4, [(60, 0, 2), (64, 2, 4)]))


def test_notes_to_roll_and_note_runs_are_inverse_on_the_grid():
    roll, dropped = notes_to_roll(
        np.array([0, 2, 1]),
        np.array([2, 3, 1.2]),
        np.array([60, 60, 130]),
        low_pitch=60,
        n_pitches=4,
        n_frames=5,
    )
    np.testing.assert_array_equal(roll, expected(5, [(60, 0, 3)], 60, 4))
    assert dropped == 1
    keys, starts, ends = note_runs(expected(6, [(61, 0, 2), (61, 3, 6), (60, 1, 2)], 60, 3))
    assert list(zip(keys, starts, ends)) == [(0, 1, 2), (1, 0, 2), (1, 3, 6)]


grids = st.one_of(
    st.sampled_from([1, 2, 3, 4]).map(lambda s: {"steps_per_quarter": s}),
    st.sampled_from([4.0, 10.0, 31.25]).map(lambda f: {"fs": f}),
)


@settings(max_examples=40, deadline=None)
@given(
    roll=arrays(bool, st.tuples(st.integers(1, 40), st.just(88))),
    grid=grids,
    bpm=st.sampled_from([60.0, 97.5, 120.0, 180.0]),
    low_pitch=st.sampled_from([0, 21, 40]),
)
def test_roll_to_midi_to_roll_is_exact(tmp_path_factory, roll, grid, bpm, low_pitch):
    path = tmp_path_factory.mktemp("rt") / "song.mid"
    roll_to_midi(roll, path, fmt(low_pitch, tempo_bpm=bpm, **grid))
    back = midi_to_roll(path, fmt(low_pitch, **grid))
    np.testing.assert_array_equal(back.roll, roll)
    assert back.tempo_bpm == pytest.approx(bpm, rel=1e-5)


def test_written_files_reopen_in_mido_and_pretty_midi_with_tempo_program_velocity(tmp_path):
    roll = expected(6, [(60, 0, 2), (60, 3, 6), (67, 1, 2)])
    path = tmp_path / "deep" / "song.mid"
    roll_to_midi(roll, path, fmt(steps_per_quarter=2, tempo_bpm=90), program=40, velocity=100)
    mf = mido.MidiFile(path)
    (bpm,) = [mido.tempo2bpm(m.tempo) for t in mf.tracks for m in t if m.type == "set_tempo"]
    assert bpm == pytest.approx(90, rel=1e-5)
    pm = pretty_midi.PrettyMIDI(str(path))
    (violin,) = pm.instruments
    assert violin.program == 40 and {n.velocity for n in violin.notes} == {100}
    notes = sorted((n.pitch, n.start, n.end) for n in violin.notes)
    assert [n[0] for n in notes] == [60, 60, 67]
    third = 1 / 3  # seconds per frame at 90 bpm
    assert np.ravel([n[1:] for n in notes]) == pytest.approx(
        [0, 2 * third, 3 * third, 6 * third, third, 2 * third], abs=1e-5
    )
    assert [p.name for p in tmp_path.joinpath("deep").iterdir()] == ["song.mid"]  # no temp file left


def test_roll_to_midi_rejects_bad_input_without_writing(tmp_path):
    path = tmp_path / "x.mid"
    with pytest.raises(SeqgenError, match=r"\[T, 88\]"):
        roll_to_midi(np.zeros(5, dtype=bool), path, fmt(steps_per_quarter=1))
    with pytest.raises(SeqgenError, match=r"\[T, 88\]"):
        roll_to_midi(np.zeros((2, 60), dtype=bool), path, fmt(steps_per_quarter=1))
    with pytest.raises(SeqgenError, match="velocity"):
        roll_to_midi(np.zeros((2, 88), dtype=bool), path, fmt(steps_per_quarter=1), velocity=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"hello, not midi", "not a readable MIDI file"),
        ("truncate", "ends unexpectedly"),
    ],
)
def test_bad_files_give_a_one_line_error_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.mid"
    if content == "truncate":
        roll_to_midi(expected(8, [(60, 0, 8), (64, 2, 5)]), path, fmt(steps_per_quarter=1))
        content = path.read_bytes()[:-9]
    path.write_bytes(content)
    with pytest.raises(SeqgenError) as info:
        midi_to_roll(path, fmt(steps_per_quarter=1))
    message = str(info.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_missing_files_and_folders_are_errors(tmp_path):
    with pytest.raises(SeqgenError, match="no such file"):
        midi_to_roll(tmp_path / "absent.mid", fmt(steps_per_quarter=1))
    with pytest.raises(SeqgenError, match="is a folder"):
        midi_to_roll(tmp_path, fmt(steps_per_quarter=1))


def test_quantisation_frame_duration_and_dict_round_trip():
    beat = Quantisation(steps_per_quarter=2, tempo_bpm=120.0)
    assert beat.frame_seconds == 0.25
    assert Quantisation(fs=10.0).frame_seconds == pytest.approx(0.1)
    assert Quantisation.from_dict(beat.to_dict()) == beat
    for bad in [
        {},
        {"steps_per_quarter": 2, "fs": 3.0, "tempo_bpm": 120},
        {"steps_per_quarter": 0, "tempo_bpm": 1},
    ]:
        with pytest.raises(SeqgenError):
            Quantisation.from_dict(bad)


def test_roll_format_and_read_options_validate_and_round_trip():
    f = fmt(30, 40, steps_per_quarter=4, tempo_bpm=90.0)
    assert RollFormat.from_dict(f.to_dict()) == f
    assert f.to_dict() == {"low_pitch": 30, "n_pitches": 40, "quantisation": f.quantisation.to_dict()}
    assert RollFormat.from_dict({**f.to_dict(), "other": 1}) == f  # a checkpoint's data entry works as is
    for bad in [{}, {"low_pitch": 21, "n_pitches": 88}, {**f.to_dict(), "n_pitches": "x"}]:
        with pytest.raises(SeqgenError, match="roll format"):
            RollFormat.from_dict(bad)
    with pytest.raises(SeqgenError, match="not all MIDI 0..127"):
        RollFormat(Quantisation(fs=10.0), 100, 40)
    with pytest.raises(SeqgenError, match="0: must be a positive integer") as info:
        MidiReadOptions(ticks_per_step=0)
    assert info.value.param == "ticks_per_step"
    with pytest.raises(SeqgenError, match="2.5: must be a positive integer") as info:
        MidiReadOptions(max_frames=2.5)
    assert info.value.param == "max_frames"
    with pytest.raises(SeqgenError, match="-1.0: must be a positive number") as info:
        Quantisation(fs=-1.0)
    assert info.value.param == "fs"
    with pytest.raises(SeqgenError, match="exactly one"):
        Quantisation()


def test_zero_length_notes_keep_one_frame():
    # frame = 240 ticks: a note on and off at tick 480, and one whose on and off share tick 0
    mf = midi(note(480, 480, 60) + note(0, 0, 64) + note(0, 960, 67))
    roll = midi_to_roll(mf, fmt(steps_per_quarter=2)).roll
    np.testing.assert_array_equal(roll, expected(4, [(60, 2, 3), (64, 0, 1), (67, 0, 4)]))


def test_unterminated_notes_last_to_the_end_of_their_track():
    # track 1: C4 never released, the track ends at tick 1440; track 2: E4 never released, ends at 960
    first = note(0, 480, 62)[:1] + [(240, mido.Message("note_on", note=60, velocity=80))]
    first += [(1440, mido.MetaMessage("end_of_track"))]
    second = note(0, 480, 64)[:1] + [(960, mido.MetaMessage("end_of_track"))]
    roll = midi_to_roll(midi(first, second), fmt(steps_per_quarter=2)).roll
    np.testing.assert_array_equal(roll, expected(6, [(60, 1, 6), (62, 0, 6), (64, 0, 4)]))


def test_re_struck_notes_sound_until_their_last_note_off():
    # C4 struck at 0 and again at 480 (still sounding), released at 720 and 1200; a stray note-off at 1440
    events = [
        (0, mido.Message("note_on", note=60, velocity=80)),
        (480, mido.Message("note_on", note=60, velocity=80)),
        (720, mido.Message("note_on", note=60, velocity=0)),
        (1200, mido.Message("note_off", note=60)),
        (1440, mido.Message("note_off", note=60)),
    ]
    events += note(1440, 1920, 64)
    roll = midi_to_roll(midi(events), fmt(steps_per_quarter=2)).roll
    np.testing.assert_array_equal(roll, expected(8, [(60, 0, 5), (64, 6, 8)]))
    # the same pitch in two tracks (two voices) is paired per track: the union sounds
    voices = midi(note(0, 720, 60), note(480, 1200, 60))
    np.testing.assert_array_equal(
        midi_to_roll(voices, fmt(steps_per_quarter=2)).roll, expected(5, [(60, 0, 5)])
    )


def test_the_pedal_holds_notes_of_its_channel_in_other_tracks():
    # piano-midi.de keeps the pedal in a track of its own: it must still hold the notes of its channel
    notes, pedal_track = note(0, 240, 60) + note(0, 240, 62, channel=1), pedal(120, True) + pedal(960, False)
    roll = midi_to_roll(
        midi(notes, pedal_track), fmt(steps_per_quarter=2), MidiReadOptions(sustain=True)
    ).roll
    np.testing.assert_array_equal(roll, expected(4, [(60, 0, 4), (62, 0, 1)]))


def test_long_silences_use_every_length_of_delta_time(tmp_path):
    # 240 ticks per frame: simultaneous events and gaps of 1, 100 and 10,000 frames need 1- to 4-byte delta
    # times (pretty_midi refuses files longer than 10,000,000 ticks)
    roll = np.zeros((20_200, 88), bool)
    roll[[0, 0, 2, 103, 10_104, 20_105], [0, 5, 10, 20, 30, 40]] = True
    path = tmp_path / "sparse.mid"
    roll_to_midi(roll, path, fmt(steps_per_quarter=2))
    ticks = np.cumsum([m.time for m in mido.MidiFile(path).tracks[0]])
    assert ticks[-1] == 20_200 * 240
    np.testing.assert_array_equal(midi_to_roll(path, fmt(steps_per_quarter=2)).roll, roll)
    pm = pretty_midi.PrettyMIDI(str(path))
    assert sorted(round(n.start * 4) for n in pm.instruments[0].notes) == [0, 0, 2, 103, 10_104, 20_105]


def test_a_silence_too_long_for_midi_is_refused_without_writing(tmp_path):
    roll = np.zeros((300_000, 88), bool)  # 1 frame per second at 120 bpm: 960 ticks per frame
    roll[0, 0] = True
    with pytest.raises(SeqgenError, match=r"long.mid: a silence of more than 268,435,455 MIDI ticks"):
        roll_to_midi(roll, tmp_path / "long.mid", fmt(fs=1.0))
    assert list(tmp_path.iterdir()) == []
