"""Survival answers computed ahead of the request, served with their ``computed_at``.

Why a cache and not a rollup: the Turnbull fit with its bootstrap band costs about
0.5 s per curve in numpy (3-6 s for a year by platform or group at a million posts),
and the per-post intervals do not aggregate in SQL (counts per day x platform x group
x cause x L x R keep 565,000 rows for a million posts). So the answer itself is
stored: ``/api/v1/stats/survival`` returns the stored answer for the same request if it
was computed within ``max_age`` (setting ``STATS_MAX_AGE``, default 10),
else computes it (seconds) and stores it. :func:`refresh`, called every few minutes
by ``takedown run``/``serve``, keeps the common answers (:data:`COMMON`: a year of
each breakdown) fresh, so users do not pay for them.

The trade-off: a cached answer is up to ``max_age`` old (the response says when it
was computed, and a relative window such as ``since=365d`` counts from then).
Rates need no cache: their rollups are exact and fresh (:mod:`monitor.db.stats`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from ..clock import Clock
from ..db import Connection, Database
from ..db import stats as store
from ..db.stats import StatsFilter
from ..settings import parse_duration
from . import report

__all__ = ["COMMON", "MAX_AGE", "answer_key", "refresh", "refresh_forever", "survival"]

log = logging.getLogger(__name__)

#: How old a stored answer may be when ``STATS_MAX_AGE`` is not set.
MAX_AGE = timedelta(minutes=10)
#: Stored answers older than this are deleted (keys are whatever users asked for).
KEEP = timedelta(days=1)
#: The requests :func:`refresh` answers in the background: a year of each breakdown,
#: as the API receives them (``since`` as given, ``top`` its default).
COMMON: tuple[dict[str, Any], ...] = tuple(
    {"kind": "survival", "since": "365d", "by": by, "top": report.TOP_CURVES}
    for by in ("all", "platform", "group", "cause"))


def answer_key(params: dict[str, Any]) -> str:
    """The cache key of a request: its parameters as given (a relative ``since`` stays
    relative, so ``since=365d`` asked at any time finds the same answer)."""
    kept = {k: v for k, v in params.items() if v is not None and v != []}
    return json.dumps(kept, sort_keys=True, ensure_ascii=True)


def survival(conn: Connection, params: dict[str, Any], f: StatsFilter, now: datetime, *,
             max_age: timedelta = MAX_AGE, samples: int = 100) -> dict[str, Any]:
    """The survival answer for a request (``params``: its parameters as given, ``f``:
    their filter), with ``computed_at``: stored if at most ``max_age`` old, else
    computed now and stored."""
    key = answer_key({"kind": "survival", **params})
    if max_age > timedelta(0):
        hit = store.load_answer(conn, key)
        if hit is not None and timedelta(0) <= now - hit["computed_at"] <= max_age:
            return {**hit["answer"], "computed_at": hit["computed_at"]}
    answer = report.survival(conn, f, params["by"], top=params["top"], samples=samples)
    for curve in answer["curves"]:
        curve["key"] = str(curve["key"])
    store.save_answer(conn, key, now, answer, now - KEEP)
    return {**answer, "computed_at": now}


def refresh(db: Database, clock: Clock, *, specs: tuple[dict[str, Any], ...] = COMMON
            ) -> int:
    """Recompute the ``specs`` answers now (each in its own transaction); returns how
    many were stored. A failure is logged and the next one is tried."""
    done = 0
    for spec in specs:
        now = clock.now()
        params = {k: v for k, v in spec.items() if k != "kind"}
        since = params.get("since")
        f = StatsFilter(since=now - timedelta(seconds=parse_duration(since))
                        if since else None)
        try:
            with db.transaction() as conn:
                survival(conn, params, f, now, max_age=timedelta(0))
            done += 1
        except Exception:  # one bad answer must not stop the others
            log.exception("statistics: could not refresh the answer %s", answer_key(spec))
    return done


async def refresh_forever(db: Database, clock: Clock, every: float) -> None:
    """:func:`refresh` now and then every ``every`` seconds (a little sooner, so a common
    answer is never older than ``STATS_MAX_AGE``), until cancelled. It runs in a thread:
    fitting the curves is seconds of CPU at a million posts."""
    while True:
        began = time.monotonic()
        try:
            stored = await asyncio.to_thread(refresh, db, clock)
            log.info("statistics: refreshed %d answer(s) in %.1f s", stored,
                     time.monotonic() - began)
        except Exception:  # the database is away, say: the next round tries again
            log.exception("statistics: refresh failed; trying again in %.0f s", every)
        await asyncio.sleep(max(1.0, every * 0.9 - (time.monotonic() - began)))
