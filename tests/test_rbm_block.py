"""A population RBM keeps its Gibbs uniforms in one block between calls: the chains it returns own their memory,
and it draws exactly the numbers a fresh block would."""

from __future__ import annotations

import torch

from seqgen.music.conditionals import RBM


def test_population_gibbs_reuses_its_block_without_aliasing_results():
    torch.manual_seed(0)
    rbm = RBM(12, 7, members=3).double()
    v = (torch.rand(5, 12) < 0.3).double()
    biases = {"b_v": torch.randn(3, 5, 12, dtype=torch.float64), "b_h": torch.randn(3, 5, 7, dtype=torch.float64)}
    streams = lambda seeds=(1, 2, 3): [torch.Generator().manual_seed(s) for s in seeds]
    first = rbm.gibbs(v, biases, 4, streams())
    kept = first.clone()
    second = rbm.gibbs(v, biases, 4, streams((4, 5, 6)))  # the same block, drawn again from other streams
    assert rbm._uniforms is not None and torch.equal(first, kept) and not torch.equal(first, second)
    fresh = RBM(12, 7, members=3).double()
    fresh.W.data.copy_(rbm.W)
    fresh._uniform_block = lambda n, size, like: None  # a fresh tensor per call, as before the block
    assert torch.equal(fresh.gibbs(v, biases, 4, streams()), first)
    for i in range(3):  # each member draws what it draws alone from its stream
        alone = RBM(12, 7).double()
        alone.W.data.copy_(rbm.W[i])
        one = {k: b[i] for k, b in biases.items()}
        assert torch.equal(alone.gibbs(v, one, 4, torch.Generator().manual_seed(i + 1)), first[i])
