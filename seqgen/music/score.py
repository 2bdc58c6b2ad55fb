"""Honest scores of a music model: log-likelihood per frame (exact, or an estimate ± stderr with a bracket) and frame
accuracy; the model's conditional says which (`Conditional.log_likelihood`), so nothing here depends on its kind.

Log-likelihood is in nats, summed over all frames of all sequences and divided by the number of frames
(Boulanger-Lewandowski et al. 2012). Frame accuracy follows Bay et al. (2009), ΣTP / (ΣTP + ΣFP + ΣFN)
over all frames, where each frame's prediction is ONE sample from the model's conditional given the
true past frames (teacher forcing), drawn with the caller's seeded generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.music.batching import group_sequences, pad_group
from seqgen.music.conditionals import Biases
from seqgen.music.model import MusicModel
from seqgen.music.pianoroll import MidiReadOptions, RollFormat


@dataclass
class FrameScores:
    """Per-frame results in sequence order [N]: log-likelihood (nats), its stderr (zeros if exact), the lower and
    upper estimates that bracket it (equal to it if exact), sequence index and frame index within the sequence."""

    log_likelihood: Tensor
    stderr: Tensor
    lower: Tensor
    upper: Tensor
    sequence: Tensor
    frame: Tensor


def _gather(biases: Biases, rolls: Tensor, mask: Tensor) -> tuple[Biases, Tensor]:
    """Keep the real frames: biases {name: [N, size]} and v [N, P] from padded [B, T, ...]."""
    return {k: b[mask] for k, b in biases.items()}, rolls[mask]


@torch.no_grad()
def score_rolls(
    model: MusicModel,
    rolls: list[np.ndarray],
    *,
    batch_size: int = 32,
    generator: torch.Generator | None = None,
    frame_accuracy: bool = True,
    keep_frames: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Score rolls bool[T_i, P] (time-major) under `model`, each sequence from u_0 with teacher forcing.

    Returns a dict with `log_likelihood_per_frame`, its `stderr` (0 when exact; independent frame errors add in
    quadrature), `lower` and `upper` (per-frame means of the conditional's bracketing estimates; equal to the
    log-likelihood when exact), `frames`, `sequences`, `frame_accuracy` (None when not asked), `seconds`, the
    conditional's `estimator` and settings (`describe()`), and, with keep_frames, `per_frame` (a FrameScores).
    `on_batch(frames)` is called after each batch (progress bars).
    """
    started = time.perf_counter()
    model.eval()
    device = next(model.parameters()).device
    cond = model.conditional
    totals = dict.fromkeys(("ll", "var", "lower", "upper", "tp", "fp", "fn"), 0.0)
    n = 0
    kept: list[tuple[Tensor, ...]] = []
    for group in group_sequences([len(r) for r in rolls], batch_size):
        batch = pad_group(rolls, group).to(device)
        biases, _ = model.teacher_forced_biases(batch.rolls)
        frame_biases, v = _gather(biases, batch.rolls, batch.mask)
        ll = cond.log_likelihood(v, frame_biases, generator)
        for key, part in (
            ("ll", ll.value),
            ("var", ll.stderr.pow(2)),
            ("lower", ll.lower),
            ("upper", ll.upper),
        ):
            totals[key] += float(part.double().sum())
        n += v.shape[0]
        if frame_accuracy:
            guess = cond.sample(frame_biases, generator)
            totals["tp"] += float((guess * v).sum())
            totals["fp"] += float((guess * (1 - v)).sum())
            totals["fn"] += float(((1 - guess) * v).sum())
        if keep_frames:
            seq = torch.tensor(group, device=device)[:, None].expand_as(batch.mask)[batch.mask]
            frame = torch.arange(batch.mask.shape[1], device=device).expand_as(batch.mask)[batch.mask]
            kept.append(tuple(t.cpu() for t in (*ll, seq, frame)))
        if on_batch is not None:
            on_batch(v.shape[0])
    hits = totals["tp"] + totals["fp"] + totals["fn"]
    frames = max(n, 1)
    result = {
        "log_likelihood_per_frame": totals["ll"] / frames,
        "stderr": math.sqrt(totals["var"]) / frames,
        "lower": totals["lower"] / frames,
        "upper": totals["upper"] / frames,
        **cond.describe(),
        "frames": n,
        "sequences": len(rolls),
        "frame_accuracy": (totals["tp"] / hits if hits else 1.0) if frame_accuracy else None,
    }
    if keep_frames:
        cols = [torch.cat(c) for c in zip(*kept)] if kept else [torch.zeros(0)] * 6
        order = torch.argsort(cols[4] * (1 + max((len(r) for r in rolls), default=0)) + cols[5])
        result["per_frame"] = FrameScores(*(c[order] for c in cols))
    result["seconds"] = time.perf_counter() - started
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
    read: MidiReadOptions | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Score a music checkpoint on one MIDI file (read with the checkpoint's pitch range and quantisation)
    or on a dataset split; exactly one of `midi` and `data`. Estimation and frame-accuracy samples use `seed`;
    `ais_runs` / `ais_steps` replace the checkpoint's settings (None: keep them)."""
    if (midi is None) == (data is None):
        raise SeqgenError("score: give either a MIDI file or a dataset (and split), not both or neither")
    device = next(model.parameters()).device
    model.conditional.configure(ais_runs=ais_runs, ais_steps=ais_steps)
    fmt = model.roll_format
    if midi is not None:
        from seqgen.music.pianoroll import midi_to_roll

        read_back = midi_to_roll(midi, fmt, read or MidiReadOptions())
        if not read_back.roll.any():  # drums only, or empty: never a score (issue 19)
            left_out = [f"{n} {what}" for n, what in ((read_back.drum_notes, "drum notes excluded"),
                        (read_back.dropped_notes, "outside the model's pitches")) if n]  # fmt: skip
            raise SeqgenError(f"{midi}: no notes to score ({', '.join(left_out) or 'the file holds none'})")
        rolls, tempo_bpm = [read_back.roll], read_back.tempo_bpm
    else:
        from seqgen.music.datasets import MidiInput, load_dataset

        q = fmt.quantisation  # a MIDI folder is read as the model's training data was (issue 19)
        midi_in = MidiInput(fmt.low_pitch, fmt.n_pitches, q.steps_per_quarter, q.fs, read or MidiReadOptions())
        dataset = load_dataset(data, midi=midi_in)
        if split not in dataset.splits:
            raise SeqgenError(f"--split {split}: expected one of {', '.join(dataset.splits)}")
        rolls = [r for r in dataset.splits[split] if len(r)]
        if not rolls:
            raise SeqgenError(f"{data}: the {split} split holds no frames")
    generator = torch.Generator(device=device).manual_seed(seed)
    result = score_rolls(
        model, rolls, batch_size=batch_size, generator=generator, keep_frames=keep_frames, on_batch=on_batch
    )
    if keep_frames:  # for the per-frame CSV: pitches, and seconds at the file's own tempo
        result["rolls"], result["roll_format"] = rolls, fmt if midi is None else replace(
            fmt, quantisation=replace(fmt.quantisation, tempo_bpm=tempo_bpm))
    return result


def write_per_frame_csv(path: str | Path, frames: FrameScores, rolls: list[np.ndarray], fmt: RollFormat) -> None:
    """CSV (atomic), one row per frame: sequence, frame, seconds (frame start at the format's tempo), bar and beat
    (1-based, bars of four quarter notes), log_likelihood, stderr, lower, upper (nats; stderr 0 and lower = upper =
    log_likelihood when exact) and the sounding pitches (e.g. "C4 E4 G4") of the scored rolls bool[T_i, P]."""
    from seqgen.music.render import pitch_name

    q = fmt.quantisation
    cols = (frames.sequence, frames.frame, frames.log_likelihood, frames.stderr, frames.lower, frames.upper)
    lines = ["sequence,frame,seconds,bar,beat,log_likelihood,stderr,lower,upper,pitches"]
    for s, t, ll, se, lo, up in zip(*(c.tolist() for c in cols)):
        seconds = t * q.frame_seconds
        beats = seconds * q.tempo_bpm / 60  # quarter notes since the start
        pitches = " ".join(pitch_name(fmt.low_pitch + int(k)) for k in np.flatnonzero(rolls[s][t]))
        lines.append(f"{s},{t},{seconds:.4f},{int(beats // 4) + 1},{beats % 4 + 1:.4g},{ll:.6f},{se:.6f},{lo:.6f},"
                     f"{up:.6f},{pitches}")  # fmt: skip
    write_text_atomic(path, "\n".join(lines) + "\n")
