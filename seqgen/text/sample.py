"""Continue a prompt with a text language model: n continuations sampled together in one batch.

Whatever the temperature, a sample never holds a replacement character: the unknown-character token is
never drawn, and sentencepiece byte pieces are drawn only where they continue valid UTF-8 (`Utf8Guard`).
"""

from __future__ import annotations

import os

import torch

from seqgen.errors import SeqgenError
from seqgen.text.model import TextLM
from seqgen.text.tokenizer import CharTokenizer, SentencePieceTokenizer, Tokenizer


class Utf8Guard:
    """Which token ids may come next, per sequence: never the unknown token; byte pieces [V] only as
    UTF-8 allows (a lead byte, then exactly its continuation bytes, in their valid ranges)."""

    def __init__(self, vocab_size: int, unknown: list[int], byte_of: list[int] | None = None):
        self.banned = torch.zeros(vocab_size, dtype=torch.bool)
        self.banned[unknown] = True
        self.byte = torch.tensor(byte_of if byte_of is not None else [-1] * vocab_size)  # -1: not a byte piece

    @classmethod
    def for_tokenizer(cls, tokenizer: Tokenizer) -> Utf8Guard | None:
        """Char: ban the unknown-character id. Sentencepiece: ban <unk>, guard byte pieces. Word: None, no
        rule (PTB's <unk> is a word of the corpus)."""
        if isinstance(tokenizer, CharTokenizer):
            return cls(tokenizer.vocab_size, [tokenizer.unk])
        if isinstance(tokenizer, SentencePieceTokenizer):
            sp = tokenizer.processor
            byte_of = [int(sp.id_to_piece(i)[1:-1], 16) if sp.is_byte(i) else -1 for i in range(sp.get_piece_size())]
            return cls(tokenizer.vocab_size, [sp.unk_id()], byte_of + [-1])  # + the newline id
        return None

    def start(self, n: int, device: torch.device) -> None:
        """Reset the state of n sequences: no character pending."""
        self.banned, self.byte = self.banned.to(device), self.byte.to(device)
        self.pending = torch.zeros(n, dtype=torch.long, device=device)  # continuation bytes still due
        self.low = torch.full((n,), 0x80, device=device)
        self.high = torch.full((n,), 0xBF, device=device)
        self.started = torch.zeros(n, dtype=torch.long, device=device)  # step at which the pending char began

    def allowed(self) -> torch.Tensor:
        """bool [n, V]: tokens each sequence may draw next."""
        b = self.byte
        free = (b < 0x80) | ((b >= 0xC2) & (b <= 0xF4))  # not a byte piece, ASCII, or a lead byte
        inside = (b.unsqueeze(0) >= self.low.unsqueeze(1)) & (b.unsqueeze(0) <= self.high.unsqueeze(1))
        return torch.where((self.pending > 0).unsqueeze(1), inside, free.unsqueeze(0)) & ~self.banned

    def advance(self, ids: torch.Tensor, t: int) -> None:
        """Update the state with the drawn ids [n] at step t."""
        b = self.byte[ids]
        lead = (self.pending == 0) & (b >= 0xC2)
        need = torch.where(b >= 0xF0, 3, torch.where(b >= 0xE0, 2, 1))
        first_low = torch.where(b == 0xE0, 0xA0, torch.where(b == 0xF0, 0x90, 0x80))
        first_high = torch.where(b == 0xED, 0x9F, torch.where(b == 0xF4, 0x8F, 0xBF))
        self.pending = torch.where(lead, need, (self.pending - 1).clamp(min=0))
        self.low = torch.where(lead, first_low, torch.full_like(self.low, 0x80))
        self.high = torch.where(lead, first_high, torch.full_like(self.high, 0xBF))
        self.started = torch.where(lead, torch.full_like(self.started, t), self.started)


@torch.no_grad()
def sample_tokens(
    model: TextLM,
    context: torch.Tensor,
    *,
    length: int,
    n: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    guard: Utf8Guard | None = None,
) -> torch.Tensor:
    """Read context ids [C ≥ 1] once, then draw `length` tokens for n sequences at once → ids [n, length].

    Each token is a true draw from softmax(logits / temperature) over the tokens `guard` allows (all when
    None), restricted to the `top_k` largest logits when given; the recurrent state advances for the
    whole batch each step.
    """
    if temperature <= 0:
        raise SeqgenError(f"--temperature {temperature}: must be positive")
    if top_k is not None and top_k < 1:
        raise SeqgenError(f"--top-k {top_k}: must be at least 1")
    logits, state, _ = model(context.unsqueeze(0))
    logits = logits[:, -1].expand(n, -1)
    state = state.repeat(n)
    out = context.new_empty(n, length)
    if guard is not None:
        guard.start(n, context.device)
    for t in range(length):
        scaled = logits / temperature
        if guard is not None:
            scaled = scaled.masked_fill(~guard.allowed(), -torch.inf)
        if top_k is not None and top_k < scaled.shape[-1]:
            kth = scaled.topk(top_k, dim=-1).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, -torch.inf)
        out[:, t] = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator).squeeze(1)
        if guard is not None:
            guard.advance(out[:, t], t)
        logits, state = model.step(out[:, t], state)
    return out


def check_prompt(prompt: str) -> str:
    """`prompt` if it is Unicode text; a prompt holding bytes that are not UTF-8 (surrogate escapes from
    the command line) is a one-line error naming the first such byte."""
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = os.fsencode(prompt[exc.start : exc.end])
        raise SeqgenError(
            f"holds bytes that are not UTF-8 ({bad!r} at character {exc.start}); give the prompt as UTF-8 text",
            param="prompt",
        ) from None
    return prompt


def continue_text(
    model: TextLM,
    tokenizer: Tokenizer,
    prompt: str,
    *,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    n: int = 1,
    generator: torch.Generator | None = None,
) -> list[str]:
    """n texts, each the prompt followed by `length` sampled tokens (the model reads a newline first).

    The continuation is the decoded text after the decoded prompt, so a word tokenizer's spacing is kept;
    a character cut short by the length limit (sentencepiece bytes) is dropped.
    """
    device = model.output.weight.device
    prompt_ids = tokenizer.encode(check_prompt(prompt)).tolist()
    context = torch.as_tensor([tokenizer.newline, *prompt_ids], device=device)
    guard = Utf8Guard.for_tokenizer(tokenizer)
    ids = sample_tokens(
        model, context, length=length, n=n, temperature=temperature, top_k=top_k, generator=generator, guard=guard
    )
    ends = [length] * n if guard is None else torch.where(guard.pending > 0, guard.started, length).tolist()
    head = tokenizer.decode(prompt_ids)  # decoded with the prompt, so word tokens get their separating space
    rows = ids.cpu().numpy()
    return [prompt + tokenizer.decode(prompt_ids + row[:end].tolist())[len(head) :] for row, end in zip(rows, ends)]
