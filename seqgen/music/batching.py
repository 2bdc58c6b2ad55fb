"""Padded mini-batches of piano-rolls with masks, long pieces cut into chunks whose RNN state is carried.

Layout: the B sequences of a group are padded to the longest and cut along time into chunks of at most
`chunk_len` frames; the chunks of one group are yielded in order, the first with carry=False (start
from u_0), the rest with carry=True (continue the previous chunk's state: truncated BPTT).

    group:  seq0 ██████████████████░░   chunk 0 | chunk 1 | chunk 2
            seq1 ████████████░░░░░░░░   (░ = padding, mask False)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class RollBatch:
    """rolls float[B, T, P] (0/1, time-major), mask bool[B, T] (True on real frames), lengths long[B]."""

    rolls: Tensor
    mask: Tensor
    lengths: Tensor

    def to(self, device: torch.device | str) -> RollBatch:
        """The same batch on `device`."""
        return RollBatch(self.rolls.to(device), self.mask.to(device), self.lengths.to(device))


def group_sequences(
    lengths: list[int], batch_size: int, generator: torch.Generator | None = None, window: int = 16
) -> list[list[int]]:
    """Split sequence indices into groups of `batch_size` with similar lengths (little padding).

    With a generator: shuffle, sort by length inside windows of `window` groups, then shuffle the
    groups, so batches differ between epochs. Without one: plain length order (deterministic).
    """
    n = len(lengths)
    if generator is None:
        order = sorted(range(n), key=lambda i: lengths[i])
    else:
        order = torch.randperm(n, generator=generator).tolist()
        span = batch_size * window
        order = [i for s in range(0, n, span) for i in sorted(order[s : s + span], key=lambda i: lengths[i])]
    groups = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    if generator is not None:
        groups = [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]
    return groups


def pad_group(rolls: list[np.ndarray], group: list[int], start: int = 0, stop: int | None = None) -> RollBatch:
    """Stack frames [start, stop) (default: all) of the group's rolls bool[T_i, P] into a zero-padded RollBatch
    [B, T, P]; T runs to `stop` or the longest roll's end, lengths count each roll's real frames in the window."""
    windows = [rolls[i][start:stop] for i in group]
    lengths = torch.tensor([len(w) for w in windows])
    padded = np.zeros((len(group), int(lengths.max()), rolls[group[0]].shape[1]), dtype=np.float32)
    for row, window in enumerate(windows):
        padded[row, : len(window)] = window
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    return RollBatch(torch.from_numpy(padded), mask, lengths)


def transpose_batch(batch: RollBatch, max_shift: int, generator: torch.Generator) -> RollBatch:
    """Shift each sequence of rolls [B, T, P] by its own random number of semitones in [−max_shift, max_shift]
    (training-time augmentation); notes pushed outside the P keys are dropped."""
    n_keys = batch.rolls.shape[-1]
    shift = torch.randint(-max_shift, max_shift + 1, (batch.rolls.shape[0], 1, 1), generator=generator)
    source = torch.arange(n_keys) - shift  # key p of the result comes from key p − shift  [B, 1, P]
    inside = (source >= 0) & (source < n_keys)
    index = source.clamp(0, n_keys - 1).expand_as(batch.rolls)
    rolls = batch.rolls.gather(-1, index) * inside
    return RollBatch(rolls, batch.mask, batch.lengths)


def chunk_batch(batch: RollBatch, chunk_len: int | None) -> Iterator[tuple[RollBatch, bool]]:
    """Cut a padded batch along time into chunks of at most `chunk_len` frames; yield (chunk, carry)."""
    total = batch.rolls.shape[1]
    step = chunk_len or total
    for start in range(0, total, step):
        mask = batch.mask[:, start : start + step]
        yield RollBatch(batch.rolls[:, start : start + step], mask, mask.sum(1)), start > 0


def roll_batches(
    rolls: list[np.ndarray],
    batch_size: int,
    chunk_len: int | None = None,
    generator: torch.Generator | None = None,
    transpose: int = 0,
) -> Iterator[tuple[RollBatch, bool]]:
    """All (chunk, carry) pairs of one pass over `rolls`; shuffled when a generator is given, and each
    sequence transposed by a random shift in [−transpose, transpose] semitones when transpose > 0."""
    for group in group_sequences([len(r) for r in rolls], batch_size, generator):
        batch = pad_group(rolls, group)
        if transpose > 0:
            batch = transpose_batch(batch, transpose, generator)
        yield from chunk_batch(batch, chunk_len)
