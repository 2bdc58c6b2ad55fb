"""Penn Treebank language modelling (Bengio, Boulanger-Lewandowski & Pascanu 2013): train, then score test.

Training options are `seqgen train-text`'s (the one option surface, seqgen.options; defaults from the
builder: a leaky tanh RNN, simplified Nesterov momentum, norm clipping). Character level (--data ptb-char):
bits per character of the raw text (comparable with Mikolov's 1.41); word level (--data ptb): per-word test
perplexity (`<eos>` counted as a word). Writes results/<data>.json with every command of a resumed run
(from OUT/commands.txt), seed, threads, sizes, time and the paper figures; --score-only re-scores OUT/best.pt.

    python scripts/reproduce_ptb.py --data ptb-char --out runs/ptb-char --threads 1
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
import typer

from seqgen.checkpoint import load_checkpoint
from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.options import TRAIN, Opt, command, only, training_options
from seqgen.runtime import setup_logging
from seqgen.tasks import get_task
from seqgen.text.corpus import load_corpus
from seqgen.text.score import score_text

PAPERS = {
    "ptb-char": {"bits_per_char": {"Mikolov et al. 2012 RNN": 1.41, "Graves 2013 LSTM": 1.32}},
    "ptb": {"word_perplexity": {"Mikolov 2012 RNN": 124.7, "Zaremba et al. 2014 medium LSTM": 82.7}},
}
RESULT_NAMES = {"ptb-char": "ptb-char", "ptb": "ptb-word"}
TRAINING = only(TRAIN, "text")
OWN = [
    Opt("results", Path | None, None, "JSON file. Default: results/ptb-char.json or results/ptb-word.json."),
    Opt("score_only", bool, False, "Score OUT/best.pt without training.", ("--score-only",)),
]


@command(TRAINING + OWN)
def main(options: dict[str, Any]) -> None:
    """Train a PTB language model through the builder and the text task, then score valid and test."""
    setup_logging()
    torch.set_num_threads(options["threads"])
    train = training_options("text", **{o.name: options[o.name] for o in TRAINING})
    if train["data"] not in PAPERS:
        raise SeqgenError(f"--data {train['data']}: expected ptb-char or ptb")
    out = Path(train["out"])
    results = options["results"] or Path(f"results/{RESULT_NAMES[train['data']]}.json")
    command_line = shlex.join([Path(sys.executable).name, *sys.argv])
    if not options["score_only"]:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "commands.txt", "a", encoding="utf-8") as log_file:
            log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {command_line}\n")
        get_task("text").train(train)
    ckpt = load_checkpoint(out / "best.pt")
    model = get_task("text").load(ckpt, out / "best.pt", torch.device("cpu"))
    corpus = load_corpus(train["data"], data_dir=train["data_dir"])
    started = time.perf_counter()
    scores = {split: score_text(model, model.tokenizer, corpus.splits[split]) for split in ("valid", "test")}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    commands = out / "commands.txt"
    report = {
        "corpus": corpus.name, "command": command_line,
        "commands": commands.read_text(encoding="utf-8").splitlines() if commands.is_file() else [command_line],
        "seed": ckpt["seed"], "threads": options["threads"], "checkpoint": str(out / "best.pt"),
        "best_epoch": ckpt["epoch"], "epochs_run": len(metrics),
        "train_seconds": sum(m["seconds"] for m in metrics), "score_seconds": time.perf_counter() - started,
        "tokens_per_second_mean": sum(m["tokens_per_second"] for m in metrics) / len(metrics),
        "parameters": sum(v.numel() for v in ckpt["state_dict"].values()),
        "model_config": ckpt["model_config"], "optim_config": ckpt["optim_config"],
        "train_config": ckpt["train_config"], "tokenizer": ckpt["tokenizer"]["kind"],
        "vocab_size": model.tokenizer.vocab_size, "valid": scores["valid"], "test": scores["test"],
        "valid_bits_per_char_curve": [m["valid"]["bits_per_char"] for m in metrics],
        "valid_word_perplexity_curve": [m["valid"]["word_perplexity"] for m in metrics],
        "papers": PAPERS[train["data"]],
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, CPU",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    write_text_atomic(results, json.dumps(report, indent=2) + "\n")
    test = scores["test"]
    print(
        f"{train['data']} test: {test['bits_per_char']:.4f} bits/char, word perplexity "
        f"{test['word_perplexity']:.1f}, per-token perplexity {test['perplexity']:.2f} "
        f"({test['chars']:,} chars, {test['tokens']:,} tokens); best epoch {ckpt['epoch']}, "
        f"{report['train_seconds'] / 3600:.2f} h training; wrote {results}"
    )


if __name__ == "__main__":
    typer.run(main)
