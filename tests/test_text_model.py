"""Text LM: exact bits per character on models with known probabilities, TBPTT layout, sampling."""

import math

import numpy as np
import pytest
import torch

from seqgen.core.recurrent import RecurrentConfig
from seqgen.core.train import TrainConfig
from seqgen.errors import SeqgenError
from seqgen.text.corpus import TextCorpus
from seqgen.text.model import TextLM, TextModelConfig
from seqgen.text.sample import continue_text
from seqgen.text.score import score_text
from seqgen.text.tokenizer import train_tokenizer
from seqgen.text.train_text import TextTask, batchify

TEXT = ("the cat sat on the mat\nthe dog sat on the log\nanother cat met a dog on a mat\n") * 8


def context_free_model(vocab_size: int, log_probs: torch.Tensor | None = None, cell: str = "tanh") -> TextLM:
    """All weights zero, output bias = log_probs: every token has probability softmax(log_probs), whatever the past."""
    model = TextLM(TextModelConfig(vocab_size, 4, RecurrentConfig(4, 8, cell=cell, leaky=cell == "tanh")))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        if log_probs is not None:
            model.output.bias.copy_(log_probs)
    return model.eval()


@pytest.mark.parametrize(("kind", "vocab_size"), [("char", None), ("sentencepiece", 300), ("word", None)])
def test_uniform_model_gives_log2_v_bits_per_token_normalised_by_raw_characters(kind, vocab_size):
    tok = train_tokenizer(kind, TEXT, vocab_size=vocab_size)
    scores = score_text(context_free_model(tok.vocab_size), tok, TEXT)
    tokens = len(tok.encode(TEXT))
    assert scores["tokens"] == tokens and scores["chars"] == len(TEXT)
    assert scores["bits_per_char"] == pytest.approx(tokens * math.log2(tok.vocab_size) / len(TEXT), rel=1e-6)
    assert scores["perplexity"] == pytest.approx(tok.vocab_size, rel=1e-5)
    words = len(TEXT.split()) + TEXT.count("\n")
    assert scores["word_perplexity"] == pytest.approx(tok.vocab_size ** (tokens / words), rel=1e-5)


@pytest.mark.parametrize("cell", ["tanh", "lstm"])
def test_bits_per_char_is_exact_for_known_token_probabilities(cell):
    """Every token (the first included) is counted once: bits = −Σ log2 p(token)."""
    tok = train_tokenizer("char", TEXT)
    log_probs = torch.randn(tok.vocab_size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = torch.softmax(log_probs, 0).numpy()
    ids = tok.encode(TEXT)
    expected_bits = -np.log2(p[ids]).sum()
    scores = score_text(context_free_model(tok.vocab_size, log_probs.float(), cell), tok, TEXT)
    assert scores["bits_per_char"] == pytest.approx(expected_bits / len(TEXT), rel=1e-5)


def test_batchify_layout_and_chunks_carry_state():
    stream = torch.arange(26)
    assert batchify(stream, 4).tolist()[1] == [6, 7, 8, 9, 10, 11]
    tok = train_tokenizer("char", TEXT)
    corpus = TextCorpus("t", {"train": TEXT, "valid": TEXT[:50]}, "char", "")
    task = TextTask(corpus, tok, TrainConfig(batch_size=3, chunk_len=7))
    batches = task.batches(0, torch.Generator().manual_seed(1))
    assert [carry for _, carry in batches] == [False] + [True] * (len(batches) - 1)
    (x0, y0), (x1, _) = batches[0][0], batches[1][0]
    assert torch.equal(x0[:, 1:], y0[:, :-1]) and torch.equal(y0[:, -1], x1[:, 0])
    with pytest.raises(SeqgenError, match="too short"):
        batchify(torch.arange(3), 4)


@pytest.mark.parametrize(("kind", "vocab_size"), [("char", None), ("sentencepiece", 300), ("word", None)])
def test_continuations_start_with_prompt_and_follow_the_seed(kind, vocab_size):
    tok = train_tokenizer(kind, TEXT, vocab_size=vocab_size)
    torch.manual_seed(0)
    model = TextLM(TextModelConfig(tok.vocab_size, 8, RecurrentConfig(8, 16, leaky=True))).eval()

    def sample(seed, **kw):
        return continue_text(model, tok, "the cat", length=12, n=5, generator=torch.Generator().manual_seed(seed), **kw)

    texts = sample(3)
    assert len(texts) == 5 and all(t.startswith("the cat") for t in texts)
    if kind == "word":
        assert all(t[len("the cat")] in " \n" for t in texts)  # words stay separated from the prompt
    assert sample(3) == texts and sample(4) != texts
    assert len(set(texts)) > 1  # the batch draws independent continuations
    greedy = sample(5, top_k=1)
    assert len(set(greedy)) == 1  # top-1 is deterministic, so all rows agree
    with pytest.raises(SeqgenError, match="temperature"):
        sample(3, temperature=0.0)


def test_a_model_far_too_sure_of_the_wrong_token_scores_inf_perplexity_not_an_error():
    """One token certain (logit 1e6): every other token costs ~1e6 nats, 2**bits overflows a float; the score is
    finite bits per char and infinite perplexity, never OverflowError."""
    tok = train_tokenizer("char", TEXT)
    log_probs = torch.full((tok.vocab_size,), -1e6)
    log_probs[0] = 1e6
    scores = score_text(context_free_model(tok.vocab_size, log_probs), tok, TEXT)
    assert math.isfinite(scores["bits_per_char"]) and scores["bits_per_char"] > 1e5
    assert scores["perplexity"] == math.inf and scores["word_perplexity"] == math.inf
