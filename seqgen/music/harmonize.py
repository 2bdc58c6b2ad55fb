"""Harmonize a melody: hold its notes fixed as the top voice and sample the notes below it under a music model.

In every frame the melody's note is clamped on and every pitch above it off (a frame where the melody rests is
clamped silent); the other notes are drawn from the model's conditional given the clamps and the RNN state, and
the state advances on the completed frame. For an RNN-NADE with descending note order (seqgen.music.note_order)
the clamped units are the NADE's first units, so this is exact ancestral sampling from p(notes below | melody,
past); for an RNN (independent notes) it is exact too; for an RNN-RBM it is block Gibbs with the clamps
re-imposed after every step. Rolls are time-major bool[T, P].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_paths, numbered_paths
from seqgen.music.conditionals import NADE, RBM, Bernoulli, Biases
from seqgen.music.midi_out import kept_tempo_bpm, merged_midi_bytes, read_kept
from seqgen.music.note_order import DescendingNADE
from seqgen.music.pianoroll import MidiReadOptions, RollFormat, midi_to_roll
from seqgen.runtime import log, make_generator


def melody_tops(roll: np.ndarray) -> np.ndarray:
    """Column of the highest sounding note of each frame of a roll bool[T, P] [T] (int), -1 where silent."""
    roll = np.asarray(roll, dtype=bool)
    highest = roll.shape[1] - 1 - np.argmax(roll[:, ::-1], axis=1)
    return np.where(roll.any(axis=1), highest, -1)


def clamps(tops: np.ndarray, n_pitches: int) -> tuple[np.ndarray, np.ndarray]:
    """(known, values) bool[T, P]: the top note and every pitch above it are known (top on, the rest off);
    a frame whose top is -1 (a rest) is known to be silent."""
    columns = np.arange(n_pitches)
    tops = np.asarray(tops)
    known = (columns >= tops[:, None]) | (tops[:, None] < 0)
    return known, columns == tops[:, None]


def _nade_clamped(nade: NADE, biases: Biases, known: Tensor, values: Tensor, generator, temperature: float) -> Tensor:
    """NADE ancestral sampling in the NADE's own order with the units `known` [P] set to `values` [P]."""
    flip = isinstance(nade, DescendingNADE)
    order = (lambda t: t.flip(-1)) if flip else (lambda t: t)
    W, V = nade.W, nade.V / temperature
    b_v, known, values = order(biases["b_v"] / temperature), order(known), order(values).to(W.dtype)
    a = biases["b_h"].expand(b_v.shape[0], -1).clone()
    v = torch.zeros_like(b_v)
    u = torch.rand(b_v.shape, generator=generator, device=b_v.device, dtype=b_v.dtype)
    for i in range(nade.n_visible):
        if known[i]:
            v[:, i] = values[i]
        else:
            v[:, i] = (u[:, i] < torch.sigmoid(b_v[:, i] + torch.sigmoid(a) @ V[i])).to(v.dtype)
        a += v[:, i, None] * W[i]
    return order(v)


def _rbm_clamped(rbm: RBM, biases: Biases, known: Tensor, values: Tensor, generator, temperature: float) -> Tensor:
    """Block Gibbs (`rbm.sample_steps` rounds from v ~ σ(b_v / T)) with the known units reset after every round."""
    W, b_v, b_h = rbm.W / temperature, biases["b_v"] / temperature, biases["b_h"] / temperature
    values = values.to(W.dtype)

    def draw(p: Tensor) -> Tensor:
        return (torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype) < p).to(p.dtype)

    v = torch.where(known, values, draw(torch.sigmoid(b_v)))
    for _ in range(rbm.sample_steps):
        h = draw(torch.sigmoid(b_h + v @ W))
        v = torch.where(known, values, draw(torch.sigmoid(b_v + h @ W.T)))
    return v


def sample_clamped(cond, biases: Biases, known: Tensor, values: Tensor, generator, temperature: float = 1.0) -> Tensor:
    """One frame v [B, P] from the conditional with the units `known` [P] fixed to `values` [P]."""
    if isinstance(cond, NADE):
        return _nade_clamped(cond, biases, known, values, generator, temperature)
    if isinstance(cond, RBM):
        return _rbm_clamped(cond, biases, known, values, generator, temperature)
    if isinstance(cond, Bernoulli):
        p = torch.sigmoid(biases["b_v"] / temperature)
        drawn = (torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype) < p).to(p.dtype)
        return torch.where(known, values.to(p.dtype), drawn)
    raise SeqgenError(f"harmonize: no clamped sampler for a {type(cond).__name__} conditional")


def check_harmonizable(model) -> None:
    """Refuse a NADE in ascending order: clamping its last units is not a draw from the conditional."""
    if model.config.kind == "rnn-nade" and getattr(model.config, "note_order", "ascending") != "descending":
        raise SeqgenError(
            "harmonize needs an RNN-NADE trained with --note-order descending (its top voice comes first), "
            "an RNN-RBM or an RNN; this RNN-NADE visits notes from the lowest up"
        )


@torch.inference_mode()
def harmonize_rolls(
    model, tops: np.ndarray, *, n: int, generator: torch.Generator, temperature: float = 1.0,
    on_frame: Callable[[int, int], None] | None = None,
) -> np.ndarray:  # fmt: skip
    """`n` harmonizations bool[n, T, P] of the top voice `tops` [T] (column per frame, -1 = rest)."""
    check_harmonizable(model)
    param = next(model.parameters())
    known, values = (torch.as_tensor(a, device=param.device) for a in clamps(tops, model.config.n_visible))
    state = model.initial_state(n)
    biases = model.next_biases(state)
    out = torch.zeros(n, len(tops), model.config.n_visible, dtype=torch.bool, device=param.device)
    for t in range(len(tops)):
        v = sample_clamped(model.conditional, biases, known[t], values[t], generator, temperature).to(param.dtype)
        out[:, t] = v.bool()
        biases, state = model.step(v, state)
        if on_frame:
            on_frame(t + 1, len(tops))
    return out.cpu().numpy()


@dataclass
class Harmonization:
    """What `harmonize_file` made: the rolls bool[n, T, P] (melody included), the files and the tempo."""

    rolls: np.ndarray
    tops: np.ndarray
    tempo_bpm: float
    midi_paths: list[Path]
    png_paths: list[Path]


def read_melody(path: Path, fmt: RollFormat, read: MidiReadOptions) -> np.ndarray:
    """The top voice [T] of a MIDI file on the model's grid (its highest note per frame; -1 where silent)."""
    result = midi_to_roll(path, fmt, read)
    if result.dropped_notes:
        log.warning("%s: %d melody notes outside the model's pitch range are not held", path, result.dropped_notes)
    if not result.roll.any():
        raise SeqgenError(f"{path}: no melody notes in the model's range to harmonize")
    if (result.roll.sum(1) > 1).any():
        log.warning("%s: more than one note at a time; the highest note of each frame is the melody", path)
    return melody_tops(result.roll)


def harmonize_file(
    model, melody: Path, out: Path, *, read: MidiReadOptions, n: int = 1, seed: int = 0, temperature: float = 1.0,
    tempo_bpm: float | None = None, program: int = 0, velocity: int = 80, png: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
) -> Harmonization:  # fmt: skip
    """Harmonize the melody of a MIDI file `n` times and write `out` (numbered when n > 1): the melody file's
    notes verbatim (ticks, velocities, tempo, time signature) and the sampled notes below them at `velocity`."""
    from seqgen.music.render import write_roll_png

    fmt = model.roll_format
    check_harmonizable(model)
    tops = read_melody(melody, fmt, read)
    kept = read_kept(melody, fmt, read)
    device = next(model.parameters()).device
    rolls = harmonize_rolls(model, tops, n=n, generator=make_generator(seed, device), temperature=temperature,
                            on_frame=on_frame)  # fmt: skip
    tempo = tempo_bpm or round(kept_tempo_bpm(kept), 3)
    result = Harmonization(rolls, tops, tempo, numbered_paths(out, n), numbered_paths(out, n, ".png") if png else [])
    below = rolls.copy()
    frames = np.flatnonzero(tops >= 0)
    below[:, frames, tops[frames]] = False  # the melody is written from its own notes
    spq = fmt.quantisation.steps_per_quarter
    with atomic_paths([*result.midi_paths, *result.png_paths]) as temps:
        for roll, tmp in zip(below, temps[:n]):
            tmp.write_bytes(merged_midi_bytes(kept, roll, 0, tempo_bpm=tempo_bpm, program=program, velocity=velocity))
        for roll, tmp in zip(rolls, temps[n:]):
            write_roll_png(roll, tmp, low_pitch=fmt.low_pitch, bar_frames=4 * spq if spq else None)
    return result
