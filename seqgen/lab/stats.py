"""Small statistics for sweep reports: Wilson intervals for success rates, logistic regression by IRLS with
standard errors (cluster-robust on request) and deviance, McFadden's pseudo-R², Spearman's ρ with a Fisher-z
interval, within-stratum permutation tests, the Mantel-Haenszel common odds ratio, and exact 2×2 tests with
effect sizes. NumPy and SciPy only, so that numbers are reproducible and dependencies stay small."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (lo, hi) of a binomial proportion; (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    return lo, 1.0 if successes == n else min(1.0, centre + half)


@dataclass
class LogisticFit:
    """Coefficients (intercept first), their standard errors and the fit's deviance −2 log L."""

    coef: np.ndarray
    se: np.ndarray
    deviance: float

    def interval(self, j: int, z: float = Z95) -> tuple[float, float]:
        """Wald interval of coefficient j."""
        return self.coef[j] - z * self.se[j], self.coef[j] + z * self.se[j]


def logistic_fit(
    x: np.ndarray, y: np.ndarray, ridge: float = 1e-4, iterations: int = 100, clusters: np.ndarray | None = None
) -> LogisticFit:
    """Fit P(y = 1) = σ(b0 + x·b) by Newton/IRLS; a tiny ridge on b keeps separable data finite. With
    `clusters` (a label per row), standard errors are cluster-robust: the sandwich H⁻¹ (Σ_g s_g s_gᵀ) H⁻¹ over
    the clusters' summed scores s_g, with the small-sample factor G/(G − 1)."""
    X = np.column_stack([np.ones(len(y)), x.reshape(len(y), -1)]).astype(float)
    y = y.astype(float)
    penalty = np.full(X.shape[1], ridge)
    penalty[0] = 0.0
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(X @ beta, -30, 30)))
        w = p * (1 - p)
        hessian = X.T @ (X * w[:, None]) + np.diag(penalty)
        step = np.linalg.solve(hessian, X.T @ (y - p) - penalty * beta)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    p = np.clip(1 / (1 + np.exp(-np.clip(X @ beta, -30, 30))), 1e-12, 1 - 1e-12)
    w = p * (1 - p)
    cov = np.linalg.pinv(X.T @ (X * w[:, None]) + np.diag(penalty))
    if clusters is not None:
        labels, index = np.unique(clusters, return_inverse=True)
        scores = np.zeros((len(labels), X.shape[1]))
        np.add.at(scores, index, X * (y - p)[:, None])
        g = len(labels)
        cov = cov @ (scores.T @ scores) @ cov * (g / (g - 1) if g > 1 else math.nan)
    deviance = float(-2 * np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return LogisticFit(beta, np.sqrt(np.diag(cov)), deviance)


def one_hot(values: list) -> np.ndarray:
    """Indicator columns [n, levels − 1] of a categorical factor (first level is the baseline)."""
    levels = sorted(set(values), key=str)
    return np.array([[v == level for level in levels[1:]] for v in values], dtype=float).reshape(len(values), -1)


def pseudo_r2(columns: list[np.ndarray], y: np.ndarray) -> float:
    """McFadden's R² = 1 − D(model)/D(null): the share of the null deviance the predictors explain."""
    null = logistic_fit(np.zeros((len(y), 0)), y).deviance
    if null == 0:
        return math.nan
    model = logistic_fit(np.column_stack(columns) if columns else np.zeros((len(y), 0)), y).deviance
    return 1 - model / null


def spearman(x: np.ndarray, y: np.ndarray) -> dict:
    """Spearman's ρ, its two-sided p-value and a 95 % interval (Fisher z with Fieller's 1.06 factor)."""
    n = len(x)
    if n < 4 or np.all(x == x[0]) or np.all(y == y[0]):
        return {"rho": math.nan, "p_value": math.nan, "ci": [math.nan, math.nan], "n": n}
    rho, p_value = stats.spearmanr(x, y)
    half = Z95 * math.sqrt(1.06 / (n - 3))
    z = math.atanh(min(max(rho, -0.999999), 0.999999))
    return {
        "rho": float(rho),
        "p_value": float(p_value),
        "ci": [math.tanh(z - half), math.tanh(z + half)],
        "n": n,
    }


def stratified_permutation(x: np.ndarray, y: np.ndarray, strata: list, permutations: int = 10_000,
                           seed: int = 0) -> dict:  # fmt: skip
    """Two-sided permutation test of x (0/1) against y (0/1) within strata: x is shuffled among the runs of
    each stratum (its margins kept), the statistic is Σ x·y (successes among x = 1), p = (1 + #{|T − E| ≥
    |t − E|}) / (1 + permutations). Strata where x or y is constant carry no information and are counted apart."""
    rng = np.random.default_rng(seed)
    groups: dict = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    observed = float(x @ y)
    expected, draws, informative, runs = 0.0, np.zeros(permutations), 0, 0
    for rows in groups.values():
        xs, ys = x[rows], y[rows]
        expected += xs.sum() * ys.mean()
        if xs.min() == xs.max() or ys.min() == ys.max():
            draws += xs @ ys
            continue
        informative, runs = informative + 1, runs + len(rows)
        order = rng.random((permutations, len(rows))).argsort(1)
        draws += xs[order] @ ys
    extreme = np.sum(np.abs(draws - expected) >= abs(observed - expected) - 1e-9)
    return {"statistic": observed, "expected": expected, "p_value": float((1 + extreme) / (1 + permutations)),
            "permutations": permutations, "informative_strata": informative, "informative_runs": runs}  # fmt: skip


def mantel_haenszel(x: np.ndarray, y: np.ndarray, strata: list) -> dict:
    """Common odds ratio of y = 1 for x = 1 against x = 0 across strata (Mantel-Haenszel), with the
    Robins-Breslow-Greenland 95 % interval; NaN when no stratum compares both."""
    groups: dict = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    r = s_ = pr = ps_qr = qs = 0.0
    for rows in groups.values():
        xs, ys = x[rows], y[rows]
        n = len(rows)
        a, b = np.sum((xs == 1) & (ys == 1)), np.sum((xs == 1) & (ys == 0))
        c, d = np.sum((xs == 0) & (ys == 1)), np.sum((xs == 0) & (ys == 0))
        ri, si, pi, qi = a * d / n, b * c / n, (a + d) / n, (b + c) / n
        r, s_, pr, ps_qr, qs = r + ri, s_ + si, pr + pi * ri, ps_qr + pi * si + qi * ri, qs + qi * si
    if r == 0 or s_ == 0:
        return {"odds_ratio": r / s_ if s_ else math.nan, "ci": [math.nan, math.nan]}
    odds = r / s_
    se = math.sqrt(pr / (2 * r * r) + ps_qr / (2 * r * s_) + qs / (2 * s_ * s_))
    return {"odds_ratio": odds, "ci": [odds * math.exp(-Z95 * se), odds * math.exp(Z95 * se)]}


def two_by_two(k1: int, n1: int, k2: int, n2: int) -> dict:
    """Group 1 (k1 of n1) against group 2 (k2 of n2): Fisher's exact two-sided p, the conditional maximum-
    likelihood odds ratio with its exact interval, and the rate difference with Newcombe's score interval."""
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    odds = stats.contingency.odds_ratio(table)
    ci = odds.confidence_interval(0.95)
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    p1, p2 = k1 / n1, k2 / n2
    diff = p1 - p2
    return {
        "p_value": float(stats.fisher_exact(table)[1]),
        "odds_ratio": float(odds.statistic), "odds_ratio_ci": [float(ci.low), float(ci.high)],
        "difference": diff,
        "difference_ci": [diff - math.hypot(p1 - l1, u2 - p2), diff + math.hypot(u1 - p1, p2 - l2)],
    }  # fmt: skip
