"""MIDI folders are read on a 16th-note grid by default, and a model's grid and read options travel with it."""

import json
import logging

import mido

from seqgen.checkpoint import load_checkpoint
from seqgen.music.datasets import MidiInput, load_dataset
from seqgen.music.pianoroll import MidiReadOptions, Quantisation, RollFormat, midi_to_roll
from seqgen.music.task import midi_read_of


def write_piece(path, pitches, *, tpb=96, pedal=False) -> None:
    """A melody of 16th notes at 90 BPM (with the sustain pedal held over the second half when asked)."""
    mid = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90)))
    for i, pitch in enumerate(pitches):
        if pedal and i == len(pitches) // 2:
            track.append(mido.Message("control_change", control=64, value=127))
        track.append(mido.Message("note_on", note=pitch, velocity=64))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=tpb // 4))
    track.append(mido.Message("control_change", control=64, value=0, time=tpb))
    mid.save(path)


def folder_of_pieces(folder, count=6):
    folder.mkdir()
    for k in range(count):
        write_piece(folder / f"piece{k}.mid", [60 + (i * (k + 1)) % 12 for i in range(24 + 4 * k)], pedal=True)
    return folder


def test_a_midi_folder_is_read_on_16th_notes_and_the_grid_is_stated(tmp_path, caplog) -> None:
    folder = folder_of_pieces(tmp_path / "songs")
    with caplog.at_level(logging.INFO, logger="seqgen"):
        dataset = load_dataset(folder)
    assert dataset.quantisation.steps_per_quarter == 4 and dataset.quantisation.tempo_bpm == 90
    roll = midi_to_roll(folder / "piece0.mid", dataset.roll_format).roll
    assert roll.shape == (24, 88) and (roll.sum(1) == 1).all()  # one 16th note per frame, none merged
    assert "one frame = 1/4 quarter note" in caplog.text and "default" in caplog.text


def test_score_reads_a_folder_with_the_checkpoints_grid_and_read_options(cli, tmp_path) -> None:
    folder = folder_of_pieces(tmp_path / "songs")
    run = tmp_path / "run"
    train = cli("train", "--data", folder, "--fs", 10, "--sustain", "--epochs", 1, "--hidden", 8, "--cond-hidden", 8,
                "--out", run)  # fmt: skip
    assert train.code == 0, train.output
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["data"]["roll_format"]["quantisation"]["fs"] == 10
    assert ckpt["data"]["midi_read"] == {"include_drums": False, "sustain": True, "ticks_per_step": None}
    dataset = load_dataset(folder, midi=MidiInput(fs=10.0, read=MidiReadOptions(sustain=True)))
    expected = sum(len(r) for r in dataset.splits["train"])
    plain = sum(len(midi_to_roll(folder / n, RollFormat(Quantisation(fs=10.0))).roll) for n in dataset.names["train"])
    assert expected > plain  # the pedal lengthens the pieces: reading without it would differ
    scored = cli("score", "--model", run / "best.pt", "--data", folder, "--split", "train", "--json")
    assert scored.code == 0, scored.output
    assert json.loads(scored.stdout)["frames"] == expected


def test_checkpoints_without_read_options_read_midi_plainly() -> None:
    assert midi_read_of({"data": {}}, 500) == MidiReadOptions(max_frames=500)
    stored = {"data": {"midi_read": {"include_drums": True, "sustain": True, "ticks_per_step": 24}}}
    assert midi_read_of(stored) == MidiReadOptions(True, True, 24)
