"""The grid's Markdown tables: the test score (mean over the selected setting's seeds, their range) per row and
dataset with the search behind it; then the cells beside the papers' numbers they target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqgen.experiments.grid import TITLES, Cell, Grid, output_source, task_of
from seqgen.experiments.runner import best_row, read_result, same_as

# Test log-likelihood per frame (nats; PTB: bits/char) that issue 17 sets as targets, from shared/PAPERS.md.
TARGETS = [
    ("best plain-RNN row ≥ HF RNN (2012)", "out-rnn",
     {"jsb": -8.58, "nottingham": -3.89, "musedata": -7.19, "piano-midi": -7.66, "ptb-char": 1.45}),
    ("+ C row ≥ Pascanu et al. 2013 MSGD+C", "clip", {"nottingham": -3.48, "musedata": -7.00, "piano-midi": -7.53}),
    ("RNN-NADE, best row ≥ HF RNN-NADE (2012)", "out-rnn-nade",
     {"jsb": -5.56, "nottingham": -2.31, "musedata": -5.60, "piano-midi": -7.05}),
    ("RNN-RBM, best row ≥ RNN-RBM (2012)", "out-rnn-rbm",
     {"jsb": -6.27, "nottingham": -2.39, "musedata": -6.01, "piano-midi": -7.09}),
]  # fmt: skip


def _n(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}".replace("-", "−")


def cell_text(record: dict[str, Any] | None) -> str:
    """E.g. "−8.712 [−8.731, −8.694]" (mean over seeds [range]); for AIS also the reverse-AIS mean and the frames; or
    "not run", or the status."""
    if record is None:
        return "not run"
    if record["status"] != "ok":
        return record["status"]
    test = record["test"]
    text = f"{_n(test['score'])} [{_n(test['min'])}, {_n(test['max'])}]"
    if test.get("estimator", "exact") != "exact":
        text += f" (AIS; reverse {_n(test['lower'])}; {test.get('frames') or 0:,} frames)"
    return text


def search_text(record: dict[str, Any] | None) -> str:
    """The selected ε, best epochs, whether the seeds stopped by patience, and the cell's CPU time:
    "ε 0.058, best epochs 23/25, patience, 0.12 CPU-h"."""
    if record is None or record["status"] != "ok":
        return ""
    s = record["selected"]
    how = "patience" if s["stopped_by_patience"] else "cap"
    cpu = record.get("cpu_seconds") or 0.0
    return f"ε {s['lr']:.3g}, best epochs {'/'.join(map(str, s['best_epochs']))}, {how}, {cpu / 3600:.2f} CPU-h"


def rows_of(grid: Grid) -> list[tuple[str, str]]:
    """(row key, label) of every table row: the union of the ablation rows, then the output models."""
    seen: dict[str, str] = {}
    for dataset in grid.datasets:
        for row in grid.rows(task_of(dataset)):
            seen.setdefault(row.key, row.label)
    if any(grid.output_kinds(d) for d in grid.datasets):
        seen["out-rnn"] = "RNN (Bernoulli), best row"
    labels = {"rnn-nade": "RNN-NADE", "rnn-rbm": "RNN-RBM"}
    for dataset in grid.datasets:
        for cell in grid.output_cells(dataset):
            kind, sgd = output_source(cell.row)
            seen.setdefault(cell.row, f"{labels[kind]}, {'SGD' if sgd else 'best row'}")
    return list(seen.items())


def applies(grid: Grid, dataset: str, key: str) -> bool:
    """Whether row `key` has a cell on `dataset` (output models only on music)."""
    return not key.startswith("out-") or bool(grid.output_kinds(dataset))


def record_of(grid: Grid, out: Path, dataset: str, row: str) -> dict[str, Any] | None:
    """The record shown at (row, dataset): "out-rnn" is the best ablation row's cell; a best-row output cell whose
    best row is SGD is its SGD cell."""
    if row == "out-rnn":
        best = best_row(grid, out, dataset)
        return None if best is None else best[1]
    cell = Cell(dataset, row)
    return read_result(out, same_as(grid, out, cell) or cell, grid)


def markdown_table(grid: Grid, out: Path) -> str:
    """The results table, the search behind each cell, the targets beside the cells, and the budgets."""
    datasets = grid.datasets
    units = {d: "bits/char ↓" if task_of(d) == "text" else "nats/frame ↑" for d in datasets}
    head = ["| row | " + " | ".join(f"{TITLES.get(d, d)} ({units[d]})" for d in datasets) + " |",
            "|---|" + "---|" * len(datasets)]  # fmt: skip
    lines, searches = list(head), [head[0].replace("| row |", "| row (selected ε, best epochs, stop, CPU) |"), head[1]]
    for key, label in rows_of(grid):
        records = [record_of(grid, out, d, key) if applies(grid, d, key) else None for d in datasets]
        texts = [cell_text(r) if applies(grid, d, key) else "n/a" for d, r in zip(datasets, records)]
        lines.append(f"| {label} | " + " | ".join(texts) + " |")
        searches.append(f"| {label} | " + " | ".join(search_text(r) for r in records) + " |")
    said = (
        "Test: mean over the seeds of the setting selected on validation [their range]. Best ablation row by "
        "validation score (the settings of the best-row output models):"
    )
    notes = ["", said]
    for dataset in datasets:
        best = best_row(grid, out, dataset)
        chosen = "not yet known" if best is None else f"{best[0].label} (valid {_n(best[1]['best_valid'])})"
        notes.append(f"- {TITLES.get(dataset, dataset)}: {chosen}")
    notes += ["", "The search behind each cell:", "", *searches, "", *_effects(grid, out)]
    notes += ["", "Beside the targets (issue 17):", ""]
    notes += _targets(grid, out)
    notes += ["", "Budget per cell (every row of a column has the same):"]
    for dataset in datasets:
        unit = "characters" if task_of(dataset) == "text" else "frames"
        notes.append(f"- {TITLES.get(dataset, dataset)}: {grid.budgets[dataset].describe(unit)}")
    return "\n".join(lines + notes) + "\n"


# (what is gained, the row that gains it, the row it is measured against)
EFFECTS = [
    ("+ clipping (C) over SGD", "clip", "sgd"), ("+ leaky integration (L) over C", "leaky", "clip"),
    ("+ Nesterov (N) over L", "nesterov", "leaky"), ("+ rectifiers (R) over N", "relu", "nesterov"),
    ("RNN-NADE over independent notes, SGD", "out-rnn-nade-sgd", "sgd"),
    ("RNN-RBM over independent notes, SGD", "out-rnn-rbm-sgd", "sgd"),
    ("RNN-NADE, best row over SGD", "out-rnn-nade", "out-rnn-nade-sgd"),
    ("RNN-RBM, best row over SGD", "out-rnn-rbm", "out-rnn-rbm-sgd"),
]  # fmt: skip


def effect_text(record: dict[str, Any] | None, against: dict[str, Any] | None, text: bool) -> str:
    """The gain of `record` over `against` on test (positive is better; bits/char count down), mean and per seed:
    "+0.105 (seeds +0.170, +0.040)"; the seeds pair as the searches numbered them (same initialisation seed)."""
    if record is None or against is None or record["status"] != "ok" or against["status"] != "ok":
        return ""
    sign = -1.0 if text else 1.0
    gain = lambda a, b: f"{round(sign * (a - b), 3) + 0.0:+.3f}".replace("-", "−")  # + 0.0: no "−0.000"
    pairs = zip(record["test"]["per_seed"], against["test"]["per_seed"])
    seeds = ", ".join(gain(a["score"], b["score"]) for a, b in pairs)
    return f"{gain(record['test']['score'], against['test']['score'])} (seeds {seeds})"


def _effects(grid: Grid, out: Path) -> list[str]:
    """Each technique's and output model's test gain over the row it adds to, with both seeds' paired gains."""
    datasets = grid.datasets
    said = ("Each technique's gain over the row it adds to (test; positive is better, in nats/frame or bits/char; "
            "mean (each seed's gain, seed against seed)):")  # fmt: skip
    head = "| gain | " + " | ".join(TITLES.get(d, d) for d in datasets) + " |"
    lines = [said, "", head, "|---|" + "---|" * len(datasets)]
    for label, key, base in EFFECTS:
        if not any(applies(grid, d, key) for d in datasets):
            continue
        texts = [
            effect_text(record_of(grid, out, d, key), record_of(grid, out, d, base), task_of(d) == "text")
            if applies(grid, d, key) else "n/a"
            for d in datasets
        ]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(texts) + " |")
    return lines


def ours_text(record: dict[str, Any] | None) -> str:
    """A cell's test score beside its target: "−5.811", with an AIS estimate's reverse (lower) end beside it."""
    if record is None or record["status"] != "ok":
        return "not run" if record is None else record["status"]
    test = record["test"]
    if test.get("estimator", "exact") == "exact":
        return _n(test["score"])
    return f"{_n(test['score'])} (reverse AIS {_n(test['lower'])})"


def _targets(grid: Grid, out: Path) -> list[str]:
    """One line per target: the paper's number and ours at (row, dataset), for the datasets of the grid."""
    datasets = [d for d in grid.datasets if any(d in t for _, _, t in TARGETS)]
    lines = ["| target | " + " | ".join(TITLES.get(d, d) for d in datasets) + " |", "|---|" + "---|" * len(datasets)]
    for label, key, target in TARGETS:
        texts = []
        for d in datasets:
            if d not in target:
                texts.append("")
                continue
            texts.append(f"{_n(target[d], 2)} / ours {ours_text(record_of(grid, out, d, key))}")
        lines.append(f"| {label} | " + " | ".join(texts) + " |")
    return lines
