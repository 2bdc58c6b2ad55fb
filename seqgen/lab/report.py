"""`seqgen lab report DIR`: per-cell success with Wilson intervals and the analysis's answers (VEG per step
against success within cells, the learning rate's share beyond the other factors' interactions, the IRNN
against the other kinds by exact tests), as cells.csv, summary.json, report.md and PNG figures, plus the
compact per-run file runs.jsonl.gz when the runs came from runs/*.json. All files are written or none."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from seqgen.fileio import atomic_paths, check_output_folder, json_safe
from seqgen.lab import analysis as qa
from seqgen.lab.analysis import kind, rate
from seqgen.lab.design import SETTINGS
from seqgen.lab.records import PACKED, load_records, pack
from seqgen.lab.veg import THRESHOLD, categories, is_veg

# θ for the sensitivity figure, quarter decades from 10⁻³ to 1 (0.1 among them), to 12 significant digits: numpy's
# vectorised power differs by an ulp between CPUs (AVX2, AVX-512), and a report must not depend on the machine.
THRESHOLDS = [float(f"{10 ** (k / 4 - 3):.12g}") for k in range(13)]


def varying_factors(records: list[dict]) -> list[str]:
    """Settings that take more than one value across the sweep (the design's factors), in the design's order."""
    keys = [*SETTINGS, *sorted(set(records[0]["settings"]) - set(SETTINGS))]
    return [k for k in keys if len({json.dumps(r["settings"].get(k)) for r in records}) > 1]


def cell_table(records: list[dict], factors: list[str]) -> list[dict]:
    """One row per cell: its factor values, runs, successes, rate, Wilson 95 % interval, VEG shares (per step,
    θ = THRESHOLD) at initialisation and during training among the runs with an answer."""
    cells: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        cells[r["cell_id"]].append(r)
    rows = []
    for cell_id, runs in cells.items():
        k, n = sum(r["success"] for r in runs), len(runs)
        lo, hi = rate(k, n)["ci"]
        steps = [r["stopped_step"] for r in runs if r["success"]]
        phases = list(zip(*[categories(r) for r in runs]))
        veg = [[is_veg(c) for c in phase if is_veg(c) is not None] for phase in phases]
        rows.append({
            "cell_id": cell_id, "kind": kind(runs[0]["settings"]),
            **{f: runs[0]["settings"].get(f) for f in factors}, "runs": n, "successes": k, "rate": k / n,
            "ci_low": lo, "ci_high": hi,
            "veg_at_init": float(np.mean(veg[0])) if veg[0] else None,
            "veg_in_training": float(np.mean(veg[1])) if veg[1] else None,
            "dead_in_training": phases[1].count("dead"), "diverged": phases[1].count("diverged"),
            "median_steps_to_success": float(np.median(steps)) if steps else None,
        })  # fmt: skip
    order = [f for f in ("task", "length", "cell", "init", "lr") if f in factors]
    return sorted(rows, key=lambda row: (row["kind"], *[str(row[f]) for f in order]))


def kind_table(records: list[dict]) -> list[dict]:
    """Per task, length, budget and model kind: success over all its runs, and at its best learning rate."""
    groups: dict[tuple, dict[float, list[bool]]] = defaultdict(lambda: defaultdict(list))
    best_metric: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        s = r["settings"]
        key = (*qa.condition(s), kind(s))
        groups[key][s["lr"]].append(r["success"])
        reached = [v for v in r["metric_curve"] if v is not None]
        best_metric[key].append(min(reached) if reached else math.nan)
    rows = []
    for (task, length, steps, name), by_lr in sorted(groups.items(), key=lambda item: tuple(map(str, item[0]))):
        every = [ok for runs in by_lr.values() for ok in runs]
        best = max(by_lr, key=lambda lr: (np.mean(by_lr[lr]), -lr))
        metrics = np.array(best_metric[(task, length, steps, name)], dtype=float)
        finite = metrics[~np.isnan(metrics)]
        rows.append({
            "task": task, "length": length, "steps": steps, "kind": name, **rate(sum(every), len(every)),
            "best_lr": best,
            "at_best_lr": rate(sum(by_lr[best]), len(by_lr[best])),
            "median_best_metric": float(np.median(finite)) if len(finite) else None,
            "best_metric": float(finite.min()) if len(finite) else None,
        })  # fmt: skip
    return rows


def summarise(records: list[dict], permutations: int = 10_000, boots: int = 1000) -> tuple[dict, list[dict]]:
    """(summary, cell rows): every number the report shows."""
    factors = varying_factors(records)
    rows = cell_table(records, factors)
    summary = {
        "factors": factors, "cells": len(rows), "runs": len(records),
        "success_rate": float(np.mean([r["success"] for r in records])), "seeds": qa.pairing(records),
        "veg": qa.veg_question(records, THRESHOLD, permutations),
        "spearman_training_rate_vs_success": qa.rate_spearman(records),
        "threshold_sweep": qa.threshold_sweep(records, THRESHOLDS),
        "learning_rate": qa.lr_question(records, boots), "irnn_vs_kinds": qa.kinds_question(records),
        "by_kind": kind_table(records),
    }  # fmt: skip
    return summary, rows


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _unfinished(directory: Path, records: list[dict]) -> dict:
    """{"design_runs", "design_cells"} when the folder's design.toml plans runs not yet trained (a sweep committed
    part way), else {}."""
    from seqgen.lab.design import load_design

    if not (directory / "design.toml").is_file():
        return {}
    design = load_design(directory / "design.toml", None)
    done = {r["run_id"] for r in records}
    if all(run.run_id in done for run in design.runs):
        return {}
    return {"design_runs": len(design.runs), "design_cells": design.n_cells}


def write_report(directory: str | Path, out: str | Path, loaded: tuple[list[dict], bool] | None = None) -> str:
    """Write the report's files into `out`, all or none; return a short text summary. `loaded` is what
    `load_records(directory)` returned, when the caller checked the folder already."""
    from seqgen.lab import figures
    from seqgen.lab.markdown import markdown, short

    out = check_output_folder(out)
    records, from_runs = loaded or load_records(directory)
    summary, rows = summarise(records)
    summary.update(_unfinished(Path(directory), records))
    pictures = figures.draw_all(records, summary)
    summary["figures"] = list(pictures)
    files = {"cells.csv": _csv(rows).encode(), "summary.json": json.dumps(json_safe(summary), indent=1).encode(),
             "report.md": markdown(summary, rows, records).encode(), **pictures}  # fmt: skip
    if from_runs or Path(out).resolve() != Path(directory).resolve():
        files[PACKED] = pack(records)
    with atomic_paths([out / name for name in files]) as temps:
        for tmp, data in zip(temps, files.values()):
            tmp.write_bytes(data)
    return short(summary)
