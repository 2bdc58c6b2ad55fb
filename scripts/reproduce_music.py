"""Reproduce a paper row: train a music model on a benchmark, score valid/test, write results/<data>-<name>.json.

Training options are `seqgen train-music`'s (the one option surface, seqgen.options; defaults from the
builder). Test log-likelihood per frame: exact for RNN-NADE / RNN, AIS (--ais-runs × --ais-steps) for RNN-RBM;
valid uses --final-valid-ais-runs runs. Frame accuracy: one sample per frame given the true past (seed 0).

    .venv/bin/python scripts/reproduce_music.py --data jsb --preset gru-nade --epochs 300 --out runs/jsb-gru-nade
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
import typer

from seqgen.checkpoint import load_checkpoint
from seqgen.fileio import write_text_atomic
from seqgen.music.datasets import load_dataset
from seqgen.music.score import score_rolls
from seqgen.options import TRAIN, Opt, command, only, training_options
from seqgen.runtime import setup_logging
from seqgen.tasks import get_task

PAPER = {  # ICML 2012 Table 1, best row per model family (test LL per frame)
    "jsb": {"rnn-nade": -5.56, "rnn-rbm": -6.27, "rnn": -8.58},
    "nottingham": {"rnn-nade": -2.31, "rnn-rbm": -2.39, "rnn": -3.89},
    "musedata": {"rnn-nade": -5.60, "rnn-rbm": -6.01, "rnn": -7.19},
    "piano-midi": {"rnn-nade": -7.05, "rnn-rbm": -7.09, "rnn": -7.66},
}
TRAINING = only(TRAIN, "music")
OWN = [
    Opt("name", str | None, None, "Result name: results/<data>-<name>.json. Default: the preset, else the model."),
    Opt("results", Path, Path("results"), "Folder of the result JSON."),
    Opt("ais_runs", int, 100, "RNN-RBM test scoring: AIS runs per frame."),
    Opt("ais_steps", int, 1000, "RNN-RBM test scoring: AIS steps per run."),
    Opt("final_valid_ais_runs", int, 10, "RNN-RBM valid scoring at the end: AIS runs per frame."),
    Opt("score_only", bool, False, "Score OUT/best.pt of an earlier run, no training.", ("--score-only",)),
]


@command(TRAINING + OWN)
def main(options: dict[str, Any]) -> None:
    """Train (through the builder and the music task) and score one benchmark model."""
    setup_logging()
    torch.set_num_threads(options["threads"])
    train = training_options("music", **{o.name: options[o.name] for o in TRAINING})
    out = Path(train["out"])
    if not options["score_only"]:
        get_task("music").train(train)
    dataset = load_dataset(train["data"])
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    best = max(metrics, key=lambda m: m["valid"]["score"] if m["valid"]["score"] is not None else -math.inf)
    ckpt = load_checkpoint(out / "best.pt")
    model = get_task("music").load(ckpt, out / "best.pt", torch.device("cpu"))
    scores, cond = {}, model.conditional
    for split, runs in (("valid", options["final_valid_ais_runs"]), ("test", options["ais_runs"])):
        ais = {"ais_runs": runs, "ais_steps": options["ais_steps"]}
        cond.configure(**{k: v for k, v in ais.items() if k in cond.settings})
        scores[split] = score_rolls(model, dataset.splits[split], generator=torch.Generator().manual_seed(0))
    name = options["name"] or train["preset"] or model.config.kind
    argv = [a for a in sys.argv if a not in ("--score-only", "--resume")]
    record = {
        "dataset": train["data"], "model": model.config.kind, "name": name,
        "command": shlex.join(["python", *argv]), "scored_separately": options["score_only"],
        "resumed": train["resume"], "seed": train["seed"], "transpose": train["transpose"],
        "threads": options["threads"], "train_seconds": round(sum(m["seconds"] for m in metrics), 1),
        "epochs": len(metrics), "best_epoch": best["epoch"], "best_valid_during_training": best["valid"],
        "valid": scores["valid"], "test": scores["test"],
        "paper_best_test": PAPER.get(train["data"], {}).get(model.config.kind),
        "model_config": ckpt["model_config"], "optim_config": ckpt["optim_config"],
        "train_config": ckpt["train_config"], "valid_curve": [m["valid"]["score"] for m in metrics],
        "parameters": sum(p.numel() for p in model.parameters()),
    }  # fmt: skip
    path = options["results"] / f"{train['data']}-{name}.json"
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    print(json.dumps({"result": str(path), "test": scores["test"], "valid": scores["valid"]}, indent=2))


if __name__ == "__main__":
    typer.run(main)
