"""The cells of a reproduction grid: rows (a technique added to the row above, or an output model) × datasets.

The ablation of Bengio, Boulanger-Lewandowski & Pascanu (2013) on plain RNNs: SGD → + gradient-norm
clipping (C) → + leaky integration (L) → + simplified Nesterov momentum with the Sutskever μ schedule (N)
→ + rectifier units, L1 on their activations, identity initialisation (R). Every row holds all options of
the row above and changes only the options it names (`Row.adds`). The output-model rows (RNN, RNN-RBM,
RNN-NADE) take the ablation row with the best validation score on their dataset (music only).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

MUSIC_DATASETS = ("jsb", "nottingham", "musedata", "piano-midi")
TEXT_DATASETS = ("ptb-char",)
TITLES = {"jsb": "JSB", "nottingham": "Nottingham", "musedata": "MuseData", "piano-midi": "Piano-midi.de",
          "ptb-char": "PTB chars", "bach-chorales": "Bach chorales"}  # fmt: skip
OUTPUT_KINDS = ("rnn", "rnn-rbm", "rnn-nade")
OUTPUT_LABELS = {"rnn": "RNN (Bernoulli)", "rnn-rbm": "RNN-RBM", "rnn-nade": "RNN-NADE"}


@dataclass(frozen=True)
class Row:
    """One row: its key, label, the options it changes against the row above, and all its options."""

    key: str
    label: str
    adds: tuple[str, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class Budget:
    """What each cell of one dataset may spend: epochs of mini-batches over a training subset.

    Caps are frames (music) or characters (text) of a split; None keeps the whole split. `rbm_valid_cap`
    and `rbm_test_cap` bound the frames an RNN-RBM scores by AIS, which costs far more than exact scoring.
    """

    epochs: int
    batch_size: int
    train_cap: int | None = None
    valid_cap: int | None = None
    test_cap: int | None = None
    rbm_valid_cap: int | None = 1000
    rbm_test_cap: int | None = 2000

    def describe(self, unit: str) -> str:
        """E.g. "20 epochs, batch 8, train ≤ 40,000 frames, valid ≤ 8,000, test all"."""
        cap = lambda c: "all" if c is None else f"≤ {c:,}"
        text = (f"{self.epochs} epochs, batch {self.batch_size}, train {cap(self.train_cap)} {unit}, "
                f"valid {cap(self.valid_cap)}, test {cap(self.test_cap)}")  # fmt: skip
        if unit == "frames":
            text += f"; RNN-RBM AIS on valid {cap(self.rbm_valid_cap)}, test {cap(self.rbm_test_cap)}"
        return text


@dataclass(frozen=True)
class Cell:
    """One cell: a dataset and a row (an ablation row key, or `out-<kind>` for an output model)."""

    dataset: str
    row: str

    @property
    def key(self) -> str:
        """File-name-safe "<dataset>--<row>" (a dataset given as a path is named by its file name)."""
        return f"{Path(self.dataset).name}--{self.row}"


@dataclass(frozen=True)
class Grid:
    """A named grid: datasets with their budgets, per-product settings, and test AIS for RNN-RBM cells."""

    name: str
    budgets: dict[str, Budget]
    settings: dict[str, dict[str, Any]]
    ais_runs: int = 100
    ais_steps: int = 200
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.budgets)

    def rows(self, task: str) -> list[Row]:
        """The ablation rows of a product, from its settings."""
        return ablation_rows(self.settings[task])

    def ablation_cells(self) -> list[Cell]:
        return [Cell(d, r.key) for d in self.datasets for r in self.rows(task_of(d))]

    def output_kinds(self, dataset: str) -> tuple[str, ...]:
        """Output models of a dataset: all three for music, none for text (its output is a softmax)."""
        return OUTPUT_KINDS if task_of(dataset) == "music" else ()

    def only(self, datasets: list[str]) -> Grid:
        """This grid restricted to `datasets` (in that order)."""
        from seqgen.errors import SeqgenError

        unknown = [d for d in datasets if d not in self.budgets]
        if unknown:
            raise SeqgenError(f"{', '.join(unknown)}: not in grid {self.name} ({', '.join(self.budgets)})")
        return replace(self, budgets={d: self.budgets[d] for d in datasets})


def task_of(dataset: str) -> str:
    """The product of a dataset: text for PTB characters or a .txt file, else music."""
    return "text" if dataset in TEXT_DATASETS or dataset.endswith(".txt") else "music"


def ablation_rows(s: dict[str, Any]) -> list[Row]:
    """SGD → +C → +L → +N → +R with the product's ε, clipping threshold, μ_max and L1 weight in `s`."""
    base = {
        "lr": s["lr"], "optimizer": "sgd", "momentum": 0.0, "momentum_schedule": "constant", "clip": 0.0,
        "cell": "tanh", "leaky": False, "init": "orthogonal", "l1": 0.0, **s.get("fixed", {}),
    }  # fmt: skip
    steps = [
        ("sgd", "SGD", {}),
        ("clip", "+ clipping (C)", {"clip": s["clip"]}),
        ("leaky", "+ leaky integration (L)", {"leaky": True}),
        ("nesterov", "+ Nesterov, μ schedule (N)",
         {"optimizer": "nesterov", "momentum": s["momentum"], "momentum_schedule": "sutskever"}),
        ("relu", "+ rectifiers, L1, identity init (R)", {"cell": "relu", "l1": s["l1"], "init": "identity"}),
    ]  # fmt: skip
    rows, options = [], base
    for key, label, adds in steps:
        options = {**options, **adds}
        rows.append(Row(key, label, tuple(adds), options))
    return rows


def output_row(best: Row, kind: str) -> Row:
    """The output-model row `kind` trained with the settings of the best ablation row."""
    return Row(f"out-{kind}", OUTPUT_LABELS[kind], ("model",), {**best.options, "model": kind})


# Per-product settings shared by every row: ε (equal in all rows), the clipping threshold c of row C,
# μ_max of row N, the L1 weight λ of row R, and options fixed for the whole grid.
SETTINGS = {
    "music": {"lr": 0.3, "clip": 1.0, "momentum": 0.9, "l1": 1e-4,
              "fixed": {"preset": "paper-rnn", "patience": 0, "chunk_len": 100}},
    "text": {"lr": 1.0, "clip": 1.0, "momentum": 0.9, "l1": 1e-5,
             "fixed": {"hidden": 256, "embedding": 64, "tokenizer": "char", "patience": 0, "chunk_len": 100}},
}  # fmt: skip

GRIDS: dict[str, dict[bool, Grid]] = {
    "paper2013": {
        False: Grid(
            "paper2013",
            {
                "jsb": Budget(30, 4, valid_cap=5_000),
                "nottingham": Budget(8, 8, train_cap=50_000, valid_cap=5_000),
                "musedata": Budget(8, 8, train_cap=50_000, valid_cap=5_000),
                "piano-midi": Budget(8, 8, train_cap=50_000, valid_cap=5_000),
                "ptb-char": Budget(2, 32, train_cap=600_000, valid_cap=50_000),
            },
            SETTINGS,
            ais_runs=50,
            ais_steps=100,
        ),
        True: Grid(
            "paper2013-quick",
            {
                "jsb": Budget(10, 4, 8_000, 2_000, 2_000, rbm_valid_cap=500, rbm_test_cap=500),
                "nottingham": Budget(4, 8, 15_000, 2_000, 2_000, rbm_valid_cap=500, rbm_test_cap=500),
                "musedata": Budget(4, 8, 15_000, 2_000, 2_000, rbm_valid_cap=500, rbm_test_cap=500),
                "piano-midi": Budget(4, 8, 15_000, 2_000, 2_000, rbm_valid_cap=500, rbm_test_cap=500),
                "ptb-char": Budget(1, 32, train_cap=300_000, valid_cap=30_000, test_cap=50_000),
            },
            SETTINGS,
            ais_runs=20,
            ais_steps=100,
        ),
    },
}


def get_grid(name: str, quick: bool = False) -> Grid:
    """The grid called `name`, with its quick budgets when `quick`."""
    from seqgen.errors import SeqgenError

    if name not in GRIDS:
        raise SeqgenError(f"grid {name!r}: expected one of {', '.join(GRIDS)}")
    return GRIDS[name][quick]
