"""PNG figures of a sweep (matplotlib, Agg backend), drawn into memory so the report writes all its files or
none: success against learning rate per model kind and length, per-step VEG during training against success,
learning curves, VEG profiles ‖∂L/∂h_t‖/‖∂L/∂h_T‖ along the sequence, and the VEG answers against θ."""

from __future__ import annotations

import io
import math
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from seqgen.lab.analysis import condition, kind
from seqgen.lab.stats import wilson
from seqgen.lab.veg import THRESHOLD, categories, is_veg, measurements


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> tuple[str, bytes]:
    """The figure as PNG bytes, named by the file it will be written to."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)
    return path.name, buffer.getvalue()


def problems(records: list[dict]) -> list[tuple[str, int, int]]:
    """The distinct (task, length, updates) of a sweep, in order: one panel each."""
    return sorted({condition(r["settings"]) for r in records})


def _of(r: dict, problem: tuple[str, int, int]) -> bool:
    return condition(r["settings"]) == problem


def _name(problem: tuple[str, int, int], pairs: list[tuple[str, int, int]]) -> str:
    """'adding, T = 150', with the updates when the sweep trains for several budgets."""
    several = len({p[2] for p in pairs}) > 1
    return f"{problem[0]}, T = {problem[1]}" + (f", {problem[2]:,} updates" if several else "")


def draw_all(records: list[dict], analysis: dict) -> dict[str, bytes]:
    """Every figure as {file name: PNG bytes}."""
    kinds = sorted({kind(r["settings"]) for r in records})
    out = Path(".")
    return dict([
        success_vs_lr(records, kinds, out / "success_vs_lr.png"),
        veg_vs_success(records, kinds, analysis, out / "veg_vs_success.png"),
        learning_curves(records, kinds, out / "learning_curves.png"),
        veg_profiles(records, kinds, out / "veg_profiles.png"),
        veg_threshold(analysis["threshold_sweep"], out / "veg_threshold.png"),
    ])  # fmt: skip


def success_vs_lr(records, kinds, path: Path) -> tuple[str, bytes]:
    """Success rate (Wilson 95 % bars) against learning rate, one line per model kind, one panel per task
    and length."""
    plt = _plt()
    pairs = problems(records)
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.6), sharey=True, squeeze=False)
    for ax, problem in zip(axes[0], pairs):
        for name in kinds:
            groups = defaultdict(list)
            for r in records:
                if _of(r, problem) and kind(r["settings"]) == name:
                    groups[r["settings"]["lr"]].append(r["success"])
            lrs = sorted(groups)
            if not lrs:
                continue
            rates = np.array([np.mean(groups[lr]) for lr in lrs])
            ci = np.array([wilson(sum(groups[lr]), len(groups[lr])) for lr in lrs]).T
            ax.errorbar(
                lrs,
                rates,
                yerr=np.maximum(0, [rates - ci[0], ci[1] - rates]),
                marker="o",
                capsize=2,
                label=name,
            )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_title(_name(problem, pairs))
    axes[0][0].set_ylabel("success rate")
    axes[0][-1].legend(fontsize=7)
    return _save(fig, path)


def veg_vs_success(records, kinds, analysis, path: Path) -> tuple[str, bytes]:
    """Left: success (jittered) against |log10 ρ| during training (per step), θ marked; right: success rate
    with and without VEG during training per model kind (dead, diverged and stopped runs left out)."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    rng = np.random.default_rng(0)
    for name in kinds:
        pairs = [(abs(t), r["success"]) for r in records if kind(r["settings"]) == name and r["status"] != "diverged"
                 for t in [measurements(r)[1]] if t is not None and math.isfinite(t)]  # fmt: skip
        if pairs:
            x, y = np.array(pairs, dtype=float).T
            left.scatter(x, y + rng.uniform(-0.08, 0.08, len(y)), s=6, alpha=0.5, label=name)
    rho = analysis["spearman_training_rate_vs_success"]
    left.axvline(THRESHOLD, color="grey", lw=0.8, ls="--")
    left.set_xlabel("|log10 ρ| during training, ρ = (‖∂L/∂h_1‖/‖∂L/∂h_T‖)^(1/(T−1))")
    left.set_ylabel("success (jittered)")
    left.set_title(f"Spearman ρ = {rho['rho']:+.2f} [{rho['ci'][0]:+.2f}, {rho['ci'][1]:+.2f}]", fontsize=9)
    left.legend(fontsize=6, markerscale=2)
    width = 0.38
    for j, occurred in enumerate((False, True)):
        rates, lows, highs = [], [], []
        for name in kinds:
            ys = [r["success"] for r in records
                  if kind(r["settings"]) == name and is_veg(categories(r)[1]) is occurred]  # fmt: skip
            lo, hi = wilson(sum(ys), len(ys))
            rate = np.mean(ys) if ys else math.nan
            rates.append(rate)
            lows.append(max(0.0, rate - lo) if ys else 0)
            highs.append(max(0.0, hi - rate) if ys else 0)
        xs = np.arange(len(kinds)) + (j - 0.5) * width
        right.bar(xs, rates, width, yerr=[lows, highs], capsize=2, label="VEG in training" if occurred else "no VEG")
    right.set_xticks(np.arange(len(kinds)), kinds, rotation=30, ha="right", fontsize=7)
    right.set_ylabel("success rate")
    right.legend(fontsize=7)
    return _save(fig, path)


def veg_threshold(rows: list[dict], path: Path) -> tuple[str, bytes]:
    """How the answers move with θ: share of runs with VEG, the within-cell (Mantel-Haenszel) odds ratio of
    success with VEG during training, and the stratified permutation p-value."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    theta = np.array([r["threshold"] for r in rows])
    for phase in ("initialisation", "training"):
        axes[0].plot(theta, [r[phase]["veg_rate"] for r in rows], marker="o", ms=3, label=f"at {phase}")
    odds = np.array([r["training"]["odds_ratio"] for r in rows], dtype=float)
    ci = np.array([r["training"]["ci"] for r in rows], dtype=float).T
    with np.errstate(invalid="ignore"):
        axes[1].errorbar(theta, odds, yerr=np.maximum(0, np.nan_to_num([odds - ci[0], ci[1] - odds])), marker="o",
                         ms=3, capsize=2)  # fmt: skip
    axes[1].axhline(1, color="grey", lw=0.8)
    axes[2].plot(theta, [r["training"]["p_value"] for r in rows], marker="o", ms=3)
    axes[2].axhline(0.05, color="grey", lw=0.8, ls="--")
    for ax, label in zip(axes, ("share with VEG", "within-cell odds ratio, training", "permutation p, training")):
        ax.set_xscale("log")
        ax.axvline(THRESHOLD, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("θ (decades per step)")
        ax.set_ylabel(label, fontsize=8)
    axes[1].set_yscale("log")
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def learning_curves(records, kinds, path: Path) -> tuple[str, bytes]:
    """Median evaluation metric (over seeds) against updates, one line per learning rate; a row of panels
    (one per model kind) for each task and length."""
    plt = _plt()
    pairs = problems(records)
    fig, axes = plt.subplots(
        len(pairs), len(kinds), figsize=(3.0 * len(kinds), 2.8 * len(pairs)), sharey="row", squeeze=False
    )
    for row, problem in zip(axes, pairs):
        for ax, name in zip(row, kinds):
            groups = defaultdict(list)
            for r in records:
                if kind(r["settings"]) == name and _of(r, problem) and r["metric_curve"]:
                    groups[r["settings"]["lr"]].append(r)
            for lr in sorted(groups):
                steps = max((r["eval_steps"] for r in groups[lr]), key=len)
                curves = [_pad(r["metric_curve"], len(steps)) for r in groups[lr]]
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    ax.plot(steps, np.nanmedian(np.array(curves, dtype=float), 0), label=f"lr {lr:g}")
            ax.set_yscale("log")
            ax.set_title(f"{name}: {_name(problem, pairs)}", fontsize=8)
        row[0].set_ylabel(next(r["metric"] for r in records if _of(r, problem)))
    for ax in axes[-1]:
        ax.set_xlabel("updates")
    axes[0][-1].legend(fontsize=6)
    return _save(fig, path)


def _pad(curve: list, n: int) -> list:
    """A curve that stopped early (success) holds its last value; None → NaN."""
    values = [math.nan if v is None else v for v in curve]
    return values + [values[-1]] * (n - len(values))


def veg_profiles(records, kinds, path: Path) -> tuple[str, bytes]:
    """Median log10 ‖∂L/∂h_t‖/‖∂L/∂h_T‖ against t/T at update 1 and at the last measurement, per task and length;
    dashed: a per-step rate of ±θ."""
    plt = _plt()
    pairs = problems(records)
    fig, axes = plt.subplots(len(pairs), 2, figsize=(10, 3.0 * len(pairs)), sharey=True, squeeze=False)
    for row, problem in zip(axes, pairs):
        for ax, which, title in ((row[0], 0, "at update 1"), (row[1], -1, "at the last measurement")):
            for name in kinds:
                rows, t = [], None
                for r in records:
                    if kind(r["settings"]) == name and _of(r, problem) and r["profiles"]:
                        p = np.array([math.nan if v is None else v for v in r["profiles"][which]], dtype=float)
                        with np.errstate(divide="ignore", invalid="ignore"):
                            rows.append(np.log10(p / p[-1]))
                        t = np.array(r["profile_t"], dtype=float)
                if rows:
                    rows = np.array(rows)
                    with np.errstate(all="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (dead units)
                        median = np.nanmedian(np.where(np.isfinite(rows), rows, np.nan), 0)
                    ax.plot(t / t[-1], median, label=name)
            if t is not None:  # a per-step rate of exactly ±θ: log10 of ρ^(T − t)
                for sign in (-1, 1):
                    ax.plot(t / t[-1], sign * THRESHOLD * (t[-1] - t), color="grey", lw=0.8, ls="--")
            ax.set_title(f"VEG profile {title}: {_name(problem, pairs)}", fontsize=9)
        row[0].set_ylabel("median log10 ‖∂L/∂h_t‖/‖∂L/∂h_T‖", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("t / T")
    axes[0][1].legend(fontsize=7)
    return _save(fig, path)
