"""`seqgen data list | info | export` end to end: benchmark sizes, MIDI export, one-line errors."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest

from seqgen.music import embedded
from seqgen.music.benchmarks import read_pickle
from seqgen.music.pianoroll import Quantisation, RollFormat, midi_to_roll

README_SIZES = {  # shared/data/README.md: sequences and frames per split (train, valid, test)
    "jsb": ([229, 76, 77], [13807, 4602, 4725]),
    "nottingham": ([694, 173, 170], [176561, 45513, 44463]),
    "musedata": ([524, 135, 124], [245202, 82755, 64339]),
    "piano-midi": ([87, 12, 25], [75911, 8540, 19036]),
}


@pytest.fixture
def invoke(cli, data_dir, monkeypatch):
    """Run `seqgen data ...` and return its standard output (asserting it succeeded)."""
    monkeypatch.setenv("SEQGEN_DATA_DIR", str(data_dir))

    def run(*args: str):
        result = cli("data", *args)
        assert result.code == 0, result.output
        return result.stdout

    return run


@pytest.mark.parametrize("name", list(README_SIZES))
def test_info_json_gives_the_published_split_sizes(invoke, name):
    summary = json.loads(invoke("info", name, "--json"))
    sequences, frames = README_SIZES[name]
    assert [summary[s]["sequences"] for s in ("train", "valid", "test")] == sequences
    assert [summary[s]["frames"] for s in ("train", "valid", "test")] == frames


def test_list_and_table_info(invoke, data_dir):
    listing = json.loads(invoke("list", "--json"))
    assert [row["name"] for row in listing] == ["bach-chorales", "jsb", "nottingham", "musedata", "piano-midi"]
    table = invoke("info", "jsb")
    assert "13,807" in table and "43..96" in table and "1 quarter note" in table
    folder = invoke("info", str(data_dir / "midi"))
    assert "skipped test-midi-files/test-empty-file.mid: empty file" in folder


def test_export_writes_playable_midi_at_the_dataset_speed(invoke, data_dir, tmp_path):
    message = invoke("export", "jsb", "--split", "valid", "--out", str(tmp_path), "--limit", "2")
    assert "wrote 2 MIDI files" in message
    files = sorted(tmp_path.glob("*.mid"))
    assert [p.name for p in files] == ["000-valid-000.mid", "001-valid-001.mid"]
    tempo = next(m.tempo for m in mido.MidiFile(files[0]).tracks[0] if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(100, rel=1e-5)  # JSB: a quarter-note frame at 100 bpm
    info = json.loads(invoke("info", str(files[1]), "--json", "--steps-per-quarter", "1"))
    assert info["test"]["sequences"] == 1 and info["quantisation"]["tempo_bpm"] == pytest.approx(100)
    expected = read_pickle(data_dir / "boulanger2012" / "JSB Chorales.pickle")["valid"][0]
    np.testing.assert_array_equal(midi_to_roll(files[0], RollFormat(Quantisation(1))).roll, expected)


def test_unknown_dataset_is_a_one_line_error(cli, tmp_path):
    line = cli("data", "export", "no-such-data", "--out", tmp_path / "unused").one_line_error()
    assert "not a dataset name" in line and "no-such-data" in line


def test_info_without_a_name_uses_the_embedded_chorales(invoke, tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path))
    first_three = embedded.chorale_names()[:3]
    monkeypatch.setattr(embedded, "chorale_names", lambda: first_three)
    summary = json.loads(invoke("info", "--json"))
    assert summary["name"] == "bach-chorales"
    assert sum(summary[s]["sequences"] for s in ("train", "valid", "test")) == 3
    invoke("export", "--out", str(tmp_path / "out"), "--split", "train")
    (path,) = (tmp_path / "out").glob("*.mid")
    assert midi_to_roll(path, RollFormat(Quantisation(2))).roll.any()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"this is text, not MIDI", "not a readable MIDI file"),
        (
            b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x20\x00\x90\x3c",
            "ends unexpectedly",
        ),
    ],
)
def test_bad_midi_file_exits_nonzero_with_one_line_and_no_traceback(cli, tmp_path, content, problem):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    result = cli("data", "info", str(path))
    line = result.one_line_error()
    assert result.code == 1 and result.stdout == ""
    assert line.startswith(f"error: {path}: ") and problem in line


def test_an_error_naming_a_file_with_brackets_prints_the_name_verbatim(cli, tmp_path):
    path = tmp_path / "[bold]take [red]1.mid"
    path.write_bytes(b"x")
    assert cli("data", "info", path).one_line_error().startswith(f"error: {path}: ")
