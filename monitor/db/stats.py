"""SQL for the statistics (:mod:`monitor.stats`): aggregates only, so a year of a
million events comes back as a few hundred rows.

- :func:`survival_rows`: each post's removal interval, widened onto a grid of times
  and counted per (key, cause, L, R).
- :func:`event_counts`, :func:`post_counts`, :func:`cause_counts`: the rates' tables.
- :func:`keyword_texts`: the latest posts' text, capped in number and length.

A post's *account* is its author as the platform names it, else its target's value.
A post's *start* is its publication time, else when the monitor first saw it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]

__all__ = ["BY", "PERIODS", "StatsFilter", "cause_counts", "event_counts", "keyword_texts",
           "post_counts", "survival_rows"]

#: What a table or curve may be broken down by, and its SQL (over ``p`` posts, ``t``
#: targets). ``cause`` is the disappearance's cause; posts have none.
_KEYS = {
    "all": "'all'",
    "platform": "p.platform",
    "group": "t.group_name",
    "account": "COALESCE(NULLIF(p.author, ''), t.value)",
}
#: The same keys read from an event's own columns.
_EVENT_KEYS = {"all": "'all'", "platform": "e.platform", "group": "e.group_name"}
BY = (*_KEYS, "cause")
_JOIN_POST = sql.SQL("JOIN posts p ON p.id = e.post_id JOIN targets t ON t.id = e.target_id")
PERIODS = ("day", "week", "month")

_START = "COALESCE(p.published_at, p.first_seen)"


@dataclass(slots=True)
class StatsFilter:
    """Which posts and events count: a time window (posts by their start, events by
    when they were detected), platforms, groups and accounts."""

    since: datetime | None = None
    until: datetime | None = None
    platforms: list[str] | None = None
    groups: list[str] | None = None
    accounts: list[str] | None = None


def _where(f: StatsFilter, time: str, *, platform: str = "p.platform",
           group: str = "t.group_name") -> tuple[sql.Composable, dict[str, Any]]:
    """The filter's conditions over ``p``/``t`` and ``time`` (SQL expressions)."""
    parts: list[sql.Composable] = [sql.SQL("true")]
    params: dict[str, Any] = {}
    for name, clause, value in (
            ("since", f"{time} >= %(since)s", f.since),
            ("until", f"{time} < %(until)s", f.until),
            ("platforms", f"{platform} = ANY(%(platforms)s)", f.platforms),
            ("groups", f"{group} = ANY(%(groups)s)", f.groups),
            ("accounts", f"{_KEYS['account']} = ANY(%(accounts)s)", f.accounts)):
        if value:
            parts.append(sql.SQL(clause))
            params[name] = value
    return sql.SQL(" AND ").join(parts), params


def _key(by: str) -> sql.Composable:
    if by not in BY:
        raise ValueError(f"unknown breakdown {by!r}; use one of {', '.join(BY)}")
    return sql.SQL(_KEYS.get(by, _KEYS["all"]))


def survival_rows(conn: Conn, f: StatsFilter, by: str, grid: Sequence[float]
                  ) -> list[dict[str, Any]]:
    """Counts of posts per (``key``, ``cause``, ``l``, ``r``, ``skewed``): ``l`` is the
    last visible check and ``r`` the first check that found the post gone, in seconds
    since its start, widened to the nearest ``grid`` values outside them (``grid``
    ascending from 0, ending in infinity). ``r`` is None for a post never gone
    (right-censored at its last visible check; its ``cause`` is None too) or gone
    after the grid's last finite time. A post's first disappearance counts;
    ``skewed`` marks an ``r`` before ``l`` (clock skew), counted as ``r = l``."""
    where, params = _where(f, _START)
    grid = [float(g) for g in grid]
    # Rounding up is rounding down on the negated, reversed grid: both ends become
    # bucket numbers, so PostgreSQL groups small integers, not float expressions.
    params["grid"] = grid
    params["down"] = [-g for g in reversed(grid)]
    _no_jit(conn)
    query = sql.SQL("""
        WITH gone AS (
            SELECT DISTINCT ON (e.post_id) e.post_id, e.cause, e.last_seen_visible,
                   COALESCE(e.first_seen_gone, e.detected_at) AS gone_at
            FROM events e
            WHERE e.kind = 'disappeared'
            ORDER BY e.post_id, e.detected_at, e.id
        ), spans AS (
            SELECT {key} AS key, g.cause,
                   GREATEST(0, date_part('epoch',
                       COALESCE(CASE WHEN g.post_id IS NULL THEN p.last_visible_at
                                     ELSE g.last_seen_visible END, {start}) - {start}
                   )) AS l,
                   -- GREATEST skips NULLs: a post never gone keeps r NULL
                   CASE WHEN g.post_id IS NOT NULL THEN
                       GREATEST(0, date_part('epoch', g.gone_at - {start}))
                   END AS r
            FROM posts p
            JOIN targets t ON t.id = p.target_id
            LEFT JOIN gone g ON g.post_id = p.id
            WHERE {where}
        )
        SELECT key, cause, COALESCE(r < l, false) AS skewed,
               width_bucket(l, %(grid)s::float8[]) AS lo,
               CASE WHEN r IS NOT NULL
                    THEN width_bucket(-GREATEST(r, l), %(down)s::float8[]) END AS hi,
               count(*) AS n
        FROM spans
        GROUP BY 1, 2, 3, 4, 5
    """).format(key=_key(by), start=sql.SQL(_START), where=where)
    out = []
    for row in conn.execute(query, params):
        up = None if row["hi"] is None else -params["down"][row["hi"] - 1]
        out.append({"key": row["key"], "cause": row["cause"], "skewed": row["skewed"],
                    "l": grid[row["lo"] - 1], "r": None if up == math.inf else up,
                    "n": row["n"]})
    out.sort(key=lambda r: (str(r["key"]), str(r["cause"]), r["l"], r["r"] or math.inf))
    return out


def _no_jit(conn: Conn) -> None:
    """No JIT for this transaction: compiling the expressions of a statistics query
    took longer (0.4 s) than evaluating them."""
    conn.execute("SET LOCAL jit = off")


def event_counts(conn: Conn, f: StatsFilter, by: str, period: str | None
                 ) -> list[dict[str, Any]]:
    """Events per key (and period of detection): disappearances, hidings, edits,
    restorations. By ``cause``, only disappearances and hidings."""
    _no_jit(conn)
    # An event carries its platform and group: posts and targets are joined only
    # when an account is asked for.
    needs_post = by == "account" or bool(f.accounts)
    where, params = _where(f, "e.detected_at", platform="e.platform", group="e.group_name")
    key = (sql.SQL("COALESCE(e.cause, 'unknown')") if by == "cause"
           else sql.SQL(_EVENT_KEYS[by]) if by in _EVENT_KEYS else _key(by))
    query = sql.SQL("""
        SELECT {key} AS key, {period} AS period,
               count(*) FILTER (WHERE e.kind = 'disappeared') AS disappeared,
               count(*) FILTER (WHERE e.kind = 'hidden') AS hidden,
               count(*) FILTER (WHERE e.kind = 'edited') AS edited,
               count(*) FILTER (WHERE e.kind = 'restored') AS restored
        FROM events e
        {join}
        WHERE {where} {causes}
        GROUP BY 1, 2
    """).format(key=key, period=_period("e.detected_at", period), where=where,
                join=_JOIN_POST if needs_post else sql.SQL(""),
                causes=sql.SQL("AND e.kind IN ('disappeared', 'hidden')") if by == "cause"
                else sql.SQL(""))
    return conn.execute(query, params).fetchall()


def post_counts(conn: Conn, f: StatsFilter, by: str, period: str | None
                ) -> list[dict[str, Any]]:
    """Posts per key (and period of their start), and how many of them disappeared."""
    _no_jit(conn)
    where, params = _where(f, _START)
    query = sql.SQL("""
        SELECT {key} AS key, {period} AS period, count(*) AS posts,
               count(g.post_id) AS removed
        FROM posts p
        JOIN targets t ON t.id = p.target_id
        LEFT JOIN (SELECT DISTINCT post_id FROM events WHERE kind = 'disappeared') g
               ON g.post_id = p.id
        WHERE {where}
        GROUP BY 1, 2
    """).format(key=_key(by), period=_period(_START, period), where=where)
    return conn.execute(query, params).fetchall()


def cause_counts(conn: Conn, f: StatsFilter) -> list[dict[str, Any]]:
    """Disappearances per (platform, cause) in the window."""
    _no_jit(conn)
    where, params = _where(f, "e.detected_at", platform="e.platform", group="e.group_name")
    query = sql.SQL("""
        SELECT e.platform AS platform, COALESCE(e.cause, 'unknown') AS cause, count(*) AS n
        FROM events e
        {join}
        WHERE e.kind = 'disappeared' AND {where}
        GROUP BY 1, 2
        ORDER BY 1, 2
    """).format(where=where, join=_JOIN_POST if f.accounts else sql.SQL(""))
    return conn.execute(query, params).fetchall()


def keyword_texts(conn: Conn, f: StatsFilter, *, limit: int, max_chars: int
                  ) -> list[dict[str, Any]]:
    """The text of the latest ``limit`` posts (by start) of the accounts that had a post
    disappear in the window, each cut to ``max_chars``, with ``removed`` (whether it
    disappeared). Surviving posts of other accounts are left out: the comparison is
    between what the same accounts said."""
    where, params = _where(f, _START)
    params.update(limit=limit, max_chars=max_chars)
    query = sql.SQL("""
        WITH gone AS (SELECT DISTINCT post_id FROM events WHERE kind = 'disappeared'),
        candidates AS (
            SELECT p.id, p.current_version_id, {account} AS account, {start} AS start,
                   g.post_id IS NOT NULL AS removed
            FROM posts p
            JOIN targets t ON t.id = p.target_id
            LEFT JOIN gone g ON g.post_id = p.id
            WHERE {where}
        ), chosen AS (
            SELECT * FROM candidates
            WHERE account IN (SELECT account FROM candidates WHERE removed)
            ORDER BY start DESC, id DESC
            LIMIT %(limit)s
        )
        SELECT c.id AS post_id, c.removed,
               left(COALESCE(v.content->>'text', v.raw_text, ''), %(max_chars)s) AS text
        FROM chosen c
        JOIN versions v ON v.id = c.current_version_id
        ORDER BY c.start DESC, c.id DESC
    """).format(account=sql.SQL(_KEYS["account"]), start=sql.SQL(_START), where=where)
    return conn.execute(query, params).fetchall()


def _period(column: str, period: str | None) -> sql.Composable:
    if period is None:
        return sql.SQL("NULL::timestamptz")
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    # In UTC, not the session's zone: a week is the same week for every client.
    return sql.SQL("date_trunc({}, {}, 'UTC')").format(sql.Literal(period), sql.SQL(column))
