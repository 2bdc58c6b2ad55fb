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
TRAINED_OUTPUTS = ("rnn-nade", "rnn-rbm")  # the RNN (Bernoulli) output row is the best ablation row itself


@dataclass(frozen=True)
class Row:
    """One row: its key, label, the options it changes against the row above, and all its options."""

    key: str
    label: str
    adds: tuple[str, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class Budget:
    """What each cell of one dataset spends: one search of `trials` log-spaced ε × `seeds` seeds as a population,
    halved at the `rungs` epochs (keeping the best `keep` of the settings), each member stopped once `patience`
    epochs have not raised its best validation score by more than `min_delta`, or at the `epochs` cap.

    Caps are frames (music) or characters (text) of a split; None keeps the whole split. `rbm_valid_cap` and
    `rbm_test_cap` bound the frames an RNN-RBM scores by AIS; `rbm_epochs`, `rbm_rungs` and `rbm_patience` (None:
    the same) are its cap, rungs and patience, since CD-15 and AIS validation cost several times an RNN-NADE's
    epoch; its RBM is first pretrained on single frames for about `rbm_pretrain_frames` frames.
    """

    epochs: int
    batch_size: int
    patience: int = 0
    rungs: tuple[int, ...] = ()
    min_delta: float = 1e-3  # a gain of at most this (nats/frame, bits/char) in `patience` epochs stops a member
    lr_decay: float | None = None  # γ of ε·γ^epoch for this dataset (None: the row's)
    keep: float = 0.5
    trials: int = 8
    seeds: int = 2
    train_cap: int | None = None
    valid_cap: int | None = None
    test_cap: int | None = None
    rbm_valid_cap: int | None = 1000
    rbm_test_cap: int | None = 2000
    rbm_epochs: int | None = None
    rbm_rungs: tuple[int, ...] | None = None
    rbm_patience: int | None = None
    rbm_pretrain_frames: int = 60 * 13_807  # as many frames as the shipped recipe's 60 epochs of JSB

    def for_model(self, kind: str | None) -> Budget:
        """The budget of a cell whose model is `kind` (an RNN-RBM's cap and rungs may be lower)."""
        if kind != "rnn-rbm":
            return self
        return replace(self, epochs=self.rbm_epochs or self.epochs, rungs=tuple(self.rbm_rungs or self.rungs),
                       patience=self.rbm_patience or self.patience)  # fmt: skip

    def describe(self, unit: str) -> str:
        """E.g. "8 ε × 2 seeds, halved at epochs 2, 6, 18 (keep 1/2), patience 8, cap 60, batch 8, train all ..."."""
        cap = lambda c: "all" if c is None else f"≤ {c:,}"
        rungs = ", ".join(map(str, self.rungs)) or "none"
        text = (
            f"{self.trials} ε × {self.seeds} seeds, halved at epochs {rungs} (keep {self.keep:g}), patience "
            f"{self.patience} (gain > {self.min_delta:g}), cap {self.epochs} epochs, batch {self.batch_size}, "
            f"train {cap(self.train_cap)} {unit}, valid {cap(self.valid_cap)}, test {cap(self.test_cap)}"
        )
        if self.lr_decay is not None:
            text += f"; ε·{self.lr_decay:g}^epoch"
        if unit == "frames":
            rbm = self.for_model("rnn-rbm")
            text += (f"; RNN-RBM: cap {rbm.epochs}, rungs {', '.join(map(str, rbm.rungs)) or 'none'}, patience "
                     f"{rbm.patience}, pretrained on ≈ {self.rbm_pretrain_frames:,} frames, AIS on valid "
                     f"{cap(self.rbm_valid_cap)}, test {cap(self.rbm_test_cap)}")  # fmt: skip
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

    def output_cells(self, dataset: str) -> list[Cell]:
        """The trained output-model cells of a dataset: RNN-NADE and RNN-RBM with SGD, then with the best row."""
        kinds = [k for k in TRAINED_OUTPUTS if k in self.output_kinds(dataset)]
        return [Cell(dataset, f"out-{k}-sgd") for k in kinds] + [Cell(dataset, f"out-{k}") for k in kinds]

    def cells(self) -> list[Cell]:
        """Every cell in the order they run: dataset by dataset (cheapest first), ablation rows, then output models."""
        cells = [[Cell(d, r.key) for r in self.rows(task_of(d))] + self.output_cells(d) for d in self.datasets]
        return [c for group in cells for c in group]

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
    """SGD → +C → +L → +N → +R with the product's ε search range, clipping threshold, μ_max and L1 weight in `s`."""
    base = {
        "lr_range": s["lr_range"], "optimizer": "sgd", "momentum": 0.0, "momentum_schedule": "constant", "clip": 0.0,
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


def output_row(trained_with: Row, kind: str, key: str | None = None) -> Row:
    """The output-model row `kind` trained with all the options (search included) of the ablation row `trained_with`."""
    label = f"{OUTPUT_LABELS[kind]}, {'SGD' if trained_with.key == 'sgd' else 'best row'}"
    return Row(key or f"out-{kind}", label, ("model",), {**trained_with.options, "model": kind})


def output_source(row: str) -> tuple[str, bool]:
    """(kind, fixed to SGD?) of an output-model row key: "out-rnn-rbm-sgd" → ("rnn-rbm", True)."""
    kind = row.removeprefix("out-")
    return kind.removesuffix("-sgd"), kind.endswith("-sgd")


# Per-product settings shared by every row: the ε search range (log-spaced, the same in every row: Nesterov's
# larger effective step ε/(1 − μ) lies inside it), the clipping threshold c of row C, μ_max of row N, the L1
# weight λ of row R, and options fixed for the whole grid (docs/reproduce.md justifies each value).
SETTINGS = {
    "music": {"lr_range": (0.003, 3.0), "clip": 5.0, "momentum": 0.9, "l1": 1e-4,
              "fixed": {"preset": "paper-rnn", "chunk_len": 100, "lr_schedule": "exponential", "lr_decay": 0.9}},
    "text": {"lr_range": (0.01, 10.0), "clip": 1.0, "momentum": 0.9, "l1": 1e-5,
             "fixed": {"hidden": 128, "embedding": 64, "tokenizer": "char", "chunk_len": 100,
                       "lr_schedule": "exponential", "lr_decay": 0.8}},
}  # fmt: skip

_RBM_CAPS = {"rbm_epochs": 20, "rbm_rungs": (1, 2, 4), "rbm_patience": 4}
GRIDS: dict[str, dict[bool, Grid]] = {
    "paper2013": {
        False: Grid(
            "paper2013",
            {
                # γ per dataset: about 3,000 updates at full ε (Σγ^e = 1/(1 − γ) epochs of 63, 124, 279, 408 steps)
                "jsb": Budget(300, 4, 10, (2, 6, 18), lr_decay=0.98, **{**_RBM_CAPS, "rbm_epochs": 40}),
                # RNN-RBM cap 60: at 30, the SGD cell's best epoch was 29 of 30 on both seeds
                "piano-midi": Budget(150, 8, 8, (2, 6, 18), lr_decay=0.96, **{**_RBM_CAPS, "rbm_epochs": 60}),
                # cap 150: at 60, Nottingham's best members still gained > min_delta in their last 8 epochs
                # RNN-RBM cap 40: at 20, Nottingham's SGD cell was stopped by the cap (best epochs 17 and 12)
                "nottingham": Budget(150, 8, 8, (2, 6, 18), lr_decay=0.9, **{**_RBM_CAPS, "rbm_epochs": 40}),
                # RNN-RBM cap 60: at 40, the best-row cell's seed 0 was stopped by the cap (best epoch 38)
                "musedata": Budget(150, 8, 8, (2, 6, 18), lr_decay=0.9, **{**_RBM_CAPS, "rbm_epochs": 60}),
                # cap 40: at 15, every selected member was still gaining 0.002-0.005 bits/char an epoch
                "ptb-char": Budget(40, 32, 2, (1, 2), keep=0.25),
            },
            SETTINGS,
            ais_runs=100,
            ais_steps=200,
        ),
        True: Grid(
            "paper2013-quick",
            {
                "jsb": Budget(
                    3,
                    4,
                    2,
                    (1,),
                    train_cap=4_000,
                    valid_cap=1_000,
                    test_cap=1_000,
                    rbm_valid_cap=200,
                    rbm_test_cap=300,
                    rbm_epochs=2,
                    rbm_pretrain_frames=8_000,
                ),
                "ptb-char": Budget(1, 32, 1, (), train_cap=100_000, valid_cap=10_000, test_cap=20_000),
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
