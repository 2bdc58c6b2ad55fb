"""The lab's statistics on data with known answers: a within-stratum permutation test finds a planted effect and
none where there is none; cluster-robust errors widen by √m when every run is copied m times in its cluster;
exact 2×2 tests and Newcombe's interval match published values."""

from __future__ import annotations

import numpy as np
import pytest

from seqgen.lab.stats import logistic_fit, mantel_haenszel, stratified_permutation, two_by_two


def _strata_data(effect: float, seed: int):
    """40 strata with their own base rates; x is assigned at random; y has log-odds base + effect·x."""
    rng = np.random.default_rng(seed)
    strata = np.repeat(np.arange(40), 10)
    base = rng.normal(0, 1.5, 40)[strata]
    x = (rng.random(400) < 0.5).astype(float)
    y = (rng.random(400) < 1 / (1 + np.exp(-(base + effect * x)))).astype(float)
    return x, y, list(strata)


def test_stratified_permutation_finds_a_known_effect_and_not_a_missing_one():
    x, y, strata = _strata_data(-1.5, 0)
    test = stratified_permutation(x, y, strata, 4000)
    assert test["p_value"] < 0.001 and test["statistic"] < test["expected"]
    mh = mantel_haenszel(x, y, strata)
    assert mh["ci"][0] < np.exp(-1.5) < mh["ci"][1] and mh["ci"][1] < 1
    null_p = [stratified_permutation(*_strata_data(0.0, s), permutations=500)["p_value"] for s in range(20)]
    assert sum(p < 0.05 for p in null_p) <= 3 and np.mean(null_p) > 0.3  # about uniform under no effect


def test_permutation_keeps_the_strata_apart():
    """x tracks the strata's base rates, not y within them: pooled it looks strong, within strata it is nothing."""
    strata = [s for s in range(20) for _ in range(10)]
    y = np.array([float(i % 10 < (8 if s % 2 else 2)) for i, s in enumerate(strata)])
    x = np.array([float(s % 2) for s in strata])
    x[::7] = 1 - x[::7]
    rng = np.random.default_rng(1)
    for s in range(20):  # shuffle y within strata: no within-stratum relation
        rows = np.arange(10 * s, 10 * s + 10)
        y[rows] = rng.permutation(y[rows])
    assert stratified_permutation(x, y, strata, 2000)["p_value"] > 0.05
    assert stratified_permutation(x, y, [0] * len(y), 2000)["p_value"] < 0.001


def test_cluster_robust_errors_count_clusters_not_copies():
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    y = (rng.random(300) < 1 / (1 + np.exp(-(0.3 + 0.8 * x)))).astype(float)
    alone = logistic_fit(x, y, clusters=np.arange(300))
    copies = 4
    naive = logistic_fit(np.repeat(x, copies), np.repeat(y, copies))
    clustered = logistic_fit(np.repeat(x, copies), np.repeat(y, copies), clusters=np.repeat(np.arange(300), copies))
    assert naive.se[1] == pytest.approx(logistic_fit(x, y).se[1] / 2, rel=0.01)  # copies look like evidence
    assert clustered.se[1] == pytest.approx(alone.se[1], rel=0.01)  # clustering undoes it
    assert alone.se[1] == pytest.approx(logistic_fit(x, y).se[1], rel=0.15)  # well specified: sandwich ≈ model


def test_exact_two_by_two_matches_published_values():
    le = two_by_two(3, 9, 0, 9)  # IRNN 3/9 against 0/9 at T = 150: Fisher two-sided p = 0.2059
    assert le["p_value"] == pytest.approx(0.20588, abs=1e-4) and le["odds_ratio_ci"][0] < 1
    newcombe = two_by_two(56, 70, 48, 80)  # Newcombe (1998), example (a): 0.2000, interval 0.0524 to 0.3339
    assert newcombe["difference"] == pytest.approx(0.2) and newcombe["difference_ci"] == pytest.approx(
        [0.0524, 0.3339], abs=1e-4
    )
