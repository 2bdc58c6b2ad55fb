"""Tokenizers for text language models: characters, whitespace words, or sentencepiece pieces.

Every tokenizer maps a text to ids [N] and back, has an id for the newline (which is also the input
the model sees before the first token), and serialises to a plain dict stored in the checkpoint, so
sampling and scoring need nothing but the checkpoint.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Protocol

import numpy as np
import sentencepiece as spm

from seqgen.errors import SeqgenError

NEWLINE = "\n"
UNKNOWN_CHAR = "\ufffd"
WORD_UNK = "<unk>"
WORD_EOS = "<eos>"
TOKENIZER_KINDS = ("char", "word", "sentencepiece")
SENTENCEPIECE_TYPES = ("unigram", "bpe")


class Tokenizer(Protocol):
    """What the language model needs of a tokenizer."""

    vocab_size: int
    newline: int

    def encode(self, text: str) -> np.ndarray:
        """Token ids int64 [N] of `text`."""

    def decode(self, ids: np.ndarray | list[int]) -> str:
        """The text of token ids [N]."""

    def to_dict(self) -> dict:
        """A plain dict (str, list, bytes) that `tokenizer_from_dict` rebuilds this tokenizer from."""


def _codepoints(text: str) -> np.ndarray:
    """Unicode code points of `text` as int64 [len(text)] (vectorised through UTF-32)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


class CharTokenizer:
    """One token per Unicode character of the training text, plus newline and one unknown-character id."""

    def __init__(self, chars: str):
        self.chars = "".join(sorted(set(chars) | {NEWLINE}))
        self._points = _codepoints(self.chars)  # sorted, so searchsorted maps code point -> id
        self.unk = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self.newline = self.chars.index(NEWLINE)
        self._decode_points = np.append(self._points, ord(UNKNOWN_CHAR)).astype(np.uint32)

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        """The character set of `text`."""
        return cls("".join(set(text)))

    def encode(self, text: str) -> np.ndarray:
        points = _codepoints(text)
        ids = np.searchsorted(self._points, points)
        known = (ids < len(self._points)) & (self._points[np.minimum(ids, len(self._points) - 1)] == points)
        return np.where(known, ids, self.unk).astype(np.int64)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        return self._decode_points[np.asarray(ids, dtype=np.int64)].tobytes().decode("utf-32-le")

    def to_dict(self) -> dict:
        return {"kind": "char", "chars": self.chars}


class WordTokenizer:
    """Whitespace-separated words with `<eos>` for each newline, as in Mikolov's PTB; unseen words -> `<unk>`."""

    def __init__(self, words: list[str]):
        vocab = [WORD_EOS] + [w for w in words if w != WORD_EOS]
        if WORD_UNK not in vocab:
            vocab.append(WORD_UNK)
        self.words = vocab
        self._index = {w: i for i, w in enumerate(vocab)}
        self.newline = 0
        self.unk = self._index[WORD_UNK]
        self.vocab_size = len(vocab)

    @classmethod
    def train(cls, text: str, vocab_size: int | None = None) -> WordTokenizer:
        """The words of `text`, most frequent first (ties alphabetical), at most `vocab_size` with `<eos>`."""
        counts = Counter(text.split())
        words = sorted(counts, key=lambda w: (-counts[w], w))
        return cls(words[: vocab_size - 2] if vocab_size else words)

    def encode(self, text: str) -> np.ndarray:
        index, unk = self._index, self.unk
        ids: list[int] = []
        for i, line in enumerate(text.split(NEWLINE)):
            if i:
                ids.append(self.newline)
            ids.extend(index.get(w, unk) for w in line.split())
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        pieces = [NEWLINE if i == self.newline else self.words[i] for i in np.asarray(ids).tolist()]
        return re.sub(r" ?\n ?", NEWLINE, " ".join(pieces))

    def to_dict(self) -> dict:
        return {"kind": "word", "words": self.words[1:]}


class SentencePieceTokenizer:
    """Sentencepiece pieces within each line (identity normalisation, byte fallback: exact round trip
    of any text), plus one extra id for the newline."""

    def __init__(self, model: bytes):
        self.model = bytes(model)
        self.processor = spm.SentencePieceProcessor(model_proto=self.model)
        self.newline = self.processor.get_piece_size()
        self.vocab_size = self.newline + 1

    @classmethod
    def train(cls, text: str, vocab_size: int, model_type: str = "unigram") -> SentencePieceTokenizer:
        """Train in memory on the lines of `text` (no files written)."""
        if model_type not in SENTENCEPIECE_TYPES:
            raise SeqgenError(f"{model_type}: expected one of {', '.join(SENTENCEPIECE_TYPES)}", param="sp_model")
        lines = [line for line in text.split(NEWLINE) if line]
        needed = 256 + len(set("".join(lines))) + 2
        if vocab_size < needed:
            raise SeqgenError(
                f"{vocab_size}: sentencepiece with byte fallback needs at least {needed} "
                "for this text (256 bytes + its characters + <unk>)",
                param="vocab_size",
            )
        writer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=writer, vocab_size=vocab_size - 1,
            model_type=model_type, normalization_rule_name="identity", add_dummy_prefix=False,
            remove_extra_whitespaces=False, byte_fallback=True, character_coverage=1.0,
            hard_vocab_limit=False, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            input_sentence_size=2_000_000, shuffle_input_sentence=True, minloglevel=2,
        )  # fmt: skip
        return cls(writer.getvalue())

    def encode(self, text: str) -> np.ndarray:
        lines = self.processor.encode(text.split(NEWLINE))
        ids = [i for line in lines for i in (*line, self.newline)]
        return np.asarray(ids[:-1], dtype=np.int64)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        ids = np.asarray(ids, dtype=np.int64)
        cuts = np.flatnonzero(ids == self.newline)
        lines = [part.tolist() for part in np.split(ids, cuts)]
        lines = [lines[0]] + [line[1:] for line in lines[1:]]
        return NEWLINE.join(self.processor.decode(lines))

    def to_dict(self) -> dict:
        return {"kind": "sentencepiece", "model": self.model}


def train_tokenizer(
    kind: str, text: str, *, vocab_size: int | None = None, model_type: str = "unigram"
) -> Tokenizer:
    """Fit a tokenizer of `kind` (char | word | sentencepiece) on the training text."""
    if kind == "char":
        return CharTokenizer.train(text)
    if kind == "word":
        return WordTokenizer.train(text, vocab_size)
    if kind == "sentencepiece":
        return SentencePieceTokenizer.train(text, vocab_size or 1000, model_type)
    raise SeqgenError(f"{kind}: expected one of {', '.join(TOKENIZER_KINDS)}", param="tokenizer")


def tokenizer_from_dict(entry: dict) -> Tokenizer:
    """Rebuild a tokenizer from its checkpoint entry (`to_dict`); a malformed entry is a SeqgenError."""
    if not isinstance(entry, dict):
        raise SeqgenError(f"the tokenizer entry is a {type(entry).__name__}, not a dict")
    kind = entry.get("kind")
    if kind == "char":
        chars = entry.get("chars")
        if not isinstance(chars, str) or not chars:
            raise SeqgenError(f"the char tokenizer's chars are {_what(chars)}, not a string of characters")
        return CharTokenizer(chars)
    if kind == "word":
        words = entry.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise SeqgenError(f"the word tokenizer's words are {_what(words)}, not a list of words")
        return WordTokenizer(words)
    if kind == "sentencepiece":
        model = entry.get("model")
        if not isinstance(model, bytes) or not model:
            raise SeqgenError(f"the sentencepiece model is {_what(model)}, not bytes")
        try:
            return SentencePieceTokenizer(model)
        except Exception:  # noqa: BLE001 -- sentencepiece raises RuntimeError/OSError with C++ locations for a bad proto
            raise SeqgenError(f"the sentencepiece model ({len(model):,} bytes) is not a valid model") from None
    raise SeqgenError(f"tokenizer kind {kind!r} is not one of {', '.join(TOKENIZER_KINDS)}")


def _what(value) -> str:
    """How a wrong-typed checkpoint value is described in an error."""
    return "missing" if value is None else f"a {type(value).__name__}"
