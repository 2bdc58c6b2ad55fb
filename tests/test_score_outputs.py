"""What `seqgen score FILE` writes and refuses: the per-frame CSV, the surprise picture, files with no notes."""

import csv
from dataclasses import asdict
from pathlib import Path

import mido
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqgen.checkpoint import FORMAT_VERSION, save_checkpoint
from seqgen.music.model import MusicModel, make_config
from seqgen.music.pianoroll import Quantisation, RollFormat, roll_to_midi
from seqgen.music.surprise import PER_FRAME, PER_NOTE, note_surprise

FMT = RollFormat(Quantisation(steps_per_quarter=2, tempo_bpm=120.0))


def tiny(kind: str, p: int = 88, note_order: str = "ascending") -> MusicModel:
    torch.manual_seed(0)
    return MusicModel(make_config(kind=kind, n_visible=p, rnn_hidden=6, cond_hidden=5, note_order=note_order)).eval()


@pytest.fixture
def ckpt(tmp_path):
    model = tiny("rnn-nade")
    path = tmp_path / "m.pt"
    save_checkpoint(path, {"format_version": FORMAT_VERSION, "task": "music", "kind": "rnn-nade",
                           "model_config": asdict(model.config), "state_dict": model.state_dict(), "seed": 0,
                           "data": {"dataset": "tiny", "roll_format": FMT.to_dict()}})  # fmt: skip
    return path


def test_per_frame_csv_has_seconds_bar_beat_and_pitch_names(cli, ckpt, tmp_path) -> None:
    roll = np.zeros((10, 88), bool)
    roll[0:2, [60 - 21, 64 - 21, 67 - 21]] = True  # C4 E4 G4 for a quarter note
    roll[9, 69 - 21] = True  # A4 on the second half of beat 1 of bar 2
    mid = mido.MidiFile(str(_write(roll, tmp_path / "s.mid")))
    (tempo,) = [m for m in mid.tracks[0] if m.type == "set_tempo"]
    tempo.tempo = mido.bpm2tempo(60)  # the file's own tempo, not the model's 120
    mid.save(tmp_path / "s.mid")
    result = cli("score", tmp_path / "s.mid", "--model", ckpt, "--per-frame", tmp_path / "f.csv")
    assert result.code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "f.csv").open()))
    assert [r["pitches"] for r in rows[:3]] == ["C4 E4 G4", "C4 E4 G4", ""] and rows[9]["pitches"] == "A4"
    assert [(float(r["seconds"]), int(r["bar"]), float(r["beat"])) for r in (rows[1], rows[9])] == [
        (0.5, 1, 1.5), (4.5, 2, 1.5)]  # fmt: skip  (60 BPM: half a second per eighth-note frame)


def _write(roll, path):
    roll_to_midi(roll, path, FMT)
    return path


def test_drums_only_and_empty_files_are_refused_not_scored(cli, ckpt, tmp_path) -> None:
    mid = mido.MidiFile()
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track += [mido.Message("note_on", note=36, velocity=90, channel=9),
              mido.Message("note_off", note=36, channel=9, time=480)]  # fmt: skip
    mid.save(tmp_path / "drums.mid")
    line = cli("score", tmp_path / "drums.mid", "--model", ckpt, "--json").one_line_error()
    assert "no notes to score" in line and "1 drum notes excluded" in line
    _write(np.zeros((4, 88), bool), tmp_path / "silent.mid")
    assert "no notes to score" in cli("score", tmp_path / "silent.mid", "--model", ckpt).one_line_error()


@pytest.mark.parametrize(("kind", "order"), [("rnn-nade", "ascending"), ("rnn-nade", "descending"), ("rnn", None)])
def test_note_surprise_is_each_notes_exact_conditional(kind, order) -> None:
    model = tiny(kind, p=6, note_order=order or "ascending")
    roll = np.random.default_rng(1).random((5, 6)) < 0.4
    values, unit = note_surprise(model, roll)
    assert unit == PER_NOTE and np.isnan(values[~roll]).all()
    v = torch.as_tensor(roll, dtype=torch.float32)
    with torch.no_grad():
        biases = {k: b[0] for k, b in model.teacher_forced_biases(v[None])[0].items()}
        log_p = model.conditional.log_prob(v, biases)
        logits = model.conditional.logits(v, biases) if kind == "rnn-nade" else biases["b_v"]
    off = F.softplus(logits).numpy()  # −log p(v_i = 0 | ...) of the silent notes
    total = np.nansum(values, 1) + np.where(roll, 0, off).sum(1)  # every note's −log p adds up to the frame's
    np.testing.assert_allclose(total, -log_p.numpy(), rtol=1e-5)


def test_rbm_surprise_is_per_frame_and_the_png_says_so(cli, tmp_path) -> None:
    model = tiny("rnn-rbm", p=6)
    roll = np.random.default_rng(2).random((4, 6)) < 0.5
    values, unit = note_surprise(model, roll, torch.Generator().manual_seed(0))
    assert unit == PER_FRAME and "per frame" in unit
    for t in range(4):
        assert len(set(values[t][roll[t]].tolist())) <= 1


def test_score_png_colours_the_notes(cli, ckpt, tmp_path) -> None:
    roll = np.zeros((16, 88), bool)
    roll[np.arange(16), 40 + np.arange(16) % 7] = True
    _write(roll, tmp_path / "s.mid")
    assert cli("score", tmp_path / "s.mid", "--model", ckpt, "--png", tmp_path / "s.png").code == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    line = cli("score", "--data", "bach-chorales", "--model", ckpt, "--png", tmp_path / "d.png").one_line_error()
    assert "--png" in line and not (tmp_path / "d.png").exists()


def test_many_files_and_folders_give_one_row_each_and_the_total(cli, ckpt, tmp_path) -> None:
    import json

    folder = tmp_path / "songs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name, frames in (("a.mid", 8), ("b.mid", 12)):
        _write(rng.random((frames, 88)) < 0.05, folder / name)
    drums = mido.MidiFile()
    drums.tracks.append(mido.MidiTrack([mido.Message("note_on", note=36, velocity=90, channel=9),
                                        mido.Message("note_off", note=36, channel=9, time=480)]))  # fmt: skip
    drums.save(folder / "drums.mid")
    _write(rng.random((6, 88)) < 0.1, tmp_path / "c.mid")
    result = cli("score", folder, tmp_path / "c.mid", "--model", ckpt, "--json", "--csv", tmp_path / "all.csv")
    assert result.code == 0, result.output
    out = json.loads(result.stdout)
    rows = {Path(r["file"]).name: r for r in out["files"]}
    assert list(rows) == ["a.mid", "b.mid", "drums.mid", "c.mid"]
    assert rows["drums.mid"]["log_likelihood_per_frame"] is None and "no notes" in rows["drums.mid"]["status"]
    for name, path in (("a.mid", folder / "a.mid"), ("c.mid", tmp_path / "c.mid")):
        alone = json.loads(cli("score", path, "--model", ckpt, "--json").stdout)
        assert rows[name]["log_likelihood_per_frame"] == pytest.approx(alone["log_likelihood_per_frame"], abs=1e-5)
    scored = [r for r in out["files"] if r["status"] == "scored"]
    total = sum(r["log_likelihood_per_frame"] * r["frames"] for r in scored) / sum(r["frames"] for r in scored)
    assert out["total"]["log_likelihood_per_frame"] == pytest.approx(total, abs=1e-5)
    assert out["total"]["files_scored"] == 3
    table = list(csv.DictReader((tmp_path / "all.csv").open()))
    assert [Path(r["file"]).name for r in table] == list(rows) and table[2]["log_likelihood_per_frame"] == ""
    shown = cli("score", folder, "--model", ckpt)
    assert shown.code == 0 and "all scored files" in shown.output and "2 of 3 scored" in shown.output


def test_files_without_notes_alone_are_one_line(cli, ckpt, tmp_path) -> None:
    _write(np.zeros((4, 88), bool), tmp_path / "x.mid")
    _write(np.zeros((3, 88), bool), tmp_path / "y.mid")
    assert "none of the 2 file(s)" in cli("score", tmp_path / "x.mid", tmp_path / "y.mid", "--model",
                                          ckpt).one_line_error()  # fmt: skip
