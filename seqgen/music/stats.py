"""Musical statistics of piano-rolls, to compare samples with training music at a glance."""

from __future__ import annotations

import numpy as np

from seqgen.music.pianoroll import note_runs

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
HARMONIC_MINOR = np.array([0, 2, 3, 5, 7, 8, 11])


def _scale_masks() -> np.ndarray:
    """Pitch-class membership [24, 12] of the 12 major and 12 harmonic-minor scales.

    (Natural minor scales hold the same pitch classes as their relative majors.)
    """
    masks = np.zeros((24, 12))
    for row, (scale, tonic) in enumerate((s, t) for s in (MAJOR, HARMONIC_MINOR) for t in range(12)):
        masks[row, (scale + tonic) % 12] = 1.0
    return masks


def roll_statistics(rolls: list[np.ndarray], low_pitch: int = 21) -> dict[str, float]:
    """Statistics of rolls bool[T, P] (column k = MIDI `low_pitch + k`), pooled over all sequences.

    A note is a run of consecutive active frames of one pitch. `mean_polyphony`: notes sounding per
    frame over all frames; `empty_frame_rate`: fraction of silent frames; `note_length_mean` in frames;
    `pitch_min`/`pitch_max`: MIDI numbers. Per sequence, then averaged over sequences with notes:
    `pitch_class_entropy` (bits, of the pitch classes of the notes) and `scale_consistency` (the largest
    fraction of notes inside one major or harmonic-minor scale, as in Mogren 2016). Undefined values are NaN.
    """
    rolls = [np.asarray(r, dtype=bool) for r in rolls]
    n_pitches = rolls[0].shape[1] if rolls else 0
    lengths = np.array([len(r) for r in rolls], dtype=np.int64)
    blank = np.zeros((1, n_pitches), dtype=bool)
    # a silent frame after each sequence keeps notes of neighbouring sequences apart
    joined = np.concatenate([part for r in rolls for part in (r, blank)]) if rolls else blank[:0]
    active = np.concatenate(rolls) if rolls else blank[:0]  # [F, P]
    seq_starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    frames = int(lengths.sum())
    keys, starts, ends = note_runs(joined)
    used = np.flatnonzero(active.any(axis=0))

    seq = np.searchsorted(seq_starts, starts, side="right") - 1
    hist = np.bincount(seq * 12 + (keys + low_pitch) % 12, minlength=len(rolls) * 12).reshape(len(rolls), 12)
    counts = hist.sum(axis=1)
    has_notes = counts > 0
    p = hist[has_notes] / counts[has_notes, None]
    entropy = -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)).sum(axis=1)
    in_scale = (p @ _scale_masks().T).max(axis=1)

    def mean(x: np.ndarray) -> float:
        return float(x.mean()) if x.size else float("nan")

    return {
        "mean_polyphony": float(active.sum() / frames) if frames else float("nan"),
        "empty_frame_rate": mean(~active.any(axis=1)),
        "pitch_class_entropy": mean(entropy),
        "scale_consistency": mean(in_scale),
        "note_length_mean": mean(ends - starts),
        "pitch_min": float(used.min() + low_pitch) if used.size else float("nan"),
        "pitch_max": float(used.max() + low_pitch) if used.size else float("nan"),
        "frames": frames,
        "sequences": len(rolls),
    }
