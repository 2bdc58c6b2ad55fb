"""The adding problem of Le, Jaitly & Hinton (2015) on a short length: IRNN against tanh RNNs.

Each input step is (x_t ~ U(0, 1), m_t) with m marking two steps, one in each half; the target is the
sum of the two marked x. Always predicting 1 gives MSE ≈ 0.167, so a model that learns the task goes
well below that. Runs every model through seqgen.core.train.fit with plain SGD and norm clipping.

    python scripts/bench_irnn_adding.py --length 50 --epochs 20 --json adding.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass

import torch
from torch import nn

from seqgen.core.optim import OptimConfig
from seqgen.core.recurrent import Recurrent, RecurrentConfig
from seqgen.core.train import StepLoss, TrainConfig, fit
from seqgen.fileio import write_text_atomic
from seqgen.runtime import setup_logging

MODELS = {
    "irnn": {"cell": "relu", "init": "identity", "init_scale": 1.0},
    "tanh-orthogonal": {"cell": "tanh", "init": "orthogonal", "init_scale": 1.0},
    "tanh-gaussian": {"cell": "tanh", "init": "gaussian", "init_scale": 0.01},
}


def adding_batch(n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n problems: inputs [n, T, 2] (value, marker) and targets [n]."""
    values = torch.rand(n, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    marks = torch.zeros(n, length)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    return torch.stack([values, marks], -1), (values * marks).sum(1)


class AddingModel(nn.Module):
    """A recurrent layer and a linear read-out of its last state."""

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        self.rnn = Recurrent(config)
        self.readout = nn.Linear(config.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, last = self.rnn(x)
        return self.readout(last).squeeze(-1)


@dataclass
class AddingTask:
    """Fresh problems every batch; a fixed validation set of 1000 problems; score = −MSE."""

    length: int
    batch_size: int
    batches_per_epoch: int
    unit = "sequences"

    def __post_init__(self):
        self.valid = adding_batch(1000, self.length, torch.Generator().manual_seed(12345))

    def batches(self, epoch, generator):
        for _ in range(self.batches_per_epoch):
            yield adding_batch(self.batch_size, self.length, generator), False

    def step_loss(self, model, batch, state):
        x, y = batch
        return StepLoss(((model(x) - y) ** 2).mean(), x.shape[0])

    def evaluate(self, model, split="valid"):
        x, y = self.valid
        mse = float(((model(x) - y) ** 2).mean())
        return {"score": -mse, "mse": mse}

    def checkpoint_info(self):
        return {"task": "music", "kind": "rnn", "data": {"dataset": f"adding-{self.length}"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batches-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    setup_logging()
    torch.set_num_threads(1)
    task = AddingTask(args.length, args.batch_size, args.batches_per_epoch)
    optim = OptimConfig(name="sgd", lr=args.lr, momentum=0.0)
    train = TrainConfig(epochs=args.epochs, patience=0, clip=args.clip, seed=args.seed, device="cpu")
    results = {"settings": vars(args), "baseline_mse": 2 / 12, "models": {}}
    for name in args.models.split(","):
        torch.manual_seed(args.seed)
        model = AddingModel(RecurrentConfig(2, args.hidden, **MODELS[name]))
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            fit_result = fit(task, model, optim, train, out)
        curve = [m["valid"]["mse"] for m in fit_result.metrics]
        results["models"][name] = {
            "valid_mse_per_epoch": curve,
            "best_valid_mse": min(curve),
            "final_valid_mse": curve[-1],
            "seconds": time.perf_counter() - started,
        }
    print(
        f"adding problem, T = {args.length}, {args.epochs * args.batches_per_epoch} SGD steps (baseline 0.167)"
    )
    for name, r in results["models"].items():
        print(f"  {name:16s} best valid MSE {r['best_valid_mse']:.4f}  final {r['final_valid_mse']:.4f}  "
              f"{r['seconds']:.0f} s")  # fmt: skip
    if args.json:
        write_text_atomic(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
