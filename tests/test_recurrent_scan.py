"""The fast paths of the recurrent time loop: a tanh step of at least NUMPY_TANH_MIN elements runs in numpy's kernel,
and gives what the same recurrence written with torch ops gives (values and autograd gradients), so a population
that takes it still equals its members trained alone, who do not."""

from __future__ import annotations

import pytest
import torch

from seqgen.core.population import stack_models
from seqgen.core.recurrent import Recurrent, RecurrentConfig
from seqgen.core.recurrent_scan import NUMPY_TANH_MIN, scan


def reference(drive, h, w):
    """The plain tanh recurrence with torch.tanh under autograd, time-major [N, T, B, H]."""
    out = []
    for t in range(drive.shape[1]):
        h = torch.tanh(drive[:, t] + h @ w.transpose(1, 2))
        out.append(h)
    return torch.stack(out, 1)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_large_tanh_steps_match_torch(dtype, tol):
    n, steps, batch, hidden = 4, 6, 8, 80
    assert n * batch * hidden >= NUMPY_TANH_MIN  # the numpy path is taken
    gen = torch.Generator().manual_seed(0)
    make = lambda *s, scale=1.0: (scale * torch.randn(*s, generator=gen, dtype=torch.float64)).to(dtype)
    args = [make(n, steps, batch, hidden), make(n, batch, hidden), make(n, hidden, hidden, scale=hidden**-0.5)]
    fast = [a.clone().requires_grad_() for a in args]
    slow = [a.clone().requires_grad_() for a in args]
    weight = make(n, steps, batch, hidden)
    h_fast, h_slow = scan(*fast, None, "tanh"), reference(*slow)
    torch.testing.assert_close(h_fast, h_slow, rtol=0, atol=tol)
    (h_fast * weight).sum().backward()
    (h_slow * weight).sum().backward()
    for f, s in zip(fast, slow):
        torch.testing.assert_close(f.grad, s.grad, rtol=0, atol=tol * 10)


def test_population_on_the_numpy_path_equals_members_alone():
    config = RecurrentConfig(7, 64, cell="tanh")
    layers = []
    for seed in range(8):
        torch.manual_seed(seed)
        layers.append(Recurrent(config).double())
    pop = stack_models(layers)
    x = torch.randn(5, 11, 7, dtype=torch.float64)
    assert 5 * 64 < NUMPY_TANH_MIN <= 8 * 5 * 64  # members alone take torch's tanh, the population numpy's
    h, _ = pop(x)
    h.pow(2).sum().backward()
    for i, layer in enumerate(layers):
        hi, _ = layer(x)
        hi.pow(2).sum().backward()
        torch.testing.assert_close(h[i], hi, rtol=0, atol=1e-12)
        for (name, p), q in zip(layer.named_parameters(), pop.parameters()):
            torch.testing.assert_close(q.grad[i], p.grad, rtol=0, atol=1e-10, msg=name)
