"""Each task generator has the statistics its docstring states, is reproducible from its seed, and scores
a population member by member."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgen.errors import SeqgenError
from seqgen.lab.tasks import make_task

N = 10_000


def batch(name, length=100, n=N, seed=0):
    return make_task(name, length).sample(n, torch.Generator().manual_seed(seed))


def test_adding_constant_one_baseline_is_one_sixth():
    x, y = batch("adding")
    assert float(((1 - y) ** 2).mean()) == pytest.approx(1 / 6, abs=0.01)
    marks = x[..., 1]
    assert (marks.sum(1) == 2).all() and (marks[:, :50].sum(1) == 1).all()
    torch.testing.assert_close(y, (x[..., 0] * marks).sum(1))


def test_temporal_order_classes_and_positions():
    x, y = batch("temporal_order")
    symbols = x.argmax(-1)
    assert (symbols[:, 0] == 0).all() and (symbols[:, -1] == 1).all()  # B ... E
    relevant = (symbols == 2) | (symbols == 3)  # X or Y
    assert (relevant.sum(1) == 2).all()
    assert relevant[:, 10:20].any(1).all() and relevant[:, 50:60].any(1).all()
    first, second = [symbols[relevant].view(N, 2)[:, i] - 2 for i in (0, 1)]
    assert torch.equal(y[:, 0], 2 * first + second)
    assert np.allclose(torch.bincount(y[:, 0], minlength=4).numpy() / N, 0.25, atol=0.02)


def test_latching_bit_only_at_the_start():
    x, y = batch("latching")
    assert torch.equal(x[:, 0, 0], 2.0 * y[:, 0] - 1)
    assert float(y.float().mean()) == pytest.approx(0.5, abs=0.02)
    noise = x[:, 1:, 0]
    assert float(noise.std()) == pytest.approx(0.2, abs=0.005)
    assert float(((noise[:, -1] > 0).long() == y[:, 0]).float().mean()) == pytest.approx(0.5, abs=0.02)


def test_copy_memory_layout_and_memoryless_baseline():
    task = make_task("copy_memory", 50)
    x, y = task.sample(N, torch.Generator().manual_seed(0))
    assert x.shape == (N, 70, 10) and y.shape == (N, 10)
    seq = x.argmax(-1)
    assert torch.equal(seq[:, :10], y) and (seq[:, 59] == 9).all()
    assert (seq[:, 10:59] == 0).all() and (seq[:, 60:] == 0).all()
    frequencies = torch.bincount(y.flatten(), minlength=9)[1:].float() / y.numel()
    assert np.allclose(frequencies.numpy(), 1 / 8, atol=0.01)
    guess = torch.zeros(1, N, 10, 9)
    guess[..., 1] = 1.0  # always the first symbol
    assert float(task.metric(guess, y)[0]) == pytest.approx(7 / 8, abs=0.01)


def test_digits_plain_and_permuted():
    plain, permuted = make_task("digits"), make_task("digits_permuted")
    x, y = plain.eval_set()
    xp, yp = permuted.eval_set()
    assert x.shape == (359, 64, 1) and len(plain.images[0]) == 1797 - 359
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and set(y[:, 0].tolist()) == set(range(10))
    assert torch.equal(y, yp) and not torch.equal(x, xp)
    torch.testing.assert_close(x.sort(1).values, xp.sort(1).values)
    assert torch.equal(xp, make_task("digits_permuted").eval_set()[0])  # a fixed permutation


def test_mnist_from_a_local_file(tmp_path):
    path = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    np.savez(path, x_train=images(20), y_train=np.arange(20) % 10, x_test=images(10), y_test=np.arange(10))
    x, _ = make_task("mnist", data_path=str(path)).eval_set()
    assert x.shape == (10, 784, 1) and float(x.max()) <= 1.0
    with pytest.raises(SeqgenError, match="data_path"):
        make_task("mnist")
    with pytest.raises(SeqgenError, match="mnist.npz"):
        make_task("mnist", data_path=str(tmp_path / "missing.npz"))


@pytest.mark.parametrize("name", ["adding", "temporal_order", "latching", "copy_memory", "digits"])
def test_reproducible_and_scored_per_member(name):
    task = make_task(name, 30)
    a, b, c = (task.sample(16, torch.Generator().manual_seed(s)) for s in (1, 1, 2))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    x, y = a
    assert x.shape == (16, task.seq_len, task.input_size)
    pred = torch.randn(3, 16, task.readout_steps, task.output_size)
    loss, metric = task.loss(pred, y), task.metric(pred, y)
    assert loss.shape == metric.shape == (3,)
    torch.testing.assert_close(task.loss(pred[1:2], y)[0], loss[1])
    assert task.success(torch.tensor([task.threshold / 2, task.threshold * 2, float("nan")])).tolist() == [
        True,
        False,
        False,
    ]


def test_unknown_task_is_one_clear_error():
    with pytest.raises(SeqgenError, match="task 'nope'"):
        make_task("nope", 10)
