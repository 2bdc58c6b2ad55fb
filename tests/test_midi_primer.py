"""`seqgen sample --primer`: the primer comes back as its own notes (ticks, velocities, tempo, time signature)."""

from dataclasses import asdict

import mido
import numpy as np
import pytest
import torch

from seqgen.checkpoint import FORMAT_VERSION, save_checkpoint
from seqgen.music.model import MusicModel, make_config
from seqgen.music.pianoroll import Quantisation, RollFormat, midi_to_roll, roll_to_midi

FMT = RollFormat(Quantisation(steps_per_quarter=2, tempo_bpm=100.0))


def tiny_checkpoint(path, fmt: RollFormat = FMT, midi_read: dict | None = None) -> None:
    """An untrained 88-key RNN-NADE with the data settings a trained one carries."""
    torch.manual_seed(0)
    config = make_config(kind="rnn-nade", n_visible=88, rnn_hidden=8, cond_hidden=8)
    data = {"dataset": "tiny", "roll_format": fmt.to_dict(), **({"midi_read": midi_read} if midi_read else {})}
    save_checkpoint(path, {"format_version": FORMAT_VERSION, "task": "music", "kind": "rnn-nade",
                           "model_config": asdict(config), "state_dict": MusicModel(config).state_dict(),
                           "seed": 0, "data": data})  # fmt: skip


def sixteenths(path, *, bpm=74, tpb=220, n=16, signature=(3, 4)) -> list[tuple[int, int, int, int]]:
    """A C-major arpeggio of 16th notes with rising velocities; returns its (start, end, pitch, velocity)."""
    mid = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    track.append(mido.MetaMessage("time_signature", numerator=signature[0], denominator=signature[1]))
    notes, step = [], tpb // 4
    for i in range(n):
        pitch = (60, 64, 67, 72)[i % 4]
        track.append(mido.Message("note_on", note=pitch, velocity=30 + 5 * i, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=step))
        notes.append((i * step, (i + 1) * step, pitch, 30 + 5 * i))
    mid.save(path)
    return notes


def file_notes(path) -> tuple[mido.MidiFile, list[tuple[int, int, int, int]]]:
    """The notes (start, end, pitch, velocity) of a MIDI file, paired with mido."""
    mid, now, open_, notes = mido.MidiFile(str(path)), 0, {}, []
    for msg in mido.merge_tracks(mid.tracks):
        now += msg.time
        if msg.type == "note_on" and msg.velocity:
            open_[msg.note] = (now, msg.velocity)
        elif msg.type in ("note_on", "note_off") and msg.note in open_:
            start, vel = open_.pop(msg.note)
            notes.append((start, now, msg.note, vel))
    return mid, sorted(notes)


def meta(mid: mido.MidiFile, kind: str) -> list:
    return [m for track in mid.tracks for m in track if m.type == kind]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    tiny_checkpoint(path)
    return path


def test_primer_notes_keep_their_ticks_velocities_tempo_and_signature(cli, ckpt, tmp_path) -> None:
    primer = sixteenths(tmp_path / "primer.mid")  # 16 sixteenths = 4 quarters = 8 frames of the model's grid
    result = cli("sample", "--model", ckpt, "--primer", tmp_path / "primer.mid", "--out", tmp_path / "o.mid",
                 "--frames", 24, "--seed", 0)  # fmt: skip
    assert result.code == 0, result.output
    mid, notes = file_notes(tmp_path / "o.mid")
    assert mid.ticks_per_beat == 220
    assert [n for n in notes if n[0] < 4 * 220] == primer  # verbatim, not re-quantised to eighth notes
    assert all(n[0] >= 9 * 110 for n in notes[len(primer):])  # the model's notes follow the primer's frames
    assert mido.tempo2bpm(meta(mid, "set_tempo")[0].tempo) == pytest.approx(74, rel=1e-5)
    sig = meta(mid, "time_signature")[0]
    assert (sig.numerator, sig.denominator) == (3, 4)
    assert "tempo 74 BPM" in result.output


def test_tempo_option_replaces_the_primers_and_keeps_its_beats(cli, ckpt, tmp_path) -> None:
    primer = sixteenths(tmp_path / "primer.mid")
    assert cli("sample", "--model", ckpt, "--primer", tmp_path / "primer.mid", "--out", tmp_path / "o.mid",
               "--frames", 16, "--tempo", 120, "--seed", 0).code == 0  # fmt: skip
    mid, notes = file_notes(tmp_path / "o.mid")
    assert [mido.tempo2bpm(m.tempo) for m in meta(mid, "set_tempo")] == [pytest.approx(120)]
    assert notes[: len(primer)] == primer


def test_primer_frames_cut_the_primer_notes_there(cli, ckpt, tmp_path) -> None:
    primer = sixteenths(tmp_path / "primer.mid")
    assert cli("sample", "--model", ckpt, "--primer", tmp_path / "primer.mid", "--primer-frames", 2, "--out",
               tmp_path / "o.mid", "--frames", 8, "--seed", 0).code == 0  # fmt: skip
    _, notes = file_notes(tmp_path / "o.mid")
    assert notes[:4] == primer[:4]  # frames 0-1 = the first quarter = four sixteenths
    assert all(n[0] >= 220 for n in notes[4:])


def test_output_without_primer_has_4_4_and_the_models_tempo(cli, ckpt, tmp_path) -> None:
    assert cli("sample", "--model", ckpt, "--out", tmp_path / "o.mid", "--frames", 8, "--seed", 0).code == 0
    mid = mido.MidiFile(str(tmp_path / "o.mid"))
    sig = meta(mid, "time_signature")[0]
    assert (sig.numerator, sig.denominator) == (4, 4)
    assert mido.tempo2bpm(meta(mid, "set_tempo")[0].tempo) == pytest.approx(100)
    roll = np.zeros((4, 88), bool)
    roll[1:3, 40] = True
    roll_to_midi(roll, tmp_path / "r.mid", FMT)
    assert np.array_equal(midi_to_roll(tmp_path / "r.mid", FMT).roll, roll)  # the writer still round-trips


def test_a_seconds_grid_model_continues_after_the_primer_in_its_own_time(cli, tmp_path) -> None:
    tiny_checkpoint(tmp_path / "fs.pt", RollFormat(Quantisation(fs=10.0)))
    primer = sixteenths(tmp_path / "primer.mid", bpm=60, tpb=200)  # 16 sixteenths at 60 BPM: 4 s = 40 frames
    assert cli("sample", "--model", tmp_path / "fs.pt", "--primer", tmp_path / "primer.mid", "--out",
               tmp_path / "o.mid", "--frames", 60, "--seed", 0).code == 0  # fmt: skip
    _, notes = file_notes(tmp_path / "o.mid")
    assert notes[: len(primer)] == primer
    later = notes[len(primer):]
    assert later and min(n[0] for n in later) >= 40 * 20  # 10 frames per second = 20 ticks per frame at 60 BPM
    assert max(n[1] for n in later) <= 60 * 20
