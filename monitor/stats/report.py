"""The statistics as the API, the pages and ``takedown stats`` show them: plain rows
and dicts (JSON-ready), computed from the database's aggregates."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from typing import Any

from ..db import Connection
from ..db import stats as store
from ..db.stats import StatsFilter
from .keywords import log_odds
from .survival import GRID, headline, survival_curve

__all__ = ["keywords", "rates", "survival"]

Row = dict[str, Any]

#: At most this many curves in one answer (the keys with the most posts).
TOP_CURVES = 12


def survival(conn: Connection, f: StatsFilter, by: str = "all", *, top: int = TOP_CURVES,
             samples: int = 100) -> Row:
    """One curve per key of ``by`` (the ``top`` keys with most posts), each with its
    points, band and headline shares.

    By ``cause``, each cause's curve counts a post removed for another cause as
    censored at the start of its removal interval (the last time it was seen): the
    cause-specific curve, which reads as "if nothing else removed posts" and assumes
    the causes independent. ``survival`` of all causes together is ``by=all``.
    """
    rows = store.survival_rows(conn, f, "all" if by == "cause" else by, GRID)
    datasets: dict[str, list[tuple[float, float | None, int]]] = defaultdict(list)
    skewed: dict[str, int] = defaultdict(int)
    if by == "cause":
        causes = {r["cause"] for r in rows if r["r"] is not None}
        for cause in causes:
            datasets[cause or "unknown"] = [
                (r["l"], r["r"] if r["cause"] == cause else None, r["n"]) for r in rows]
            skewed[cause or "unknown"] = sum(r["n"] for r in rows
                                             if r["skewed"] and r["cause"] == cause)
    else:
        for r in rows:
            datasets[r["key"]].append((r["l"], r["r"], r["n"]))
            skewed[r["key"]] += r["n"] if r["skewed"] else 0
    weight = {k: sum(n for _, r, n in d if by != "cause" or r is not None)
              for k, d in datasets.items()}
    keys = sorted(datasets, key=lambda k: (-weight[k], str(k)))
    curves = []
    for key in keys[:top]:
        data = datasets[key]
        ends = [x for lo, hi, _ in data for x in (lo, hi) if x is not None]
        reach = max(ends, default=0.0)
        times = [g for g in GRID if g <= reach] + [g for g in GRID if g > reach][:1]
        times = [t for t in times if t != float("inf")]
        curve, fit = survival_curve([d[0] for d in data], [d[1] for d in data],
                                    [d[2] for d in data], times=times, samples=samples)
        points = [{"t": t, "survival": s, "survival_earliest": e, "lower": lo, "upper": hi}
                  for t, s, e, lo, hi in zip(curve.times, curve.survival,
                                             curve.survival_earliest, curve.lower,
                                             curve.upper, strict=True)]
        curves.append({"key": key, "posts": curve.posts, "removed": curve.removed,
                       # the database already clamped them: its count, not the curve's
                       "censored": curve.censored, "skewed": skewed[key],
                       "points": points, "headline": headline(fit, curve)})
    return {"by": by, "curves": curves, "omitted": max(0, len(keys) - top),
            "method": "Turnbull NPMLE (interval-censored), 95% percentile bootstrap band"}


def rates(conn: Connection, f: StatsFilter, by: str = "platform",
          period: str | None = None) -> list[Row]:
    """Per key (and period): posts started, how many of those disappeared, their share
    (``deletion_rate``), and the events detected: disappearances, hidings, edits,
    restorations. By ``cause`` there are no post counts (a post has no cause)."""
    table: dict[tuple[Any, datetime | None], Row] = {}

    def row(key: Any, when: datetime | None) -> Row:
        return table.setdefault((key, when), {
            "key": key, "period": when, "posts": None if by == "cause" else 0,
            "removed": None if by == "cause" else 0, "deletion_rate": None,
            "disappeared": 0, "hidden": 0, "edited": 0, "restored": 0})

    for r in store.event_counts(conn, f, by, period):
        row(r["key"], r["period"]).update(
            {k: r[k] for k in ("disappeared", "hidden", "edited", "restored")})
    if by != "cause":
        for r in store.post_counts(conn, f, by, period):
            target = row(r["key"], r["period"])
            target.update(posts=r["posts"], removed=r["removed"],
                          deletion_rate=round(r["removed"] / r["posts"], 6))
    far = datetime.max.replace(tzinfo=None)
    return sorted(table.values(), key=lambda r: (
        (r["period"].replace(tzinfo=None) if r["period"] else far), -r["disappeared"],
        str(r["key"])))


def keywords(conn: Connection, f: StatsFilter, *, limit: int = 5000, max_chars: int = 5000,
             min_count: int = 2, top: int = 50) -> Row:
    """The ``top`` terms most over-represented in removed posts, with their counts,
    over the latest ``limit`` posts of accounts that had a post removed."""
    rows = store.keyword_texts(conn, f, limit=limit, max_chars=max_chars)
    removed = [r["text"] for r in rows if r["removed"]]
    surviving = [r["text"] for r in rows if not r["removed"]]
    terms = log_odds(removed, surviving, min_count=min_count)
    return {"posts": {"removed": len(removed), "surviving": len(surviving)},
            "limit": limit, "terms": [asdict(t) for t in terms[:top]],
            "method": "weighted log-odds ratio, informative Dirichlet prior "
                      "(Monroe, Colaresi & Quinn 2008)"}
