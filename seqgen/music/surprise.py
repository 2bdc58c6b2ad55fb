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
    """(surprise float[T, P]: nats where a note sounds, NaN elsewhere; what the number is)."""
    param = next(model.parameters())
    v = torch.as_tensor(np.asarray(roll, dtype=bool), device=param.device).to(param.dtype)
    biases = {k: b[0] for k, b in model.teacher_forced_biases(v[None])[0].items()}
    cond = model.conditional
    if isinstance(cond, NADE):
        per_note, unit = F.softplus(-cond.logits(v, biases)), PER_NOTE  # −log σ(logit) of an on-note
    elif isinstance(cond, Bernoulli):
        per_note, unit = F.softplus(-biases["b_v"]), PER_NOTE
    else:
        frame = -cond.log_likelihood(v, biases, generator).value
        per_note, unit = frame[:, None].expand_as(v), PER_FRAME
    out = per_note.double().cpu().numpy()
    return np.where(np.asarray(roll, dtype=bool), out, np.nan), unit
