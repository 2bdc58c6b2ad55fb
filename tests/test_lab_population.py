"""A population is N independent RNNs: each member equals the core's single RNN of the same seed, trains
exactly like the same member alone, and clipping uses each member's own norm (the optimiser's parity with the
core's: tests/test_population_training.py)."""

from __future__ import annotations

import pytest
import torch

from seqgen.core.optim import clip_members, member_grad_norms
from seqgen.core.recurrent import Recurrent, RecurrentConfig
from seqgen.lab.population import Shape, init_population, run
from seqgen.lab.train import Member, PopulationSpec, train_population


@pytest.mark.parametrize(
    "cell,init,leaky", [("tanh", "orthogonal", False), ("relu", "identity", False), ("tanh", "gaussian", True),
                        ("lstm", "orthogonal", False), ("gru", "orthogonal", False)],
)  # fmt: skip
def test_members_equal_core_recurrent(cell, init, leaky):
    """Member i's read-out of every state is that of the core `Recurrent` and nn.Linear built under seed i."""
    shape = Shape(3, 6, 2, cell, init, 1.0, leaky)
    seeds = [4, 9, 11]
    params = init_population(shape, seeds)
    x = torch.randn(5, 7, 3)
    pred, probes = run(params, shape, x, readout_steps=7, keep_states=True)
    assert len(probes) == 7 * (2 if cell == "lstm" else 1) and not any(p.any() for p in probes)
    for i, seed in enumerate(seeds):
        torch.manual_seed(seed)
        core = Recurrent(
            RecurrentConfig(3, 6, cell=cell, leaky=leaky, init=init if cell not in ("lstm", "gru") else "auto")
        )
        readout = torch.nn.Linear(6, 2)
        torch.testing.assert_close(pred[i], readout(core(x)[0]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell,optimizer", [("relu", "nesterov"), ("lstm", "adam"), ("tanh", "sgd"), ("gru", "adam")])
def test_population_of_8_trains_like_8_separate_runs(cell, optimizer):
    """Same learning curves, diagnostics and outcomes to float tolerance, whatever else is in the batch.

    In float64, so that rounding differences of batched matmuls are not amplified by chaotic members."""
    spec = PopulationSpec(task="adding", length=12, cell=cell, init="identity", hidden=8, optimizer=optimizer,
                          steps=40, batch_size=8, eval_every=10, eval_size=64, diag_every=10, threshold=0.3,
                          dtype="float64")  # fmt: skip
    lrs = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1e4, 3e-4]
    members = [Member(f"m{i}", seed=i, lr=lr, clip=[0.0, 1.0][i % 2], momentum=0.5 + 0.05 * i)
               for i, lr in enumerate(lrs)]  # fmt: skip
    together = train_population(spec, members)
    assert len({r["status"] for r in together}) > 1  # members really are stopped on their own
    for member, joint in zip(members, together):
        alone = train_population(spec, [member])[0]
        assert (alone["status"], alone["stopped_step"]) == (joint["status"], joint["stopped_step"])
        for key in ("metric_curve", "loss_curve", "log10_ratio", "grad_norm", "spectral_radius"):
            nan = lambda values: [float("nan") if v is None else v for v in values]
            assert nan(alone[key]) == pytest.approx(nan(joint[key]), rel=1e-8, abs=1e-10, nan_ok=True), key


def test_clipping_uses_each_members_own_norm():
    """Member norms are clipped separately; c = 0 leaves a member alone."""
    grads = {
        "a": torch.tensor([[3.0, 0.0], [0.3, 0.0], [30.0, 0.0]]),
        "b": torch.tensor([[4.0], [0.4], [40.0]]),
    }
    norms = member_grad_norms(grads.values())
    torch.testing.assert_close(norms, torch.tensor([5.0, 0.5, 50.0]))
    clipped = clip_members(grads.values(), norms, torch.tensor([1.0, 1.0, 0.0]))
    assert clipped.tolist() == [True, False, False]
    torch.testing.assert_close(member_grad_norms(grads.values()), torch.tensor([1.0, 0.5, 50.0]), atol=1e-5, rtol=0)
