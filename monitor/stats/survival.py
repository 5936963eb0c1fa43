"""Time to takedown: the Turnbull estimate of an interval-censored survival curve.

A post's removal is only known to lie between the last check that saw it and the
first that did not: the interval ``[L, R]`` in seconds since the post's start
(``R`` infinite for a post never seen gone: right-censored at its last visible
check). The non-parametric maximum-likelihood estimate (Turnbull 1976) puts all
probability mass on the *innermost intervals* of the data and finds it by the
self-consistency (EM) iteration. This is the estimate lifelines'
``KaplanMeierFitter.fit_interval_censoring`` returns; it is computed here with numpy
because lifelines' loop takes seconds on a few hundred distinct intervals and its
confidence bands are disabled in 0.30 (tests check both estimates agree).

Bands are a percentile bootstrap (resampling posts, i.e. multinomial weights over
the distinct intervals), seeded so the same data give the same band.

Inside an innermost interval the estimate does not say where the mass lies, so a
curve has two readings: :attr:`Curve.survival` (mass at the interval's right end:
removal as late as the data allow) and :attr:`Curve.survival_earliest`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["GRID", "HEADLINE", "Curve", "Fit", "headline", "innermost", "npmle", "prepare",
           "survival_curve"]

Array = NDArray[np.float64]

INF = math.inf
#: The times (seconds) every interval is widened to (``L`` down, ``R`` up) before it is
#: fitted: finer where most removals happen, and holding each headline threshold.
GRID: tuple[float, ...] = (
    0, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400,
    21600, 43200, 64800, 86400, 129600, 172800, 259200, 345600, 604800, 1209600, 2592000,
    5184000, 7776000, 15552000, 31536000, INF)
#: Headline thresholds: (seconds, label). 30 min is the Velocity-of-Censorship figure.
HEADLINE: tuple[tuple[float, str], ...] = (
    (600, "10 min"), (1800, "30 min"), (3600, "1 h"), (86400, "24 h"))


def prepare(lower: Sequence[float], upper: Sequence[float | None],
            weights: Sequence[float] | None = None) -> tuple[Array, Array, Array, int]:
    """Clean intervals: ``None``/NaN upper bounds are right-censored (infinite), negative
    times become 0, rows of weight 0 go, and an upper bound before its lower bound
    (clock skew between checks) becomes the lower bound. Returns ``(L, R, w, skewed)``."""
    low = np.asarray(lower, dtype=float)
    up = np.asarray([INF if u is None else u for u in upper], dtype=float)
    w = np.ones_like(low) if weights is None else np.asarray(weights, dtype=float)
    if not (low.shape == up.shape == w.shape):
        raise ValueError("lower, upper and weights must have one value per post")
    if np.isnan(low).any() or np.isinf(low).any():
        raise ValueError("every post needs a finite lower bound (its last visible check)")
    up = np.where(np.isnan(up), INF, up)
    low = np.maximum(low, 0.0)
    up = np.maximum(up, 0.0)
    skewed = up < low
    up = np.where(skewed, low, up)
    keep = w > 0
    return low[keep], up[keep], w[keep], int(w[skewed & keep].sum())


def innermost(low: Array, up: Array) -> tuple[Array, Array]:
    """Turnbull's innermost intervals ``[q_j, p_j]``: a left end directly followed (in
    sorted order, left ends first at ties, the intervals being closed) by a right end."""
    ends = sorted([(v, 0) for v in set(low.tolist())] + [(v, 1) for v in set(up.tolist())])
    q, p = [], []
    for (a, kind_a), (b, kind_b) in zip(ends, ends[1:], strict=False):
        if kind_a == 0 and kind_b == 1:
            q.append(a)
            p.append(b)
    return np.asarray(q, dtype=float), np.asarray(p, dtype=float)


def npmle(low: Array, up: Array, weights: Array, *, tol: float = 1e-8,
          max_iter: int = 20000) -> tuple[Array, Array, Array]:
    """The NPMLE: innermost intervals and their mass. ``weights`` may be 2-D (one column
    per bootstrap sample): then the mass is too, one column per sample."""
    q, p = innermost(low, up)
    member = ((low[:, None] <= q[None, :]) & (p[None, :] <= up[:, None])).astype(float)
    w = weights if weights.ndim == 2 else weights[:, None]
    total = w.sum(axis=0)
    mass = np.full((len(q), w.shape[1]), 1.0 / max(len(q), 1))
    for _ in range(max_iter):
        seen = member @ mass
        ratio = np.divide(w, seen, out=np.zeros_like(w), where=seen > 0)
        new = mass * (member.T @ ratio) / total
        done = np.abs(new - mass).max(initial=0.0) < tol
        mass = new
        if done:
            break
    return q, p, mass if weights.ndim == 2 else mass[:, 0]


@dataclass
class Curve:
    """A fitted curve at ``times`` (seconds): survival, its band, and the counts."""

    times: list[float]
    survival: list[float]  # mass at the right end of each innermost interval
    survival_earliest: list[float]  # mass at the left end
    lower: list[float]  # the band around ``survival``
    upper: list[float]
    posts: int = 0
    removed: int = 0
    censored: int = 0
    skewed: int = 0


@dataclass
class Fit:
    """What :func:`headline` needs besides the curve: the data and the NPMLE."""

    low: Array
    up: Array
    w: Array
    q: Array = field(default_factory=lambda: np.zeros(0))
    p: Array = field(default_factory=lambda: np.zeros(0))
    mass: Array = field(default_factory=lambda: np.zeros(0))
    boot: Array = field(default_factory=lambda: np.zeros((0, 0)))  # (samples, J) mass


def _removed_by(q: Array, p: Array, mass: Array, t: float) -> tuple[float, float]:
    """Mass surely at or before ``t``, and mass possibly so."""
    return float(mass[p <= t].sum()), float(mass[q <= t].sum())


def survival_curve(lower: Sequence[float], upper: Sequence[float | None],
                   weights: Sequence[float] | None = None, *,
                   times: Sequence[float] | None = None, samples: int = 100,
                   alpha: float = 0.05, seed: int = 0) -> tuple[Curve, Fit]:
    """Fit the curve of these intervals; ``times`` default to the finite ends."""
    low, up, w, skewed = prepare(lower, upper, weights)
    removed = int(w[np.isfinite(up)].sum())
    curve = Curve([], [], [], [], [], posts=int(w.sum()), removed=removed,
                  censored=int(w.sum()) - removed, skewed=skewed)
    fit = Fit(low, up, w)
    if not len(w):
        return curve, fit
    fit.q, fit.p, fit.mass = npmle(low, up, w)
    if samples > 0:
        rng = np.random.default_rng(seed)
        n = int(round(w.sum()))
        draws = rng.multinomial(n, w / w.sum(), size=samples).T.astype(float)
        # A band needs two or three digits: a looser tolerance keeps it cheap.
        fit.boot = npmle(low, up, draws, tol=1e-6, max_iter=2000)[2].T
    ends = np.concatenate([low, up[np.isfinite(up)]])
    grid = sorted(set(ends.tolist()) | {0.0}) if times is None else sorted(set(times))
    for t in grid:
        surely, possibly = _removed_by(fit.q, fit.p, fit.mass, t)
        curve.times.append(t)
        curve.survival.append(_unit(1 - surely))
        curve.survival_earliest.append(_unit(1 - possibly))
        if len(fit.boot):
            s = 1 - fit.boot[:, fit.p <= t].sum(axis=1)
            lo, hi = np.quantile(s, [alpha / 2, 1 - alpha / 2])
            curve.lower.append(_unit(min(lo, curve.survival[-1])))
            curve.upper.append(_unit(max(hi, curve.survival[-1])))
        else:
            curve.lower.append(curve.survival[-1])
            curve.upper.append(curve.survival[-1])
    return curve, fit


def headline(fit: Fit, curve: Curve,
             thresholds: Sequence[tuple[float, str]] = HEADLINE) -> list[dict[str, object]]:
    """Per threshold: the estimated share of all posts removed within it (with its band
    and the latest-removal reading), the share among posts observed that long, and the
    share of removed posts removed within it (the Velocity-of-Censorship comparison)."""
    out: list[dict[str, object]] = []
    gone = np.isfinite(fit.up)
    n_gone = fit.w[gone].sum()
    for t, label in thresholds:
        row: dict[str, object] = {"seconds": t, "label": label}
        surely, possibly = _removed_by(fit.q, fit.p, fit.mass, t)
        row["estimate"] = _unit(surely) if len(fit.mass) else None
        row["estimate_max"] = _unit(possibly) if len(fit.mass) else None
        if len(fit.boot):
            est = fit.boot[:, fit.p <= t].sum(axis=1)
            lo, hi = np.quantile(est, [0.025, 0.975])
            row["lower"], row["upper"] = _unit(min(lo, surely)), _unit(max(hi, surely))
        else:
            row["lower"] = row["upper"] = row["estimate"]
        known = (fit.up <= t) | (fit.low >= t)
        observed = fit.w[known].sum()
        row["observed"] = int(observed)
        row["removed_share"] = _ratio(fit.w[fit.up <= t].sum(), observed)
        row["of_removed"] = _ratio(fit.w[gone & (fit.up <= t)].sum(), n_gone)
        row["of_removed_max"] = _ratio(fit.w[gone & (fit.low <= t)].sum(), n_gone)
        out.append(row)
    return out


def _ratio(part: float, whole: float) -> float | None:
    return _unit(part / whole) if whole > 0 else None


def _unit(x: float) -> float:
    """A probability, rounded for JSON and kept in [0, 1] against float error."""
    return round(min(1.0, max(0.0, float(x))), 6)
