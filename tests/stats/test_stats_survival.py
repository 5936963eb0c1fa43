"""The Turnbull estimate: hand-computed cases, lifelines' own results on the same data,
and the inputs real monitoring produces (nothing, all censored, exact, skewed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.fitters.npmle import npmle as lifelines_npmle

from monitor.stats.survival import GRID, headline, innermost, npmle, prepare, survival_curve

INF = math.inf


def test_km_case_by_hand() -> None:
    """Four posts: censored at 5, removed at exactly 10 and 20, censored at 30.

    Kaplan-Meier by hand: at 10, 3 at risk, 1 removed: S = 2/3; at 20, 2 at risk, 1
    removed: S = 2/3 * 1/2 = 1/3; it stays 1/3 (the last post is censored)."""
    curve, fit = survival_curve([5, 10, 20, 30], [None, 10, 20, None], samples=0,
                                times=[0, 5, 9, 10, 15, 20, 30])
    assert curve.times == [0, 5, 9, 10, 15, 20, 30]
    assert curve.survival == pytest.approx([1, 1, 1, 2 / 3, 2 / 3, 1 / 3, 1 / 3], abs=1e-6)
    assert (curve.posts, curve.removed, curve.censored) == (4, 2, 2)
    # The mass: 1/3 at 10, 1/3 at 20, 1/3 beyond the last censoring.
    assert fit.q.tolist() == [10, 20, 30] and fit.p.tolist() == [10, 20, INF]
    assert fit.mass == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=1e-6)


def test_interval_case_by_hand() -> None:
    """[0, 10] and [5, 20] overlap only on [5, 10]; [30, inf) is censored. The NPMLE puts
    2/3 on [5, 10] and 1/3 beyond 30: by 10 min... by t = 10, 2/3 are surely gone; at
    t = 7 they may or may not be (the data cannot say where in [5, 10])."""
    curve, fit = survival_curve([0, 5, 30], [10, 20, None], samples=0, times=[4, 7, 10, 25])
    assert fit.q.tolist() == [5, 30] and fit.p.tolist() == [10, INF]
    assert fit.mass == pytest.approx([2 / 3, 1 / 3], abs=1e-6)
    assert curve.survival == pytest.approx([1, 1, 1 / 3, 1 / 3], abs=1e-6)
    assert curve.survival_earliest == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3], abs=1e-6)


def test_agrees_with_lifelines_npmle_on_interval_data() -> None:
    rng = np.random.default_rng(7)
    n = 60
    t = rng.exponential(3600, n)
    low = np.floor(np.maximum(t - rng.uniform(0, 900, n), 0) / 60) * 60
    up = np.ceil((t + rng.uniform(0, 900, n)) / 60) * 60
    censored = rng.random(n) < 0.3
    low[censored] = np.floor(rng.uniform(0, 7200, censored.sum()) / 60) * 60
    up[censored] = INF
    q, p, mass = npmle(low, up, np.ones(n), tol=1e-10)
    theirs, intervals = lifelines_npmle(low, up, tol=1e-10)
    assert q.tolist() == [i.left for i in intervals]
    assert p.tolist() == [i.right for i in intervals]
    assert mass == pytest.approx(theirs, abs=1e-4)


def test_agrees_with_kaplan_meier_fitter_between_ends() -> None:
    """lifelines' ``fit_interval_censoring`` on the same data: its survival function,
    read between the ends (where the two readings cannot differ), is ours."""
    low = np.array([0.0, 60, 60, 300, 600, 600, 1200, 30, 90])
    up = np.array([60.0, 300, INF, 600, 600, INF, 3600, 30, 400])
    ends = sorted(set(low) | set(up[np.isfinite(up)]))
    mids = [(a + b) / 2 for a, b in zip(ends, ends[1:], strict=False)]
    ours, _ = survival_curve(low, up.tolist(), samples=0, times=mids)
    kmf = KaplanMeierFitter().fit_interval_censoring(low, up, timeline=mids, tol=1e-10)
    lower = kmf.survival_function_["NPMLE_estimate_lower"].to_numpy()
    upper = kmf.survival_function_["NPMLE_estimate_upper"].to_numpy()
    assert ours.survival == pytest.approx(upper.tolist(), abs=1e-4)
    assert ours.survival_earliest == pytest.approx(lower.tolist(), abs=1e-4)
    assert len(set(upper.round(4))) > 3  # the case is not trivially flat


def test_weights_are_repeated_posts() -> None:
    once, _ = survival_curve([0, 0, 0, 10, 10], [10, 10, 10, None, None], samples=0,
                             times=[5, 10, 20])
    weighted, _ = survival_curve([0, 10], [10, None], [3, 2], samples=0, times=[5, 10, 20])
    assert once.survival == pytest.approx(weighted.survival)
    assert weighted.posts == 5 and weighted.removed == 3


def test_band_holds_the_estimate_and_is_reproducible() -> None:
    low = [0, 60, 60, 300, 600, 600, 1200, 30, 90, 0, 10]
    up = [60, 300, None, 600, 600, None, 3600, 30, 400, None, 20]
    a, _ = survival_curve(low, up, samples=200, seed=3)
    b, _ = survival_curve(low, up, samples=200, seed=3)
    assert a.lower == b.lower and a.upper == b.upper
    for lo, s, hi in zip(a.lower, a.survival, a.upper, strict=True):
        assert 0 <= lo <= s <= hi <= 1
    assert any(hi - lo > 0.05 for lo, hi in zip(a.lower, a.upper, strict=True))


def test_headline_by_hand() -> None:
    """Removed at 5 min (exact), within [20 min, 2 h], at 30 h; two posts still up,
    last seen at 3 h and at 3 days."""
    low = [300, 1200, 108000, 10800, 259200]
    up = [300, 7200, 108000, None, None]
    curve, fit = survival_curve(low, up, samples=0)
    rows = {r["label"]: r for r in headline(fit, curve)}
    ten = rows["10 min"]
    assert ten["estimate"] == pytest.approx(0.2)  # 1 of 5 surely gone by 10 min
    assert ten["observed"] == 5 and ten["removed_share"] == pytest.approx(0.2)
    assert ten["of_removed"] == pytest.approx(1 / 3)
    hour = rows["1 h"]
    # [20 min, 2 h] may or may not be before 1 h; the post last seen at 3 h is known up.
    assert hour["estimate"] == pytest.approx(0.2) and hour["estimate_max"] == pytest.approx(0.4)
    assert hour["observed"] == 4  # the [1200, 7200] post's state at 1 h is unknown
    assert hour["of_removed"] == pytest.approx(1 / 3)
    assert hour["of_removed_max"] == pytest.approx(2 / 3)
    day = rows["24 h"]
    # Censored at 3 h: its fate at 24 h is unknown; the 3-day post is known up.
    assert day["observed"] == 4 and day["removed_share"] == pytest.approx(0.5)
    assert day["of_removed"] == pytest.approx(2 / 3)


# --- degenerate input -------------------------------------------------------------------


def test_no_posts() -> None:
    curve, fit = survival_curve([], [])
    assert curve.times == [] and curve.posts == 0
    assert all(r["estimate"] is None and r["observed"] == 0 for r in headline(fit, curve))


def test_all_censored_is_a_flat_curve() -> None:
    curve, fit = survival_curve([5, 60, 60], [None, None, None], times=[0, 10, 100])
    assert curve.survival == [1.0, 1.0, 1.0]
    assert curve.lower == curve.upper == [1.0, 1.0, 1.0]
    assert curve.removed == 0
    assert all(r["of_removed"] is None for r in headline(fit, curve))


def test_all_removed_at_publication() -> None:
    """Zero-length intervals at zero (L = R = 0): everything gone at once."""
    curve, _ = survival_curve([0, 0], [0, 0], times=[0, 10])
    assert curve.survival == [0.0, 0.0]


def test_clock_skew_reads_as_removed_at_last_sight() -> None:
    """Seen gone (R = 50) before last seen visible (L = 80): read as [80, 80]."""
    low, up, w, skewed = prepare([80, 10], [50, None])
    assert low.tolist() == [80, 10] and up.tolist() == [80, INF] and skewed == 1
    curve, _ = survival_curve([80, 10], [50, None], samples=0, times=[79, 80])
    assert curve.skewed == 1
    assert curve.survival == pytest.approx([1.0, 0.0])


def test_negative_times_and_nan_upper_bounds() -> None:
    """A post published after its last visible check (clock skew) starts at 0; a NaN
    upper bound is a censored post."""
    low, up, _, _ = prepare([-30, 5], [-10, float("nan")])
    assert low.tolist() == [0, 5] and up.tolist() == [0, INF]


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="one value per post"):
        prepare([1, 2], [3])
    with pytest.raises(ValueError, match="finite lower bound"):
        prepare([float("nan")], [3])


def test_zero_weights_are_dropped() -> None:
    curve, _ = survival_curve([0, 5], [10, None], [0, 4], samples=0, times=[20])
    assert curve.posts == 4 and curve.survival == [1.0]


def test_innermost_intervals_of_touching_closed_intervals() -> None:
    """[0, 10] and [10, 20] share the point 10: closed intervals overlap there."""
    q, p = innermost(np.array([0.0, 10]), np.array([10.0, 20]))
    assert q.tolist() == [10] and p.tolist() == [10]


def test_grid_holds_the_headline_thresholds() -> None:
    assert {600, 1800, 3600, 86400} <= set(GRID)
    assert list(GRID) == sorted(GRID) and GRID[0] == 0 and GRID[-1] == INF
