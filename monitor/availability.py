"""Per-country availability: each observation of a post as an OONI-style measurement.

A post observed from several vantage points is a matrix of post × country × time.
Each observation run (:mod:`monitor.runs`) becomes one *measurement*:

``ok``
    the content was served (outcome ``ok``).
``confirmed``
    the content was withheld and the platform's answer names a block or a removal:
    HTTP 451 (outcome ``legal``), or a notice saying geo-blocked, withheld or removed
    for legal reasons, removed by the platform or a moderator, or the account
    suspended (:data:`CONFIRMING_NOTICES`). The rule that matched
    (``signals.fingerprint``) is carried; an HTTP 451 without one carries ``http.451``.
``anomaly``
    the content was not served and nothing in the answer names a block: a 404 or 410,
    a generic page, a 403 without words, the author's own deletion. An anomaly (or a
    confirmed block) *seen while another country was served the post at about the same
    time* lists those countries in ``ok_elsewhere``: that difference is the sign of
    geo-blocking.
``failure``
    the measurement itself failed: timeouts, server errors, anti-bot pages, login
    walls, expired tokens, the platform's block of the collector, a proxy that is down,
    or an absent answer while the collector was paused (``signals.collector_paused``).
    Failures are kept, so a reader sees the gaps, but they are never evidence of
    blocking: they never count as anomalies and never make ``ok_elsewhere``.

Countries are ISO 3166-1 alpha-2 codes from ``signals.country``; anything else
(missing, hostile) is :data:`UNKNOWN`. Pure functions, no I/O: the rows come from
:mod:`monitor.db.availability`.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .observation import ABSENT, Outcome

#: The measurements, from the most telling to the least.
MEASUREMENTS = ("confirmed", "anomaly", "ok", "failure")
#: Notices that name a block or a removal: an absent answer carrying one is confirmed.
CONFIRMING_NOTICES = frozenset({
    "geo_blocked", "removed_legal", "removed_by_platform", "removed_by_moderator",
    "removed_violation", "removed_copyright", "removed_spam", "account_suspended",
})
#: The country of a vantage point that does not say (or says something that is not a code).
UNKNOWN = "??"
#: Measurements this close (before or after) count as "at about the same time".
SAME_TIME = timedelta(hours=1)
#: The fingerprint of an HTTP 451 that no words rule named.
HTTP_451 = "http.451"

_COUNTRY = re.compile(r"[A-Z]{2}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MAX_TEXT = 120
_SYMBOLS = {"ok": ".", "anomaly": "A", "confirmed": "C", "failure": "x", None: " "}
_RANK = {m: i for i, m in enumerate(MEASUREMENTS)}
_BUCKETS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=7),
            timedelta(days=30))


def country_code(value: Any) -> str:
    """``value`` as an upper-case two-letter code, or :data:`UNKNOWN`."""
    if isinstance(value, str) and _COUNTRY.fullmatch(value.strip().upper()):
        return value.strip().upper()
    return UNKNOWN


def clean(value: Any) -> str | None:
    """A stored string fit to print: control and direction characters removed, cut at
    120 characters. None stays None; anything that is not a string becomes None."""
    if not isinstance(value, str):
        return None
    text = _UNPRINTABLE.sub("", value).strip()
    return text[:_MAX_TEXT] if text else None


def classify(outcome: str, signals: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """One observation's measurement and the fingerprint it carries.

    ``outcome`` is an :class:`~monitor.observation.Outcome` value; anything else is a
    failure (it cannot be read as evidence)."""
    signals = signals if isinstance(signals, Mapping) else {}
    fingerprint = clean(signals.get("fingerprint"))
    try:
        seen = Outcome(outcome)
    except ValueError:
        return "failure", fingerprint
    if seen is Outcome.OK:
        return "ok", fingerprint
    if seen not in ABSENT or signals.get("collector_paused"):
        return "failure", fingerprint
    if seen is Outcome.LEGAL:
        return "confirmed", fingerprint or HTTP_451
    notice = signals.get("notice")
    if isinstance(notice, str) and notice in CONFIRMING_NOTICES:
        return "confirmed", fingerprint or f"notice.{notice}"
    return "anomaly", fingerprint


def measurement(row: Mapping[str, Any]) -> dict[str, Any]:
    """An observation row (id, post_id, vantage, mode, first_at, last_at, repeats,
    outcome, http_status, signals) as a measurement record."""
    raw = row.get("signals")
    signals: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    kind, fingerprint = classify(str(row.get("outcome")), signals)
    notice = signals.get("notice")
    return {
        "post_id": row.get("post_id"), "observation_id": row.get("id"),
        "country": country_code(signals.get("country")),
        "vantage": clean(row.get("vantage")) or "?", "mode": row.get("mode"),
        "first_at": row["first_at"], "last_at": row["last_at"],
        "repeats": int(row.get("repeats") or 1), "measurement": kind,
        "outcome": row.get("outcome"), "http_status": row.get("http_status"),
        "fingerprint": fingerprint, "notice": clean(notice),
        "ok_elsewhere": [],
    }


def contrast(records: list[dict[str, Any]], same_time: timedelta = SAME_TIME
             ) -> list[dict[str, Any]]:
    """Fill each anomaly's and confirmed block's ``ok_elsewhere``: the other (known)
    countries served the post within ``same_time`` of it. ``records`` are one post's.
    Failures are never compared; they stay without."""
    # Per country: ok runs by start, and the latest end among the runs so far. A run
    # overlaps [start, end] when one that began by ``end`` lasted until ``start``.
    served: dict[str, tuple[list[datetime], list[datetime]]] = {}
    for r in sorted((r for r in records if r["measurement"] == "ok"
                     and r["country"] != UNKNOWN), key=lambda r: r["first_at"]):
        starts, ends = served.setdefault(r["country"], ([], []))
        starts.append(r["first_at"])
        ends.append(max(r["last_at"], ends[-1]) if ends else r["last_at"])
    for r in records:
        if r["measurement"] not in ("anomaly", "confirmed"):
            continue
        start, end = r["first_at"] - same_time, r["last_at"] + same_time
        r["ok_elsewhere"] = [
            country for country, (starts, ends) in sorted(served.items())
            if country != r["country"]
            and (i := bisect_right(starts, end)) and ends[i - 1] >= start]
    return records


def assess(rows: Iterable[Mapping[str, Any]], same_time: timedelta = SAME_TIME
           ) -> list[dict[str, Any]]:
    """One post's observation rows as measurements, compared across countries."""
    return contrast([measurement(r) for r in rows], same_time)


@dataclass(frozen=True, slots=True)
class Matrix:
    """Country × time: ``cells[country][i]`` is the most telling measurement in the
    ``i``-th bucket from ``start`` (None: not measured)."""

    start: datetime
    bucket: timedelta
    columns: int
    cells: dict[str, list[str | None]]


def _bucket(span: timedelta, columns: int) -> timedelta:
    # A run's first bucket starts before it: one column is kept for that.
    for size in _BUCKETS:
        if span < size * (columns - 1):
            return size
    return timedelta(days=math.ceil(span / timedelta(days=1) / (columns - 1)) + 1)


def matrix(records: Sequence[Mapping[str, Any]], columns: int = 48) -> Matrix | None:
    """The country × time matrix of one post's measurements, at most ``columns`` wide.
    In one bucket, confirmed > anomaly > ok > failure: a failure shows only where
    nothing was measured."""
    if not records:
        return None
    if columns < 2:
        raise ValueError("a matrix needs at least 2 columns")
    first = min(r["first_at"] for r in records)
    last = max(r["last_at"] for r in records)
    bucket = _bucket(last - first, columns)
    step = bucket.total_seconds()
    start = datetime.fromtimestamp(first.timestamp() // step * step, UTC)
    width = int((last - start) // bucket) + 1
    cells: dict[str, list[str | None]] = {}
    for r in sorted(records, key=lambda r: r["country"]):
        row = cells.setdefault(r["country"], [None] * width)
        for i in range(int((r["first_at"] - start) // bucket),
                       int((r["last_at"] - start) // bucket) + 1):
            old = row[i]
            if old is None or _RANK[r["measurement"]] < _RANK[old]:
                row[i] = r["measurement"]
    return Matrix(start, bucket, width, cells)


def _span(r: Mapping[str, Any]) -> str:
    if r["repeats"] == 1:
        return _ts(r["first_at"])
    return f"{_ts(r['first_at'])} → {_ts(r['last_at'])} (×{r['repeats']})"


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _size(bucket: timedelta) -> str:
    if bucket % timedelta(days=1) == timedelta(0):
        days = bucket // timedelta(days=1)
        return "day" if days == 1 else f"{days} days"
    hours = bucket // timedelta(hours=1)
    return "hour" if hours == 1 else f"{hours} hours"


def describe(r: Mapping[str, Any]) -> str:
    """One measurement in words: when, where, what, and by which rule."""
    status = f" HTTP {r['http_status']}" if r.get("http_status") else ""
    parts = [f"{r['measurement']:<9}", _span(r), f"{r['country']} {r['vantage']}",
             f"{r['outcome']}{status}"]
    if r.get("fingerprint"):
        parts.append(f"fingerprint {r['fingerprint']}")
    if r.get("ok_elsewhere"):
        parts.append(f"(served in {', '.join(r['ok_elsewhere'])} at about the same time)")
    return "  ".join(parts)


def render(records: Sequence[Mapping[str, Any]], columns: int = 48, details: int = 20) -> str:
    """The availability section of ``takedown history``: a strip per country, the
    counts, and the latest ``details`` measurements that were not ok."""
    grid = matrix(records, columns)
    if grid is None:
        return "\nAvailability by country (no measurements)\n"
    lines = [f"\nAvailability by country ({len(grid.cells)} country(ies); "
             ". ok  A anomaly  C confirmed  x failed, not evidence):",
             f"  from {_ts(grid.start)}, one column per {_size(grid.bucket)}"]
    for country, row in grid.cells.items():
        mine = [r for r in records if r["country"] == country]
        counts = {m: sum(r["repeats"] for r in mine if r["measurement"] == m)
                  for m in MEASUREMENTS}
        summary = ", ".join(f"{m} ×{n}" for m, n in counts.items() if n)
        vantages = ", ".join(sorted({r["vantage"] for r in mine}))
        strip = "".join(_SYMBOLS[c] for c in row).rstrip()
        lines.append(f"  {country}  {strip.ljust(grid.columns)}  {summary}  "
                     f"(vantage: {vantages})")
    telling = [r for r in records if r["measurement"] in ("anomaly", "confirmed")]
    if telling:
        shown = telling[-details:]
        more = len(telling) - len(shown)
        lines.append(f"  not served ({len(telling)}{f', latest {len(shown)}' if more else ''}):")
        lines += [f"    {describe(r)}" for r in shown]
    return "\n".join(lines) + "\n"
