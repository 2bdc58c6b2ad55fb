"""Score text with a language model: bits per character of the raw text, whatever the tokenizer.

bits_per_char = total −log2 p(tokens) / characters of the raw text (Unicode code points, newlines
included); perplexity = 2^(bits / tokens); word_perplexity = 2^(bits / words) with words = whitespace-
separated words + one `<eos>` per newline, as in Mikolov's PTB. The text is read in order from the zero
state with no context cut, so the figures are exact for the model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

import torch
from torch import nn

from seqgen.text.model import LN2, TextLM
from seqgen.text.tokenizer import CharTokenizer, Tokenizer

WORD = re.compile(r"\S+")
PIECE_CHARS = 1 << 20  # characters tokenized and scored at a time: memory stays flat in the text's length


def count_words(text: str) -> int:
    """Whitespace-separated words (as str.split finds them, counted without making the list) plus one `<eos>`
    per newline (the PTB word count)."""
    return sum(1 for _ in WORD.finditer(text)) + text.count("\n")


def text_pieces(text: str, tokenizer: Tokenizer, size: int = PIECE_CHARS) -> Iterator[str]:
    """`text` cut into consecutive pieces of about `size` characters whose encodings, joined, are the encoding of
    the whole: each piece ends after a newline (a longer line stays whole), or anywhere for a character tokenizer."""
    start = 0
    while start < len(text):
        stop = start + size
        if stop < len(text) and not isinstance(tokenizer, CharTokenizer):
            cut = text.rfind("\n", start, stop)
            stop = cut + 1 if cut >= 0 else (text.find("\n", stop) + 1 or len(text))
        yield text[start:stop]
        start = stop


@torch.no_grad()
def score_text(
    model: TextLM, tokenizer: Tokenizer, text: str, progress: Callable[[int, int], None] | None = None,
    chunk: int = 1024,
) -> dict[str, float | int]:  # fmt: skip
    """Exact bits per character, per-token and per-word perplexity of `text` under `model`, read in order from the
    zero state (the first token given the newline), tokenized and scored piece by piece (`text_pieces`) with the
    state carried; `progress(characters of the piece, characters of the text)` after each piece."""
    device = model.output.weight.device
    state, previous, nats, tokens = None, tokenizer.newline, 0.0, 0
    for piece in text_pieces(text, tokenizer, PIECE_CHARS):
        ids = torch.as_tensor(tokenizer.encode(piece), device=device)
        for i in range(0, len(ids), chunk):
            targets = ids[i : i + chunk]
            inputs = torch.cat([targets.new_tensor([previous]), targets[:-1]])
            logits, state, _ = model(inputs.unsqueeze(0), state)
            nats += float(nn.functional.cross_entropy(logits[0], targets, reduction="sum"))
            previous = int(targets[-1])
        tokens += len(ids)
        if progress is not None:
            progress(len(piece), len(text))
    bits, chars, words = nats / LN2, len(text), count_words(text)
    return {
        "bits_per_char": bits / chars,
        "perplexity": _power_of_two(bits / tokens) if tokens else math.nan,
        "word_perplexity": _power_of_two(bits / words) if words else math.nan,
        "chars": chars,
        "tokens": tokens,
        "words": words,
        "bits": bits,
    }


def _power_of_two(bits: float) -> float:
    """2**bits, inf where it exceeds a float (a diverged model's perplexity), never OverflowError."""
    try:
        return 2.0**bits
    except OverflowError:
        return math.inf
