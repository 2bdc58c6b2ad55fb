"""Honest scores of a music model: log-likelihood per frame (exact, or AIS ± stderr for the RBM) and frame accuracy.

Log-likelihood is in nats, summed over all frames of all sequences and divided by the number of frames
(Boulanger-Lewandowski et al. 2012). Frame accuracy follows Bay et al. (2009), ΣTP / (ΣTP + ΣFP + ΣFN)
over all frames, where each frame's prediction is ONE sample from the model's conditional given the
true past frames (teacher forcing), drawn with the caller's seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.music.batching import group_sequences, pad_group
from seqgen.music.conditionals import RBM, Biases
from seqgen.music.model import MusicModel

# Rows (frames × AIS runs) per AIS chunk: bounds memory at about rows × (P + H) floats.
_AIS_ROWS = 1 << 16


@dataclass
class FrameScores:
    """Per-frame results in sequence order: log-likelihood [N] (nats), its AIS stderr [N] (zeros if exact),
    sequence index [N] and frame index within the sequence [N]."""

    log_likelihood: Tensor
    stderr: Tensor
    sequence: Tensor
    frame: Tensor


def _gather(biases: Biases, rolls: Tensor, mask: Tensor) -> tuple[Biases, Tensor]:
    """Keep the real frames: biases {name: [N, size]} and v [N, P] from padded [B, T, ...]."""
    return {k: b[mask] for k, b in biases.items()}, rolls[mask]


def _rbm_log_partition(
    rbm: RBM, biases: Biases, runs: int, steps: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """AIS log Z_t and stderr [N] for every frame, in chunks of frames."""
    n = biases["b_v"].shape[0]
    chunk = max(1, _AIS_ROWS // runs)
    parts = [
        rbm.ais_log_partition({k: b[s : s + chunk] for k, b in biases.items()}, runs, steps, generator)
        for s in range(0, n, chunk)
    ]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def score_rolls(
    model: MusicModel,
    rolls: list[np.ndarray],
    *,
    batch_size: int = 32,
    ais_runs: int = 100,
    ais_steps: int = 1000,
    generator: torch.Generator | None = None,
    frame_accuracy: bool = True,
    keep_frames: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Score rolls bool[T_i, P] (time-major) under `model`, each sequence from u_0 with teacher forcing.

    Returns a dict with `log_likelihood_per_frame`, `frames`, `sequences`, `frame_accuracy` (None when not
    asked), `estimator` ("exact" | "ais"), `stderr` (of the per-frame mean; None when exact: independent
    frame errors add in quadrature) and, with keep_frames, `per_frame` (a FrameScores).
    `on_batch(frames)` is called after each batch (progress bars).
    """
    model.eval()
    device = next(model.parameters()).device
    cond = model.conditional
    ais = not cond.exact
    totals = {"ll": 0.0, "var": 0.0, "tp": 0.0, "fp": 0.0, "fn": 0.0, "frames": 0}
    kept: list[tuple[Tensor, ...]] = []
    for group in group_sequences([len(r) for r in rolls], batch_size):
        batch = pad_group(rolls, group).to(device)
        biases, _ = model.teacher_forced_biases(batch.rolls)
        frame_biases, v = _gather(biases, batch.rolls, batch.mask)
        if ais:
            log_z, stderr = _rbm_log_partition(cond, frame_biases, ais_runs, ais_steps, generator)
            ll = -cond.free_energy(v, frame_biases) - log_z
        else:
            ll, stderr = cond.log_prob(v, frame_biases), torch.zeros(v.shape[0], device=device)
        totals["ll"] += float(ll.double().sum())
        totals["var"] += float(stderr.double().pow(2).sum())
        totals["frames"] += v.shape[0]
        if frame_accuracy:
            guess = cond.sample(frame_biases, generator)
            totals["tp"] += float((guess * v).sum())
            totals["fp"] += float((guess * (1 - v)).sum())
            totals["fn"] += float(((1 - guess) * v).sum())
        if keep_frames:
            seq = torch.tensor(group, device=device)[:, None].expand_as(batch.mask)[batch.mask]
            frame = torch.arange(batch.mask.shape[1], device=device).expand_as(batch.mask)[batch.mask]
            kept.append((ll.cpu(), stderr.cpu(), seq.cpu(), frame.cpu()))
        if on_batch is not None:
            on_batch(v.shape[0])
    n = totals["frames"]
    hits = totals["tp"] + totals["fp"] + totals["fn"]
    result = {
        "log_likelihood_per_frame": totals["ll"] / max(n, 1),
        "frames": n,
        "sequences": len(rolls),
        "frame_accuracy": (totals["tp"] / hits if hits else 1.0) if frame_accuracy else None,
        "estimator": "ais" if ais else "exact",
        "stderr": math.sqrt(totals["var"]) / max(n, 1) if ais else None,
    }
    if ais:
        result.update(ais_runs=ais_runs, ais_steps=ais_steps)
    if keep_frames:
        cols = [torch.cat(c) for c in zip(*kept)] if kept else [torch.zeros(0)] * 4
        order = torch.argsort(cols[2] * (1 + max((len(r) for r in rolls), default=0)) + cols[3])
        result["per_frame"] = FrameScores(*(c[order] for c in cols))
    return result


def score_checkpoint(
    ckpt: dict,
    model: MusicModel,
    *,
    midi: Path | None = None,
    data: str | None = None,
    split: str = "test",
    ais_runs: int | None = None,
    ais_steps: int | None = None,
    batch_size: int = 32,
    seed: int = 0,
    keep_frames: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Score a music checkpoint on one MIDI file (read with the checkpoint's pitch range and quantisation)
    or on a dataset split; exactly one of `midi` and `data`. AIS and frame-accuracy samples use `seed`."""
    if (midi is None) == (data is None):
        raise SeqgenError("score: give either a MIDI file or a dataset (and split), not both or neither")
    device = next(model.parameters()).device
    ais_runs, ais_steps = ais_runs or 100, ais_steps or 1000
    settings = ckpt.get("data") or {}
    low, n_pitches = int(settings.get("low_pitch", 21)), int(settings.get("n_pitches", model.config.n_visible))
    if midi is not None:
        from seqgen.music.pianoroll import RollFormat, midi_to_roll

        fmt = RollFormat.from_dict({"low_pitch": low, "n_pitches": n_pitches, **settings})
        roll = midi_to_roll(midi, fmt).roll
        if len(roll) == 0:
            raise SeqgenError(f"{midi}: no frames to score (the file holds no notes)")
        rolls = [roll]
    else:
        from seqgen.music.datasets import load_dataset

        dataset = load_dataset(data, low_pitch=low, n_pitches=n_pitches)
        if split not in dataset.splits:
            raise SeqgenError(f"--split {split}: expected one of {', '.join(dataset.splits)}")
        rolls = [r for r in dataset.splits[split] if len(r)]
        if not rolls:
            raise SeqgenError(f"{data}: the {split} split holds no frames")
    generator = torch.Generator(device=device).manual_seed(seed)
    return score_rolls(
        model, rolls, batch_size=batch_size, ais_runs=ais_runs, ais_steps=ais_steps, generator=generator,
        keep_frames=keep_frames, on_batch=on_batch,
    )


def write_per_frame_csv(path: str | Path, frames: FrameScores) -> None:
    """CSV (atomic) with one row per frame: sequence, frame, log_likelihood (nats), stderr (AIS; 0 if exact)."""
    rows = zip(frames.sequence.tolist(), frames.frame.tolist(), frames.log_likelihood.tolist(), frames.stderr.tolist())
    lines = ["sequence,frame,log_likelihood,stderr"] + [f"{s},{t},{ll:.6f},{se:.6f}" for s, t, ll, se in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")
