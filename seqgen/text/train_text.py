"""Training text language models with the shared loop (seqgen.core.train.fit): the text Task and `train_text`.

The training loss is bits per character: mean −log2 p per token divided by the training text's mean
characters per token (a constant, so the epoch mean is the training bits/char for any tokenizer).
Validation each epoch scores the whole valid text exactly (seqgen.text.score.score_text).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqgen.checkpoint import load_checkpoint
from seqgen.core.run_configs import RunConfigs
from seqgen.core.train import FitResult, StepLoss, TrainConfig, fit
from seqgen.errors import SeqgenError
from seqgen.runtime import log
from seqgen.text.corpus import TextCorpus
from seqgen.text.model import LN2, TextLM
from seqgen.text.score import score_text
from seqgen.text.tokenizer import Tokenizer, tokenizer_from_dict, train_tokenizer


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Lay a token stream [N] out as B contiguous rows [B, N // B] (the tail is dropped).

    stream  a b c d e f g h i j k l m n o p q r s t u v w x
    B = 4   ┌ a b c d e f ┐   chunk k reads columns [kT, kT+T) and predicts [kT+1, kT+T+1);
            │ g h i j k l │   row r's state after chunk k is its state before chunk k+1,
            │ m n o p q r │   so each row is one long sequence cut by truncated BPTT.
            └ s t u v w x ┘
    """
    rows = len(stream) // batch_size
    if rows < 2:
        raise SeqgenError(
            f"{batch_size}: the training text ({len(stream)} tokens) is too short for it", param="batch_size"
        )
    return stream[: rows * batch_size].view(batch_size, rows)


class TextTask:
    """The Task protocol for a token stream: TBPTT chunks (inputs [B, T], targets [B, T]) with carried state."""

    unit = "tokens"
    labels = ("train bits/char", "valid bits/char", "bits_per_char")

    def __init__(self, corpus: TextCorpus, tokenizer: Tokenizer, train_config: TrainConfig):
        for split in ("train", "valid"):
            if not corpus.splits.get(split):
                raise SeqgenError(f"corpus {corpus.name}: the {split} split is empty")
        self.corpus, self.tokenizer, self.config = corpus, tokenizer, train_config
        ids = torch.as_tensor(tokenizer.encode(corpus.splits["train"]))
        self.stream = torch.cat([ids.new_tensor([tokenizer.newline]), ids])
        self.chars_per_token = len(corpus.splits["train"]) / len(ids)
        batchify(self.stream, train_config.batch_size)

    def batches(self, epoch: int, generator: torch.Generator) -> list[tuple[tuple[torch.Tensor, ...], bool]]:
        """One epoch of chunks from a random start offset in [0, T); the first chunk starts from zero state."""
        T = self.config.chunk_len
        offset = int(torch.randint(T, (1,), generator=generator))
        rows = batchify(self.stream[offset:], self.config.batch_size)
        starts = range(0, rows.shape[1] - 1, T)
        return [((rows[:, i : i + T], rows[:, i + 1 : i + T + 1]), i > 0) for i in starts]

    def step_loss(self, model: TextLM, batch: tuple[torch.Tensor, ...], state: Any) -> StepLoss:
        """Bits per character of the chunk's targets given its inputs, from `state`."""
        inputs, targets = batch
        inputs = inputs[:, : targets.shape[1]]
        logits, state, h = model(inputs, state)
        lead = logits.shape[:-3]  # (N,) for a population: one loss per member
        flat = logits.reshape(-1, logits.shape[-1])
        nats = nn.functional.cross_entropy(flat, targets.expand(*lead, *targets.shape).reshape(-1), reduction="none")
        nats = nats.view(*lead, -1).mean(-1)
        activations = h if model.config.recurrent.cell == "relu" else None
        return StepLoss(nats / (LN2 * self.chars_per_token), targets.numel(), state, activations)

    def evaluate(self, model: TextLM, split: str = "valid") -> dict[str, float]:
        """Exact scores of the whole split; "score" is −bits per character."""
        scores = score_text(model, self.tokenizer, self.corpus.splits[split])
        log.info(
            "%s: %.4f bits/char, perplexity %.2f per token, %.1f per word",
            split, scores["bits_per_char"], scores["perplexity"], scores["word_perplexity"],
        )  # fmt: skip
        return {"score": -scores["bits_per_char"], **{k: float(v) for k, v in scores.items()}}

    def checkpoint_info(self) -> dict[str, Any]:
        """task, kind, data description and the tokenizer entry that sampling and scoring need."""
        return {
            "task": "text",
            "kind": "text-lm",
            "data": {
                "corpus": self.corpus.name,
                "source": self.corpus.source,
                "train_chars": len(self.corpus.splits["train"]),
                "train_tokens": len(self.stream) - 1,
                "chars_per_token": self.chars_per_token,
            },
            "tokenizer": self.tokenizer.to_dict(),
        }


def train_text(
    corpus: TextCorpus,
    configs: RunConfigs,
    out_dir: str | Path,
    *,
    tokenizer: str | None = None,
    vocab_size: int | None = None,
    sp_model: str = "unigram",
    resume: bool = False,
    override: bool = False,
) -> FitResult:
    """Fit a tokenizer (or reuse the resumed run's) and train a TextLM (`configs` from seqgen.text.configs); writes
    best.pt, last.pt and metrics.jsonl. The model's `vocab_size` is replaced by the tokenizer's."""
    train_config = configs.train
    last = Path(out_dir) / "last.pt"
    if resume and last.is_file():
        ckpt = load_checkpoint(last)
        if ckpt["task"] != "text":
            raise SeqgenError(f"{out_dir}: this folder holds a {ckpt['task']} run, not a text run")
        tok = tokenizer_from_dict(ckpt["tokenizer"])
    else:
        kind = tokenizer or corpus.default_tokenizer
        log.info("training a %s tokenizer on %s characters", kind, f"{len(corpus.splits['train']):,}")
        tok = train_tokenizer(kind, corpus.splits["train"], vocab_size=vocab_size, model_type=sp_model)
    task = TextTask(corpus, tok, train_config)
    log.info(
        "%s: %s train tokens, vocabulary %d, %.2f characters per token",
        corpus.name, f"{len(task.stream) - 1:,}", tok.vocab_size, task.chars_per_token,
    )  # fmt: skip
    torch.manual_seed(train_config.seed)
    model = TextLM(replace(configs.model, vocab_size=tok.vocab_size))
    result = fit(task, model, configs.optim, train_config, out_dir, resume=resume, override=override)
    if not math.isfinite(result.best_valid):
        log.warning("no epoch completed with a finite validation score")
    return result
