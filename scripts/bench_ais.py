"""Time and accuracy of RNN-RBM log-likelihood estimation (seqgen.music.ais) on a checkpoint's split.

1. Scores the whole split as `seqgen score` does (score_rolls: AIS at the checkpoint's settings, frame accuracy) and
   reports wall time, forward estimate, reverse (RAISE) lower end and their gap.
2. On an evenly spaced subset of frames, compares each setting (the checkpoint's, a cheap validation one, the old
   default: base σ(b_v), 100 runs × 1000 steps) with a long reference run, per frame and on average.
3. With --rank CKPT..., ranks checkpoints (e.g. snapshots of one run, whose weights grow) by the cheap validation
   estimate and by the reference on the same frames, and reports Spearman's rank correlation.
Writes --out (JSON). Run with 1 thread on a shared CPU:

    .venv/bin/python scripts/bench_ais.py --model seqgen/models/bach-rnn-rbm.pt
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from seqgen.checkpoint import load_checkpoint
from seqgen.fileio import write_text_atomic
from seqgen.music.ais import AISSettings, log_partition
from seqgen.music.batching import group_sequences, pad_group
from seqgen.music.datasets import load_dataset
from seqgen.music.score import score_rolls
from seqgen.tasks import get_task


@torch.no_grad()
def frame_biases(model, rolls) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """b_v [N, P], b_h [N, H] and v [N, P] of every frame of `rolls`, teacher forced from u_0."""
    parts = []
    for group in group_sequences([len(r) for r in rolls], 64):
        batch = pad_group(rolls, group)
        biases, _ = model.teacher_forced_biases(batch.rolls)
        parts.append((biases["b_v"][batch.mask], biases["b_h"][batch.mask], batch.rolls[batch.mask]))
    return tuple(torch.cat(c) for c in zip(*parts))


def estimate(rbm, b_v, b_h, v, settings: AISSettings, seed: int) -> dict:
    """Forward and reverse log-likelihood per frame [N] under `settings`, with the wall time."""
    started, cpu = time.perf_counter(), time.process_time()
    r = log_partition(rbm.W.detach(), b_v, b_h, settings, v, torch.Generator().manual_seed(seed))
    neg_f = -rbm.free_energy(v, {"b_v": b_v, "b_h": b_h})
    return {
        "forward": neg_f - r.log_z,
        "reverse": neg_f - r.log_z_reverse,
        "ess": r.ess / settings.runs,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }


def parse_setting(text: str) -> AISSettings:
    """RUNSxSTEPS[:schedule[:λ]], e.g. 16x100 or 100x1000:sigmoid:0 (λ = 0: base σ(b_v), the old estimator)."""
    size, *rest = text.split(":")
    runs, steps = (int(x) for x in size.split("x"))
    schedule = rest[0] if rest else "sigmoid"
    return AISSettings(runs, steps, schedule, base_mean_field=float(rest[1]) if len(rest) > 1 else 0.25)


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two equally long lists (no ties expected)."""
    ra, rb = (torch.tensor(x).argsort().argsort().double() for x in (a, b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def rank_study(paths: list[Path], data: str, split: str, frames: int, cheap: str, reference: str, seed: int) -> dict:
    """Cheap and reference estimates (forward, reverse) of each checkpoint on the same evenly spaced frames."""
    rows = []
    for path in paths:
        model = get_task("music").load(load_checkpoint(path), path, "cpu")
        rolls = [r for r in load_dataset(data).splits[split] if len(r)]
        b_v, b_h, v = frame_biases(model, rolls)
        pick = torch.linspace(0, len(v) - 1, frames).round().long()
        row = {"checkpoint": str(path), "W_norm": float(model.conditional.W.detach().norm())}
        for name, text in (("cheap", cheap), ("reference", reference)):
            est = estimate(model.conditional, b_v[pick], b_h[pick], v[pick], parse_setting(text), seed)
            row[name] = {
                "forward": float(est["forward"].mean()),
                "reverse": float(est["reverse"].mean()),
                "seconds": est["seconds"],
            }
        print(
            f"{path}: |W| {row['W_norm']:.1f}, cheap fwd {row['cheap']['forward']:.4f} rev "
            f"{row['cheap']['reverse']:.4f}, reference fwd {row['reference']['forward']:.4f} rev "
            f"{row['reference']['reverse']:.4f}",
            flush=True,
        )
        rows.append(row)
    ref = [0.5 * (r["reference"]["forward"] + r["reference"]["reverse"]) for r in rows]
    return {
        "data": data,
        "split": split,
        "frames": frames,
        "cheap": cheap,
        "reference": reference,
        "checkpoints": rows,
        "spearman_cheap_reverse_vs_reference": spearman([r["cheap"]["reverse"] for r in rows], ref),
        "spearman_cheap_forward_vs_reference": spearman([r["cheap"]["forward"] for r in rows], ref),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("seqgen/models/bach-rnn-rbm.pt"))
    ap.add_argument("--data", help="dataset (default: the checkpoint's)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--ref-frames", type=int, default=48, help="frames in the reference subset")
    ap.add_argument("--reference", default="100x5000", help="the long reference run, RUNSxSTEPS")
    ap.add_argument("--compare", nargs="*", default=["8x100", "100x1000:sigmoid:0"], help="more settings to compare")
    ap.add_argument("--skip-full", action="store_true", help="skip timing the whole split")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rank", type=Path, nargs="*", help="checkpoints to rank (with --data); only this study runs")
    ap.add_argument("--cheap", default="8x20", help="the cheap validation setting ranked against --reference")
    ap.add_argument("--out", type=Path, default=Path("results/bench_ais.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.rank:
        study = rank_study(args.rank, args.data, args.split, args.ref_frames, args.cheap, args.reference, args.seed)
        study["command"] = shlex.join([".venv/bin/python", *sys.argv])
        print(
            f"Spearman vs reference: cheap reverse {study['spearman_cheap_reverse_vs_reference']:.3f}, "
            f"cheap forward {study['spearman_cheap_forward_vs_reference']:.3f}"
        )
        write_text_atomic(args.out, json.dumps(study, indent=1) + "\n")
        return
    ckpt = load_checkpoint(args.model)
    model = get_task("music").load(ckpt, args.model, "cpu")
    rbm = model.conditional
    data = args.data or ckpt["data"]["dataset"]
    rolls = [r for r in load_dataset(data).splits[args.split] if len(r)]
    default = AISSettings(rbm.ais_runs, rbm.ais_steps, rbm.ais_schedule)
    report = {
        "command": shlex.join([".venv/bin/python", *sys.argv]),
        "model": str(args.model),
        "data": data,
        "split": args.split,
        "machine": f"{platform.machine()} {platform.processor()}, {args.threads} thread(s), "
        "shared CPU (other jobs running)",
        "torch": torch.__version__,
        "default": vars(default) | {},
    }
    if not args.skip_full:
        cpu = time.process_time()
        full = score_rolls(model, rolls, generator=torch.Generator().manual_seed(args.seed))
        full["cpu_seconds"] = time.process_time() - cpu
        report["full_split"] = {
            k: full[k]
            for k in ("frames", "log_likelihood_per_frame", "stderr", "lower", "upper", "frame_accuracy", "seconds")
        } | {"cpu_seconds": full["cpu_seconds"]}
        gap = full["upper"] - full["lower"]
        print(
            f"{data} {args.split}: {full['frames']} frames scored in {full['seconds']:.1f} s at "
            f"{default.runs} runs x {default.steps} steps ({full['cpu_seconds']:.1f} s CPU): "
            f"forward {full['upper']:.4f}, reverse {full['lower']:.4f}"
            f" (gap {gap:.4f}), stderr {full['stderr']:.4f}",
            flush=True,
        )
    b_v, b_h, v = frame_biases(model, rolls)
    pick = torch.linspace(0, len(v) - 1, args.ref_frames).round().long()
    b_v, b_h, v = b_v[pick], b_h[pick], v[pick]
    ref_settings = parse_setting(args.reference)
    ref = estimate(rbm, b_v, b_h, v, ref_settings, args.seed + 1)
    ref_mean = 0.5 * (ref["forward"] + ref["reverse"])
    report["reference"] = {
        "setting": args.reference,
        "frames": args.ref_frames,
        "seconds": ref["seconds"],
        "forward": float(ref["forward"].mean()),
        "reverse": float(ref["reverse"].mean()),
        "gap": float((ref["forward"] - ref["reverse"]).mean()),
    }
    print(
        f"reference {args.reference} on {args.ref_frames} frames ({ref['seconds']:.0f} s): forward "
        f"{report['reference']['forward']:.4f}, reverse {report['reference']['reverse']:.4f}",
        flush=True,
    )
    report["settings"] = []
    for text in [f"{default.runs}x{default.steps}", *args.compare]:
        est = estimate(rbm, b_v, b_h, v, parse_setting(text), args.seed + 2)
        row = {
            "setting": text,
            "seconds_subset": est["seconds"],
            "seconds_per_1000_frames": est["seconds"] / args.ref_frames * 1000,
            "cpu_seconds_per_1000_frames": est["cpu_seconds"] / args.ref_frames * 1000,
            "forward_error": float((est["forward"] - ref_mean).mean()),
            "reverse_error": float((est["reverse"] - ref_mean).mean()),
            "gap": float((est["forward"] - est["reverse"]).mean()),
            "max_abs_frame_error": float((est["forward"] - ref_mean).abs().max()),
            "ess_fraction": float(est["ess"].mean()),
        }
        report["settings"].append(row)
        print(
            f"{text:>20s}: forward {row['forward_error']:+.4f}, reverse {row['reverse_error']:+.4f} nats/frame "
            f"vs reference, gap {row['gap']:.4f}, worst frame {row['max_abs_frame_error']:.3f}, "
            f"{row['cpu_seconds_per_1000_frames']:.1f} s CPU per 1000 frames",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
