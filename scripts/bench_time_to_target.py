"""Time to reach a test log-likelihood: train with `seqgen train-music`'s defaults (or the options given,
through the builder) and score the test split after every epoch; print when it first reaches each target.

Training time excludes the per-epoch test scoring (the training loop's own train_seconds); CPU time (this
process: training and validation, the test scoring left out) is given beside the wall time because the machine
is shared. Writes results/bench_time_to_target.json.

    .venv/bin/python scripts/bench_time_to_target.py --data jsb --model rnn-nade --epochs 40
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
import typer

from seqgen.core.train import fit
from seqgen.fileio import write_text_atomic
from seqgen.music.configs import build_configs
from seqgen.music.datasets import load_dataset
from seqgen.music.model import MusicModel
from seqgen.music.score import score_rolls
from seqgen.music.train_music import MusicTask
from seqgen.options import TRAIN, Opt, command, only, training_options
from seqgen.runtime import setup_logging

TRAINING = [o for o in only(TRAIN, "music") if o.name not in ("resume", "override")]
OWN = [
    Opt("targets", str, "-6.0,-5.9", "Comma-separated test log-likelihoods (nats/frame) to time."),
    Opt("results", Path, Path("results/bench_time_to_target.json"), "JSON file of the measurements."),
]


class TestClock:
    """A fit callback: after each epoch, the test score and the training time so far (wall: the loop's
    train_seconds; CPU: this process's, its own test scoring left out)."""

    def __init__(self, dataset) -> None:
        self.dataset, self.log, self.wall, self.scoring = dataset, [], 0.0, 0.0
        self.cpu_start = time.process_time()

    def __call__(self, record: dict, model) -> None:
        self.wall += record["train_seconds"]
        cpu, started = time.process_time() - self.cpu_start - self.scoring, time.process_time()
        model.eval()
        with torch.no_grad():
            test = score_rolls(model, self.dataset.splits["test"], batch_size=64, frame_accuracy=False)
        model.train()
        self.scoring += time.process_time() - started
        self.log.append({"epoch": record["epoch"], "train_seconds": self.wall, "train_cpu_seconds": cpu,
                         "valid": record["valid"]["score"], "test": test["log_likelihood_per_frame"]})  # fmt: skip


@command(TRAINING + OWN)
def main(options: dict[str, Any]) -> None:
    """Train with the defaults (or the given options) and time the test log-likelihood targets."""
    setup_logging()
    torch.set_num_threads(options["threads"])
    given = {o.name: options[o.name] for o in TRAINING}
    train = training_options("music", **given)
    dataset = load_dataset(train["data"])
    configs = build_configs(train, n_inputs=dataset.n_pitches)
    task = MusicTask(dataset, configs.model.kind, configs.train, transpose=train["transpose"])
    clock = TestClock(dataset)
    torch.manual_seed(train["seed"])
    model = MusicModel(configs.model)
    load = os.getloadavg()[0]
    fit(task, model, configs.optim, configs.train, train["out"], on_epoch=clock)
    targets = [float(t) for t in options["targets"].split(",")]
    reached = {}
    for target in targets:
        hit = next((e for e in clock.log if e["test"] >= target), None)
        keys = ("epoch", "train_seconds", "train_cpu_seconds")
        reached[str(target)] = None if hit is None else {k: hit[k] for k in keys}
        when = "not reached" if hit is None else (
            f"epoch {hit['epoch']}, {hit['train_seconds']:.1f} s training ({hit['train_cpu_seconds']:.1f} s CPU)"
        )  # fmt: skip
        print(f"test ≥ {target}: {when}")
    record = {
        "command": shlex.join(["python", *sys.argv]), "options": {k: str(v) for k, v in train.items()},
        "model_config": str(configs.model), "optim_config": str(configs.optim), "train_config": str(configs.train),
        "targets": reached, "epochs": clock.log, "threads": options["threads"],
        "load_average_1min_before_after": [load, os.getloadavg()[0]],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    write_text_atomic(options["results"], json.dumps(record, indent=1) + "\n")
    print(f"wrote {options['results']}")


if __name__ == "__main__":
    typer.run(main)
