"""`seqgen score A.mid B.mid FOLDER/`: many MIDI files scored in one run, one row per file plus the total.

Each file is read as the model's training data was (grid and read options from the checkpoint) and scored from
u_0 (seqgen.music.score.score_rolls, all files batched). A file that cannot be read, or holds no notes the model
scores (drums only, silent), gets a row saying so and no score. Log-likelihoods are nats per frame: a file's sum
over its frames / its frames; the total's sum over all scored frames / all scored frames.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.music.midi_paths import midi_paths
from seqgen.music.pianoroll import MidiReadOptions, midi_to_roll
from seqgen.music.score import score_rolls

COLUMNS = ("file", "frames", "notes", "log_likelihood_per_frame", "stderr", "status")


def score_files(
    model, paths: list[Path], read: MidiReadOptions, *, seed: int = 0, batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> dict:  # fmt: skip
    """{"files": one row per file (COLUMNS; status "scored" or why not), "total": the scored files together}."""
    rows, rolls, scored = [], [], []
    for path in midi_paths(paths):
        row = {"file": str(path), "frames": 0, "notes": 0, "log_likelihood_per_frame": None, "stderr": None}
        try:
            result = midi_to_roll(path, model.roll_format, read)
        except SeqgenError as exc:
            rows.append({**row, "status": str(exc).removeprefix(f"{path}: ")})
            continue
        if not result.roll.any():
            why = f", {result.drum_notes} drum notes excluded" if result.drum_notes else ""
            rows.append({**row, "frames": len(result.roll), "status": f"no notes to score{why}"})
            continue
        rows.append({**row, "frames": len(result.roll), "notes": int(result.roll.sum()), "status": "scored"})
        scored.append(len(rows) - 1)
        rolls.append(result.roll)
    if not rolls:
        raise SeqgenError(f"none of the {len(rows)} file(s) holds notes to score (e.g. {rows[0]['file']}: "
                          f"{rows[0]['status']})")  # fmt: skip
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    total = score_rolls(model, rolls, batch_size=batch_size, generator=generator, keep_frames=True, on_batch=on_batch)
    frames = total.pop("per_frame")
    seq = frames.sequence.numpy()
    ll = np.bincount(seq, frames.log_likelihood.double().numpy(), len(rolls))
    var = np.bincount(seq, frames.stderr.double().numpy() ** 2, len(rolls))
    for i, index in enumerate(scored):
        n = rows[index]["frames"]
        rows[index].update(log_likelihood_per_frame=ll[i] / n, stderr=math.sqrt(var[i]) / n)
    total.update(files=len(rows), files_scored=len(rolls))
    return {"files": rows, "total": total}


def files_table(result: dict):
    """A rich Table of the rows and the total (for the CLI to print)."""
    from rich.table import Table

    table = Table(title="log-likelihood per frame (nats)")
    for name in ("file", "frames", "notes", "nats/frame", "status"):
        table.add_column(name, justify="left" if name in ("file", "status") else "right")
    for row in result["files"]:
        value = row["log_likelihood_per_frame"]
        shown = "" if value is None else f"{value:.4f}" + (f" ± {row['stderr']:.4f}" if row["stderr"] else "")
        table.add_row(row["file"], str(row["frames"]), str(row["notes"]), shown, row["status"])
    total = result["total"]
    table.add_row("all scored files", str(total["frames"]), "", f"{total['log_likelihood_per_frame']:.4f}",
                  f"{total['files_scored']} of {total['files']} scored", style="bold")  # fmt: skip
    return table


def write_files_csv(path: str | Path, result: dict) -> None:
    """One CSV row per file (COLUMNS; empty scores for files that were not scored), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in result["files"]:
        writer.writerow(["" if row[c] is None else f"{row[c]:.6f}" if isinstance(row[c], float) else row[c]
                         for c in COLUMNS])  # fmt: skip
    write_text_atomic(path, buffer.getvalue())
