"""Small statistics for sweep reports: Wilson intervals for success rates, logistic regression by IRLS with
standard errors and deviance, McFadden's pseudo-R² (share of deviance explained), and Spearman's ρ with a
Fisher-z interval. NumPy only, so that numbers are reproducible and dependencies stay small."""

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


def logistic_fit(x: np.ndarray, y: np.ndarray, ridge: float = 1e-4, iterations: int = 100) -> LogisticFit:
    """Fit P(y = 1) = σ(b0 + x·b) by Newton/IRLS; a tiny ridge on b keeps separable data finite."""
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
