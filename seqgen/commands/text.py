"""`seqgen train-text`: train a recurrent language model on a text file or Penn Treebank."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqgen.core.optim import OptimConfig
from seqgen.core.recurrent import RecurrentConfig
from seqgen.core.train import TrainConfig
from seqgen.errors import SeqgenError


def register(app: typer.Typer) -> None:
    """Attach the `train-text` command."""

    @app.command("train-text")
    def train_text_command(
        text: Annotated[Path | None, typer.Option(help="UTF-8 text file to train on.")] = None,
        data: Annotated[str | None, typer.Option(help="Named corpus: ptb (word level) or ptb-char.")] = None,
        valid: Annotated[Path | None, typer.Option(help="Validation text file (default: split --text).")] = None,
        valid_fraction: Annotated[float, typer.Option(help="Tail fraction of --text held out.")] = 0.1,
        data_dir: Annotated[Path | None, typer.Option(help="Folder holding the PTB files.")] = None,
        tokenizer: Annotated[
            str | None, typer.Option(help="char | word | sentencepiece (default: char; word for ptb).")
        ] = None,
        vocab_size: Annotated[int | None, typer.Option(help="Sentencepiece pieces (default 1000) or words.")] = None,
        sp_model: Annotated[str, typer.Option(help="Sentencepiece model type: unigram | bpe.")] = "unigram",
        embedding: Annotated[int, typer.Option(help="Embedding size E.")] = 64,
        hidden: Annotated[int, typer.Option(help="Recurrent units H.")] = 512,
        cell: Annotated[str, typer.Option(help="tanh | relu | sigmoid | lstm | gru.")] = "tanh",
        leaky: Annotated[bool, typer.Option(help="Leaky integration with per-unit α (tanh/relu/sigmoid).")] = True,
        learn_alpha: Annotated[bool, typer.Option(help="Learn α (else fixed at its initialisation).")] = True,
        tau_max: Annotated[float, typer.Option(help="Largest initial leaky time constant (steps).")] = 100.0,
        init: Annotated[str, typer.Option(help="W_uu init: auto | identity (IRNN) | orthogonal | gaussian.")] = "auto",
        init_scale: Annotated[float, typer.Option(help="Scale of the W_uu init (0.01: scaled identity).")] = 1.0,
        dropout: Annotated[float, typer.Option(help="Dropout on the recurrent outputs.")] = 0.0,
        optimizer: Annotated[str, typer.Option(help="nesterov (simplified, 2013) | sgd | adam.")] = "nesterov",
        lr: Annotated[float, typer.Option(help="Learning rate ε.")] = 1.0,
        momentum: Annotated[float, typer.Option(help="Momentum μ (μ_max under a schedule).")] = 0.9,
        momentum_schedule: Annotated[str, typer.Option(help="constant | sutskever.")] = "constant",
        lr_schedule: Annotated[str, typer.Option(help="constant | exponential | step (per epoch).")] = "constant",
        lr_decay: Annotated[float, typer.Option(help="Decay factor γ of the lr schedule.")] = 1.0,
        lr_step: Annotated[int, typer.Option(help="Epochs per step of the step schedule.")] = 10,
        clip: Annotated[float, typer.Option(help="Gradient-norm clipping threshold (0: off).")] = 1.0,
        l1: Annotated[float, typer.Option(help="L1 penalty on ReLU activations (0: off).")] = 0.0,
        epochs: Annotated[int, typer.Option(help="Training epochs.")] = 20,
        batch_size: Annotated[int, typer.Option(help="Parallel text rows B.")] = 32,
        chunk_len: Annotated[int, typer.Option(help="Tokens per truncated-BPTT chunk T.")] = 100,
        patience: Annotated[int, typer.Option(help="Stop after this many epochs without improvement (0: never).")] = 5,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
        out: Annotated[Path, typer.Option(help="Folder for best.pt, last.pt and metrics.jsonl.")] = Path("runs/text"),
        resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    ) -> None:
        """Train a language model (embedding → recurrent core → softmax); progress shows bits per character."""
        from seqgen.text.corpus import load_corpus
        from seqgen.text.train_text import train_text

        try:
            recurrent = RecurrentConfig(
                embedding, hidden, cell=cell, leaky=leaky, learn_alpha=learn_alpha, tau_max=tau_max,
                dropout=dropout, init=init, init_scale=init_scale,
            )  # fmt: skip
            optim = OptimConfig(
                optimizer, lr=lr, momentum=momentum, momentum_schedule=momentum_schedule,
                lr_schedule=lr_schedule, lr_decay=lr_decay, lr_step=lr_step,
            )  # fmt: skip
        except ValueError as exc:
            raise SeqgenError(str(exc)) from None
        corpus = load_corpus(data, text=text, valid=valid, valid_fraction=valid_fraction, data_dir=data_dir)
        config = TrainConfig(epochs, batch_size, chunk_len, patience, clip, l1, seed, device)
        result = train_text(
            corpus, tokenizer=tokenizer, vocab_size=vocab_size, sp_model=sp_model, embedding_size=embedding,
            recurrent=recurrent, optim_config=optim, train_config=config, out_dir=out, resume=resume,
        )  # fmt: skip
        if result.metrics:
            best = result.metrics[result.best_epoch - 1]["valid"] if result.best_epoch else {}
            typer.echo(
                f"best valid bits/char {best.get('bits_per_char', float('nan')):.4f} (epoch {result.best_epoch}), "
                f"per-token perplexity {best.get('perplexity', float('nan')):.2f}; checkpoints in {out}"
            )
