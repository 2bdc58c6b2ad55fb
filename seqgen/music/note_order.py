"""The order in which a NADE visits the notes of a frame: ascending pitch (the default) or descending.

A descending NADE is the same NADE applied to the frame flipped along the pitch axis, so the highest pitch is
its first visible unit: clamping a top voice and the silence above it, then drawing the notes below, is exact
ancestral sampling from p(lower notes | top voice). Outside this class every frame and bias is in pitch order.
"""

from __future__ import annotations

from torch import Tensor

from seqgen.music.conditionals import NADE, Biases

NOTE_ORDERS = ("ascending", "descending")


def _flip_biases(biases: Biases) -> Biases:
    """b_v [..., P] in NADE order (b_h unchanged)."""
    return {**biases, "b_v": biases["b_v"].flip(-1)}


class DescendingNADE(NADE):
    """A NADE whose first visible unit is the highest pitch; frames v [..., P] and b_v are given in pitch order."""

    def logits(self, v: Tensor, biases: Biases) -> Tensor:
        """Logits of p(v_i = 1 | notes above i) [..., P], in pitch order."""
        return super().logits(v.flip(-1), _flip_biases(biases)).flip(-1)

    def sample(self, biases, generator=None, temperature=1.0):
        """Ancestral sampling from the highest note down; returned in pitch order."""
        return super().sample(_flip_biases(biases), generator, temperature).flip(-1)
