"""`seqgen lab report DIR`: success rate per cell with Wilson intervals, does VEG predict failure, how much
of success the learning rate explains, and figures (success against learning rate, VEG against success,
learning curves, VEG profiles); written as cells.csv, summary.json, report.md and PNGs."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import chi2

from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.lab.diagnostics import veg_summary
from seqgen.lab.stats import logistic_fit, one_hot, pseudo_r2, spearman, wilson
from seqgen.lab.sweep import finished_runs

VEG_CAP = 40.0  # |log10 r| above this (or infinite) counts as this in fits: r beyond 10^±40 is all the same


def kind(settings: dict) -> str:
    """The model family of a run: cell/init (IRNN = ReLU with identity W_uu), leaky marked."""
    name = settings["cell"] if settings["init"] == "default" else f"{settings['cell']}/{settings['init']}"
    return ("leaky " if settings.get("leaky") else "") + name


def varying_factors(records: list[dict]) -> list[str]:
    """Settings that take more than one value across the sweep (the design's factors), in settings order."""
    keys = list(records[0]["settings"])
    return [k for k in keys if len({json.dumps(r["settings"][k]) for r in records}) > 1]


def cell_table(records: list[dict], factors: list[str]) -> list[dict]:
    """One row per cell: its factor values, runs, successes, rate, Wilson 95 % interval, VEG rate."""
    cells: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        cells[r["cell_id"]].append(r)
    rows = []
    for cell_id, runs in cells.items():
        k, n = sum(r["success"] for r in runs), len(runs)
        lo, hi = wilson(k, n)
        steps = [r["stopped_step"] for r in runs if r["success"]]
        rows.append({
            "cell_id": cell_id, "kind": kind(runs[0]["settings"]),
            **{f: runs[0]["settings"][f] for f in factors}, "runs": n, "successes": k, "rate": k / n,
            "ci_low": lo, "ci_high": hi, "veg_rate": sum(r["veg"]["occurred"] for r in runs) / n,
            "median_steps_to_success": float(np.median(steps)) if steps else None,
        })  # fmt: skip
    order = [f for f in ("task", "length", "cell", "init", "lr") if f in factors]
    return sorted(rows, key=lambda row: (row["kind"], *[row[f] for f in order]))


def kind_table(records: list[dict]) -> list[dict]:
    """Per task, length and model kind: success over all its runs, and at its best learning rate."""
    groups: dict[tuple, dict[float, list[bool]]] = defaultdict(lambda: defaultdict(list))
    best_metric: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        s = r["settings"]
        key = (s["task"], s["length"], kind(s))
        groups[key][s["lr"]].append(r["success"])
        reached = [v for v in r["metric_curve"] if v is not None]
        best_metric[key].append(min(reached) if reached else math.nan)
    rows = []
    for (task, length, name), by_lr in sorted(groups.items(), key=lambda item: tuple(map(str, item[0]))):
        every = [ok for runs in by_lr.values() for ok in runs]
        best = max(by_lr, key=lambda lr: (np.mean(by_lr[lr]), -lr))
        k, n, kb, nb = sum(every), len(every), sum(by_lr[best]), len(by_lr[best])
        rows.append({
            "task": task, "length": length, "kind": name, "runs": n, "successes": k, "rate": k / n,
            "ci": list(wilson(k, n)), "best_lr": best, "best_lr_successes": kb, "best_lr_runs": nb,
            "best_lr_ci": list(wilson(kb, nb)),
            "median_best_metric": float(np.nanmedian(best_metric[(task, length, name)])),
            "best_metric": float(np.nanmin(best_metric[(task, length, name)])),
        })  # fmt: skip
    return rows


def veg_analysis(records: list[dict], factors: list[str]) -> dict:
    """Does VEG predict failure? Success with and without VEG, Spearman ρ(VEG measure, success), a logistic
    fit of success on the measure, and the deviance each predictor set explains (McFadden R²)."""
    y = np.array([r["success"] for r in records], dtype=float)
    occurred = np.array([r["veg"]["occurred"] for r in records], dtype=float)
    measure = np.array([_capped(r["veg"]["max_abs_log10_ratio"]) for r in records])
    groups = _by_veg(y, occurred)
    fit = logistic_fit(measure, y)
    design = {f: one_hot([json.dumps(r["settings"][f]) for r in records]) for f in factors}
    design["kind"] = one_hot([kind(r["settings"]) for r in records])
    all_factors = [design[f] for f in design if f not in ("cell", "init")]
    shares = {
        "lr": pseudo_r2([design["lr"]], y) if "lr" in design else math.nan,
        "veg_occurred": pseudo_r2([occurred[:, None]], y),
        "veg_measure": pseudo_r2([measure[:, None]], y),
        "all_factors": pseudo_r2(all_factors, y),
        "all_factors_plus_veg": pseudo_r2([*all_factors, occurred[:, None], measure[:, None]], y),
    }
    cells = one_hot([r["cell_id"] for r in records])
    early = [early_veg(r) for r in records]
    early_occurred = np.array([v["occurred"] for v in early], dtype=float)
    early_measure = np.array([_capped(v["max_abs_log10_ratio"]) for v in early])
    vanishing = np.array([r["veg"]["vanishing"] for r in records], dtype=float)
    exploding = np.array([r["veg"]["exploding"] for r in records], dtype=float)
    robustness = {
        "each_factor_alone": {f: pseudo_r2([design[f]], y) for f in design if f not in ("cell", "init")},
        "success_by_vanishing": _by_veg(y, vanishing),
        "success_by_exploding": _by_veg(y, exploding),
        "veg_given_cells": lr_test([cells], [occurred[:, None], measure[:, None]], y),
        "early_veg_rate": float(early_occurred.mean()),
        "early_success_by_veg": _by_veg(y, early_occurred),
        "early_spearman": spearman(early_measure, y),
        "early_veg_given_factors": lr_test(all_factors, [early_occurred[:, None], early_measure[:, None]], y),
        "early_veg_given_cells": lr_test([cells], [early_occurred[:, None], early_measure[:, None]], y),
    }
    return {
        "runs": len(records),
        "success_rate": float(y.mean()),
        "veg_rate": float(occurred.mean()),
        "success_by_veg": groups,
        "spearman_veg_measure_vs_success": spearman(measure, y),
        "logistic_success_on_veg_measure": {
            "intercept": float(fit.coef[0]),
            "slope_per_decade": float(fit.coef[1]),
            "ci": [float(v) for v in fit.interval(1)],
        },
        "pseudo_r2": shares,
        "veg_beyond_factors": lr_test(all_factors, [occurred[:, None], measure[:, None]], y),
        "robustness": robustness,
        "lr_share_of_explained": shares["lr"] / shares["all_factors"] if shares["all_factors"] > 0 else math.nan,
    }


def _by_veg(y: np.ndarray, occurred: np.ndarray) -> dict:
    """Success (rate, Wilson interval) of runs with and without VEG."""
    groups = {}
    for label, mask in (("veg", occurred == 1), ("no_veg", occurred == 0)):
        k, n = int(y[mask].sum()), int(mask.sum())
        groups[label] = {"runs": n, "successes": k, "rate": k / n if n else math.nan, "ci": list(wilson(k, n))}
    return groups


def early_veg(record: dict) -> dict:
    """The VEG rule applied only to measurements made before the first success check (updates ≤ eval_every),
    a window every run of a population shares: successful runs stop early and are measured less often, so
    the whole-training rule would favour finding VEG in failures."""
    window = min(record["settings"]["eval_every"], record["settings"]["steps"])
    ratios = [math.nan if r is None else r for s, r in zip(record["diag_steps"], record["log10_ratio"]) if s <= window]
    diverged_early = record["status"] == "diverged" and record["stopped_step"] <= window
    return veg_summary(ratios, diverged_early)


def lr_test(base: list[np.ndarray], extra: list[np.ndarray], y: np.ndarray) -> dict:
    """Likelihood-ratio test of adding `extra` predictors to a logistic model of `base` ones."""
    reduced = logistic_fit(np.column_stack(base), y).deviance
    full = logistic_fit(np.column_stack([*base, *extra]), y).deviance
    drop = max(0.0, reduced - full)
    df = sum(e.shape[1] for e in extra)
    return {"deviance_drop": drop, "df": df, "p_value": float(chi2.sf(drop, df))}


def _capped(value) -> float:
    """The VEG measure for fits: None (no measurement) → 0; infinite or huge → VEG_CAP."""
    return 0.0 if value is None or math.isnan(value) else min(float(value), VEG_CAP)


def load_records(directory: str | Path) -> list[dict]:
    """All finished runs of a sweep folder; SeqgenError if there are none."""
    records = list(finished_runs(directory).values())
    if not records:
        raise SeqgenError(f"{directory}: no finished runs (expected runs/*.json from `seqgen lab sweep`)")
    return records


def write_report(directory: str | Path, out: str | Path) -> str:
    """Write cells.csv, summary.json, report.md and the figures into `out`; return a short text summary."""
    from seqgen.lab import figures

    records = load_records(directory)
    out = Path(out)
    factors = varying_factors(records)
    rows = cell_table(records, factors)
    analysis = veg_analysis(records, factors)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "cells.csv", buffer.getvalue())
    names = figures.draw_all(records, rows, analysis, out)
    summary = {"factors": factors, "cells": len(rows), **analysis, "by_kind": kind_table(records), "figures": names}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    text = markdown(summary, rows, factors, records)
    write_text_atomic(out / "report.md", text)
    return _short(summary)


def _best_lr(row: dict) -> str:
    """The best learning rate of a kind, or a dash when none of its runs succeeded."""
    return f"{row['best_lr']:g}" if row["successes"] else "–"


def _short(s: dict) -> str:
    """Three lines for the terminal."""
    rho = s["spearman_veg_measure_vs_success"]
    return (
        f"{s['runs']} runs in {s['cells']} cells: {s['success_rate']:.1%} succeeded, "
        f"VEG occurred in {s['veg_rate']:.1%}\n"
        f"Spearman ρ(VEG measure, success) = {rho['rho']:+.3f} [{rho['ci'][0]:+.3f}, {rho['ci'][1]:+.3f}]\n"
        f"deviance explained: lr {s['pseudo_r2']['lr']:.3f}, VEG {s['pseudo_r2']['veg_occurred']:.3f}, "
        f"all factors {s['pseudo_r2']['all_factors']:.3f}"
    )


def markdown(s: dict, rows: list[dict], factors: list[str], records: list[dict]) -> str:
    """The report: headline numbers, how to read them, figures, and the per-cell table."""
    v, r2, rho = s["success_by_veg"], s["pseudo_r2"], s["spearman_veg_measure_vs_success"]
    rb = s["robustness"]
    ev = rb["early_success_by_veg"]
    crit = "; ".join(sorted({f"{r['settings']['task']}: {r['criterion']}" for r in records}))
    metric = "/".join(sorted({r["metric"] for r in records}))
    fit = s["logistic_success_on_veg_measure"]
    pct = lambda g: f"{g['rate']:.1%} [{g['ci'][0]:.1%}, {g['ci'][1]:.1%}] of {g['runs']}"
    lines = [
        f"# Sweep report: {s['runs']} trained RNNs in {s['cells']} cells",
        "",
        f"Factors: {', '.join(factors)}. Success: {crit}. Intervals are 95 % (Wilson for rates).",
        "",
        (
            f"- Success overall: {s['success_rate']:.1%}; VEG occurred (|log10 ‖∂L/∂h_1‖/‖∂L/∂h_T‖| > 3 at "
            f"some measurement, or a non-finite gradient) in {s['veg_rate']:.1%} of runs."
        ),
        f"- Success when VEG occurred: {pct(v['veg'])}; when it did not: {pct(v['no_veg'])}.",
        (
            f"- Spearman ρ(max |log10 r|, success) = {rho['rho']:+.3f} [{rho['ci'][0]:+.3f}, "
            f"{rho['ci'][1]:+.3f}] (p = {rho['p_value']:.2g}, n = {rho['n']}); logistic slope per decade "
            f"of r: {fit['slope_per_decade']:+.3f} [{fit['ci'][0]:+.3f}, {fit['ci'][1]:+.3f}]."
        ),
        (
            f"- Deviance explained (McFadden R²): learning rate alone {r2['lr']:.3f}; VEG occurred alone "
            f"{r2['veg_occurred']:.3f}; VEG measure alone {r2['veg_measure']:.3f}; all design factors "
            f"{r2['all_factors']:.3f}; all factors + VEG {r2['all_factors_plus_veg']:.3f}. The learning "
            f"rate carries {s['lr_share_of_explained']:.0%} of what all factors explain. Adding VEG (occurred and "
            f"measure) to all factors (main effects) lowers the deviance by "
            f"{s['veg_beyond_factors']['deviance_drop']:.1f} (likelihood-ratio test, 2 df: "
            f"p = {s['veg_beyond_factors']['p_value']:.2g})."
        ),
        (
            "- Each factor alone (McFadden R²): "
            + ", ".join(f"{f} {v:.3f}" for f, v in rb["each_factor_alone"].items())
            + f". Success with vanishing gradients {pct(rb['success_by_vanishing']['veg'])}, without "
            f"{pct(rb['success_by_vanishing']['no_veg'])}; with exploding gradients "
            f"{pct(rb['success_by_exploding']['veg'])}, without {pct(rb['success_by_exploding']['no_veg'])}."
        ),
        (
            f"- Within cells (a logistic model with one indicator per cell, i.e. among the seeds of identical "
            f"settings), adding VEG lowers the deviance by {rb['veg_given_cells']['deviance_drop']:.1f} "
            f"(p = {rb['veg_given_cells']['p_value']:.2g})."
        ),
        (
            f"- Same questions with VEG measured only before the first success check (updates ≤ eval_every, a "
            f"window all runs share): VEG in {rb['early_veg_rate']:.1%} of runs; success {pct(ev['veg'])} with "
            f"VEG, {pct(ev['no_veg'])} without; Spearman ρ = {rb['early_spearman']['rho']:+.3f} "
            f"[{rb['early_spearman']['ci'][0]:+.3f}, {rb['early_spearman']['ci'][1]:+.3f}]; beyond all factors "
            f"p = {rb['early_veg_given_factors']['p_value']:.2g}; within cells "
            f"p = {rb['early_veg_given_cells']['p_value']:.2g}."
        ),
        "",
        (
            f"| task | T | kind | success, all learning rates | best lr | success at best lr | best {metric} "
            "reached: median over runs / best run |"
        ),
        "|---|---|---|---|---|---|---|",
        *[
            f"| {k['task']} | {k['length']} | {k['kind']} | {k['successes']}/{k['runs']} "
            f"({k['ci'][0]:.2f}–{k['ci'][1]:.2f}) | {_best_lr(k)} | "
            f"{k['best_lr_successes']}/"
            f"{k['best_lr_runs']} ({k['best_lr_ci'][0]:.2f}–{k['best_lr_ci'][1]:.2f}) | "
            f"{k['median_best_metric']:.3f} / {k['best_metric']:.3f} |"
            for k in s["by_kind"]
        ],
        "",
        *[f"![{name}]({name})" for name in s["figures"]],
        "",
        "| kind | "
        + " | ".join(f for f in factors if f not in ("cell", "init"))
        + " | runs | success | 95 % CI | VEG |",
        "|---|" + "---|" * (len([f for f in factors if f not in ("cell", "init")]) + 4),
    ]
    for row in rows:
        values = " | ".join(f"{row[f]:g}" if isinstance(row[f], float) else str(row[f])
                            for f in factors if f not in ("cell", "init"))  # fmt: skip
        lines.append(f"| {row['kind']} | {values} | {row['runs']} | {row['successes']}/{row['runs']} | "
                     f"{row['ci_low']:.2f}–{row['ci_high']:.2f} | {row['veg_rate']:.0%} |")  # fmt: skip
    return "\n".join(lines) + "\n"
