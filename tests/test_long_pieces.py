"""Long pieces in bounded memory: music is scored in chunks of frames with the RNN state carried (identical to
scoring whole sequences), a crafted 36-byte MIDI file of 1,000,000 frames is scored under a 2 GiB address-space
cap, samples too long for the memory are refused in one line, and text is scored piece by piece with progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

import mido
import numpy as np
import pytest
import torch

from seqgen.checkpoint import FORMAT_VERSION, save_checkpoint
from seqgen.music import score as music_score
from seqgen.music.model import MusicModel, make_config
from seqgen.music.pianoroll import Quantisation, RollFormat
from seqgen.music.score import score_rolls
from seqgen.music.surprise import note_surprise
from seqgen.text import score as text_score
from seqgen.text.model import TextLM, TextModelConfig
from seqgen.text.tokenizer import CharTokenizer, WordTokenizer

MODELS = [("rnn-nade", "tanh"), ("rnn", "gru"), ("rnn-nade", "lstm")]


def tiny(kind: str, cell: str, p: int = 6) -> MusicModel:
    torch.manual_seed(0)
    config = make_config(kind=kind, n_visible=p, rnn_hidden=5, cond_hidden=4, cell=cell, leaky=cell == "tanh")
    return MusicModel(config).eval()


@pytest.mark.parametrize(("kind", "cell"), MODELS)
def test_scores_in_one_frame_chunks_equal_whole_sequences(monkeypatch, kind, cell):
    """With chunks of one frame (the state carried 30 times), every frame's exact log-likelihood, the totals and
    the surprise of each note are those of whole sequences read at once."""
    model = tiny(kind, cell)
    rng = np.random.default_rng(0)
    rolls = [rng.random((t, 6)) < 0.3 for t in (5, 30, 17)]
    with torch.no_grad():
        whole = [model.conditional.log_prob(v, {k: b[0] for k, b in model.teacher_forced_biases(v[None])[0].items()})
                 for v in (torch.as_tensor(r, dtype=torch.float32) for r in rolls)]  # fmt: skip
    at_once = score_rolls(model, rolls, batch_size=2, keep_frames=True, frame_accuracy=False)
    surprise = [note_surprise(model, r)[0] for r in rolls]
    monkeypatch.setattr(music_score, "CHUNK_BYTES", 1)
    assert music_score.chunk_frames(model, rolls, [0, 1]) == 2  # one frame of each of the two sequences
    chunked = score_rolls(model, rolls, batch_size=2, keep_frames=True, frame_accuracy=False)
    for result in (at_once, chunked):
        np.testing.assert_allclose(result["per_frame"].log_likelihood.numpy(), torch.cat(whole).numpy(), rtol=1e-5)
        assert result["frames"] == 52
    assert chunked["log_likelihood_per_frame"] == pytest.approx(at_once["log_likelihood_per_frame"], rel=1e-6)
    for roll, expected in zip(rolls, surprise):
        np.testing.assert_allclose(note_surprise(model, roll)[0], expected, rtol=1e-5)


def crafted_midi(path, frames: int = 1_000_000) -> int:
    """A MIDI file of one note held for `frames` frames on a 2-steps-per-quarter grid (one tick per frame)."""
    midi = mido.MidiFile(ticks_per_beat=2)
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=64, time=0),
                                       mido.Message("note_off", note=60, velocity=0, time=frames)]))  # fmt: skip
    midi.save(path)
    return path.stat().st_size


CAPPED = """
import json, resource, sys
cap = 2 * 2**30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from seqgen.cli import main
code = 0
try:
    main(["score", *sys.argv[1:], "--json"])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
      file=sys.stderr)
"""


def test_a_million_frame_file_of_36_bytes_scores_under_a_2_gib_address_space_cap(tmp_path):
    """Scoring needed ~22 GB for this file before chunking. A tiny LSTM (PyTorch's fused kernel, ~1 µs a frame)
    keeps the test to seconds; the memory of a chunk is set by CHUNK_BYTES, not by the model's sizes."""
    assert crafted_midi(tmp_path / "long.mid") == 36
    model = tiny("rnn-nade", "lstm", p=88)
    fmt = RollFormat(Quantisation(steps_per_quarter=2, tempo_bpm=100.0))
    data = {"dataset": "tiny", "roll_format": fmt.to_dict()}
    save_checkpoint(tmp_path / "m.pt", {"format_version": FORMAT_VERSION, "task": "music", "kind": "rnn-nade",
                                        "model_config": asdict(model.config), "state_dict": model.state_dict(),
                                        "seed": 0, "data": data})  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", CAPPED, str(tmp_path / "long.mid"), "--model", str(tmp_path / "m.pt")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False,
    )  # fmt: skip
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr[-3000:]
    score = json.loads(done.stdout)
    assert score["frames"] == 1_000_000 and np.isfinite(score["log_likelihood_per_frame"])
    assert report["maxrss_mb"] < 1536, report  # the cap is 2048: torch and the roll take ~550 MB, a chunk ~256


def test_a_sample_longer_than_the_maximum_or_the_memory_is_refused_in_one_line(cli, monkeypatch, tmp_path):
    for option in ("--frames", "--length"):
        result = cli("sample", option, 10**9, "--out", tmp_path / "x.mid")
        assert result.code == 2 and "1<=x<=10000000" in result.stderr and "Traceback" not in result.output
    monkeypatch.setattr("seqgen.memory.available_bytes", lambda: 2**30)
    line = cli("sample", "--frames", 1_000_000, "--out", tmp_path / "x.mid").one_line_error()
    assert "--frames" in line and "1.0 GiB of memory available" in line
    line = cli("sample", "--seconds", 1e6, "--out", tmp_path / "x.mid").one_line_error()
    assert "--seconds" in line and "frames for 1 sample(s)" in line
    assert not (tmp_path / "x.mid").exists()


TEXT = "the cat sat on the mat\nand the dog ran far away\n\nover the hills and far away\n" * 7


@pytest.mark.parametrize("tokenizer", [CharTokenizer.train(TEXT), WordTokenizer.train(TEXT)])
def test_text_scored_in_small_pieces_equals_the_whole_and_reports_progress(monkeypatch, tokenizer):
    torch.manual_seed(0)
    model = TextLM(TextModelConfig.from_dict({"vocab_size": tokenizer.vocab_size, "embedding_size": 4,
                                              "recurrent": {"input_size": 4, "hidden_size": 6}})).eval()  # fmt: skip
    with torch.no_grad():
        ids = torch.as_tensor(tokenizer.encode(TEXT))
        logits = model(torch.cat([ids.new_tensor([tokenizer.newline]), ids[:-1]])[None])[0][0]
        bits = float(torch.nn.functional.cross_entropy(logits, ids, reduction="sum")) / np.log(2)
    monkeypatch.setattr(text_score, "PIECE_CHARS", 10)
    steps: list[tuple[int, int]] = []
    result = text_score.score_text(model, tokenizer, TEXT, lambda n, total: steps.append((n, total)))
    assert result["bits"] == pytest.approx(bits, rel=1e-6) and result["tokens"] == len(ids)
    assert len(steps) > 20 and sum(n for n, _ in steps) == len(TEXT) and {t for _, t in steps} == {len(TEXT)}
    pieces = list(text_score.text_pieces(TEXT, tokenizer, 10))
    assert "".join(pieces) == TEXT and max(map(len, pieces)) <= 30  # a piece is at most a line longer than 10

