"""PNG figures of a grid (matplotlib, Agg): validation score against epoch of the selected setting (mean over its
seeds), one panel per dataset and one line per row; and the test score per row with its range over seeds."""

from __future__ import annotations

from pathlib import Path

from seqgen.experiments.grid import TITLES, Grid, task_of
from seqgen.experiments.table import applies, record_of, rows_of
from seqgen.fileio import atomic_path


def _panels(n: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return plt, fig, list(axes.flat[:n])


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def selected_curve(record: dict | None, sign: float) -> list[tuple[int, float]]:
    """(epoch, mean validation score over the selected seeds), while every seed has one (bits/char for text)."""
    if record is None or record.get("status") != "ok":
        return []
    members = record["search"]["members"]
    curves = [members[i]["valid_curve"] for i in record["selected"]["members"]]
    points = []
    for epoch, values in enumerate(zip(*curves), start=1):
        if any(v is None for v in values):
            break
        points.append((epoch, sign * sum(values) / len(values)))
    return points


def valid_curves(grid: Grid, out: Path, path: Path) -> Path:
    """Validation score per epoch (nats/frame ↑, bits/char ↓), a line per row, a panel per dataset."""
    plt, fig, axes = _panels(len(grid.datasets))
    for ax, dataset in zip(axes, grid.datasets):
        for key, label in rows_of(grid):
            record = record_of(grid, out, dataset, key) if key != "out-rnn" and applies(grid, dataset, key) else None
            points = selected_curve(record, -1.0 if task_of(dataset) == "text" else 1.0)
            if points:
                ax.plot(*zip(*points), marker=".", label=label)
        unit = "bits/char (lower is better)" if task_of(dataset) == "text" else "nats/frame"
        ax.set(title=TITLES.get(dataset, dataset), xlabel="epoch", ylabel=f"valid {unit}")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    return _save(plt, fig, path)


def test_scores(grid: Grid, out: Path, path: Path) -> Path:
    """Final test score per row (one dot each), a panel per dataset; missing cells are left out."""
    plt, fig, axes = _panels(len(grid.datasets))
    for ax, dataset in zip(axes, grid.datasets):
        labels, values, spans = [], [], []
        for key, label in rows_of(grid):
            record = record_of(grid, out, dataset, key) if applies(grid, dataset, key) else None
            if record is not None and record["status"] == "ok":
                test = record["test"]
                labels.append(label)
                values.append(test["score"])
                spans.append((test["score"] - test["min"], test["max"] - test["score"]))
        ax.errorbar(values, range(len(values)), xerr=list(zip(*spans)) or None, fmt="o", color="tab:blue", capsize=3)
        ax.set_yticks(range(len(values)), labels, fontsize=7)
        ax.invert_yaxis()
        for i, v in enumerate(values):
            ax.annotate(f" {v:.3f}", (v, i), fontsize=7, va="center")
        if values:
            lo, hi = min(values), max(values)
            pad = max(hi - lo, 0.05) * 0.3
            ax.set_xlim(lo - pad, hi + pad)
        unit = "bits/char (lower is better)" if task_of(dataset) == "text" else "nats/frame (higher is better)"
        ax.set(title=TITLES.get(dataset, dataset), xlabel=f"test {unit}")
        ax.grid(alpha=0.3)
    return _save(plt, fig, path)
