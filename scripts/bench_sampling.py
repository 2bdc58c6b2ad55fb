"""Sampling throughput: frames generated per second by RNN-NADE and RNN-RBM (k Gibbs steps) at several batch sizes.

Usage: python scripts/bench_sampling.py [--device cpu|cuda] [--threads 1] [--out results/sampling-speed.json]
Models are the paper sizes (RNN 100, NADE/RBM 150 hidden, 88 keys) with random weights: the cost of a frame
does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from seqgen.fileio import write_text_atomic
from seqgen.music.model import MusicModel, make_config
from seqgen.music.sample import sample_rolls


def frames_per_second(
    model: MusicModel, batch: int, frames: int, device: str, repeats: int
) -> tuple[float, float]:
    """Generated frames per wall-clock second and per CPU second of this process, best of `repeats` runs.

    CPU time is not inflated by other programs sharing the machine; wall time is what a user waits.
    """
    generator = torch.Generator(device=device).manual_seed(0)
    sample_rolls(model, n=batch, frames=2, generator=generator, device=device)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        sample_rolls(model, n=batch, frames=frames, generator=generator, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return batch * frames / best_wall, batch * frames / best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--frames", type=int, default=48, help="frames generated per measurement")
    parser.add_argument("--gibbs-steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--out", type=Path, default=Path("results/sampling-speed.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    for preset in ("paper-nade", "paper-rbm"):
        model = MusicModel(make_config(preset, sample_steps=args.gibbs_steps)).to(args.device).eval()
        for batch in args.batches:
            fps, cpu_fps = frames_per_second(model, batch, args.frames, args.device, args.repeats)
            rows.append({"model": model.config.kind, "batch": batch, "frames_per_second": round(fps, 1),
                         "frames_per_cpu_second": round(cpu_fps, 1)})
            print(f"{model.config.kind:9s} batch {batch:4d}: {fps:10.1f} frames/s  ({cpu_fps:10.1f} per CPU second)",
                  flush=True)
        single = next(r["frames_per_second"] for r in rows if r["model"] == model.config.kind and r["batch"] == 1)
        for row in rows:
            if row["model"] == model.config.kind:
                row["speed_up_vs_batch_1"] = round(row["frames_per_second"] / single, 1)

    device_name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    report = {
        "device": args.device,
        "device_name": device_name,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "frames": args.frames,
        "gibbs_steps": args.gibbs_steps,
        "sizes": "88 keys, RNN 100 tanh units, NADE/RBM 150 hidden units",
        "results": rows,
    }
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
