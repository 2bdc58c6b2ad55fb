"""The questions a sweep report answers, with intervals: does VEG (per step; at initialisation and during
training apart) predict failure within cells; how much of success the learning rate explains beyond the
interactions of every other factor; does the IRNN beat the other kinds (exact tests); and how the answers
move with the VEG threshold. Runs that share a population share its data stream (and, in a paired design,
their seeds), so resampling and robust errors work on those groups, never on single runs."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np

from seqgen.lab.stats import (
    Z95,
    logistic_fit,
    mantel_haenszel,
    one_hot,
    spearman,
    stratified_permutation,
    two_by_two,
    wilson,
)
from seqgen.lab.veg import CATEGORIES, THRESHOLD, categories, is_veg, measurements

MEMBER_KEYS = ("lr", "clip", "momentum")
IRNN = "relu/identity"


def kind(settings: dict) -> str:
    """The model family of a run: cell/init (IRNN = ReLU with identity W_uu), leaky marked."""
    name = settings["cell"] if settings["init"] == "default" else f"{settings['cell']}/{settings['init']}"
    return ("leaky " if settings.get("leaky") else "") + name


def condition(settings: dict) -> tuple:
    """What model kinds are compared within: the task, the length and the budget of updates (a design's blocks
    may train the same task and length for different numbers of updates)."""
    return settings["task"], settings["length"], settings["steps"]


def rate(k: int, n: int) -> dict:
    """k of n with its Wilson 95 % interval."""
    return {"successes": k, "runs": n, "rate": k / n if n else math.nan, "ci": list(wilson(k, n))}


def pairing(records: list[dict]) -> dict:
    """Whether cells share data streams (and seeds): paired when two cells drew from one data stream."""
    cells_of_stream: dict[int, set] = defaultdict(set)
    for r in records:
        cells_of_stream[r["data_seed"]].add(r["cell_id"])
    shared = sum(len(c) for c in cells_of_stream.values() if len(c) > 1)
    return {"paired": shared > 0, "data_streams": len(cells_of_stream), "cells_sharing_a_stream": shared,
            "populations": len({r["population_id"] for r in records})}  # fmt: skip


def veg_question(records: list[dict], threshold: float = THRESHOLD, permutations: int = 10_000) -> dict:
    """Per phase (initialisation, training): runs and success per category, then among the runs with a
    VEG/no-VEG answer the stratified (within-cell) permutation test, the Mantel-Haenszel odds ratio of success
    with VEG, and the VEG coefficient of a logistic model with one indicator per cell, with errors clustered
    by population (runs sharing a data stream and seeds)."""
    y_all = np.array([r["success"] for r in records], dtype=float)
    phases = list(zip(*[categories(r, threshold) for r in records]))
    result = {"threshold_decades_per_step": threshold}
    for phase, labels in zip(("initialisation", "training"), phases):
        by = {c: rate(int(sum(y_all[i] for i, v in enumerate(labels) if v == c)), labels.count(c)) for c in CATEGORIES}
        rows = [i for i, v in enumerate(labels) if is_veg(v) is not None]
        x = np.array([is_veg(labels[i]) for i in rows], dtype=float)
        y, cells = y_all[rows], [records[i]["cell_id"] for i in rows]
        entry = {"by_category": by, "answered": len(rows), "veg_rate": float(x.mean()) if rows else math.nan}
        if rows and 0 < x.sum() < len(x):
            k1, n1, k0, n0 = int(y[x == 1].sum()), int(x.sum()), int(y[x == 0].sum()), int((x == 0).sum())
            entry["pooled"] = {"veg": rate(k1, n1), "no_veg": rate(k0, n0), **two_by_two(k1, n1, k0, n0)}
            test = stratified_permutation(x, y, cells, permutations)
            entry["within_cells"] = {"permutation": test, "mantel_haenszel": mantel_haenszel(x, y, cells)}
            if test["informative_strata"]:  # else VEG is constant within every cell: no within-cell model exists
                clusters = [records[i]["population_id"] for i in rows]
                entry["within_cells"]["logistic"] = _clustered_veg(x, y, cells, clusters)
        result[phase] = entry
    return result


def _clustered_veg(x: np.ndarray, y: np.ndarray, cells: list, clusters: list) -> dict:
    """Odds ratio of success for VEG from success ~ cell indicators + VEG, cluster-robust 95 % interval."""
    fit = logistic_fit(np.column_stack([one_hot(cells), x]), y, clusters=np.array(clusters))
    b, se = fit.coef[-1], fit.se[-1]
    return {"odds_ratio": math.exp(b), "ci": [math.exp(b - Z95 * se), math.exp(b + Z95 * se)],
            "clusters": len(set(clusters))}  # fmt: skip


def _group_deviance(y: np.ndarray, index: np.ndarray, weights: np.ndarray) -> float:
    """Deviance of the model with one probability per group (its MLE is the group's success rate)."""
    n = np.bincount(index, weights, minlength=index.max() + 1)
    k = np.bincount(index, weights * y, minlength=index.max() + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.maximum(n, 1e-300), 0.5)
        terms = np.where(k > 0, k * np.log(np.where(p > 0, p, 1)), 0) + np.where(
            n - k > 0, (n - k) * np.log(np.where(p < 1, 1 - p, 1)), 0
        )
    return float(-2 * terms.sum())


def lr_question(records: list[dict], boots: int = 1000, seed: int = 0) -> dict:
    """McFadden R² of success for: every factor but the learning rate, crossed (one probability per group:
    all their interactions); that + the learning rate as a main effect; every factor crossed (one per cell).
    The learning rate's share beyond the interactions is R²(cells) − R²(groups). The 95 % intervals are basic
    bootstrap intervals (2·estimate − percentiles, which undo the upward bias resampling gives R²) over the
    seed groups (runs of one population and seed) resampled within each population."""
    y = np.array([r["success"] for r in records], dtype=float)
    group_key = [json.dumps({k: v for k, v in r["settings"].items() if k not in MEMBER_KEYS}, sort_keys=True)
                 for r in records]  # fmt: skip
    groups = np.unique(group_key, return_inverse=True)[1]
    cells = np.unique([r["cell_id"] for r in records], return_inverse=True)[1]
    ones = np.zeros(len(y), dtype=int)
    units = np.unique([f"{r['population_id']}/{r['seed']}" for r in records], return_inverse=True)[1]
    strata = np.unique([r["population_id"] for r in records], return_inverse=True)[1]

    def r2(w: np.ndarray) -> tuple[float, float]:
        null = _group_deviance(y, ones, w)
        return (1 - _group_deviance(y, groups, w) / null, 1 - _group_deviance(y, cells, w) / null) if null else (
            math.nan, math.nan)  # fmt: skip

    point = r2(np.ones(len(y)))
    main = logistic_fit(np.column_stack([one_hot(list(groups)), one_hot([r["settings"]["lr"] for r in records])]), y)
    null = logistic_fit(np.zeros((len(y), 0)), y).deviance
    rng = np.random.default_rng(seed)
    unit_stratum = np.zeros(units.max() + 1, dtype=int)
    unit_stratum[units] = strata
    draws = []
    for _ in range(boots):
        counts = np.zeros(units.max() + 1)
        for s in range(strata.max() + 1):
            members = np.flatnonzero(unit_stratum == s)
            np.add.at(counts, rng.choice(members, len(members)), 1)
        draws.append(r2(counts[units]))
    draws = np.array(draws)
    delta = draws[:, 1] - draws[:, 0]
    ci = lambda v, at, low=0.0: _basic_interval(v, at, low)
    return {
        "other_factors_crossed": point[0], "other_factors_crossed_ci": ci(draws[:, 0], point[0]),
        "plus_lr_main_effect": 1 - main.deviance / null if null else math.nan,
        "cells": point[1], "cells_ci": ci(draws[:, 1], point[1]),
        "lr_beyond_interactions": point[1] - point[0],
        "lr_beyond_interactions_ci": ci(delta, point[1] - point[0], -1.0),
        "bootstrap": {"resamples": boots, "unit": "seed group (population × seed) within its population",
                      "units": int(units.max() + 1)},
    }  # fmt: skip


def _basic_interval(draws: np.ndarray, estimate: float, low: float) -> list[float]:
    """Basic bootstrap 95 % interval [2θ − q97.5, 2θ − q2.5], kept within [low, 1]."""
    draws = draws[~np.isnan(draws)]
    if not len(draws) or math.isnan(estimate):
        return [math.nan, math.nan]
    q_lo, q_hi = np.percentile(draws, [2.5, 97.5])
    return [float(max(low, 2 * estimate - q_hi)), float(min(1.0, 2 * estimate - q_lo))]


def kinds_question(records: list[dict]) -> list[dict]:
    """Per task, length and budget holding IRNNs: the IRNN against each other kind over all learning rates, and
    at each kind's best learning rate (selected on the same runs, so optimistic), by exact tests."""
    cells: dict[tuple, dict[str, dict[float, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in records:
        cells[condition(r["settings"])][kind(r["settings"])][r["settings"]["lr"]].append(r["success"])
    out = []
    for (task, length, steps), kinds in sorted(cells.items(), key=lambda item: tuple(map(str, item[0]))):
        if IRNN not in kinds:
            continue
        for other in sorted(k for k in kinds if k != IRNN):
            row = {"task": task, "length": length, "steps": steps, "kind": other}
            for label, pick in (("all_lrs", None), ("best_lr", "best")):
                (k1, n1), (k2, n2) = (_successes(kinds[name], pick) for name in (IRNN, other))
                row[label] = {"irnn": rate(k1, n1), "other": rate(k2, n2), **two_by_two(k1, n1, k2, n2)}
            out.append(row)
    return out


def _successes(by_lr: dict[float, list], pick: str | None) -> tuple[int, int]:
    if pick is None:
        runs = [ok for runs in by_lr.values() for ok in runs]
    else:
        runs = by_lr[max(by_lr, key=lambda lr: (np.mean(by_lr[lr]), -lr))]
    return int(sum(runs)), len(runs)


def threshold_sweep(records: list[dict], thresholds: list[float], permutations: int = 2000) -> list[dict]:
    """The VEG answers at each per-step threshold θ (decades per step)."""
    rows = []
    for theta in thresholds:
        q = veg_question(records, theta, permutations)
        row = {"threshold": theta}
        for phase in ("initialisation", "training"):
            p = q[phase]
            within = p.get("within_cells", {})
            row[phase] = {"veg_rate": p["veg_rate"], "answered": p["answered"],
                          "odds_ratio": within.get("mantel_haenszel", {}).get("odds_ratio", math.nan),
                          "ci": within.get("mantel_haenszel", {}).get("ci", [math.nan, math.nan]),
                          "p_value": within.get("permutation", {}).get("p_value", math.nan)}  # fmt: skip
        rows.append(row)
    return rows


def rate_spearman(records: list[dict]) -> dict:
    """Spearman ρ between |log10 ρ| during training and success, over runs with a finite training measure."""
    pairs = [(abs(t), r["success"]) for r in records if r["status"] != "diverged"
             for t in [measurements(r)[1]] if t is not None and math.isfinite(t)]  # fmt: skip
    if not pairs:
        return spearman(np.zeros(0), np.zeros(0))
    x, y = np.array(pairs, dtype=float).T
    return spearman(x, y)
