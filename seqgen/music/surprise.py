"""How surprising each note of a roll is under a music model: −log p of the note, in nats.

For NADE and independent Bernoulli notes the value is exact per note: −log p(v_i = 1 | the notes before it in the
NADE's order, the past frames). An RBM has no per-note conditional, so each note of a frame gets the frame's
−log p(v_t | past) (the AIS estimate); `unit` says which. Rolls are time-major bool[T, P].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.music.conditionals import NADE, Bernoulli

PER_NOTE = "−log p of each note given the notes before it and the past (nats, exact)"
PER_FRAME = "−log p of each note's frame given the past (nats per frame, AIS estimate: an RBM has no per-note value)"


@torch.no_grad()
def note_surprise(model, roll: np.ndarray, generator: torch.Generator | None = None) -> tuple[np.ndarray, str]:
    """(surprise float32[T, P]: nats where a note sounds, NaN elsewhere; what the number is), computed over
    chunks of frames with the RNN state carried (seqgen.music.score.frame_chunks), so memory is flat in T."""
    from seqgen.music.score import frame_chunks

    roll = np.asarray(roll, dtype=bool)
    cond = model.conditional
    out = np.full(roll.shape, np.nan, dtype=np.float32)
    unit = PER_NOTE if isinstance(cond, (NADE, Bernoulli)) else PER_FRAME
    for chunk in frame_chunks(model, [roll], [0]):
        v, biases = chunk.v, chunk.biases
        if isinstance(cond, NADE):
            per_note = F.softplus(-cond.logits(v, biases))  # −log σ(logit) of an on-note
        elif isinstance(cond, Bernoulli):
            per_note = F.softplus(-biases["b_v"])
        else:
            per_note = (-cond.log_likelihood(v, biases, generator).value)[:, None].expand_as(v)
        frames = chunk.frame.cpu().numpy()
        out[frames] = np.where(roll[frames], per_note.float().cpu().numpy(), np.nan)
    return out, unit
