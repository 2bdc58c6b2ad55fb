"""`seqgen sample` end to end on a tiny checkpoint: files re-open with the right frames and tempo, seeds repeat."""

import wave
from dataclasses import asdict

import mido
import numpy as np
import pretty_midi
import pytest
import torch

from seqgen.checkpoint import FORMAT_VERSION, save_checkpoint
from seqgen.core.recurrent import RecurrentConfig
from seqgen.music.model import MusicModel, make_config
from seqgen.music.pianoroll import Quantisation, RollFormat, midi_to_roll, roll_to_midi
from seqgen.music.sample import shipped_model
from seqgen.text.model import TextLM, TextModelConfig
from seqgen.text.tokenizer import CharTokenizer

TEMPO, SPQ = 100.0, 2  # the tiny checkpoint's data: 2 frames per quarter note at 100 BPM (0.3 s per frame)
FMT = RollFormat(Quantisation(steps_per_quarter=SPQ, tempo_bpm=TEMPO))
TRAIN_STATS = {
    "mean_polyphony": 3.9, "empty_frame_rate": 0.01, "pitch_class_entropy": 3.1, "scale_consistency": 0.97,
    "note_length_mean": 1.6, "pitch_min": 36.0, "pitch_max": 81.0, "frames": 1000.0, "sequences": 10.0,
}


def music_checkpoint(path, kind: str = "rnn-nade") -> None:
    """A tiny untrained 88-key model with the data settings a trained one carries."""
    torch.manual_seed(0)
    config = make_config(kind=kind, n_visible=88, rnn_hidden=8, cond_hidden=8)
    model = MusicModel(config)
    save_checkpoint(path, {
        "format_version": FORMAT_VERSION, "task": "music", "kind": kind, "model_config": asdict(config),
        "state_dict": model.state_dict(), "seed": 0,
        "data": {"dataset": "tiny", "train_stats": TRAIN_STATS,
                 "roll_format": RollFormat(Quantisation(steps_per_quarter=SPQ, tempo_bpm=TEMPO)).to_dict()},
    })


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    music_checkpoint(path)
    return path


@pytest.fixture
def sample(cli):
    """Run `seqgen sample ...`, asserting it succeeded."""

    def run(*args):
        result = cli("sample", *args)
        assert result.code == 0, result.output
        return result

    return run


def midi_tempo(path) -> float:
    """The first set_tempo of a MIDI file, read with mido, in BPM."""
    tempos = [m.tempo for track in mido.MidiFile(str(path)).tracks for m in track if m.type == "set_tempo"]
    return mido.tempo2bpm(tempos[0])


def test_writes_numbered_midi_png_wav_and_prints_statistics(sample, ckpt, tmp_path) -> None:
    result = sample("--model", ckpt, "--out", tmp_path / "song.mid", "--n", 3, "--frames", 16, "--seed", 5,
                    "--png", "--wav")
    for i in range(3):
        midi = tmp_path / f"song-{i:03d}.mid"
        pretty_midi.PrettyMIDI(str(midi))
        assert midi_to_roll(midi, FMT).roll.shape == (16, 88)
        assert midi_tempo(midi) == pytest.approx(TEMPO)
        assert (tmp_path / f"song-{i:03d}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with wave.open(str(tmp_path / f"song-{i:03d}.wav")) as wav:
            assert wav.getnframes() > 0
    assert not (tmp_path / "song.mid").exists()
    assert "samples vs training data" in result.output and "scale consistency" in result.output
    assert "audio rendered with" in result.output


def test_same_seed_same_bytes_other_seed_other_song(sample, ckpt, tmp_path) -> None:
    for name, seed in [("a.mid", 1), ("b.mid", 1), ("c.mid", 2)]:
        sample("--model", ckpt, "--out", tmp_path / name, "--frames", 24, "--seed", seed)
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    assert (tmp_path / "a.mid").read_bytes() != (tmp_path / "c.mid").read_bytes()


def test_seconds_and_tempo_set_length_and_playback(sample, ckpt, tmp_path) -> None:
    sample("--model", ckpt, "--out", tmp_path / "s.mid", "--seconds", 3, "--seed", 0)
    assert midi_to_roll(tmp_path / "s.mid", FMT).roll.shape[0] == 10  # 3 s / 0.3 s
    sample("--model", ckpt, "--out", tmp_path / "t.mid", "--frames", 8, "--tempo", 90, "--seed", 0)
    assert midi_tempo(tmp_path / "t.mid") == pytest.approx(90, rel=1e-5)  # whole microseconds per beat
    assert pretty_midi.PrettyMIDI(str(tmp_path / "t.mid")).get_end_time() == pytest.approx(8 * 60 / (90 * SPQ))


def test_primer_frames_are_kept_verbatim(sample, ckpt, tmp_path) -> None:
    primer = np.zeros((6, 88), bool)
    primer[[0, 1, 2], 39] = True
    primer[[3, 4], [43, 46]] = True
    roll_to_midi(primer, tmp_path / "primer.mid", FMT)
    result = sample("--model", ckpt, "--out", tmp_path / "p.mid", "--frames", 12, "--primer",
                    tmp_path / "primer.mid", "--primer-frames", 4, "--seed", 0, "--png")
    roll = midi_to_roll(tmp_path / "p.mid", FMT).roll
    assert roll.shape == (12, 88) and np.array_equal(roll[:4], primer[:4])
    assert "4 from the primer" in result.output


def test_shipped_model_from_models_dir(sample, ckpt, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEQGEN_MODELS_DIR", str(ckpt.parent))
    (ckpt.parent / "bach-rnn-nade.pt").write_bytes(ckpt.read_bytes())
    sample("--out", tmp_path / "d.mid", "--frames", 4, "--seed", 0)
    assert midi_to_roll(tmp_path / "d.mid", FMT).roll.shape[0] == 4


def test_rbm_checkpoint_samples_with_gibbs_steps(sample, tmp_path) -> None:
    music_checkpoint(tmp_path / "rbm.pt", kind="rnn-rbm")
    sample("--model", tmp_path / "rbm.pt", "--out", tmp_path / "r.mid", "--frames", 6, "--gibbs-steps", 3)
    assert midi_to_roll(tmp_path / "r.mid", FMT).roll.shape[0] == 6


def text_checkpoint(path) -> None:
    """A tiny untrained character language model with its tokenizer."""
    torch.manual_seed(0)
    tokenizer = CharTokenizer.train("the cat sat on the mat\n")
    config = TextModelConfig(tokenizer.vocab_size, 4, RecurrentConfig(4, 8))
    save_checkpoint(path, {
        "format_version": FORMAT_VERSION, "task": "text", "kind": "text-lm", "model_config": asdict(config),
        "state_dict": TextLM(config).state_dict(), "seed": 0, "data": {}, "tokenizer": tokenizer.to_dict(),
    })


def test_text_checkpoint_continues_the_prompt(sample, tmp_path) -> None:
    text_checkpoint(tmp_path / "lm.pt")
    args = ["--model", tmp_path / "lm.pt", "--prompt", "the", "--length", 7, "--top-k", 5, "--n", 2, "--seed", 4]
    first, again = sample(*args), sample(*args)
    texts = first.stdout.split("\n\n")
    assert first.stdout == again.stdout and len(texts) == 2 and all(t.startswith("the") for t in texts)
    sample("--model", tmp_path / "lm.pt", "--prompt", "the", "--out", tmp_path / "t.txt", "--seed", 4)
    assert (tmp_path / "t.txt").read_text(encoding="utf-8").startswith("the")


def bad_input_args(case: str, ckpt, tmp_path) -> list:
    """Command-line arguments for one kind of bad input (files created in tmp_path)."""
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    save_checkpoint(tmp_path / "no-data.pt", {"format_version": FORMAT_VERSION, "task": "music", "kind": "rnn-nade",
                                              "model_config": {}, "state_dict": {}, "data": {}})
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    roll_to_midi(np.ones((8, 88), bool), tmp_path / "long.mid", FMT)
    return {
        "garbage model": ["--model", tmp_path / "garbage.pt", "--out", tmp_path / "x.mid"],
        "missing model": ["--model", tmp_path / "nope.pt", "--out", tmp_path / "x.mid"],
        "music model without data settings": ["--model", tmp_path / "no-data.pt", "--out", tmp_path / "x.mid"],
        "no shipped model": ["--out", tmp_path / "x.mid"],
        "bad primer": ["--model", ckpt, "--out", tmp_path / "x.mid", "--primer", tmp_path / "bad.mid"],
        "primer too long": ["--model", ckpt, "--out", tmp_path / "x.mid", "--frames", 8, "--primer",
                            tmp_path / "long.mid"],
        "music without --out": ["--model", ckpt],
        "text option for music": ["--model", ckpt, "--out", tmp_path / "x.mid", "--prompt", "hi"],
        "frames and seconds": ["--model", ckpt, "--out", tmp_path / "x.mid", "--frames", 4, "--seconds", 2],
        "gibbs steps for a NADE": ["--model", ckpt, "--out", tmp_path / "x.mid", "--gibbs-steps", 3],
    }[case]


@pytest.mark.parametrize("case", ["garbage model", "missing model", "music model without data settings",
                                  "no shipped model", "bad primer", "primer too long", "music without --out",
                                  "text option for music", "frames and seconds", "gibbs steps for a NADE"])
def test_bad_input_is_one_line_and_writes_nothing(cli, case, ckpt, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEQGEN_MODELS_DIR", str(tmp_path / "empty"))
    result = cli("sample", *bad_input_args(case, ckpt, tmp_path))
    assert result.code == 1
    result.one_line_error()
    assert not (tmp_path / "x.mid").exists()


@pytest.mark.parametrize("name", ["bach-rnn-nade.pt", "bach-rnn-rbm.pt"])
def test_shipped_models_load_and_sample(sample, name, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SEQGEN_MODELS_DIR", raising=False)
    model = shipped_model(name)
    gibbs = ["--gibbs-steps", 5] if "rbm" in name else []
    result = sample("--model", model, "--out", tmp_path / "s.mid", "--frames", 8, *gibbs, "--seed", 0)
    assert "8 frames" in result.output
    assert midi_tempo(tmp_path / "s.mid") == pytest.approx(100)  # the chorales' tempo, from the checkpoint


def test_threads_are_chosen_by_seqgen(sample, ckpt, tmp_path) -> None:
    """One intra-op thread unless --threads N, set before the work, whatever torch's default was."""
    try:
        torch.set_num_threads(2)
        sample("--model", ckpt, "--out", tmp_path / "one.mid", "--frames", 4, "--seed", 0)
        assert torch.get_num_threads() == 1
        sample("--model", ckpt, "--out", tmp_path / "two.mid", "--frames", 4, "--seed", 0, "--threads", 2)
        assert torch.get_num_threads() == 2
        assert (tmp_path / "one.mid").read_bytes() == (tmp_path / "two.mid").read_bytes()
    finally:
        torch.set_num_threads(1)
