"""Reproduce a paper row: train a music model on a benchmark, score valid/test, write results/<dataset>-<name>.json.

Test log-likelihood per frame: exact for RNN-NADE / RNN, AIS (--ais-runs 100, --ais-steps sigmoid-spaced β) for
RNN-RBM; valid is scored with --final-valid-ais-runs (10) runs to save time.
Frame accuracy: one sample per frame from the conditional given the true past (seed 0), Bay et al. 2009.

    .venv/bin/python scripts/reproduce_music.py --data jsb --preset gru-nade --epochs 300
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch

from seqgen.checkpoint import load_checkpoint
from seqgen.core.optim import OptimConfig
from seqgen.core.train import TrainConfig
from seqgen.fileio import write_text_atomic
from seqgen.music.datasets import load_dataset
from seqgen.music.model import MusicModelConfig, make_config, model_from_checkpoint
from seqgen.music.score import score_rolls
from seqgen.music.train_music import train_music
from seqgen.runtime import setup_logging

PAPER = {  # ICML 2012 Table 1, best row per model family (test LL per frame)
    "jsb": {"rnn-nade": -5.56, "rnn-rbm": -6.27, "rnn": -8.58},
    "nottingham": {"rnn-nade": -2.31, "rnn-rbm": -2.39, "rnn": -3.89},
    "musedata": {"rnn-nade": -5.60, "rnn-rbm": -6.01, "rnn": -7.19},
    "piano-midi": {"rnn-nade": -7.05, "rnn-rbm": -7.09, "rnn": -7.66},
}


def parse_value(field_type: str, text: str):
    """A --set value typed like the MusicModelConfig field."""
    if field_type == "bool":
        return text.lower() in ("1", "true", "yes")
    return {"int": int, "float": float}.get(field_type, str)(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="jsb")
    ap.add_argument("--preset", default="gru-nade")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="MusicModelConfig overrides")
    ap.add_argument("--name", help="result name (default: the preset)")
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--lr-schedule", default="constant")
    ap.add_argument("--lr-decay", type=float, default=1.0)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--l1", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--chunk-len", type=int, default=200)
    ap.add_argument("--patience", type=int, default=25)
    ap.add_argument("--transpose", type=int, default=0, help="random transposition of training pieces (semitones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ais-runs", type=int, default=100)
    ap.add_argument("--ais-steps", type=int, default=1000)
    ap.add_argument("--final-valid-ais-runs", type=int, default=10, help="AIS runs when scoring valid at the end")
    ap.add_argument("--score-only", action="store_true", help="score OUT/best.pt of an earlier run, no training")
    ap.add_argument("--resume", action="store_true", help="continue an earlier run from OUT/last.pt (e.g. more --epochs)")
    ap.add_argument("--valid-ais-runs", type=int, default=4)
    ap.add_argument("--valid-ais-steps", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("runs"))
    ap.add_argument("--results", type=Path, default=Path("results"))
    args = ap.parse_args()
    setup_logging()
    torch.set_num_threads(args.threads)

    types = {f.name: f.type for f in fields(MusicModelConfig)}
    overrides = {k: parse_value(types[k], v) for k, v in (kv.split("=", 1) for kv in args.set)}
    model_config = make_config(args.preset, **overrides)
    optim_config = OptimConfig(name=args.optimizer, lr=args.lr, momentum=args.momentum,
                               lr_schedule=args.lr_schedule, lr_decay=args.lr_decay)
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, chunk_len=args.chunk_len,
                               patience=args.patience, clip=args.clip, l1=args.l1, seed=args.seed, device="cpu")
    name = args.name or args.preset
    out = args.out / f"{args.data}-{name}"
    dataset = load_dataset(args.data)

    if not args.score_only:
        train_music(dataset, model_config, optim_config, train_config, out, valid_ais_runs=args.valid_ais_runs,
                    valid_ais_steps=args.valid_ais_steps, transpose=args.transpose, resume=args.resume)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    best = max(metrics, key=lambda m: m["valid"]["score"] if m["valid"]["score"] is not None else -math.inf)
    model = model_from_checkpoint(load_checkpoint(out / "best.pt"))
    scores = {}
    for split, runs in (("valid", args.final_valid_ais_runs), ("test", args.ais_runs)):
        t0 = time.time()
        scores[split] = score_rolls(model, dataset.splits[split], ais_runs=runs, ais_steps=args.ais_steps,
                                    generator=torch.Generator().manual_seed(0))
        scores[split]["seconds"] = round(time.time() - t0, 1)
    record = {
        "dataset": args.data,
        "model": model_config.kind,
        "name": name,
        "command": shlex.join(["python", *(a for a in sys.argv if a not in ("--score-only", "--resume"))]),
        "scored_separately": args.score_only,
        "resumed": args.resume,
        "seed": args.seed,
        "transpose": args.transpose,
        "threads": args.threads,
        "train_seconds": round(sum(m["seconds"] for m in metrics), 1),
        "epochs": len(metrics),
        "best_epoch": best["epoch"],
        "best_valid_during_training": best["valid"],
        "valid": scores["valid"],
        "test": scores["test"],
        "paper_best_test": PAPER.get(args.data, {}).get(model_config.kind),
        "model_config": asdict(model_config),
        "optim_config": asdict(optim_config),
        "train_config": asdict(train_config),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    path = args.results / f"{args.data}-{name}.json"
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    print(json.dumps({"result": str(path), "test": scores["test"], "valid": scores["valid"]}, indent=2))


if __name__ == "__main__":
    main()
