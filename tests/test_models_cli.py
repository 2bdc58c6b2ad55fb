"""The shipped models by name: `seqgen models` lists what the index says and the files are, `--model NAME` picks
one in sample, score and harmonize, and each benchmark model's recorded test score is what scoring it gives."""

from __future__ import annotations

import json
import subprocess
import sys

import mido
import pytest
import torch

from seqgen.music.shipped import INDEX, PACKAGE_MODELS, shipped_index
from seqgen.studio.primers import primer_midi

BENCHMARKS = ("jsb", "nottingham", "musedata", "piano-midi")


def tempo(path) -> float:
    """The first tempo of a MIDI file, in BPM (read with mido)."""
    return mido.tempo2bpm(next(m.tempo for t in mido.MidiFile(str(path)).tracks for m in t if m.type == "set_tempo"))


def test_models_lists_every_shipped_model_with_its_score_size_and_command(cli, monkeypatch):
    monkeypatch.delenv("SEQGEN_MODELS_DIR", raising=False)
    listed = cli("models", "--json")
    assert listed.code == 0
    records = {r["name"]: r for r in json.loads(listed.stdout)["models"]}
    assert {"bach", "bach-rbm", *BENCHMARKS} <= set(records), sorted(records)
    for name, r in records.items():
        assert r["size_bytes"] == (PACKAGE_MODELS / r["file"]).stat().st_size, name
        assert isinstance(r["test_log_likelihood"], float) and r["command"] and r["score_command"], name
    for name in BENCHMARKS:  # small enough to ship: < 1 MB each, exact NADE scores, harmonize-ready
        r = records[name]
        assert r["size_bytes"] < 1_000_000 and r["estimator"] == "exact" and r["note_order"] == "descending"
        assert r["dataset"] == name and f"--data {name}" in r["command"] and "--note-order descending" in r["command"]
    table = cli("models").stdout
    assert all(name in table for name in records) and "-5.245 (exact)" in table


def test_each_file_is_the_model_its_record_says(monkeypatch):
    for r in shipped_index():
        ckpt = torch.load(PACKAGE_MODELS / r["file"], map_location="cpu", weights_only=True)
        assert ckpt["data"]["dataset"] == r["dataset"] and ckpt["model_config"]["kind"] == r["kind"], r["name"]
        if r["name"] in BENCHMARKS:
            assert ckpt["model_config"]["note_order"] == "descending"


def test_models_is_instant_without_torch():
    code = ("import sys; from seqgen.cli import app; app(['models'], standalone_mode=False); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "jsb" in done.stdout, done.stderr


def test_a_name_picks_the_shipped_model_in_sample_score_and_harmonize(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("SEQGEN_MODELS_DIR", raising=False)
    for name, bpm in (("jsb", 100), ("piano-midi", 120)):  # each benchmark's own tempo comes with its model
        result = cli("sample", "--model", name, "--out", tmp_path / f"{name}.mid", "--frames", 8, "--seed", 0)
        assert result.code == 0, result.output
        assert tempo(tmp_path / f"{name}.mid") == pytest.approx(bpm)
    (tmp_path / "ode.mid").write_bytes(primer_midi("ode"))
    scored = cli("score", tmp_path / "ode.mid", "--model", "jsb", "--json")
    assert scored.code == 0 and json.loads(scored.stdout)["log_likelihood_per_frame"] < 0
    harmonized = cli("harmonize", tmp_path / "ode.mid", "--model", "nottingham", "--out", tmp_path / "h.mid")
    assert harmonized.code == 0, harmonized.output
    wrong = cli("sample", "--model", "jsbb", "--out", tmp_path / "x.mid").one_line_error()
    assert "jsbb: no such checkpoint file, and not a shipped model's name (bach, bach-rbm, jsb" in wrong
    assert "no such checkpoint file" in cli("sample", "--model", tmp_path / "jsb", "--out", tmp_path / "x.mid").stderr
    assert not (tmp_path / "x.mid").exists()


def test_an_unreadable_index_is_one_line(cli, monkeypatch, tmp_path):
    broken = tmp_path / "models.json"
    broken.write_text('{"models": [{"name": 3}]}')
    monkeypatch.setattr("seqgen.music.shipped.INDEX", broken)
    assert f"{broken}: not a readable model index" in cli("models").one_line_error()
    assert INDEX.name == "models.json"


@pytest.mark.parametrize("name", ["jsb", pytest.param("piano-midi", marks=pytest.mark.slow)])
def test_the_recorded_test_score_is_what_scoring_gives(cli, name, data_dir, monkeypatch):
    """Exact NADE scores on the benchmark's test split, read from $SEQGEN_DATA_DIR (skipped without it)."""
    monkeypatch.setenv("SEQGEN_DATA_DIR", str(data_dir))
    record = next(r for r in shipped_index() if r["name"] == name)
    result = cli("score", "--model", name, "--data", name, "--split", "test", "--json")
    assert result.code == 0, result.output
    scored = json.loads(result.stdout)
    assert scored["frames"] == record["test_frames"]
    assert scored["log_likelihood_per_frame"] == pytest.approx(record["test_log_likelihood"], abs=1e-4)
