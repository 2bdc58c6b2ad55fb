"""Continue a prompt with a text language model: n continuations sampled together in one batch."""

from __future__ import annotations

import torch

from seqgen.errors import SeqgenError
from seqgen.text.model import TextLM
from seqgen.text.tokenizer import Tokenizer


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
) -> torch.Tensor:
    """Read context ids [C ≥ 1] once, then draw `length` tokens for n sequences at once → ids [n, length].

    Each token is a true draw from softmax(logits / temperature), restricted to the `top_k` largest
    logits when given; the recurrent state advances for the whole batch each step.
    """
    if temperature <= 0:
        raise SeqgenError(f"{temperature}: must be positive", param="temperature")
    if top_k is not None and top_k < 1:
        raise SeqgenError(f"{top_k}: must be at least 1", param="top_k")
    logits, state, _ = model(context.unsqueeze(0))
    logits = logits[:, -1].expand(n, -1)
    state = state.repeat(n)
    out = context.new_empty(n, length)
    for t in range(length):
        scaled = logits / temperature
        if top_k is not None and top_k < scaled.shape[-1]:
            kth = scaled.topk(top_k, dim=-1).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, -torch.inf)
        out[:, t] = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator).squeeze(1)
        logits, state = model.step(out[:, t], state)
    return out


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

    The continuation is the decoded text after the decoded prompt, so a word tokenizer's spacing is kept.
    """
    device = model.output.weight.device
    prompt_ids = tokenizer.encode(prompt).tolist()
    context = torch.as_tensor([tokenizer.newline, *prompt_ids], device=device)
    ids = sample_tokens(
        model, context, length=length, n=n, temperature=temperature, top_k=top_k, generator=generator
    )
    head = tokenizer.decode(prompt_ids)  # decoded with the prompt, so word tokens get their separating space
    return [prompt + tokenizer.decode(prompt_ids + row.tolist())[len(head) :] for row in ids.cpu().numpy()]
