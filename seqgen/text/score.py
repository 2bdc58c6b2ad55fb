"""Score text with a language model: bits per character of the raw text, whatever the tokenizer.

bits_per_char = total −log2 p(tokens) / characters of the raw text (Unicode code points, newlines
included); perplexity = 2^(bits / tokens); word_perplexity = 2^(bits / words) with words = whitespace-
separated words + one `<eos>` per newline, as in Mikolov's PTB. The text is read in order from the zero
state with no context cut, so the figures are exact for the model.
"""

from __future__ import annotations

import math

import torch

from seqgen.text.model import TextLM, sequence_nll_bits
from seqgen.text.tokenizer import Tokenizer


def count_words(text: str) -> int:
    """Whitespace-separated words plus one `<eos>` per newline (the PTB word count)."""
    return len(text.split()) + text.count("\n")


def score_text(model: TextLM, tokenizer: Tokenizer, text: str) -> dict[str, float | int]:
    """Exact bits per character, per-token and per-word perplexity of `text` under `model`."""
    device = model.output.weight.device
    ids = torch.as_tensor(tokenizer.encode(text), device=device)
    bits = sequence_nll_bits(model, ids, tokenizer.newline)
    chars, tokens, words = len(text), len(ids), count_words(text)
    return {
        "bits_per_char": bits / chars,
        "perplexity": 2.0 ** (bits / tokens),
        "word_perplexity": 2.0 ** (bits / words) if words else math.nan,
        "chars": chars,
        "tokens": tokens,
        "words": words,
        "bits": bits,
    }
