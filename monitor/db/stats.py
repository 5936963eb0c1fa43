"""SQL for the statistics (:mod:`monitor.stats`): aggregates only, so a year of a
million events comes back as a few hundred rows.

- :func:`survival_rows`: each post's removal interval, widened onto a grid of times
  and counted per (key, cause, L, R).
- :func:`event_counts`, :func:`post_counts`, :func:`cause_counts`: the rates' tables.
- :func:`keyword_texts`: the latest posts' text, capped in number and length.
- :func:`load_answer`, :func:`save_answer`: the cache of computed survival answers.

Rates come from rollups (migration 012: ``stats_event_days``, ``stats_post_days``, kept
exact and fresh by triggers) for the whole UTC days of the window, and from the tables
for the partial days at its edges, so a year reads a few thousand rollup rows instead
of every event and post. Per account there is no rollup (one row per account and day
would be as many rows as posts): ``by=account`` and an account filter take the exact
scan. ``rollup=False`` forces the scan everywhere (the tests compare both).

Survival stays a scan: its per-post intervals do not aggregate (on the benchmark's
million posts, counts per day x platform x group x cause x L x R keep 565,000 rows),
and fitting the curves costs seconds anyway, so :mod:`monitor.stats.cache` serves
answers computed in the background instead.

A post's *account* is its author as the platform names it, else its target's value.
A post's *start* is its publication time, else when the monitor first saw it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]

__all__ = ["BY", "PERIODS", "StatsFilter", "cause_counts", "event_counts", "keyword_texts",
           "load_answer", "post_counts", "rebuild_rollups", "save_answer", "survival_rows"]

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


def event_counts(conn: Conn, f: StatsFilter, by: str, period: str | None, *,
                 rollup: bool = True) -> list[dict[str, Any]]:
    """Events per key (and period of detection): disappearances, hidings, edits,
    restorations. By ``cause``, only disappearances and hidings."""
    _no_jit(conn)
    level = _level(f, by) if rollup else None
    if level is None:
        return _event_scan(conn, f, by, period)
    first, end, edges = _days(f)
    where, params = _day_where(level, first, end, f)
    key = sql.SQL("s.cause" if by == "cause" else _ROLLUP_KEYS[by])
    # By cause only disappearances and hidings count; else a key with events of any
    # kind shows (as the scan's GROUP BY does).
    present = "s.disappeared + s.hidden" if by == "cause" else "s.events"
    query = sql.SQL("""
        SELECT {key} AS key, {period} AS period,
               sum(s.disappeared)::bigint AS disappeared, sum(s.hidden)::bigint AS hidden,
               {edited} AS edited, {restored} AS restored
        FROM stats_event_days s
        WHERE {where}
        GROUP BY 1, 2
        HAVING sum({present}) > 0
    """).format(key=key, period=_period(_DAY_START, period), where=where,
                present=sql.SQL(present),
                edited=sql.SQL("0::bigint" if by == "cause" else "sum(s.edited)::bigint"),
                restored=sql.SQL("0::bigint" if by == "cause" else "sum(s.restored)::bigint"))
    rows = conn.execute(query, params).fetchall()
    for edge in edges:
        rows += _event_scan(conn, edge, by, period)
    return _merge(rows, ("disappeared", "hidden", "edited", "restored"))


def _event_scan(conn: Conn, f: StatsFilter, by: str, period: str | None
                ) -> list[dict[str, Any]]:
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


def post_counts(conn: Conn, f: StatsFilter, by: str, period: str | None, *,
                rollup: bool = True) -> list[dict[str, Any]]:
    """Posts per key (and period of their start), and how many of them disappeared."""
    _no_jit(conn)
    # Posts have no cause: their rollup keeps levels 1, 2 and 3.
    level = _level(f, by) if rollup else None
    level = None if level is None else level & ~_CAUSE
    if level is None:
        return _post_scan(conn, f, by, period)
    first, end, edges = _days(f)
    where, params = _day_where(level, first, end, f)
    query = sql.SQL("""
        SELECT {key} AS key, {period} AS period, sum(s.posts)::bigint AS posts,
               sum(s.removed)::bigint AS removed
        FROM stats_post_days s
        WHERE {where}
        GROUP BY 1, 2
        HAVING sum(s.posts) > 0
    """).format(key=sql.SQL(_ROLLUP_KEYS.get(by, "'all'")), period=_period(_DAY_START, period),
                where=where)
    rows = conn.execute(query, params).fetchall()
    for edge in edges:
        rows += _post_scan(conn, edge, by, period, narrow=True)
    return _merge(rows, ("posts", "removed"))


def _post_scan(conn: Conn, f: StatsFilter, by: str, period: str | None, *,
               narrow: bool = False) -> list[dict[str, Any]]:
    where, params = _where(f, _START)
    # A narrow window (a partial day at an edge) probes each of its few posts'
    # disappearances through the posts_start index; a wide one hashes them all once.
    removed = ("count(*) FILTER (WHERE EXISTS (SELECT 1 FROM events e"
               " WHERE e.post_id = p.id AND e.kind = 'disappeared'))" if narrow
               else "count(g.post_id)")
    gone = ("" if narrow else "LEFT JOIN (SELECT DISTINCT post_id FROM events"
            " WHERE kind = 'disappeared') g ON g.post_id = p.id")
    query = sql.SQL("""
        SELECT {key} AS key, {period} AS period, count(*) AS posts, {removed} AS removed
        FROM posts p
        JOIN targets t ON t.id = p.target_id
        {gone}
        WHERE {where}
        GROUP BY 1, 2
    """).format(key=_key(by), period=_period(_START, period), where=where,
                removed=sql.SQL(removed), gone=sql.SQL(gone))
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


# --- rollups (migration 012) ----------------------------------------------------------

#: Keys over the rollups' ``s`` rows.
_ROLLUP_KEYS = {"all": "'all'", "platform": "s.platform", "group": "s.group_name"}
#: A rollup day as the time its period starts from (midnight UTC).
_DAY_START = "(s.day::timestamp AT TIME ZONE 'UTC')"


#: Rollup levels: a bit mask of the columns kept (migration 012).
_PLATFORM, _GROUP, _CAUSE = 1, 2, 4


def _level(f: StatsFilter, by: str) -> int | None:
    """The smallest rollup level holding ``by`` and the filters' columns, or None when
    only the scan can answer (accounts)."""
    if by == "account" or f.accounts:
        return None
    if by not in BY:
        raise ValueError(f"unknown breakdown {by!r}; use one of {', '.join(BY)}")
    level = _CAUSE if by == "cause" else 0
    if by == "group" or f.groups:
        level |= _GROUP
    if by == "platform" or f.platforms or level != _GROUP:
        # Kept: 1, 2, 3, 5, 7. The bare totals are summed over platforms.
        level |= _PLATFORM
    return level


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _days(f: StatsFilter) -> tuple[date | None, date | None, list[StatsFilter]]:
    """The window's whole UTC days ``[first, end)`` (None: unbounded) and the filters
    of its partial days, which the rollups cannot split."""
    since = _utc(f.since) if f.since else None
    until = _utc(f.until) if f.until else None
    first = None
    if since is not None:
        first = since.date() if since == _midnight(since.date()) else (
            since.date() + timedelta(days=1))
    end = until.date() if until is not None else None
    if first is not None and end is not None and first >= end:
        # No whole day inside: all of it is an edge (possibly empty).
        return first, first, [f] if since < until else []  # type: ignore[operator]
    edges = []
    if since is not None and first is not None and since < _midnight(first):
        edges.append(replace(f, since=since, until=_midnight(first)))
    if until is not None and end is not None and _midnight(end) < until:
        edges.append(replace(f, since=_midnight(end), until=until))
    return first, end, edges


def _day_where(level: int, first: date | None, end: date | None, f: StatsFilter
               ) -> tuple[sql.Composable, dict[str, Any]]:
    parts = ["s.level = %(level)s"]
    params: dict[str, Any] = {"level": level}
    for name, clause, value in (
            ("first", "s.day >= %(first)s", first), ("end", "s.day < %(end)s", end),
            ("platforms", "s.platform = ANY(%(platforms)s)", f.platforms),
            ("groups", "s.group_name = ANY(%(groups)s)", f.groups)):
        if value is not None and value != []:
            parts.append(clause)
            params[name] = value
    return sql.SQL(" AND ".join(parts)), params


def _merge(rows: list[dict[str, Any]], counts: Sequence[str]) -> list[dict[str, Any]]:
    """Sum rows of the same (key, period): whole days and edges."""
    out: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in rows:
        have = out.get((row["key"], row["period"]))
        if have is None:
            out[(row["key"], row["period"])] = dict(row)
        else:
            for c in counts:
                have[c] += row[c]
    return list(out.values())


def rebuild_rollups(conn: Conn) -> None:
    """Recount the rollups from the tables: after a bulk load with triggers off
    (``session_replication_role = replica``)."""
    conn.execute("SELECT stats_rollup_rebuild()")


# --- cached answers -------------------------------------------------------------------


def load_answer(conn: Conn, key: str) -> dict[str, Any] | None:
    """The stored answer under ``key``: ``{"computed_at", "answer"}``, or None."""
    return conn.execute("SELECT computed_at, answer FROM stats_answers WHERE key = %s",
                        (key,)).fetchone()


def save_answer(conn: Conn, key: str, computed_at: datetime, answer: Any,
                forget_before: datetime) -> None:
    """Store ``answer`` under ``key``; answers computed before ``forget_before`` go
    (the keys are whatever filters users asked for: they must not pile up)."""
    conn.execute("DELETE FROM stats_answers WHERE computed_at < %s", (forget_before,))
    conn.execute(
        "INSERT INTO stats_answers (key, computed_at, answer) VALUES (%s, %s, %s)"
        " ON CONFLICT (key) DO UPDATE SET computed_at = EXCLUDED.computed_at,"
        " answer = EXCLUDED.answer WHERE stats_answers.computed_at < EXCLUDED.computed_at",
        (key, computed_at, Jsonb(answer)))
