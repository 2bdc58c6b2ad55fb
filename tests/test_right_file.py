"""The right file for the right model: output suffixes that do not fit the model are refused, resuming a
run of the other product names it, a named text corpus split is scored exactly as training scored it,
and a folder given as --model says it is a folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from clirun import exit_code as cli

from seqgen.music.sample import shipped_model
from seqgen.text.corpus import ptb_text

PTB = Path(os.environ.get("SEQGEN_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data") / "ptb"
TEXT_MODEL = ["--cell", "gru", "--no-leaky", "--hidden", "6", "--embedding", "4", "--batch-size", "4",
              "--chunk-len", "20", "--device", "cpu", "--epochs", "1"]




def error_line(capfd, code: int) -> str:
    out, err = capfd.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and "Traceback" not in err, out + err
    return errors[0]


@pytest.fixture(scope="module")
def tiny_ptb(tmp_path_factory) -> Path:
    """The first lines of the three PTB word files (the ptb-char corpus is built from them)."""
    if not PTB.is_dir():
        pytest.skip(f"no PTB files in {PTB}")
    folder = tmp_path_factory.mktemp("ptb")
    for split, lines in (("train", 40), ("valid", 12), ("test", 12)):
        with open(PTB / f"ptb.{split}.txt", encoding="utf-8") as fh:
            (folder / f"ptb.{split}.txt").write_text("".join(next(fh) for _ in range(lines)))
    return folder


@pytest.fixture(scope="module")
def text_run(tiny_ptb, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "text"
    assert cli("train", "--data", "ptb-char", "--data-dir", tiny_ptb, *TEXT_MODEL, "--out", out) == 0
    return out


@pytest.mark.parametrize("suffix", [".mid", ".wav", ".png"])
def test_text_model_refuses_a_music_suffix(text_run, tmp_path, capfd, suffix):
    out = tmp_path / f"x{suffix}"
    line = error_line(capfd, cli("sample", "--model", text_run / "best.pt", "--out", out, "--length", "5"))
    assert str(out) in line and ".txt" in line
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".wav", ".txt", ".png", ""])
def test_music_model_refuses_a_non_midi_suffix(tmp_path, capfd, suffix):
    out = tmp_path / f"song{suffix}"
    line = error_line(capfd, cli("sample", "--out", out, "--frames", "8"))
    assert str(out) in line and ".mid" in line
    assert list(tmp_path.iterdir()) == []


def test_fitting_suffixes_are_accepted(text_run, tmp_path):
    assert cli("sample", "--model", text_run / "best.pt", "--out", tmp_path / "t.txt", "--length", "5") == 0
    assert cli("sample", "--out", tmp_path / "song.MIDI", "--frames", "8") == 0
    assert (tmp_path / "t.txt").read_text() and (tmp_path / "song.MIDI").read_bytes()[:4] == b"MThd"


@pytest.fixture
def music_run(tmp_path) -> Path:
    """A folder whose last.pt is a music checkpoint (the shipped model)."""
    out = tmp_path / "music-run"
    out.mkdir()
    shutil.copy(shipped_model(), out / "last.pt")
    return out


def test_train_text_resume_on_a_music_run_names_it(music_run, tiny_ptb, capfd):
    code = cli("train-text", "--data", "ptb-char", "--data-dir", tiny_ptb, *TEXT_MODEL, "--out", music_run, "--resume")
    line = error_line(capfd, code)
    assert str(music_run) in line and "music run" in line and "KeyError" not in line


def test_train_music_resume_on_a_text_run_names_it(text_run, tmp_path, capfd):
    out = tmp_path / "copy"
    shutil.copytree(text_run, out)
    jsb = PTB.parent / "boulanger2012_mat" / "JSB_Chorales.mat"
    code = cli("train-music", "--data", jsb, "--epochs", "1", "--out", out, "--resume")
    line = error_line(capfd, code)
    assert str(out) in line and "text run" in line and "configuration" not in line


def test_score_named_split_equals_training_normalisation(text_run, tiny_ptb, capfd):
    """`score --data ptb-char --split valid` on best.pt equals the valid bits/char training recorded for
    that epoch; the test split is normalised by the characters of its raw text (ptb_text)."""
    best = torch.load(text_run / "best.pt", weights_only=True)
    recorded = best["metrics"][best["best_epoch"] - 1]["valid"]
    capfd.readouterr()
    assert cli("score", "--model", text_run / "best.pt", "--data", "ptb-char", "--data-dir", tiny_ptb,
               "--split", "valid", "--json") == 0
    valid = json.loads(capfd.readouterr().out)
    assert valid["bits_per_char"] == pytest.approx(recorded["bits_per_char"], rel=1e-9)
    assert valid["chars"] == recorded["chars"]
    assert cli("score", "--model", text_run / "best.pt", "--data", "ptb-char", "--data-dir", tiny_ptb,
               "--split", "test", "--json") == 0
    test = json.loads(capfd.readouterr().out)
    assert test["chars"] == len(ptb_text((tiny_ptb / "ptb.test.txt").read_text()))
    assert test["bits"] / test["chars"] == pytest.approx(test["bits_per_char"])


@pytest.mark.parametrize("command", ["sample", "score"])
def test_folder_as_model_says_folder(text_run, tmp_path, capfd, command):
    args = ["--out", tmp_path / "x.mid"] if command == "sample" else [tmp_path / "x.mid"]
    line = error_line(capfd, cli(command, "--model", text_run, *args))
    assert str(text_run) in line and "folder" in line and "no such" not in line
