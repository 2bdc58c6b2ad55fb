"""PNG figures of a grid (matplotlib, Agg): validation score against epoch, one panel per dataset and one
line per row; and the final test score per row, one panel per dataset."""

from __future__ import annotations

from pathlib import Path

from seqgen.experiments.grid import TITLES, Grid, task_of
from seqgen.experiments.table import record_of, rows_of
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


def valid_curves(grid: Grid, out: Path, path: Path) -> Path:
    """Validation score per epoch (nats/frame ↑, bits/char ↓), a line per row, a panel per dataset."""
    plt, fig, axes = _panels(len(grid.datasets))
    for ax, dataset in zip(axes, grid.datasets):
        for key, label in rows_of(grid):
            record = None if key == "out-rnn" else record_of(grid, out, dataset, key)
            curve = [] if record is None else record.get("valid_curve") or []
            points = [(i + 1, v) for i, v in enumerate(curve) if v is not None]
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
        labels, values = [], []
        for key, label in rows_of(grid):
            if key.startswith("out-") and key.removeprefix("out-") not in grid.output_kinds(dataset):
                continue
            record = record_of(grid, out, dataset, key)
            if record is not None and record["status"] == "ok":
                labels.append(label)
                values.append(record["test"]["score"])
        ax.plot(values, range(len(values)), "o", color="tab:blue")
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
