"""The text product's own training options (seqgen.options assembles them with the shared ones): the corpus
or text file, its validation split, and the tokenizer."""

from __future__ import annotations

from pathlib import Path

from seqgen.option_spec import TEXT, Choice, D, M, _o

TokenizerKind = Choice("TokenizerKind", {v: v for v in ("char", "word", "sentencepiece")})
SpModel = Choice("SpModel", {v: v for v in ("unigram", "bpe")})

MODEL = [
    _o("embedding", int | None, None, "Token embedding size.", tasks=TEXT, panel=M, min=1),
]
DATA = [
    _o("text", Path | None, None, "Train a language model on this UTF-8 text file.", tasks=TEXT, panel=D),
    _o("valid", Path | None, None, "Validation text file. Default: the tail of --text.", tasks=TEXT, panel=D),
    _o("valid_fraction", float, 0.1, "Share of --text held out for validation when --valid is absent.",
       tasks=TEXT, panel=D, min=0.001, max=0.5),
    _o("data_dir", Path | None, None, "Folder holding the PTB files. Default: $SEQGEN_DATA_DIR, then the cache.",
       tasks=TEXT, panel=D),
    _o("tokenizer", TokenizerKind | None, None, "Text units. Default: char, or word for ptb.", tasks=TEXT, panel=D),
    _o("vocab_size", int | None, None, "Sentencepiece pieces (default 1000) or most frequent words kept.",
       tasks=TEXT, panel=D, min=2),
    _o("sp_model", SpModel, SpModel.unigram, "Sentencepiece model type.", tasks=TEXT, panel=D),
]
