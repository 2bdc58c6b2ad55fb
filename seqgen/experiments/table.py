"""The grid's Markdown table: test score per row (ablation rows, then output models) and dataset, with the
budget of each column and the row each output model took its settings from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqgen.experiments.grid import OUTPUT_LABELS, TITLES, Cell, Grid, task_of
from seqgen.experiments.runner import best_row, read_result


def cell_text(record: dict[str, Any] | None) -> str:
    """A cell's test score (−8.71, or 1.52 for bits/char; for AIS ± stderr, the reverse-AIS bound and the frames
    scored), or why it has none."""
    if record is None:
        return "not run"
    if record["status"] != "ok":
        return record["status"]
    test = record["test"]
    text = f"{test['score']:.3f}"
    if test.get("estimator", "exact") != "exact":
        text += f" ± {test['stderr']:.3f} ({test['estimator']}; reverse {test['lower']:.3f}; {test['frames']:,} frames)"
    return text.replace("-", "−")


def rows_of(grid: Grid) -> list[tuple[str, str]]:
    """(row key, label) of every table row: the union of the ablation rows, then the output models."""
    seen: dict[str, str] = {}
    for dataset in grid.datasets:
        for row in grid.rows(task_of(dataset)):
            seen.setdefault(row.key, row.label)
    outputs = {k for d in grid.datasets for k in grid.output_kinds(d)}
    return [*seen.items(), *((f"out-{k}", f"{OUTPUT_LABELS[k]}, best settings") for k in OUTPUT_LABELS if k in outputs)]


def record_of(grid: Grid, out: Path, dataset: str, row: str) -> dict[str, Any] | None:
    """The record shown at (row, dataset): the RNN (Bernoulli) output row is the best ablation row's cell."""
    if row == "out-rnn":
        best = best_row(grid, out, dataset)
        return None if best is None else best[1]
    return read_result(out, Cell(dataset, row))


def markdown_table(grid: Grid, out: Path) -> str:
    """The table with a header of dataset titles and units, the selected rows, and the budgets below."""
    datasets = grid.datasets
    units = {d: "bits/char ↓" if task_of(d) == "text" else "nats/frame ↑" for d in datasets}
    lines = [
        "| row | " + " | ".join(f"{TITLES.get(d, d)} ({units[d]})" for d in datasets) + " |",
        "|---|" + "---|" * len(datasets),
    ]
    for key, label in rows_of(grid):
        texts = []
        for dataset in datasets:
            if key.startswith("out-") and key.removeprefix("out-") not in grid.output_kinds(dataset):
                texts.append("n/a")
            else:
                texts.append(cell_text(record_of(grid, out, dataset, key)))
        lines.append(f"| {label} | " + " | ".join(texts) + " |")
    notes = ["", "Best ablation row by validation score (the settings of the output-model rows):"]
    for dataset in datasets:
        best = best_row(grid, out, dataset)
        chosen = "not yet known" if best is None else f"{best[0].label} (valid {best[1]['best_valid']:.3f})"
        notes.append(f"- {TITLES.get(dataset, dataset)}: {chosen}")
    notes += ["", "Budget per cell (every row of a column has the same):"]
    for dataset in datasets:
        unit = "characters" if task_of(dataset) == "text" else "frames"
        notes.append(f"- {TITLES.get(dataset, dataset)}: {grid.budgets[dataset].describe(unit)}")
    return "\n".join(lines + notes) + "\n"
