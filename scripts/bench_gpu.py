"""GPU figures beside the same figures on CPU: sampling, training, AIS scoring, text, and 2-process DDP on CPU.

    SEQGEN_DATA_DIR=../shared/data .venv/bin/python scripts/bench_gpu.py            # cuda and cpu columns
    SEQGEN_DATA_DIR=../shared/data .venv/bin/python scripts/bench_gpu.py --cpu-only # small settings, cpu only

Sampling: frames/s of RNN-NADE and RNN-RBM (25 Gibbs steps) at paper size for batches 1, 256 and 4,096.
Training: frames/s of one pass over (part of) the JSB training split at paper size, Adam step included.
AIS: seconds to score the JSB test split with the RBM's default AIS accuracy (a CPU column scores a few
frames and extrapolates per frame). Text: training and generation tokens/s of a leaky tanh 512 char model.
DDP: `seqgen train` frames/s with 2 torchrun processes (gloo) against 1, one thread each (with --ddp).
Models have random weights: the cost does not depend on their values. Writes results/bench_gpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgen.core.recurrent import RecurrentConfig
from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.music.batching import roll_batches
from seqgen.music.datasets import load_dataset
from seqgen.music.model import MusicModel, make_config
from seqgen.music.sample import sample_rolls
from seqgen.music.score import score_rolls
from seqgen.runtime import choose_device
from seqgen.text.model import TextLM, TextModelConfig
from seqgen.text.sample import sample_tokens

PEER_RBM_CPU_FRAMES_PER_SECOND = (300, 480)  # gim-ai's PyTorch RNN-RBM, one chain, on this 2-core CPU


def timed(device: torch.device, run, /, *args, **kwargs) -> tuple[Any, float, float]:
    """run(*args, **kwargs) with its wall-clock and process CPU seconds, the device's queue drained around it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    result = run(*args, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def rates(unit: str, amount: float, wall: float, cpu: float, device: torch.device) -> dict:
    """`amount` per wall-clock second and, on CPU, per CPU second of this process (what other jobs sharing
    the machine do not inflate)."""
    row = {f"{unit}_per_second": round(amount / wall, 1)}
    if device.type == "cpu":
        row[f"{unit}_per_cpu_second"] = round(amount / max(cpu, 1e-9), 1)
    return row


def sampling(device: torch.device, batch: int, frames: int) -> dict:
    """Frames/s of RNN-NADE and RNN-RBM (25 Gibbs steps) drawing `batch` songs of `frames` frames at once."""
    rows = {}
    for preset in ("paper-nade", "paper-rbm"):
        torch.manual_seed(0)
        model = MusicModel(make_config(preset, sample_steps=25)).to(device).eval()
        generator = torch.Generator(device).manual_seed(0)
        sample_rolls(model, n=batch, frames=2, generator=generator, device=device)  # warm-up
        _, wall, cpu = timed(device, sample_rolls, model, n=batch, frames=frames, generator=generator, device=device)
        rows[model.config.kind] = {**rates("frames", batch * frames, wall, cpu, device), "frames": frames}
    return rows


def train_pass(model: MusicModel, rolls: list[np.ndarray], device: torch.device, limit: int | None = None) -> int:
    """One Adam pass (batch 16, chunks of 200 frames) over rolls bool[T, P]; returns the frames trained on."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    frames, state = 0, None
    for i, (batch, carry) in enumerate(roll_batches(rolls, 16, 200, torch.Generator().manual_seed(0))):
        if i == limit:
            break
        frames += int(batch.mask.sum())  # counted on the host, before the copy
        batch = batch.to(device)
        out = model.teacher_forced(batch.rolls, state if carry else None)
        loss = (model.conditional.loss(batch.rolls, out.biases) * batch.mask).sum() / batch.mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state = out.state.detach()
    return frames


def training(device: torch.device, rolls: list[np.ndarray]) -> dict:
    """Frames/s of one training pass (teacher forcing, loss, backward, Adam) over `rolls` at paper size."""
    rows = {}
    for label, preset in (("rnn-nade", "paper-nade"), ("rnn-rbm CD-15", "paper-rbm")):
        torch.manual_seed(0)
        model = MusicModel(make_config(preset)).to(device).train()
        train_pass(model, rolls, device, limit=2)  # warm-up
        frames, wall, cpu = timed(device, train_pass, model, rolls, device)
        rows[label] = {**rates("frames", frames, wall, cpu, device), "frames": frames}
    return rows


def ais_scoring(device: torch.device, rolls: list[np.ndarray], max_frames: int | None) -> dict:
    """Seconds to score `rolls` with a paper-size RNN-RBM at its default AIS accuracy; with `max_frames`,
    score that many frames of the first pieces and extrapolate per frame to the whole split."""
    torch.manual_seed(0)
    model = MusicModel(make_config("paper-rbm")).to(device).eval()
    total = sum(len(r) for r in rolls)
    scored, kept = [], 0
    for r in rolls:
        if max_frames is not None and kept >= max_frames:
            break
        scored.append(r if max_frames is None else r[: max_frames - kept])
        kept += len(scored[-1])
    generator = torch.Generator(device).manual_seed(0)
    result, wall, cpu = timed(device, score_rolls, model, scored, generator=generator, frame_accuracy=False)
    settings = {k: v for k, v in result.items() if k.startswith("ais") or k == "estimator"}
    return {
        "split_frames": total,
        "frames_scored": kept,
        "seconds": round(wall, 2),
        "split_seconds": round(wall * total / kept, 1),
        "split_cpu_seconds": round(cpu * total / kept, 1) if device.type == "cpu" else None,
        "extrapolated": kept < total,
        "settings": settings,
    }


def text_train(model: TextLM, ids: torch.Tensor, steps: int) -> None:
    """`steps` Nesterov SGD steps on the same batch of ids [B, T + 1], state carried (truncated BPTT)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    state = None
    for _ in range(steps):
        logits, state, _ = model(ids[:, :-1], state)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state = state.detach()


def text(device: torch.device, steps: int, length: int) -> dict:
    """Training tokens/s (batch 32 × 100 tokens, leaky tanh 512, vocabulary 50) and generation tokens/s."""
    torch.manual_seed(0)
    model = TextLM(TextModelConfig(50, 64, RecurrentConfig(64, 512, leaky=True))).to(device)
    ids = torch.randint(50, (32, 101), device=device)
    text_train(model, ids, 1)  # warm-up
    _, wall, cpu = timed(device, text_train, model, ids, steps)
    row = {"train": rates("tokens", 32 * 100 * steps, wall, cpu, device)}
    model.eval()
    context = torch.tensor([1, 2, 3], device=device)
    for n in (1, 256):
        generator = torch.Generator(device).manual_seed(0)
        _, wall, cpu = timed(device, sample_tokens, model, context, length=length, n=n, generator=generator)
        row[f"generate batch {n}"] = rates("tokens", n * length, wall, cpu, device)
    return row


def ddp_speed(epochs: int, repeats: int = 2) -> dict:
    """Best epoch frames/s of `seqgen train` (paper-nade, embedded chorales) with 1 and 2 CPU processes, each
    timed `repeats` times, alternating, so that both see the same mix of load from other jobs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs: dict[str, list[float]] = {"1_process": [], "2_process": []}
    for _ in range(repeats):
        for procs in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs)]
                launch = [sys.executable, *(torchrun if procs > 1 else [])]
                args = ["-m", "seqgen", "train", "--device", "cpu", "--epochs", str(epochs), "--patience", "0"]
                subprocess.run([*launch, *args, "--out", out], env=env, check=True, capture_output=True)
                lines = Path(out, "metrics.jsonl").read_text().splitlines()
                runs[f"{procs}_process"] += [round(json.loads(line)["frames_per_second"], 1) for line in lines]
    row = {key: max(values) for key, values in runs.items()}
    row["speed_up"] = round(row["2_process"] / row["1_process"], 2)
    row["epochs_frames_per_second"] = runs
    row["setup"] = "seqgen train defaults (paper-nade, embedded chorales, batch 16), OMP_NUM_THREADS=1, wall clock"
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-only", action="store_true", help="small settings, CPU column only (a few minutes)")
    ap.add_argument("--ddp", action="store_true", help="also time 2 torchrun CPU processes against 1")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--data", default="jsb", help="music data for training and AIS (falls back to bach-chorales)")
    ap.add_argument("--out", type=Path, default=Path("results/bench_gpu.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [choose_device("cpu")] if args.cpu_only else [choose_device("cuda"), choose_device("cpu")]
    small = args.cpu_only
    try:
        dataset = load_dataset(args.data)
    except SeqgenError as exc:
        print(f"{args.data}: {exc}; using the embedded bach-chorales", flush=True)
        dataset = load_dataset("bach-chorales")
    train_rolls = dataset.splits["train"][:48] if small else dataset.splits["train"]
    report = {
        "devices": {d.type: torch.cuda.get_device_name(d) if d.type == "cuda" else platform.machine() for d in devices},
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1min_before": round(os.getloadavg()[0], 2),
        "settings": "cpu-only (small)" if small else "full",
        "dataset": dataset.name,
        "peer_rbm_cpu_single_chain_frames_per_second": PEER_RBM_CPU_FRAMES_PER_SECOND,
        "sampling": {}, "training": {}, "ais_test_split": {}, "text": {},
    }  # fmt: skip
    for device in devices:
        name = device.type
        cpu_slow = name == "cpu"
        for batch in (1, 256, 4096):
            frames = {1: 64, 256: 16, 4096: 2}[batch] if cpu_slow else 64
            for kind, row in sampling(device, batch, frames).items():
                report["sampling"].setdefault(f"{kind} batch {batch}", {})[name] = row
                print(f"{name:4s} sample {kind:8s} batch {batch:4d}: {row['frames_per_second']:>12,.0f} frames/s")
        for label, row in training(device, train_rolls).items():
            report["training"].setdefault(label, {})[name] = row
            print(f"{name:4s} train  {label:14s}: {row['frames_per_second']:>12,.0f} frames/s", flush=True)
        ais = ais_scoring(device, dataset.splits["test"], 48 if cpu_slow else None)
        report["ais_test_split"][name] = ais
        note = " (extrapolated)" if ais["extrapolated"] else ""
        print(f"{name:4s} AIS test split: {ais['split_seconds']:,.1f} s{note}", flush=True)
        report["text"][name] = text(device, 4 if cpu_slow else 50, 50 if cpu_slow else 500)
        print(f"{name:4s} text: {report['text'][name]}", flush=True)
    if args.ddp:
        report["ddp_cpu"] = ddp_speed(epochs=2)
        print(f"DDP on CPU: {report['ddp_cpu']}", flush=True)
    if small:
        report["open"] = "GPU column not measured: run without --cpu-only on a CUDA machine"
    else:
        rbm = report["sampling"]["rnn-rbm batch 4096"]["cuda"]["frames_per_second"]
        report["rbm_gpu_vs_peer_cpu"] = round(rbm / max(PEER_RBM_CPU_FRAMES_PER_SECOND), 1)
    report["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
