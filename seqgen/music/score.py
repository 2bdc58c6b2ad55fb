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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

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


CHUNK_BYTES = 256 * 2**20  # working memory of one chunk of frames (its biases and the conditional's temporaries)


class FrameChunk(NamedTuple):
    """The real frames of one time chunk of a group: biases {name: [n, size]}, v [n, P], sequence and frame [n]."""

    biases: Biases
    v: Tensor
    sequence: Tensor
    frame: Tensor


def chunk_frames(model: MusicModel, rolls: list[np.ndarray], group: list[int]) -> int:
    """Frames per chunk so that one chunk's float32 working memory stays near CHUNK_BYTES: per frame, four copies of
    the biases, the roll and u_t, times the densest frame's notes + 1 (NADE keeps a hidden vector per on-note), plus
    the uniforms of every Gibbs round an RBM draws at once when it samples (`sample_steps`)."""
    biases = sum(model.bias_split)
    width = biases + model.config.n_visible + model.config.recurrent.hidden_size
    densest = max(int(rolls[i].sum(-1).max(initial=0)) for i in group)
    per_frame = 16 * width * (densest + 1) + 4 * biases * getattr(model.conditional, "sample_steps", 0)
    return max(len(group), CHUNK_BYTES // per_frame)


def frame_chunks(model: MusicModel, rolls: list[np.ndarray], group: list[int]) -> Iterator[FrameChunk]:
    """Teacher-forced biases of the group's rolls bool[T_i, P] in time chunks of at most `chunk_frames` frames,
    the RNN state carried from chunk to chunk (each sequence starts from u_0), so memory is flat in the length."""
    device = next(model.parameters()).device
    step = chunk_frames(model, rolls, group) // len(group)
    seq = torch.tensor(group, device=device)[:, None]
    state = None
    for start in range(0, max(len(rolls[i]) for i in group), step):
        batch = pad_group(rolls, group, start, start + step).to(device)
        biases, state = model.teacher_forced_biases(batch.rolls, state)
        mask = batch.mask
        frame = start + torch.arange(mask.shape[1], device=device).expand_as(mask)[mask]
        yield FrameChunk({k: b[mask] for k, b in biases.items()}, batch.rolls[mask], seq.expand_as(mask)[mask], frame)


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
    """Score rolls bool[T_i, P] (time-major) under `model`, each sequence from u_0 with teacher forcing, in chunks
    of frames (`frame_chunks`) so that memory does not grow with the length.

    Returns a dict with `log_likelihood_per_frame`, its `stderr` (0 when exact; independent frame errors add in
    quadrature), `lower` and `upper` (per-frame means of the conditional's bracketing estimates; equal to the
    log-likelihood when exact), `frames`, `sequences`, `frame_accuracy` (None when not asked), `seconds`, the
    conditional's `estimator` and settings (`describe()`), and, with keep_frames, `per_frame` (a FrameScores).
    `on_batch(frames)` is called after each chunk (progress bars).
    """
    started = time.perf_counter()
    model.eval()
    cond = model.conditional
    totals = dict.fromkeys(("ll", "var", "lower", "upper", "tp", "fp", "fn"), 0.0)
    n = 0
    kept: list[tuple[Tensor, ...]] = []
    for group in group_sequences([len(r) for r in rolls], batch_size):
        for chunk in frame_chunks(model, rolls, group):
            v = chunk.v
            ll = cond.log_likelihood(v, chunk.biases, generator)
            for key, part in (("ll", ll.value), ("var", ll.stderr.pow(2)), ("lower", ll.lower), ("upper", ll.upper)):
                totals[key] += float(part.double().sum())
            n += v.shape[0]
            if frame_accuracy:
                guess = cond.sample(chunk.biases, generator)
                totals["tp"] += float((guess * v).sum())
                totals["fp"] += float((guess * (1 - v)).sum())
                totals["fn"] += float(((1 - guess) * v).sum())
            if keep_frames:
                kept.append(tuple(t.cpu() for t in (*ll, chunk.sequence, chunk.frame)))
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
