"""Hostile MIDI files: a few bytes that ask for a huge roll are refused in one line before anything big is
allocated, under a memory limit that the roll itself would break."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import mido
import pytest

from seqgen.errors import SeqgenError
from seqgen.music.pianoroll import (
    DEFAULT_MAX_FRAMES,
    MAX_MIDI_BYTES,
    MidiReadOptions,
    Quantisation,
    RollFormat,
    midi_to_roll,
)

MEMORY_LIMIT = 768 * 2**20  # bytes of address space: a 4,000,000 x 88 roll needs more than this
BEATS, SECONDS = RollFormat(Quantisation(steps_per_quarter=2)), RollFormat(Quantisation(fs=20.0))


def tiny_file(path, events: list, tpq: int = 1) -> None:
    """A one-track MIDI file with (delta ticks, message) events."""
    mf = mido.MidiFile(type=0, ticks_per_beat=tpq)
    mf.tracks.append(mido.MidiTrack(msg.copy(time=delta) for delta, msg in events))
    mf.save(path)


def on(pitch: int = 60) -> mido.Message:
    return mido.Message("note_on", note=pitch, velocity=90)


def off(pitch: int = 60) -> mido.Message:
    return mido.Message("note_off", note=pitch)


HOSTILE = {
    # 1 tick per quarter and a note 2,000,000 ticks long: 4,000,000 frames at 2 steps per quarter
    "long-note": ([(0, on()), (2_000_000, off())], BEATS),
    # the slowest tempo MIDI allows (16.7 s per quarter) on the seconds grid: 67,000,000 frames
    "slow-tempo": (
        [(0, mido.MetaMessage("set_tempo", tempo=0xFFFFFF)), (0, on()), (200_000, off())],
        SECONDS,
    ),
    # a note never released in a track that ends 2**28 - 1 ticks later
    "unterminated": ([(0, on()), (0x0FFFFFFF, mido.MetaMessage("end_of_track"))], BEATS),
    # a text event far after the music
    "far-text": ([(0, on()), (1, off()), (0x0FFFFFFF, mido.MetaMessage("text", text="x"))], BEATS),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_huge_rolls_are_refused_in_one_line_under_a_memory_limit(tmp_path, name):
    events, fmt = HOSTILE[name]
    path = tmp_path / f"{name}.mid"
    tiny_file(path, events)
    assert path.stat().st_size < 64
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        from seqgen.errors import SeqgenError
        from seqgen.music.pianoroll import Quantisation, RollFormat, midi_to_roll
        try:
            midi_to_roll(sys.argv[1], RollFormat.from_dict({fmt.to_dict()!r}))
        except SeqgenError as exc:
            sys.exit(f"error: {{exc}}")
        """
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert (
        done.stderr.startswith(f"error: {path}: the roll would have") and "more than the limit" in done.stderr
    )


def test_the_limit_is_an_option_and_trailing_events_add_no_frames(tmp_path):
    path = tmp_path / "short.mid"
    tiny_file(path, [(0, on()), (100, off())])  # 100 quarters: 200 frames
    assert midi_to_roll(path, BEATS, MidiReadOptions(max_frames=200)).roll.shape == (200, 88)
    with pytest.raises(
        SeqgenError, match=r"short.mid: the roll would have 200 frames, more than the limit of 199"
    ):
        midi_to_roll(path, BEATS, MidiReadOptions(max_frames=199))
    tiny_file(path, [(0, on()), (1, off()), (0x0FFFFFFF, mido.MetaMessage("set_tempo", tempo=1))])
    assert midi_to_roll(path, BEATS).roll.shape == (2, 88)  # a tempo event far after the notes
    assert DEFAULT_MAX_FRAMES >= 100_000


def test_unplayable_headers_and_tempi_are_one_line_errors(tmp_path):
    path = tmp_path / "smpte.mid"
    tiny_file(path, [(0, on()), (10, off())])
    data = bytearray(path.read_bytes())
    data[12:14] = (0xE7, 0x28)  # SMPTE division: 25 frames per second, 40 ticks per frame
    path.write_bytes(bytes(data))
    with pytest.raises(SeqgenError, match="smpte.mid: SMPTE time division"):
        midi_to_roll(path, BEATS)
    tiny_file(path, [(0, mido.MetaMessage("set_tempo", tempo=0)), (0, on()), (10, off())])
    with pytest.raises(SeqgenError, match="tempo of 0"):
        midi_to_roll(path, SECONDS)


def test_special_and_oversized_files_are_refused_before_reading(tmp_path):
    with pytest.raises(SeqgenError, match="null: not a regular file"):
        midi_to_roll("/dev/null", BEATS)
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(SeqgenError, match="pipe.mid: not a regular file"):
        midi_to_roll(fifo, BEATS)
    big = tmp_path / "big.mid"
    with open(big, "wb") as f:
        f.truncate(MAX_MIDI_BYTES + 1)  # sparse: no disk used
    with pytest.raises(SeqgenError, match="big.mid: 16,777,217 bytes, too large for a MIDI file"):
        midi_to_roll(big, BEATS)
