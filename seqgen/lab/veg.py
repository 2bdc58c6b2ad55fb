"""VEG per step: the rate at which ‖∂L/∂h_t‖ grows or shrinks per time step, a quantity that does not depend
on the length T, and the categories a run falls in at initialisation and during training.

With r = ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (the diagnostics' log10 ratio), the per-step factor is ρ = r^(1/(T−1)):
for a linear RNN with W_uu = a·I and the loss on the last state, ∂L/∂h_t = a^(T−t) ∂L/∂h_T, so ρ = |a| at
every T. A measurement is vanishing if log10 ρ < −θ, exploding if log10 ρ > θ (θ = THRESHOLD decades per
step unless given). Where ‖∂L/∂h_1‖ underflows to 0 in float32 while the stored profile is still positive
at some t < T (a gradient vanishing too fast to represent over T steps), ρ is the slope of log10 ‖∂L/∂h_t‖
from the earliest positive point t_k to T: log10 ρ = (log10 p(t_k) − log10 p(T)) / (T − t_k). Dead units (the
gradient is 0 at every stored t < T, as behind dead ReLUs, or no gradient at either end) and diverged runs are
categories of their own, never counted as VEG. "At initialisation" is the measurement at update 1 (before any learning);
"during training" is the first measurement after it, a point every run that is still training shares
(the runs that stop earlier, by success or divergence, are "stopped" or "diverged", not VEG).
"""

from __future__ import annotations

import math

THRESHOLD = 0.1  # decades per step: ρ < 0.79 vanishing, ρ > 1.26 exploding
CATEGORIES = ("none", "vanishing", "exploding", "dead", "diverged", "stopped")


def per_step_log10(log10_ratio: float | None, length: int, profile: list | None = None, at: list | None = None):
    """log10 ρ = log10 r / (T − 1); for r = 0, the slope of the profile (values at steps `at`) from its earliest
    positive point to T, or −inf when it is 0 at every t < T (dead); NaN for no gradient at either end."""
    if log10_ratio is None or length < 2:
        return math.nan
    if log10_ratio == -math.inf and profile and at and len(profile) == len(at):
        end = profile[-1]
        positive = [(t, v) for t, v in zip(at[:-1], profile[:-1]) if v is not None and v > 0]
        if end is not None and end > 0 and positive:
            t, v = positive[0]
            return (math.log10(v) - math.log10(end)) / (at[-1] - t)
    return float(log10_ratio) / (length - 1)


def category(value: float, threshold: float = THRESHOLD) -> str:
    """The category of one per-step measurement log10 ρ."""
    if math.isnan(value) or value == -math.inf:
        return "dead"
    if value < -threshold:
        return "vanishing"
    return "exploding" if value > threshold else "none"


def measurements(record: dict) -> tuple[float | None, float | None]:
    """log10 ρ of a run at initialisation (update 1) and during training (its first measurement after update
    1); None where the run has no such measurement."""
    profiles = record.get("profiles") or []
    if len(profiles) != len(record["diag_steps"]):
        profiles = [None] * len(record["diag_steps"])
    at = record.get("profile_t")
    values = {s: per_step_log10(v, record["seq_len"], p, at)
              for s, v, p in zip(record["diag_steps"], record["log10_ratio"], profiles)}  # fmt: skip
    later = [s for s in record["diag_steps"] if s > 1]
    return values.get(1), values[later[0]] if later else None


def categories(record: dict, threshold: float = THRESHOLD) -> tuple[str, str]:
    """(at initialisation, during training) categories of a run: a diverged run is "diverged" during training
    (and at initialisation if it has no measurement there); one that stopped before a training measurement is
    "stopped"."""
    init, train = measurements(record)
    diverged = record["status"] == "diverged"
    at_init = category(init, threshold) if init is not None else ("diverged" if diverged else "stopped")
    if diverged or train is None:
        return at_init, "diverged" if diverged else "stopped"
    return at_init, category(train, threshold)


def is_veg(name: str) -> bool | None:
    """True for vanishing or exploding, False for none, None for the categories outside the VEG question."""
    return {"vanishing": True, "exploding": True, "none": False}.get(name)
