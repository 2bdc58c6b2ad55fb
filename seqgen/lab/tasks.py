"""Long-term-dependency tasks, generated on the fly from a seed, each with its stated success criterion.

Every task gives batches x [B, T, I] (batch-first, time-major inside a sequence) and targets y, reads the
model's prediction from its last `readout_steps` states, and scores a population of N members at once:
`loss(pred, y)` and `metric(pred, y)` take pred [N, B, k, O] and return [N]. Metrics are lower-is-better
(MSE or error rate); a run succeeds when its metric on the task's fixed evaluation set is below `threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from seqgen.errors import SeqgenError

TASKS = (
    "adding",
    "temporal_order",
    "latching",
    "copy_memory",
    "digits",
    "digits_permuted",
    "mnist",
    "mnist_permuted",
)
EVAL_SEED = 2_147_483_629  # evaluation sets come from their own stream, never from a training stream


@dataclass
class Task:
    """A task's shapes and its success criterion; subclasses implement `sample` (and may override `eval_set`)."""

    length: int
    threshold: float
    eval_size: int = 1000
    input_size: int = 1
    output_size: int = 1
    readout_steps: int = 1
    kind: str = "ce"  # "mse": regression of y [B]; "ce": classes y [B, k]
    criterion: str = ""
    _eval: tuple[Tensor, Tensor] | None = field(default=None, init=False, repr=False)

    @property
    def metric_name(self) -> str:
        """The metric's name: "mse" for regression, "error" (fraction of wrong classes) for classification."""
        return "mse" if self.kind == "mse" else "error"

    @property
    def seq_len(self) -> int:
        """Number of input steps of one sequence (the BPTT depth)."""
        return self.length

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n fresh sequences x [n, T, I] and targets y."""
        raise NotImplementedError

    def eval_set(self) -> tuple[Tensor, Tensor]:
        """The fixed evaluation set (`eval_size` fresh sequences from the evaluation stream), cached."""
        if self._eval is None:
            self._eval = self.sample(self.eval_size, torch.Generator().manual_seed(EVAL_SEED))
        return self._eval

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        """Per-member training loss [N] (MSE, or cross-entropy in nats per predicted symbol)."""
        if self.kind == "mse":
            return (pred[..., 0, 0] - y).pow(2).mean(1)
        n_members, n_out = pred.shape[0], pred.shape[-1]
        target = y.expand(n_members, *y.shape).reshape(-1)
        return F.cross_entropy(pred.reshape(-1, n_out), target, reduction="none").view(n_members, -1).mean(1)

    def metric(self, pred: Tensor, y: Tensor) -> Tensor:
        """Per-member score [N], lower is better: MSE, or the fraction of wrongly predicted symbols."""
        if self.kind == "mse":
            return (pred[..., 0, 0] - y).pow(2).mean(1)
        return (pred.argmax(-1) != y).flatten(1).float().mean(1)

    def success(self, metric: Tensor) -> Tensor:
        """Bool [N]: the stated criterion, metric below `threshold` (NaN never succeeds)."""
        return metric < self.threshold


@dataclass
class Adding(Task):
    """Adding problem (Le et al. 2015): inputs (x_t ~ U(0,1), mark m_t), one mark in each half; the target
    is the sum of the two marked x. Predicting 1 always gives MSE 1/6 ≈ 0.167. Success: MSE < `threshold`
    (default a tenth of that baseline)."""

    def __post_init__(self):
        self.input_size, self.output_size, self.kind = 2, 1, "mse"
        self.criterion = f"MSE < {self.threshold:g} on {self.eval_size} fresh sequences (constant 1: 0.167)"

    def sample(self, n, generator):
        values = torch.rand(n, self.length, generator=generator)
        half = self.length // 2
        first = torch.randint(0, half, (n, 1), generator=generator)
        second = torch.randint(half, self.length, (n, 1), generator=generator)
        marks = torch.zeros(n, self.length).scatter_(1, first, 1.0).scatter_(1, second, 1.0)
        return torch.stack([values, marks], -1), (values * marks).sum(1)


@dataclass
class TemporalOrder(Task):
    """Temporal order (Hochreiter & Schmidhuber 1997, task 6a): distractors a–d between a start B and an
    end E; X or Y at t1 ∈ [T/10, 2T/10) and t2 ∈ [T/2, 6T/10); classify XX, XY, YX, YY. One-hot inputs
    (B, E, X, Y, a, b, c, d). Success (Pascanu et al. 2013): error < 1 % on fresh sequences."""

    def __post_init__(self):
        if self.length < 10:
            raise SeqgenError(f"temporal_order length {self.length}: need at least 10 steps")
        self.input_size, self.output_size, self.kind = 8, 4, "ce"
        self.criterion = f"error < {self.threshold:g} on {self.eval_size} fresh sequences (chance 0.75)"

    def sample(self, n, generator):
        T = self.length
        symbols = torch.randint(4, 8, (n, T), generator=generator)
        symbols[:, 0], symbols[:, -1] = 0, 1
        t1 = torch.randint(T // 10, max(2 * T // 10, T // 10 + 1), (n, 1), generator=generator)
        t2 = torch.randint(T // 2, max(6 * T // 10, T // 2 + 1), (n, 1), generator=generator)
        which = torch.randint(0, 2, (n, 2), generator=generator)
        symbols.scatter_(1, t1, 2 + which[:, :1]).scatter_(1, t2, 2 + which[:, 1:])
        return F.one_hot(symbols, 8).float(), (2 * which[:, 0] + which[:, 1]).unsqueeze(1)


@dataclass
class Latching(Task):
    """Latching (Bengio et al. 1994): a bit b ∈ {−1, +1} is the first input, then T − 1 steps of Gaussian
    noise N(0, `noise`²); output b at the end. Only a state kept for T steps can solve it.
    Success: error < 1 % on fresh sequences."""

    noise: float = 0.2

    def __post_init__(self):
        self.input_size, self.output_size, self.kind = 1, 2, "ce"
        self.criterion = f"error < {self.threshold:g} on {self.eval_size} fresh sequences (chance 0.5)"

    def sample(self, n, generator):
        bit = torch.randint(0, 2, (n,), generator=generator)
        x = self.noise * torch.randn(n, self.length, generator=generator)
        x[:, 0] = 2.0 * bit - 1.0
        return x.unsqueeze(-1), bit.unsqueeze(1)


@dataclass
class CopyMemory(Task):
    """Copy memory (Arjovsky et al. 2016): `n_symbols` symbols from 1..8, T − 1 blanks, a delimiter (9),
    then `n_symbols` blanks during which the symbols must be recalled; T is the delay. A memoryless model
    recalls 1/8 of them. Success: recall error < 1 % on fresh sequences."""

    n_symbols: int = 10

    def __post_init__(self):
        self.input_size, self.output_size, self.kind = 10, 9, "ce"
        self.readout_steps = self.n_symbols
        self.criterion = f"recall error < {self.threshold:g} on {self.eval_size} fresh sequences (chance 7/8)"

    @property
    def seq_len(self) -> int:
        return self.length + 2 * self.n_symbols

    def sample(self, n, generator):
        k = self.n_symbols
        data = torch.randint(1, 9, (n, k), generator=generator)
        seq = torch.zeros(n, self.seq_len, dtype=torch.long)
        seq[:, :k] = data
        seq[:, self.length + k - 1] = 9
        return F.one_hot(seq, 10).float(), data


@dataclass
class SequentialImages(Task):
    """Images read one pixel per step (x [B, P, 1], values in [0, 1]), optionally under a fixed pixel
    permutation; train batches come from the training split, the evaluation set is the test split.
    Success: test error < `threshold`."""

    images: tuple[Tensor, Tensor, Tensor, Tensor] | None = field(default=None, repr=False)
    permute_seed: int | None = None

    def __post_init__(self):
        x_train, _, x_test, _ = self.images
        self.length = x_train.shape[1]
        self.input_size, self.output_size, self.kind = 1, 10, "ce"
        self.eval_size = x_test.shape[0]
        self.criterion = f"test error < {self.threshold:g} on {self.eval_size} images (chance 0.9)"
        self.order = torch.arange(self.length)
        if self.permute_seed is not None:
            self.order = torch.randperm(self.length, generator=torch.Generator().manual_seed(self.permute_seed))

    def sample(self, n, generator):
        x_train, y_train, _, _ = self.images
        rows = torch.randint(0, x_train.shape[0], (n,), generator=generator)
        return x_train[rows][:, self.order].unsqueeze(-1), y_train[rows].unsqueeze(1)

    def eval_set(self):
        _, _, x_test, y_test = self.images
        return x_test[:, self.order].unsqueeze(-1), y_test.unsqueeze(1)


def digits_split(test_fraction: float = 0.2) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's 1797 8×8 digits as 64-pixel rows in [0, 1]; a fixed shuffled train/test split."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def mnist_split(path: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """MNIST from a local mnist.npz (keys x_train, y_train, x_test, y_test) as 784-pixel rows in [0, 1]."""
    try:
        with np.load(path) as data:
            arrays = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, KeyError, ValueError) as exc:
        raise SeqgenError(f"{path}: not a readable mnist.npz with x_train/y_train/x_test/y_test ({exc})") from exc
    x_train, y_train, x_test, y_test = arrays
    to_x = lambda a: torch.tensor(a.reshape(len(a), -1) / 255.0, dtype=torch.float32)
    to_y = lambda a: torch.tensor(a, dtype=torch.long)
    return to_x(x_train), to_y(y_train), to_x(x_test), to_y(y_test)


DEFAULT_THRESHOLDS = {
    "adding": 1 / 60,
    "temporal_order": 0.01,
    "latching": 0.01,
    "copy_memory": 0.01,
    "digits": 0.1,
    "digits_permuted": 0.1,
    "mnist": 0.1,
    "mnist_permuted": 0.1,
}


def make_task(
    name: str,
    length: int = 0,
    eval_size: int = 1000,
    threshold: float | None = None,
    data_path: str = "",
) -> Task:
    """Build a task by name; `length` is T (the delay for copy_memory; ignored for image tasks);
    `threshold` overrides the default success threshold; `data_path` is the local mnist.npz for mnist*."""
    if name not in TASKS:
        raise SeqgenError(f"task {name!r}: expected one of {', '.join(TASKS)}")
    limit = DEFAULT_THRESHOLDS[name] if threshold is None else threshold
    if name.startswith(("digits", "mnist")):
        if name.startswith("mnist") and not data_path:
            raise SeqgenError(f"task {name} needs data_path, a local mnist.npz (nothing is downloaded)")
        images = mnist_split(data_path) if name.startswith("mnist") else digits_split()
        permute = 0 if name.endswith("_permuted") else None
        return SequentialImages(0, limit, images=images, permute_seed=permute)
    if length < 2:
        raise SeqgenError(f"task {name}: length {length} must be at least 2")
    cls = {"adding": Adding, "temporal_order": TemporalOrder, "latching": Latching, "copy_memory": CopyMemory}
    return cls[name](length, limit, eval_size)
