"""SQL for exports: events, posts and versions streamed from a server-side cursor.

Each function yields lists of rows (dicts) of at most ``chunk`` rows, read through a
named cursor, so an export of millions of rows holds one chunk in memory at a time.
The caller must be inside a transaction (:meth:`monitor.db.Database.transaction`): a
named cursor lives only as long as its transaction.

Filters are :class:`monitor.db.queries.EventFilter`, as ``takedown events`` takes them.
For posts and versions, ``since``/``until`` bound the time they were first seen, and
``kinds``/``causes`` keep posts that have such an event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg import sql

from .queries import Conn, EventFilter, event_conditions

#: Rows fetched from the server per round trip, and per chunk handed to the writers.
CHUNK = 2000

Rows = Iterator[list[dict[str, Any]]]

_EVENT_COLUMNS = sql.SQL("""
    e.id, e.detected_at, e.kind, e.cause, e.cause_detail, e.candidates,
    e.platform, e.group_name AS "group", t.value AS target, t.key AS target_key,
    e.post_id, e.post_key, p.url, p.author, e.published_at, e.last_seen_visible,
    e.first_seen_gone, e.edit, e.evidence, v.title, v.raw_text AS text
""")

_EVENT_FROM = sql.SQL("""
    FROM events e
    JOIN targets t ON t.id = e.target_id
    JOIN posts p ON p.id = e.post_id
    -- the version the event is about, else the post's last one (as `takedown events`)
    LEFT JOIN versions v ON v.id = COALESCE(e.version_id, p.current_version_id)
""")


def _post_conditions(f: EventFilter, params: dict[str, Any], first_seen: str
                     ) -> list[sql.Composable]:
    """The same filters over ``posts p`` and ``targets t``; ``first_seen`` is the column
    the time range bounds."""
    where: list[sql.Composable] = []
    if f.since:
        where.append(sql.SQL("{} >= %(since)s").format(sql.SQL(first_seen)))
        params["since"] = f.since
    if f.until:
        where.append(sql.SQL("{} < %(until)s").format(sql.SQL(first_seen)))
        params["until"] = f.until
    if f.platforms:
        where.append(sql.SQL("p.platform = ANY(%(platforms)s)"))
        params["platforms"] = f.platforms
    if f.groups:
        where.append(sql.SQL("t.group_name = ANY(%(groups)s)"))
        params["groups"] = f.groups
    if f.targets:
        where.append(sql.SQL("(t.key = ANY(%(targets)s) OR t.value = ANY(%(targets)s))"))
        params["targets"] = f.targets
    if f.kinds or f.causes:
        inner: list[sql.Composable] = [sql.SQL("x.post_id = p.id")]
        if f.kinds:
            inner.append(sql.SQL("x.kind = ANY(%(kinds)s)"))
            params["kinds"] = f.kinds
        if f.causes:
            inner.append(sql.SQL("(x.cause = ANY(%(causes)s) OR x.cause_detail = ANY(%(causes)s))"))
            params["causes"] = f.causes
        where.append(sql.SQL("EXISTS (SELECT 1 FROM events x WHERE {})").format(
            sql.SQL(" AND ").join(inner)))
    return where


def _where(conditions: list[sql.Composable]) -> sql.Composable:
    if not conditions:
        return sql.SQL("")
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions)


def _limit(f: EventFilter) -> sql.Composable:
    if f.limit is None:
        return sql.SQL("")
    return sql.SQL("LIMIT {}").format(sql.Literal(int(f.limit)))


def _stream(conn: Conn, name: str, query: sql.Composed, params: dict[str, Any],
            chunk: int) -> Rows:
    # A named cursor keeps the result on the server: memory stays one chunk deep.
    with conn.cursor(name=f"takedown_export_{name}") as cur:
        cur.itersize = chunk
        cur.execute(query, params)
        while rows := cur.fetchmany(chunk):
            yield rows


def _published(published: sql.Composable | None, alias: str) -> list[sql.Composable]:
    """Only events ``published`` (a condition over ``events e``) lets through, if given."""
    if published is None:
        return []
    return [sql.SQL("({}) IS TRUE").format(published)] if alias == "e" else [
        sql.SQL("NOT EXISTS (SELECT 1 FROM events e WHERE e.post_id = {}.id "
                "AND ({}) IS NOT TRUE)").format(sql.Identifier(alias), published)]


def stream_events(conn: Conn, f: EventFilter, *, chunk: int = CHUNK,
                  published: sql.Composable | None = None) -> Rows:
    """Events as ``takedown events`` selects them (same columns), oldest first.
    ``published``: a condition over ``events e`` (``published_clause()``) they must meet."""
    params: dict[str, Any] = {}
    where = event_conditions(f, params) + _published(published, "e")
    query = sql.SQL("SELECT {cols} {src} {where} ORDER BY e.detected_at, e.id {limit}").format(
        cols=_EVENT_COLUMNS, src=_EVENT_FROM, where=_where(where), limit=_limit(f))
    return _stream(conn, "events", query, params, chunk)


def stream_posts(conn: Conn, f: EventFilter, *, chunk: int = CHUNK,
                 published: sql.Composable | None = None) -> Rows:
    """Posts with their current version's title and text and their event counts, in
    the order first seen. ``published``: keep only posts all of whose events meet it,
    and count only those."""
    params: dict[str, Any] = {}
    where = _post_conditions(f, params, "p.first_seen") + _published(published, "p")
    query = sql.SQL("""
        SELECT p.id, p.platform, t.group_name AS "group", t.value AS target,
               t.key AS target_key, p.post_key, p.url, p.author, p.published_at,
               p.first_seen, p.state, p.state_since, p.gone_cause, p.last_visible_at,
               p.first_gone_at,
               (SELECT count(*) FROM versions c WHERE c.post_id = p.id) AS versions,
               (SELECT count(*) FROM events c WHERE c.post_id = p.id
                  AND c.kind = 'disappeared') AS disappearances,
               (SELECT count(*) FROM events c WHERE c.post_id = p.id
                  AND c.kind = 'edited') AS edits,
               (SELECT count(*) FROM events c WHERE c.post_id = p.id
                  AND c.kind NOT IN ('disappeared', 'edited')) AS other_events,
               v.title, v.raw_text AS text
        FROM posts p
        JOIN targets t ON t.id = p.target_id
        LEFT JOIN versions v ON v.id = p.current_version_id
        {where}
        ORDER BY p.first_seen, p.id
        {limit}
    """).format(where=_where(where), limit=_limit(f))
    return _stream(conn, "posts", query, params, chunk)


def stream_versions(conn: Conn, f: EventFilter, *, chunk: int = CHUNK) -> Rows:
    """Every stored version of the posts the filter keeps, in the order first seen."""
    params: dict[str, Any] = {}
    where = _post_conditions(f, params, "v.first_seen")
    query = sql.SQL("""
        SELECT v.id, v.post_id, p.platform, t.group_name AS "group", t.key AS target_key,
               p.post_key, v.content_hash, v.first_seen, v.title, v.raw_text AS text
        FROM versions v
        JOIN posts p ON p.id = v.post_id
        JOIN targets t ON t.id = p.target_id
        {where}
        ORDER BY v.first_seen, v.id
        {limit}
    """).format(where=_where(where), limit=_limit(f))
    return _stream(conn, "versions", query, params, chunk)


def latest_events(conn: Conn, f: EventFilter, limit: int,
                  published: sql.Composable | None = None) -> list[dict[str, Any]]:
    """The ``limit`` most recent events the filter keeps, newest first (for feeds)."""
    params: dict[str, Any] = {"n": limit}
    where = event_conditions(f, params) + _published(published, "e")
    query = sql.SQL("SELECT {cols} {src} {where} ORDER BY e.detected_at DESC, e.id DESC "
                    "LIMIT %(n)s").format(cols=_EVENT_COLUMNS, src=_EVENT_FROM,
                                          where=_where(where))
    return conn.execute(query, params).fetchall()


def known_groups(conn: Conn) -> list[str]:
    """Every group a target has (active or not): what a filter may name."""
    return [r["g"] for r in conn.execute(
        "SELECT DISTINCT group_name AS g FROM targets ORDER BY 1").fetchall()]
