"""`seqgen train-music` and `seqgen score` end to end on tiny data; bad files give one-line errors."""

import csv
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from seqgen.core.optim import OptimConfig
from seqgen.core.run_configs import RunConfigs
from seqgen.core.train import TrainConfig
from seqgen.music.model import make_config
from seqgen.music.pianoroll import Quantisation, RollFormat, roll_to_midi
from seqgen.music.train_music import train_music

DATA_DIR = Path(os.environ.get("SEQGEN_DATA_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
JSB_MAT = DATA_DIR / "boulanger2012_mat" / "JSB_Chorales.mat"
KEYS = {"log_likelihood_per_frame", "frames", "sequences", "frame_accuracy", "estimator", "stderr"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny RNN-NADE trained for two epochs on random 88-key rolls; returns its best.pt."""
    rng = np.random.default_rng(0)
    splits = {s: [rng.random((int(rng.integers(5, 12)), 88)) < 0.05 for _ in range(6)] for s in ("train", "valid")}
    quantisation = Quantisation(steps_per_quarter=1, tempo_bpm=120.0)
    dataset = SimpleNamespace(name="random", splits=splits, low_pitch=21, n_pitches=88, quantisation=quantisation,
                              roll_format=RollFormat(quantisation))
    out = tmp_path_factory.mktemp("run")
    config = make_config(kind="rnn-nade", rnn_hidden=8, cond_hidden=6)
    optim, train = OptimConfig(name="adam", lr=1e-2), TrainConfig(epochs=2, batch_size=4, device="cpu")
    train_music(dataset, RunConfigs(config, optim, train), out)
    return out / "best.pt"


def test_score_midi_file_json_and_per_frame_csv(cli, trained, tmp_path):
    roll = np.zeros((9, 88), dtype=bool)
    roll[np.arange(9), 39 + np.arange(9) % 5] = True
    roll_to_midi(roll, tmp_path / "song.mid", RollFormat(Quantisation(1)))
    proc = cli("score", tmp_path / "song.mid", "--model", trained, "--json", "--per-frame", tmp_path / "f.csv")
    assert proc.code == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert KEYS <= set(result) and result["estimator"] == "exact" and result["sequences"] == 1
    rows = list(csv.DictReader((tmp_path / "f.csv").open()))
    assert len(rows) == result["frames"]
    mean = sum(float(r["log_likelihood"]) for r in rows) / len(rows)
    assert abs(mean - result["log_likelihood_per_frame"]) < 1e-4


def test_bad_model_file_is_one_line_error(cli, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    roll_to_midi(np.zeros((4, 88), dtype=bool), tmp_path / "x.mid", RollFormat(Quantisation(1)))
    assert "bad.pt" in cli("score", tmp_path / "x.mid", "--model", bad).one_line_error()


def test_bad_midi_file_is_one_line_error(cli, trained, tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00")
    assert "broken.mid" in cli("score", bad, "--model", trained).one_line_error()


@pytest.mark.skipif(not JSB_MAT.is_file(), reason="shared data folder absent")
def test_train_music_and_score_dataset_split(cli, tmp_path):
    proc = cli("train-music", "--data", JSB_MAT, "--model", "rnn-rbm", "--rnn-hidden", "8", "--cond-hidden", "6",
                  "--epochs", "1", "--batch-size", "64", "--cd-k", "1", "--valid-ais-runs", "2",
                  "--valid-ais-steps", "5", "--pretrain-epochs", "1", "--device", "cpu", "--out", tmp_path)
    assert proc.code == 0, proc.stderr
    assert {"best.pt", "last.pt", "metrics.jsonl"} <= {p.name for p in tmp_path.iterdir()}
    proc = cli("score", "--data", JSB_MAT, "--split", "test", "--model", tmp_path / "best.pt", "--json",
                  "--ais-runs", "4", "--ais-steps", "10")
    assert proc.code == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert KEYS <= set(result) and result["estimator"] == "ais" and result["frames"] == 4725
    assert result["stderr"] > 0
