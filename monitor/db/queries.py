"""SQL for the analyst's questions: events, a post's history, the targets' status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]


@dataclass(slots=True)
class EventFilter:
    since: datetime | None = None
    until: datetime | None = None
    platforms: list[str] | None = None
    groups: list[str] | None = None
    targets: list[str] | None = None  # target key or value
    kinds: list[str] | None = None
    causes: list[str] | None = None
    limit: int | None = None


def events(conn: Conn, f: EventFilter) -> list[dict[str, Any]]:
    where: list[sql.Composable] = []
    params: dict[str, Any] = {}

    def add(clause: str, name: str, value: Any) -> None:
        where.append(sql.SQL(clause))
        params[name] = value

    if f.since:
        add("e.detected_at >= %(since)s", "since", f.since)
    if f.until:
        add("e.detected_at < %(until)s", "until", f.until)
    if f.platforms:
        add("e.platform = ANY(%(platforms)s)", "platforms", f.platforms)
    if f.groups:
        add("e.group_name = ANY(%(groups)s)", "groups", f.groups)
    if f.targets:
        add("(t.key = ANY(%(targets)s) OR t.value = ANY(%(targets)s))", "targets", f.targets)
    if f.kinds:
        add("e.kind = ANY(%(kinds)s)", "kinds", f.kinds)
    if f.causes:
        add("(e.cause = ANY(%(causes)s) OR e.cause_detail = ANY(%(causes)s))", "causes",
            f.causes)
    query = sql.SQL(
        """
        SELECT e.id, e.detected_at, e.kind, e.cause, e.cause_detail, e.candidates,
               e.platform, e.group_name, t.value AS target, e.post_key, p.url,
               p.author, e.published_at, e.last_seen_visible, e.first_seen_gone,
               e.edit, e.evidence, v.title, v.raw_text AS text
        FROM events e
        JOIN targets t ON t.id = e.target_id
        JOIN posts p ON p.id = e.post_id
        LEFT JOIN versions v ON v.id = e.version_id
        {where}
        ORDER BY e.detected_at, e.id
        {limit}
        """
    ).format(
        where=sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
        limit=sql.SQL("LIMIT {}").format(sql.Literal(f.limit)) if f.limit else sql.SQL(""),
    )
    return conn.execute(query, params).fetchall()


def find_posts(conn: Conn, ref: str) -> list[dict[str, Any]]:
    """Posts whose key, URL or probe URL is ``ref``."""
    return conn.execute(
        """
        SELECT p.*, t.key AS target_key, t.group_name FROM posts p
        JOIN targets t ON t.id = p.target_id
        WHERE p.post_key = %(r)s OR p.url = %(r)s OR p.probe_url = %(r)s
        ORDER BY p.id
        """,
        {"r": ref},
    ).fetchall()


def post_versions(conn: Conn, post_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, content_hash, content, raw_text, title, first_seen FROM versions "
        "WHERE post_id = %s ORDER BY first_seen, id",
        (post_id,),
    ).fetchall()


def post_observations(conn: Conn, post_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, mode, first_at, last_at, repeats, outcome, http_status, version_id, "
        "body_hash, message, url, vantage, signals, detail FROM observations "
        "WHERE post_id = %s ORDER BY id",
        (post_id,),
    ).fetchall()


def post_events(conn: Conn, post_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, detected_at, kind, cause, cause_detail, candidates, edit, evidence "
        "FROM events WHERE post_id = %s ORDER BY detected_at, id",
        (post_id,),
    ).fetchall()


def status(conn: Conn) -> list[dict[str, Any]]:
    """Each target's health: last success, error streak, next due, posts by state."""
    return conn.execute(
        """
        SELECT t.key, t.group_name, t.platform, t.kind, t.value, t.active, t.last_ok_at,
               t.last_checked_at, t.last_outcome, t.error_streak, t.last_error,
               t.account_state,
               CASE WHEN t.kind = 'post' THEN (SELECT min(next_check) FROM posts
                                              WHERE target_id = t.id)
                    ELSE t.next_due END AS next_due,
               count(p.id) AS posts,
               count(p.id) FILTER (WHERE p.state = 'visible') AS visible,
               count(p.id) FILTER (WHERE p.state = 'suspect') AS suspect,
               count(p.id) FILTER (WHERE p.state = 'gone') AS gone,
               count(p.id) FILTER (WHERE p.state = 'hidden') AS hidden
        FROM targets t LEFT JOIN posts p ON p.target_id = t.id
        GROUP BY t.id ORDER BY t.active DESC, t.group_name, t.key
        """
    ).fetchall()


def overdue(conn: Conn, now: datetime) -> int:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM targets WHERE active AND next_due < %(n)s) + "
        "(SELECT count(*) FROM posts p JOIN targets t ON t.id = p.target_id "
        " WHERE t.active AND p.next_check < %(n)s) AS n",
        {"n": now},
    ).fetchone()
    return int(row["n"]) if row else 0
