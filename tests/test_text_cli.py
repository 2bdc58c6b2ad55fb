"""`seqgen train-text` end to end on a tiny file; a checkpoint alone samples and scores; bad files fail in one line."""

import json

import pytest
import torch

from seqgen.checkpoint import load_checkpoint
from seqgen.tasks import get_task
from seqgen.text.sample import continue_text
from seqgen.text.score import score_text

TEXT = ("the cat sat on the mat\nthe dog sat on the log\nanother cat met a dog on a mat\n") * 30
TINY = ["--hidden", "16", "--embedding", "8", "--batch-size", "4", "--chunk-len", "16", "--device", "cpu"]


@pytest.fixture
def trained(cli, tmp_path_factory):
    """A sentencepiece model trained for one epoch, then resumed for a second."""
    folder = tmp_path_factory.mktemp("lm")
    text = folder / "corpus.txt"
    text.write_text(TEXT, encoding="utf-8")
    out = folder / "run"
    args = ["train-text", "--text", text, "--tokenizer", "sentencepiece", "--vocab-size", 300, *TINY, "--out", out]
    first = cli(*args, "--epochs", 1)
    assert first.code == 0, first.stderr
    resumed = cli(*args, "--epochs", 2, "--resume")
    assert resumed.code == 0, resumed.stderr
    assert "bits/char (epoch 2)" in resumed.stdout
    return folder, out


def test_checkpoint_alone_samples_and_scores(trained):
    _, out = trained
    assert {p.name for p in out.iterdir()} >= {"best.pt", "last.pt", "metrics.jsonl"}
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["task"] == "text" and ckpt["epoch"] == 2 and isinstance(ckpt["tokenizer"]["model"], bytes)
    model = get_task("text").load(ckpt, out / "last.pt", "cpu")
    texts = continue_text(
        model, model.tokenizer, "the dog", length=20, temperature=0.8, top_k=50, n=3,
        generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    assert len(texts) == 3 and all(t.startswith("the dog") and len(t) > len("the dog") for t in texts)
    scores = score_text(model, model.tokenizer, "the cat met the dog\n")
    assert scores["chars"] == 20 and scores["tokens"] >= 1
    assert scores["bits_per_char"] > 0 and scores["word_perplexity"] > 1


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\x89PNG\r\n\x1a\n\0\0\0", "binary"), (b"na\xefve \xff text\n", "not UTF-8")],
)
def test_bad_text_file_exits_non_zero_with_one_line(cli, tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    line = cli("train-text", "--text", path, *TINY, "--out", tmp_path / "run").one_line_error()
    assert message in line and "bad.txt" in line


def test_score_and_sample_commands_dispatch_to_the_text_model(cli, trained):
    folder, out = trained
    held_out = folder / "held_out_cli.txt"
    held_out.write_text("the cat sat on the log\n", encoding="utf-8")
    scored = cli("score", held_out, "--model", out / "best.pt", "--json", "--device", "cpu")
    assert scored.code == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert {"bits_per_char", "perplexity", "word_perplexity", "chars", "tokens"} <= set(result)
    assert result["chars"] == 23
    args = ["sample", "--model", out / "best.pt", "--prompt", "the cat", "--length", 15, "--n", 2, "--device", "cpu"]
    first, again = cli(*args, "--seed", 7), cli(*args, "--seed", 7)
    assert first.code == 0, first.stderr
    assert first.stdout == again.stdout and first.stdout.startswith("the cat")
