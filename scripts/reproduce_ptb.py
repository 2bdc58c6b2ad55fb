"""Penn Treebank language modelling (Bengio, Boulanger-Lewandowski & Pascanu 2013): train, then score test.

Character level: a leaky tanh RNN with simplified Nesterov momentum and norm clipping, reported in bits
per character of the raw text (one character per published char token incl. `_`, plus end-of-line);
word level: per-word test perplexity (`<eos>` counted as a word). Writes results/ptb-<level>.json with the
command (every invocation of a resumed run, from OUT/commands.txt), seed, threads, sizes, time and the
paper figures. Training resumes from OUT/last.pt with --resume (a new lr schedule may be given then);
--score-only re-scores OUT/best.pt (e.g. of a run still in progress).

    python scripts/reproduce_ptb.py --level char --out runs/ptb-char --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from seqgen.checkpoint import load_checkpoint
from seqgen.core.optim import OptimConfig
from seqgen.core.recurrent import RecurrentConfig
from seqgen.core.train import TrainConfig
from seqgen.fileio import write_text_atomic
from seqgen.runtime import setup_logging
from seqgen.text.corpus import load_corpus
from seqgen.text.model import model_from_checkpoint
from seqgen.text.score import score_text
from seqgen.text.tokenizer import tokenizer_from_dict
from seqgen.text.train_text import train_text

PAPERS = {
    "char": {"bits_per_char": {"Mikolov et al. 2012 RNN": 1.41, "Graves 2013 LSTM": 1.32}},
    "word": {"word_perplexity": {"Mikolov 2012 RNN": 124.7, "Zaremba et al. 2014 medium LSTM": 82.7}},
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--level", choices=("char", "word"), default="char")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/ptb-<level>)")
    p.add_argument("--results", type=Path, default=None, help="JSON file (default results/ptb-<level>.json)")
    p.add_argument("--tokenizer", default=None, help="char | word | sentencepiece (default by level)")
    p.add_argument("--vocab-size", type=int, default=None)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--cell", default="tanh")
    p.add_argument("--no-leaky", action="store_true")
    p.add_argument("--tau-max", type=float, default=100.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--optimizer", default="nesterov")
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--lr-schedule", default="constant")
    p.add_argument("--lr-decay", type=float, default=1.0)
    p.add_argument("--lr-step", type=int, default=10)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk-len", type=int, default=100)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the CPU is shared)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--score-only", action="store_true", help="score OUT/best.pt without training")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    setup_logging()
    torch.set_num_threads(args.threads)
    out = args.out or Path(f"runs/ptb-{args.level}")
    results = args.results or Path(f"results/ptb-{args.level}.json")
    corpus = load_corpus("ptb-char" if args.level == "char" else "ptb")
    command = " ".join([Path(sys.executable).name, *sys.argv])
    if not args.score_only:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "commands.txt", "a", encoding="utf-8") as log_file:
            log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {command}\n")
        train_text(
            corpus,
            tokenizer=args.tokenizer,
            vocab_size=args.vocab_size,
            embedding_size=args.embedding,
            recurrent=RecurrentConfig(
                args.embedding, args.hidden, cell=args.cell, leaky=not args.no_leaky,
                tau_max=args.tau_max, dropout=args.dropout,
            ),
            optim_config=OptimConfig(
                args.optimizer, lr=args.lr, momentum=args.momentum, lr_schedule=args.lr_schedule,
                lr_decay=args.lr_decay, lr_step=args.lr_step,
            ),
            train_config=TrainConfig(
                args.epochs, args.batch_size, args.chunk_len, args.patience, args.clip, 0.0, args.seed, "cpu"
            ),
            out_dir=out,
            resume=args.resume,
        )  # fmt: skip
    ckpt = load_checkpoint(out / "best.pt")
    model = model_from_checkpoint(ckpt)
    tokenizer = tokenizer_from_dict(ckpt["tokenizer"])
    started = time.perf_counter()
    scores = {split: score_text(model, tokenizer, corpus.splits[split]) for split in ("valid", "test")}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    report = {
        "corpus": corpus.name,
        "command": command,
        "commands": (out / "commands.txt").read_text(encoding="utf-8").splitlines(),
        "seed": ckpt["seed"],
        "threads": args.threads,
        "checkpoint": str(out / "best.pt"),
        "best_epoch": ckpt["epoch"],
        "epochs_run": len(metrics),
        "train_seconds": sum(m["seconds"] for m in metrics),
        "score_seconds": time.perf_counter() - started,
        "tokens_per_second_mean": sum(m["tokens_per_second"] for m in metrics) / len(metrics),
        "parameters": sum(v.numel() for v in ckpt["state_dict"].values()),
        "model_config": ckpt["model_config"],
        "optim_config": ckpt["optim_config"],
        "train_config": ckpt["train_config"],
        "tokenizer": ckpt["tokenizer"]["kind"],
        "vocab_size": tokenizer.vocab_size,
        "valid": scores["valid"],
        "test": scores["test"],
        "valid_bits_per_char_curve": [m["valid"]["bits_per_char"] for m in metrics],
        "valid_word_perplexity_curve": [m["valid"]["word_perplexity"] for m in metrics],
        "papers": PAPERS[args.level],
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, CPU",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_text_atomic(results, json.dumps(report, indent=2) + "\n")
    test = scores["test"]
    print(
        f"PTB {args.level} test: {test['bits_per_char']:.4f} bits/char, word perplexity "
        f"{test['word_perplexity']:.1f}, per-token perplexity {test['perplexity']:.2f} "
        f"({test['chars']:,} chars, {test['tokens']:,} tokens); best epoch {ckpt['epoch']}, "
        f"{report['train_seconds'] / 3600:.2f} h training; wrote {results}"
    )


if __name__ == "__main__":
    main()
