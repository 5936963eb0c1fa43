"""SQL for per-country availability: a post's observation runs as measurements.

The measurement of each run (ok, anomaly, confirmed, failure) is decided by the pure
:mod:`monitor.availability`; this module only reads the rows. :func:`for_post` serves
``takedown history``, the web post page and the evidence bundle; :func:`stream` the
``availability`` export, through a server-side cursor like :mod:`monitor.db.exports`
(the caller holds the transaction), with the same filters.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from psycopg import sql

from .. import availability
from .exports import CHUNK, Rows, _limit, _post_conditions, _published, _stream, _where
from .queries import Conn, EventFilter

_COLUMNS = sql.SQL("""
    o.id, o.post_id, o.vantage, o.mode, o.first_at, o.last_at, o.repeats, o.outcome,
    o.http_status, o.signals
""")


def for_post(conn: Conn, post_id: int, *, failures: bool = True,
             same_time: timedelta = availability.SAME_TIME) -> list[dict[str, Any]]:
    """Every observation run of the post as a measurement, oldest first: post_id,
    observation_id, country, vantage, mode, first_at, last_at, repeats, measurement
    (``ok``, ``anomaly``, ``confirmed`` or ``failure``), outcome, http_status,
    fingerprint, notice and ok_elsewhere. ``failures=False`` leaves the failed
    measurements out (they are never evidence either way)."""
    rows = conn.execute(sql.SQL("SELECT {cols} FROM observations o WHERE o.post_id = %s "
                                "ORDER BY o.first_at, o.id").format(cols=_COLUMNS),
                        (post_id,)).fetchall()
    records = availability.assess(rows, same_time)
    if not failures:
        records = [r for r in records if r["measurement"] != "failure"]
    return records


def stream(conn: Conn, f: EventFilter, *, chunk: int = CHUNK,
           published: sql.Composable | None = None,
           same_time: timedelta = availability.SAME_TIME) -> Rows:
    """Measurements of the posts ``f`` keeps (``since``/``until`` bound the start of a
    run), post by post (in the order of their ids), each post's oldest first, with the
    post's platform, group, target and key. ``f.limit`` counts measurements.
    ``published``: keep only posts all of whose events meet it (research export)."""
    params: dict[str, Any] = {}
    # Read in the order of the index on a post's runs (post_id, id), so the cursor
    # streams without sorting every observation first; each post's runs are put in
    # time order in Python, one post at a time.
    where = [sql.SQL("o.post_id IS NOT NULL"), *_post_conditions(f, params, "o.first_at"),
             *_published(published, "p")]
    query = sql.SQL("""
        SELECT {cols}, p.platform, t.group_name AS "group", t.key AS target_key,
               p.post_key, p.author
        FROM observations o
        JOIN posts p ON p.id = o.post_id
        JOIN targets t ON t.id = p.target_id
        {where}
        ORDER BY o.post_id, o.id
        {limit}
    """).format(cols=_COLUMNS, where=_where(where), limit=_limit(f))
    return _per_post(_stream(conn, "availability", query, params, chunk), chunk, same_time)


def _per_post(chunks: Rows, chunk: int, same_time: timedelta) -> Rows:
    """Rows regrouped by post, so each post's runs are compared across countries
    together; memory holds one chunk and one post's runs."""
    pending: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for rows in chunks:
        for row in rows:
            if pending and row["post_id"] != pending[0]["post_id"]:
                out += _assessed(pending, same_time)
                pending = []
            pending.append(row)
        if len(out) >= chunk:
            yield out
            out = []
    out += _assessed(pending, same_time)
    if out:
        yield out


def _assessed(rows: list[dict[str, Any]], same_time: timedelta) -> Iterator[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: (r["first_at"], r["id"]))
    for row, record in zip(rows, availability.assess(rows, same_time), strict=True):
        yield {**record, "platform": row["platform"], "group": row["group"],
               "target_key": row["target_key"], "post_key": row["post_key"],
               "author": row["author"]}
