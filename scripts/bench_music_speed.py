"""Training speed at paper sizes on JSB Chorales: frames/s and seconds per epoch (forward, backward, Adam step).

Models: RNN-NADE (paper-nade), RNN-RBM with CD-15 and CD-5 (paper-rbm), the plain RNN and the larger
gru-nade. Each is timed over whole passes of the JSB training split (13,807 frames); the best of
`--epochs` passes is reported (the machine is shared). Prints a table and writes JSON.

    .venv/bin/python scripts/bench_music_speed.py --threads 1 --json results/bench_music_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from seqgen.core.train import TrainConfig
from seqgen.fileio import write_text_atomic
from seqgen.music.datasets import load_dataset
from seqgen.music.model import MusicModel, make_config
from seqgen.music.train_music import MusicTask

CASES = [
    ("rnn-nade (paper-nade)", "paper-nade", {}),
    ("rnn-rbm CD-15 (paper-rbm)", "paper-rbm", {"cd_k": 15}),
    ("rnn-rbm CD-5", "paper-rbm", {"cd_k": 5}),
    ("rnn (paper-rnn)", "paper-rnn", {}),
    ("gru-nade", "gru-nade", {}),
]


def time_epoch(task: MusicTask, model: MusicModel, optimizer: torch.optim.Optimizer, epoch: int) -> tuple[float, int]:
    """Seconds and frames of one training pass."""
    generator = torch.Generator().manual_seed(epoch)
    started, frames, state = time.perf_counter(), 0, None
    for batch, carry in task.batches(epoch, generator):
        out = task.step_loss(model, batch, state if carry else None)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        state = out.state.detach() if out.state is not None else None
        frames += out.count
    return time.perf_counter() - started, frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="jsb")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--chunk-len", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="results/bench_music_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.data)
    config = TrainConfig(batch_size=args.batch_size, chunk_len=args.chunk_len)
    load_before = os.getloadavg()[0]
    rows = []
    for label, preset, overrides in CASES:
        torch.manual_seed(0)
        model = MusicModel(make_config(preset, **overrides)).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        task = MusicTask(dataset, model.config.kind, config)
        timings = [time_epoch(task, model, optimizer, e) for e in range(args.epochs)]
        seconds, frames = min(timings)
        rows.append({"model": label, "epoch_seconds": round(seconds, 3), "frames_per_second": round(frames / seconds)})
        print(f"{label:28s} {seconds:7.2f} s/epoch {frames / seconds:10,.0f} frames/s", flush=True)
    report = {
        "dataset": args.data,
        "train_frames": sum(len(r) for r in dataset.splits["train"]),
        "batch_size": args.batch_size,
        "chunk_len": args.chunk_len,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "note": "best of the timed passes; the 2-core machine was shared with other jobs (load before/after)",
        "results": rows,
    }
    write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
