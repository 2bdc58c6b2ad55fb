"""AIS against exact log Z of tiny RBMs (enumeration): forward and reverse bracket it and narrow with steps."""

import pytest
import torch
import torch.nn.functional as F

from seqgen.music.ais import AISSettings, betas, log_partition, mean_field_logits


def tiny_rbms(p=10, h=8, n=200, scale=3.0, seed=0):
    """N tiny RBMs sharing W [p, h] (double), their exact log Z [N], and one exact sample v [N, p] of each."""
    g = torch.Generator().manual_seed(seed)
    W = scale * torch.randn(p, h, generator=g, dtype=torch.float64)
    b_v = torch.randn(n, p, generator=g, dtype=torch.float64) - 1
    b_h = torch.randn(n, h, generator=g, dtype=torch.float64)
    vs = ((torch.arange(2**p)[:, None] >> torch.arange(p)) & 1).double()  # every v [2^p, p]
    log_f = b_v @ vs.T + F.softplus(b_h[:, None, :] + vs @ W).sum(-1)  # −F(v) [N, 2^p]
    log_z = torch.logsumexp(log_f, -1)
    v = vs[torch.multinomial((log_f - log_z[:, None]).exp(), 1, generator=g).squeeze(1)]
    return W, b_v, b_h, log_z, v


def errors(steps: int, runs: int = 4, seed: int = 1) -> tuple[float, float, float]:
    """Mean error of forward and reverse log Ẑ against exact log Z over the tiny RBMs, and the forward stderr."""
    W, b_v, b_h, log_z, v = tiny_rbms()
    r = log_partition(
        W, b_v, b_h, AISSettings(runs=runs, steps=steps), v, torch.Generator().manual_seed(seed)
    )
    n = len(log_z)
    return (
        float((r.log_z - log_z).mean()),
        float((r.log_z_reverse - log_z).mean()),
        float(r.stderr.norm() / n),
    )


@pytest.mark.parametrize("steps", [3, 10])
def test_forward_and_reverse_bracket_exact_log_z(steps):
    forward, reverse, stderr = errors(steps)
    assert forward < -3 * stderr and reverse > 3 * stderr, (forward, reverse, stderr)


def test_bracket_narrows_as_steps_grow():
    gaps = [reverse - forward for forward, reverse, _ in (errors(s) for s in (5, 20, 500))]
    assert gaps[0] > gaps[1] > 3 * abs(gaps[2]), gaps


def test_long_run_lands_within_error_bars():
    W, b_v, b_h, log_z, v = tiny_rbms(n=20, scale=1.0)
    r = log_partition(W, b_v, b_h, AISSettings(runs=50, steps=300), v, torch.Generator().manual_seed(2))
    assert torch.all(r.stderr > 0)
    assert torch.all((r.log_z - log_z).abs() < 4 * r.stderr + 1e-3)
    assert torch.all((r.log_z_reverse - log_z).abs() < 4 * r.stderr_reverse + 1e-3)
    assert torch.all((r.ess > 1) & (r.ess <= 50 + 1e-9))


def test_reverse_is_skipped_without_data_or_when_off():
    W, b_v, b_h, _, v = tiny_rbms(n=3)
    gen = torch.Generator().manual_seed(0)
    assert log_partition(W, b_v, b_h, AISSettings(runs=2, steps=3), None, gen).log_z_reverse.isnan().all()
    off = AISSettings(runs=2, steps=3, reverse=False)
    assert log_partition(W, b_v, b_h, off, v, gen).log_z_reverse.isnan().all()


def test_mean_field_base_is_exact_without_weights():
    b_v, b_h = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    a = mean_field_logits(torch.zeros(6, 3, dtype=torch.float64), b_v, b_h, iters=10)
    torch.testing.assert_close(a, b_v)


@pytest.mark.parametrize("schedule", ["sigmoid", "linear"])
def test_betas_run_from_zero_to_one(schedule):
    b = betas(50, schedule)
    assert len(b) == 51 and b[0] == 0 and b[-1] == 1 and torch.all(b[1:] > b[:-1])


def test_settings_are_checked():
    with pytest.raises(ValueError, match="runs"):
        AISSettings(runs=1)
    with pytest.raises(ValueError, match="schedule"):
        AISSettings(schedule="cosine")
    with pytest.raises(ValueError, match="base_mean_field"):
        AISSettings(base_mean_field=1.5)
