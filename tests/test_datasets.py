"""Datasets: benchmark pickles (safely) and .mat files, look-up order, MIDI folders and files, the embedded
default, export, and the roll statistics."""

from __future__ import annotations

import os
import pickle
import sys
import time
import urllib.error
import urllib.request

import mido
import numpy as np
import pretty_midi
import pytest
from scipy.io import savemat

from seqgen.errors import SeqgenError
from seqgen.music import embedded
from seqgen.music.benchmarks import read_mat, read_pickle
from seqgen.music.datasets import (
    MidiInput,
    PianoRollDataset,
    describe_dataset,
    export_split,
    load_dataset,
    split_by_hash,
)
from seqgen.music.pianoroll import Quantisation, RollFormat, midi_to_roll, roll_to_midi
from seqgen.music.stats import roll_statistics


def frames_roll(frames: list[tuple], low_pitch: int = 21, n_pitches: int = 88) -> np.ndarray:
    """Roll bool[T, P] from a list of frames of MIDI note numbers (the pickle layout)."""
    roll = np.zeros((len(frames), n_pitches), dtype=bool)
    for t, notes in enumerate(frames):
        roll[t, [n - low_pitch for n in notes]] = True
    return roll


SONGS = {"train": [[(60, 64), (), (62,)], [(21, 108)]], "valid": [[(48,)]], "test": [[(), (55, 59, 62)]]}


def test_benchmark_pickle_reads_into_rolls(tmp_path):
    path = tmp_path / "toy.pickle"
    numpy_songs = {
        s: [[tuple(np.int64(n) for n in f) for f in seq] for seq in seqs] for s, seqs in SONGS.items()
    }
    path.write_bytes(pickle.dumps(numpy_songs, protocol=4))
    splits = read_pickle(path)
    for split, seqs in SONGS.items():
        assert [r.shape for r in splits[split]] == [(len(seq), 88) for seq in seqs]
        for roll, seq in zip(splits[split], seqs):
            np.testing.assert_array_equal(roll, frames_roll(seq))
    narrow = read_pickle(path, low_pitch=60, n_pitches=5)
    np.testing.assert_array_equal(narrow["train"][0], frames_roll([(60, 64), (), (62,)], 60, 5))
    assert not narrow["train"][1].any()  # 21 and 108 dropped


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_pickles_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": [_Exploit(marker)], "valid": [], "test": []}, protocol=2))
    with pytest.raises(SeqgenError, match="not allowed") as info:
        read_pickle(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"train": []}, protocol=2))
    with pytest.raises(SeqgenError, match="train, valid, test"):
        read_pickle(path)


def test_benchmark_mat_reads_into_rolls_and_crops_the_range(tmp_path):
    cells = {}
    for split, seqs in SONGS.items():
        cells[f"{split}data"] = np.empty((1, len(seqs)), dtype=object)
        for i, seq in enumerate(seqs):
            cells[f"{split}data"][0, i] = frames_roll(seq).astype(np.uint8)
    path = tmp_path / "toy.mat"
    savemat(path, cells)
    splits = read_mat(path)
    np.testing.assert_array_equal(splits["test"][0], frames_roll(SONGS["test"][0]))
    cropped = read_mat(path, low_pitch=60, n_pitches=48)
    np.testing.assert_array_equal(cropped["train"][1], np.zeros((1, 48), dtype=bool))  # 21 and 108 dropped
    with pytest.raises(SeqgenError, match="not a piano-roll .mat"):
        read_mat(tmp_path / "toy.pickle")


def test_jsb_pickle_and_mat_hold_the_same_rolls(data_dir):
    from_pickle = read_pickle(data_dir / "boulanger2012" / "JSB Chorales.pickle")
    from_mat = read_mat(data_dir / "boulanger2012_mat" / "JSB_Chorales.mat")
    for split in ("train", "valid", "test"):
        assert len(from_pickle[split]) == len(from_mat[split])
        for a, b in zip(from_pickle[split], from_mat[split]):
            np.testing.assert_array_equal(a, b)


def test_benchmark_lookup_prefers_the_pickle_then_mat_then_fails_in_one_line(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGEN_DATA_DIR", str(data_dir))
    jsb = load_dataset("jsb")
    assert jsb.source.endswith("JSB Chorales.pickle")
    assert jsb.quantisation == Quantisation(steps_per_quarter=1, tempo_bpm=100.0)
    assert load_dataset("jsb", data=data_dir / "boulanger2012_mat").source.endswith("JSB_Chorales.mat")
    explicit = load_dataset("piano-midi", data=data_dir / "boulanger2012_mat" / "Piano_midi.mat")
    assert [len(explicit.splits[s]) for s in ("train", "valid", "test")] == [87, 12, 25]

    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setenv("SEQGEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(SeqgenError, match="Nottingham.mat") as info:
        load_dataset("nottingham")
    assert "\n" not in str(info.value)
    with pytest.raises(SeqgenError, match="not a dataset name"):
        load_dataset("no-such-dataset")


def write_drums(path) -> None:
    """A valid MIDI file holding only a drum note."""
    mf = mido.MidiFile(type=0)
    mf.tracks.append(
        mido.MidiTrack(
            [
                mido.Message("note_on", note=36, velocity=90, channel=9),
                mido.Message("note_off", note=36, channel=9, time=480),
            ]
        )
    )
    mf.save(path)


def make_folder(root, n: int = 12):
    """A MIDI folder: `n` pieces (nested), a broken file, a drums-only file and a non-MIDI file."""
    rng = np.random.default_rng(0)
    for i in range(n):
        roll = rng.random((8 + i, 88)) < 0.05
        roll[0, 39] = True
        roll_to_midi(roll, root / ("nested" if i % 2 else "") / f"piece{i:02d}.mid", RollFormat(Quantisation(2)))
    (root / "broken.mid").write_bytes(b"garbage, not MIDI")
    write_drums(root / "drums.mid")
    (root / "notes.txt").write_text("not music")


def test_midi_folder_is_split_deterministically_with_skipped_files_explained(tmp_path):
    make_folder(tmp_path)
    dataset = load_dataset(tmp_path)
    assert sum(len(dataset.splits[s]) for s in ("train", "valid", "test")) == 12
    assert [len(dataset.names[s]) for s in ("train", "valid", "test")] == [10, 1, 1]
    assert set(dataset.skipped) == {"broken.mid", "drums.mid"}
    assert "not a readable MIDI file" in dataset.skipped["broken.mid"]
    assert "1 drum notes excluded" in dataset.skipped["drums.mid"]
    assert dataset.quantisation == Quantisation(steps_per_quarter=4, tempo_bpm=120.0)  # 16th notes by default
    again = load_dataset(tmp_path)
    assert again.names == dataset.names
    for split in ("train", "valid", "test"):
        for name, roll in zip(dataset.names[split], dataset.splits[split]):
            np.testing.assert_array_equal(roll, midi_to_roll(tmp_path / name, RollFormat(Quantisation(4))).roll)


def test_midi_folder_keeps_a_published_train_valid_test_layout(tmp_path):
    for split, count in (("train", 3), ("valid", 2), ("test", 1)):
        for i in range(count):
            roll_to_midi(np.eye(4, 88, dtype=bool), tmp_path / split / f"{i}.mid", RollFormat(Quantisation(fs=4.0)))
    dataset = load_dataset(tmp_path, midi=MidiInput(fs=4.0))
    assert dataset.names == {
        "train": ["train/0.mid", "train/1.mid", "train/2.mid"],
        "valid": ["valid/0.mid", "valid/1.mid"],
        "test": ["test/0.mid"],
    }
    assert dataset.quantisation.fs == 4.0


def test_empty_midi_folders_and_files_are_one_line_errors(tmp_path):
    with pytest.raises(SeqgenError, match="no MIDI files"):
        load_dataset(tmp_path)
    write_drums(tmp_path / "drums.mid")
    with pytest.raises(SeqgenError, match="none of its 1 MIDI files gave notes"):
        load_dataset(tmp_path)
    with pytest.raises(SeqgenError, match="drum notes excluded"):
        load_dataset(tmp_path / "drums.mid")


def test_single_midi_file_is_a_one_piece_test_set(tmp_path):
    roll = np.zeros((6, 88), dtype=bool)
    roll[1:4, 40] = True
    roll_to_midi(roll, tmp_path / "song.mid", RollFormat(Quantisation(4, tempo_bpm=90)))
    dataset = load_dataset(tmp_path / "song.mid", midi=MidiInput(steps_per_quarter=4))
    assert [len(dataset.splits[s]) for s in ("train", "valid", "test")] == [0, 0, 1]
    np.testing.assert_array_equal(dataset.splits["test"][0], roll)
    assert dataset.quantisation == Quantisation(steps_per_quarter=4, tempo_bpm=90.0)


def test_split_by_hash_is_deterministic_disjoint_and_complete():
    keys = [f"song{i}.mid" for i in range(100)]
    split = split_by_hash(keys)
    assert [len(split[s]) for s in ("train", "valid", "test")] == [80, 10, 10]
    assert sorted(i for part in split.values() for i in part) == list(range(100))
    assert split == split_by_hash(keys)
    assert split_by_hash(keys[:2]) == {"train": [0, 1], "valid": [], "test": []}


@pytest.fixture
def chorale_cache(tmp_path, monkeypatch):
    """An empty cache folder for the embedded default."""
    pytest.importorskip("music21")
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_embedded_chorales_convert_once_then_come_from_the_cache(chorale_cache, monkeypatch):
    start = time.perf_counter()
    dataset = load_dataset(limit=3)
    first = time.perf_counter() - start
    names = [name for split in dataset.names.values() for name in split]
    assert sorted(names) == sorted(embedded.chorale_names()[:3]) and len(dataset.splits["train"]) == 1
    assert dataset.quantisation == Quantisation(steps_per_quarter=2, tempo_bpm=100.0)
    assert list((chorale_cache / "embedded").glob("*first3*.npz"))
    roll = dataset.splits["train"][0]
    assert roll.shape[1] == 88 and 3.0 < roll.sum(axis=1).mean() <= 4.5  # four voices, eighth-note grid

    def no_conversion(name):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(embedded, "convert_chorale", no_conversion)
    start = time.perf_counter()
    cached = load_dataset(limit=3)
    assert time.perf_counter() - start < first
    assert cached.names == dataset.names
    for split, rolls in dataset.splits.items():
        for a, b in zip(rolls, cached.splits[split]):
            np.testing.assert_array_equal(a, b)


def test_embedded_without_music21_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(SeqgenError, match=r"pip install 'seqgen\[embedded\]'"):
        load_dataset()


def test_export_writes_midi_files_that_read_back_to_the_split(tmp_path):
    rolls = [np.eye(5, 88, k=k, dtype=bool) for k in range(3)]
    dataset = PianoRollDataset(
        "toy",
        {"train": [], "valid": [], "test": rolls},
        21,
        88,
        Quantisation(steps_per_quarter=2, tempo_bpm=80.0),
        "memory",
        names={"test": ["a/one.mid", "two", "bach/bwv153.1"]},
    )
    written = export_split(dataset, "test", tmp_path, limit=2)
    assert [p.name for p in written] == ["000-a-one.mid", "001-two.mid"]
    for path, roll in zip(written, rolls):
        mido.MidiFile(path)
        assert pretty_midi.PrettyMIDI(str(path)).get_tempo_changes()[1][0] == pytest.approx(80, rel=1e-5)
        np.testing.assert_array_equal(midi_to_roll(path, RollFormat(Quantisation(2))).roll, roll)
    assert export_split(dataset, "test", tmp_path / "all")[-1].name == "002-bach-bwv153.1.mid"
    with pytest.raises(SeqgenError, match="dev: expected one of train, valid, test") as info:
        export_split(dataset, "dev", tmp_path)
    assert info.value.param == "split"


def test_describe_dataset_summarises_each_split():
    rolls = [np.zeros((4, 88), dtype=bool)]
    rolls[0][:2, 39] = True
    dataset = PianoRollDataset(
        "toy", {"train": rolls, "valid": [], "test": []}, 21, 88, Quantisation(steps_per_quarter=1), "memory"
    )
    summary = describe_dataset(dataset)
    assert summary["train"] == {
        "sequences": 1,
        "frames": 4,
        "pitch_min": 60,
        "pitch_max": 60,
        "mean_polyphony": 0.5,
        "empty_frame_rate": 0.5,
    }
    assert summary["valid"] == {
        "sequences": 0,
        "frames": 0,
        "pitch_min": None,
        "pitch_max": None,
        "mean_polyphony": None,
        "empty_frame_rate": None,
    }


def test_roll_statistics_by_hand():
    a = frames_roll([(60, 64), (60, 64), (), (67,)])  # notes: C4 x2 frames, E4 x2, G4 x1
    b = frames_roll([(61,), (61,), (61,)])  # one C#4 of three frames
    stats = roll_statistics([a, b])
    assert stats["frames"] == 7 and stats["sequences"] == 2
    assert stats["mean_polyphony"] == pytest.approx(8 / 7)
    assert stats["empty_frame_rate"] == pytest.approx(1 / 7)
    assert stats["note_length_mean"] == pytest.approx((2 + 2 + 1 + 3) / 4)
    assert (stats["pitch_min"], stats["pitch_max"]) == (60, 67)
    assert stats["pitch_class_entropy"] == pytest.approx((np.log2(3) + 0) / 2)  # 3 equal classes; 1 class
    assert stats["scale_consistency"] == pytest.approx(1.0)
    chromatic = roll_statistics([frames_roll([tuple(range(60, 72))])])
    assert chromatic["scale_consistency"] == pytest.approx(7 / 12)
    assert chromatic["pitch_class_entropy"] == pytest.approx(np.log2(12))
    assert np.isnan(roll_statistics([])["mean_polyphony"])
