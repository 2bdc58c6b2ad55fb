"""Time to reach a test log-likelihood: train with `seqgen train-music`'s defaults (or the options given,
through the builder) and score the test split after every epoch; print when it first reaches each target.

Training time excludes the per-epoch scoring; CPU time (this process) is given beside the wall time because
the machine is shared. Writes results/bench_time_to_target.json.

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


class Timed(MusicTask):
    """The music task, also scoring test after each epoch and clocking the training between evaluations."""

    def start(self) -> None:
        self.log: list[dict[str, float]] = []
        self.wall, self.cpu = 0.0, 0.0
        self._marks = (time.perf_counter(), time.process_time())

    def evaluate(self, model, split: str = "valid") -> dict[str, float]:
        self.wall += time.perf_counter() - self._marks[0]
        self.cpu += time.process_time() - self._marks[1]
        metrics = super().evaluate(model, split)
        test = score_rolls(model, self.dataset.splits["test"], batch_size=64, frame_accuracy=False)
        self.log.append({"epoch": len(self.log) + 1, "train_seconds": self.wall, "train_cpu_seconds": self.cpu,
                         "valid": metrics["score"], "test": test["log_likelihood_per_frame"]})  # fmt: skip
        self._marks = (time.perf_counter(), time.process_time())
        return metrics


@command(TRAINING + OWN)
def main(options: dict[str, Any]) -> None:
    """Train with the defaults (or the given options) and time the test log-likelihood targets."""
    setup_logging()
    torch.set_num_threads(options["threads"])
    given = {o.name: options[o.name] for o in TRAINING}
    train = training_options("music", **given)
    dataset = load_dataset(train["data"])
    configs = build_configs(train, n_inputs=dataset.n_pitches)
    task = Timed(dataset, configs.model.kind, configs.train, transpose=train["transpose"])
    torch.manual_seed(train["seed"])
    model = MusicModel(configs.model)
    load = os.getloadavg()[0]
    task.start()
    fit(task, model, configs.optim, configs.train, train["out"])
    targets = [float(t) for t in options["targets"].split(",")]
    reached = {}
    for target in targets:
        hit = next((e for e in task.log if e["test"] >= target), None)
        keys = ("epoch", "train_seconds", "train_cpu_seconds")
        reached[str(target)] = None if hit is None else {k: hit[k] for k in keys}
        when = "not reached" if hit is None else (
            f"epoch {hit['epoch']}, {hit['train_seconds']:.1f} s training ({hit['train_cpu_seconds']:.1f} s CPU)"
        )  # fmt: skip
        print(f"test ≥ {target}: {when}")
    record = {
        "command": shlex.join(["python", *sys.argv]), "options": {k: str(v) for k, v in train.items()},
        "model_config": str(configs.model), "optim_config": str(configs.optim), "train_config": str(configs.train),
        "targets": reached, "epochs": task.log, "threads": options["threads"],
        "load_average_1min_before_after": [load, os.getloadavg()[0]],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    write_text_atomic(options["results"], json.dumps(record, indent=1) + "\n")
    print(f"wrote {options['results']}")


if __name__ == "__main__":
    typer.run(main)
