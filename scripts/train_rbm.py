"""Train an RNN-RBM with the 2012 tutorial's recipe: small init, RBM pretraining on single frames, SGD-family optimiser.

Saves OUT/epoch-NNN.pt every --snapshot epochs (plus best.pt / last.pt / metrics.jsonl from the shared loop),
so that checkpoints can be re-scored afterwards with a long AIS (scripts/bench_ais.py, seqgen score).

    .venv/bin/python scripts/train_rbm.py --data jsb --out runs/jsb-rbm --epochs 150
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from seqgen.checkpoint import FORMAT_VERSION, save_checkpoint
from seqgen.core.optim import OptimConfig
from seqgen.core.train import TrainConfig, fit
from seqgen.music.datasets import load_dataset
from seqgen.music.model import MusicModel, make_config
from seqgen.music.train_music import MusicTask
from seqgen.runtime import log, setup_logging

try:  # the library versions (seqgen.music.model / train_music) once they exist
    from seqgen.music.model import apply_weight_init
    from seqgen.music.train_music import pretrain_rbm
except ImportError:
    from _rbm_recipe import apply_weight_init, pretrain_rbm


class SnapshotTask(MusicTask):
    """MusicTask that also writes the weights every `every` epochs, for re-scoring afterwards."""

    def __init__(self, *args, out_dir: Path, every: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.out_dir, self.every, self.calls = out_dir, every, 0

    def evaluate(self, model, split="valid"):
        self.calls += 1
        if self.calls % self.every:
            return {"score": float("nan")}
        if True:
            save_checkpoint(
                self.out_dir / f"epoch-{self.calls:03d}.pt",
                {**self.checkpoint_info(), "format_version": FORMAT_VERSION, "model_config": asdict(model.config), "state_dict": model.state_dict(),
                 "epoch": self.calls},
            )
        return rbm_validation(model, self.dataset.splits[split], self.valid_ais_runs, self.valid_ais_steps)


@torch.no_grad()
def rbm_validation(model, rolls, runs: int, steps: int) -> dict:
    """Forward + reverse AIS (mean-field base) log-likelihood per frame of `rolls`, teacher forced."""
    from seqgen.music.ais import AISSettings, log_partition
    from seqgen.music.batching import group_sequences, pad_group

    settings = AISSettings(runs=runs, steps=steps)
    gen = torch.Generator().manual_seed(0)
    W = model.conditional.W
    fw = rv = 0.0
    n = 0
    for g in group_sequences([len(r) for r in rolls], 64):
        b = pad_group(rolls, g)
        bi, _ = model.teacher_forced_biases(b.rolls)
        b_v, b_h, v = bi["b_v"][b.mask], bi["b_h"][b.mask], b.rolls[b.mask]
        neg_f = (v * b_v).sum(-1) + torch.nn.functional.softplus(b_h + v @ W).sum(-1)
        r = log_partition(W, b_v, b_h, settings, v, gen)
        fw += float((neg_f - r.log_z).sum())
        rv += float((neg_f - r.log_z_reverse).sum())
        n += len(v)
    return {"score": rv / n, "forward": fw / n, "reverse": rv / n, "estimator": "raise"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="jsb", help="benchmark name, or 'bach-chorales' (embedded)")
    ap.add_argument("--weight-init", default="small", help="'small' (tutorial) or 'default'")
    ap.add_argument("--pretrain-epochs", type=int, default=20)
    ap.add_argument("--optimizer", default="nesterov")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--chunk-len", type=int, default=100)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snapshot", type=int, default=5)
    ap.add_argument("--valid-ais-runs", type=int, default=8)
    ap.add_argument("--valid-ais-steps", type=int, default=20)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    setup_logging()
    torch.set_num_threads(1)
    dataset = load_dataset(None if args.data == "bach-chorales" else args.data)
    config = make_config("paper-rbm")
    train_config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, chunk_len=args.chunk_len, patience=0, clip=args.clip,
        seed=args.seed, device="cpu",
    )
    optim_config = OptimConfig(name=args.optimizer, lr=args.lr, momentum=args.momentum)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    model = MusicModel(config)
    apply_weight_init(model, args.weight_init)
    started = time.perf_counter()
    pre = pretrain_rbm(model, dataset.splits["train"], args.pretrain_epochs, seed=args.seed)
    log.info("pretraining: %s", pre)
    task = SnapshotTask(
        dataset, config.kind, train_config, valid_ais_runs=args.valid_ais_runs,
        valid_ais_steps=args.valid_ais_steps, out_dir=args.out, every=args.snapshot,
    )
    result = fit(task, model, optim_config, train_config, args.out)
    info = {
        "command": shlex.join([".venv/bin/python", *sys.argv]),
        "seed": args.seed, "args": {k: str(v) for k, v in vars(args).items()},
        "pretrain": pre, "train_seconds": time.perf_counter() - started,
        "epochs": result.epochs_completed, "model_config": asdict(config),
        "optim_config": asdict(optim_config), "train_config": asdict(train_config),
    }
    (args.out / "run.json").write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
