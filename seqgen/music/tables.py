"""Rich tables the commands print: musical statistics of samples beside the training data's."""

from __future__ import annotations

import math

from rich.table import Table

_STATISTICS = [
    ("mean_polyphony", "mean polyphony (notes per frame)", "{:.2f}"),
    ("empty_frame_rate", "empty-frame rate", "{:.1%}"),
    ("pitch_class_entropy", "pitch-class entropy (bits)", "{:.2f}"),
    ("scale_consistency", "scale consistency", "{:.1%}"),
    ("note_length_mean", "note length mean (frames)", "{:.2f}"),
]


def _note_name(midi: float) -> str:
    """C4-style name of a MIDI note number."""
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    return f"{names[int(midi) % 12]}{int(midi) // 12 - 1}"


def statistics_table(samples: dict[str, float], train: dict[str, float] | None) -> Table:
    """Musical statistics of the samples beside the model's training data (from the checkpoint)."""
    table = Table(title="samples vs training data", title_justify="left")
    table.add_column("statistic")
    table.add_column("samples", justify="right")
    table.add_column("training data", justify="right")
    train = train or {}

    def show(stats: dict[str, float], key: str, fmt: str) -> str:
        value = stats.get(key, math.nan)
        return "–" if math.isnan(value) else fmt.format(value)  # absent or NaN (no notes)

    for key, label, fmt in _STATISTICS:
        table.add_row(label, show(samples, key, fmt), show(train, key, fmt))

    def span(stats: dict[str, float]) -> str:
        if math.isnan(stats.get("pitch_min", math.nan)):
            return "–"
        return f"{_note_name(stats['pitch_min'])}–{_note_name(stats['pitch_max'])}"

    table.add_row("pitch range", span(samples), span(train))
    table.add_row("frames", show(samples, "frames", "{:.0f}"), show(train, "frames", "{:.0f}"))
    return table
