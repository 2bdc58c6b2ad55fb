"""Tokenizers round-trip text exactly and rebuild from their checkpoint entry; corpora load and fail cleanly."""

import os
from pathlib import Path

import numpy as np
import pytest

from seqgen.errors import SeqgenError
from seqgen.text.corpus import load_corpus, ptb_text, read_text_file, split_text
from seqgen.text.tokenizer import tokenizer_from_dict, train_tokenizer

DATA_DIR = Path(os.environ.get("SEQGEN_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
TINY = (
    "the cat sat on the mat\n"
    "the dog sat on the log\n"
    "a cat and a dog met on a mat near a log\n"
) * 8
UNSEEN = "Zebra ünïcode ☃ and  two  spaces\n\nthe end"


@pytest.mark.parametrize(
    ("kind", "vocab_size"),
    [("char", None), ("word", None), ("sentencepiece", 320)],
)
def test_round_trip_and_rebuild(kind, vocab_size):
    tok = train_tokenizer(kind, TINY, vocab_size=vocab_size)
    ids = tok.encode(TINY)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < tok.vocab_size
    assert tok.decode(ids) == TINY
    assert int((ids == tok.newline).sum()) == TINY.count("\n")
    again = tokenizer_from_dict(tok.to_dict())
    assert again.vocab_size == tok.vocab_size
    assert np.array_equal(again.encode(TINY), ids)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_is_exact_on_unseen_text(model_type):
    tok = train_tokenizer("sentencepiece", TINY, vocab_size=320, model_type=model_type)
    assert tok.decode(tok.encode(UNSEEN)) == UNSEEN
    assert len(tok.encode(TINY)) < len(TINY)  # pieces are longer than characters


def test_char_tokenizer_maps_unseen_characters_to_one_unknown_id():
    tok = train_tokenizer("char", "abc\n")
    ids = tok.encode("abz\n")
    assert ids.tolist() == [tok.encode("a")[0], tok.encode("b")[0], tok.unk, tok.newline]
    assert tok.decode(ids) == "ab\ufffd\n"


def test_sentencepiece_vocab_too_small_is_one_line_error():
    with pytest.raises(SeqgenError, match="100: sentencepiece with byte fallback needs at least") as info:
        train_tokenizer("sentencepiece", TINY, vocab_size=100)
    assert info.value.param == "vocab_size"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"abc\0def", "binary"), (b"caf\xe9 au lait", "not UTF-8")],
)
def test_bad_text_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(SeqgenError, match=message) as info:
        read_text_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_split_text_cuts_at_a_line_start():
    train, valid = split_text(TINY, 0.25)
    assert train + valid == TINY and train.endswith("\n")
    assert abs(len(valid) - 0.25 * len(TINY)) < 50
    with pytest.raises(SeqgenError, match="too short"):
        split_text("a", 0.5)


def test_ptb_char_convention_matches_published_char_file():
    """The raw PTB text is the char file read one character per token (`_` = space) plus a newline per line."""
    words, chars = DATA_DIR / "ptb" / "ptb.valid.txt", DATA_DIR / "ptb" / "ptb.char.valid.txt"
    if not chars.is_file():
        pytest.skip(f"{chars} not present")
    from_chars = "".join(
        "".join(line.split()).replace("_", " ") + "\n"
        for line in chars.read_text(encoding="utf-8").split("\n")
        if line.strip()
    )
    text = ptb_text(words.read_text(encoding="utf-8"))
    assert text == from_chars
    assert len(text) == 389_672 + 3_370  # char tokens incl. `_` + one end-of-line per sentence
    assert len(set(text)) == 50


def test_load_corpus_text_file_and_ptb(tmp_path, monkeypatch):
    path = tmp_path / "tiny.txt"
    path.write_text(TINY, encoding="utf-8")
    corpus = load_corpus(text=path, valid_fraction=0.2)
    assert corpus.splits["train"] + corpus.splits["valid"] == TINY
    if (DATA_DIR / "ptb" / "ptb.test.txt").is_file():
        monkeypatch.setenv("SEQGEN_DATA_DIR", str(DATA_DIR))
        ptb = load_corpus("ptb-char")
        assert len(ptb.splits["test"]) == 438_662 + 3_761
        assert len(ptb.splits["test"].split()) + ptb.splits["test"].count("\n") == 82_430
