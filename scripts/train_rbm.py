"""Train an RNN-RBM with the recipe of issue 8: the tutorial's small init, CD pretraining on single frames, Adam.

Writes OUT/epoch-NNN.pt every --snapshot epochs (a fit callback), besides best.pt / last.pt / metrics.jsonl of
the shared loop (validated every epoch by reverse AIS at --valid-ais-runs × --valid-ais-steps), so that
snapshots can be re-scored afterwards (scripts/bench_ais.py --rank, seqgen score).

    .venv/bin/python scripts/train_rbm.py --data jsb --out runs/jsb-rbm --epochs 300
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

from seqgen.checkpoint import build_checkpoint, save_checkpoint
from seqgen.core.optim import OptimConfig
from seqgen.core.train import TrainConfig, fit
from seqgen.music.datasets import load_dataset
from seqgen.music.model import MusicModel, make_config
from seqgen.music.train_music import MusicTask, pretrain_conditional
from seqgen.runtime import log, setup_logging


def snapshots(task: MusicTask, out_dir: Path, every: int):
    """A fit callback writing OUT/epoch-NNN.pt (the weights after that epoch) every `every` epochs."""

    def on_epoch(record: dict, model) -> None:
        if record["epoch"] % every == 0:
            ckpt = build_checkpoint(task.checkpoint_info(), asdict(model.config), model.state_dict(),
                                    epoch=record["epoch"])  # fmt: skip
            save_checkpoint(out_dir / f"epoch-{record['epoch']:03d}.pt", ckpt)

    return on_epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="jsb", help="benchmark name, or 'bach-chorales' (embedded)")
    ap.add_argument("--weight-init", default="small", choices=["small", "default"])
    ap.add_argument("--pretrain-epochs", type=int, default=60)
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--chunk-len", type=int, default=100)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snapshot", type=int, default=10)
    ap.add_argument("--valid-ais-runs", type=int, default=8)
    ap.add_argument("--valid-ais-steps", type=int, default=20)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    setup_logging()
    torch.set_num_threads(1)
    dataset = load_dataset(None if args.data == "bach-chorales" else args.data)
    config = make_config("paper-rbm", weight_init=args.weight_init)
    train_config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, chunk_len=args.chunk_len, patience=0, clip=args.clip,
        seed=args.seed, device="cpu",
    )  # fmt: skip
    optim_config = OptimConfig(name=args.optimizer, lr=args.lr, momentum=args.momentum)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    model = MusicModel(config)
    started = time.perf_counter()
    pretrain = pretrain_conditional(model, dataset.splits["train"], args.pretrain_epochs, seed=args.seed)
    log.info("pretraining CD loss per epoch: %s", [round(x, 4) for x in pretrain])
    task = MusicTask(
        dataset, config.kind, train_config, valid_ais_runs=args.valid_ais_runs, valid_ais_steps=args.valid_ais_steps
    )
    result = fit(task, model, optim_config, train_config, args.out, on_epoch=snapshots(task, args.out, args.snapshot))
    info = {
        "command": shlex.join([".venv/bin/python", *sys.argv]), "seed": args.seed, "pretrain_cd_loss": pretrain,
        "train_seconds": time.perf_counter() - started, "epochs": result.epochs_completed,
        "model_config": asdict(config), "optim_config": asdict(optim_config), "train_config": asdict(train_config),
    }  # fmt: skip
    (args.out / "run.json").write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
