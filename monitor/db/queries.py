"""SQL for the analyst's questions: events, a post's history, the targets' status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..tokens import ATTENTION
from .workers import ALIVE, WORKER_LOCK_SPACE

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
    limit: int | None = None  # None: every row; 0: none


def event_conditions(f: EventFilter, params: dict[str, Any]) -> list[sql.Composable]:
    """The conditions of ``takedown events`` over ``events e`` and ``targets t``; their
    values go into ``params``. Exports and the API filter the same way."""
    where: list[sql.Composable] = []

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
    return where


def events(conn: Conn, f: EventFilter) -> list[dict[str, Any]]:
    params: dict[str, Any] = {}
    where = event_conditions(f, params)
    query = sql.SQL(
        """
        SELECT e.id, e.detected_at, e.kind, e.cause, e.cause_detail, e.candidates,
               e.platform, e.group_name AS "group", t.value AS target,
               t.key AS target_key, e.post_key, p.url,
               p.author, e.published_at, e.last_seen_visible, e.first_seen_gone,
               e.edit, e.evidence, v.title, v.raw_text AS text
        FROM events e
        JOIN targets t ON t.id = e.target_id
        JOIN posts p ON p.id = e.post_id
        -- the version the event is about, else the post's last one (as the webhook does)
        LEFT JOIN versions v ON v.id = COALESCE(e.version_id, p.current_version_id)
        {where}
        ORDER BY e.detected_at, e.id
        {limit}
        """
    ).format(
        where=sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
        limit=sql.SQL("LIMIT {}").format(sql.Literal(f.limit)) if f.limit is not None
        else sql.SQL(""),
    )
    return conn.execute(query, params).fetchall()


def find_posts(conn: Conn, ref: str, platforms: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Posts ``ref`` names: a post key, URL or probe URL, ``platform:post_key`` (as
    ``takedown check`` prints it; ``platforms`` are the prefixes to recognise), or the
    key or value of a single-post target (as ``takedown status`` prints it)."""
    platform, _, key = ref.partition(":")
    if platform not in platforms:
        platform, key = "", ""
    return conn.execute(
        """
        SELECT p.*, t.key AS target_key, t.group_name FROM posts p
        JOIN targets t ON t.id = p.target_id
        WHERE p.post_key = %(r)s OR p.url = %(r)s OR p.probe_url = %(r)s
           OR (p.platform = %(platform)s AND p.post_key = %(key)s)
           OR (t.single_post AND (t.key = %(r)s OR t.value = %(r)s))
        ORDER BY p.id
        """,
        {"r": ref, "platform": platform, "key": key},
    ).fetchall()


def find_target(conn: Conn, ref: str) -> dict[str, Any] | None:
    """The target whose key (or else value) is ``ref``, if exactly one is."""
    rows = conn.execute(
        "SELECT id, key, kind, platform, value FROM targets "
        "WHERE key = %(r)s OR value = %(r)s ORDER BY key = %(r)s DESC, id LIMIT 2",
        {"r": ref},
    ).fetchall()
    if len(rows) == 1 or (rows and rows[0]["key"] == ref):
        return rows[0]  # type: ignore[no-any-return]
    return None


def target_posts(conn: Conn, target_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A target's posts, newest first sight first: key, state, URL."""
    return conn.execute(
        "SELECT post_key, state, url, first_seen FROM posts WHERE target_id = %s "
        "ORDER BY first_seen DESC, id DESC LIMIT %s",
        (target_id, limit),
    ).fetchall()


def target_names(conn: Conn) -> list[dict[str, Any]]:
    """Every target's key, value and group (active or not): what filters may name."""
    return conn.execute("SELECT key, value, group_name FROM targets ORDER BY key").fetchall()


def failing_targets(conn: Conn, groups: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Active targets whose last check failed, worst first."""
    return conn.execute(
        """
        SELECT key, group_name, platform, kind, value, error_streak, last_error,
               last_outcome, last_ok_at, next_due
        FROM targets
        WHERE active AND error_streak > 0
          AND (%(g)s::text[] IS NULL OR group_name = ANY(%(g)s))
        ORDER BY error_streak DESC, key
        """,
        {"g": list(groups) if groups else None},
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
    """Each target's health: last success, error streak, next due, posts by state, and
    why it needs attention (:data:`monitor.tokens.ATTENTION_REASONS`), if it does."""
    return conn.execute(
        """
        SELECT t.key, t.group_name, t.platform, t.kind, t.value, t.active, t.last_ok_at,
               t.last_checked_at, t.last_outcome, t.error_streak, t.last_error,
               t.account_state,
               CASE WHEN t.single_post THEN (SELECT min(next_check) FROM posts
                                             WHERE target_id = t.id)
                    ELSE t.next_due END AS next_due,
               count(p.id) AS posts,
               count(p.id) FILTER (WHERE p.state = 'visible') AS visible,
               count(p.id) FILTER (WHERE p.state = 'suspect') AS suspect,
               count(p.id) FILTER (WHERE p.state = 'gone') AS gone,
               count(p.id) FILTER (WHERE p.state = 'hidden') AS hidden,
               max(p.known ->> %s) AS attention
        FROM targets t LEFT JOIN posts p ON p.target_id = t.id
        GROUP BY t.id ORDER BY t.active DESC, t.group_name, t.key
        """,
        (ATTENTION,),
    ).fetchall()


#: A check counts as overdue (backlog) once it is this many seconds late.
OVERDUE_AFTER_S = 60

# Same test as claim_due: listings of active targets that are not single posts, probes
# of their posts.
_OVERDUE_SQL = """
    (SELECT count(*) FROM targets
      WHERE active AND NOT single_post
        AND next_due < now() - make_interval(secs => %(after)s))
  + (SELECT count(*) FROM posts p JOIN targets t ON t.id = p.target_id
      WHERE t.active AND p.next_check < now() - make_interval(secs => %(after)s))
"""


def overdue(conn: Conn, after: float = OVERDUE_AFTER_S) -> int:
    """Checks more than ``after`` seconds late: the backlog."""
    row = conn.execute(f"SELECT ({_OVERDUE_SQL})::bigint AS n", {"after": after}).fetchone()
    return int(row["n"]) if row else 0


# One statement, one row per sample: (metric, label a, label b, value). Only active
# targets and their posts count: a target removed from the watchlist is deactivated,
# keeps its history, and is no longer checked. The overdue test matches claim_due's.
_GAUGES_SQL = """
SELECT 'targets' AS metric, platform AS a, '' AS b, count(*)::float8 AS value
  FROM targets WHERE active GROUP BY platform
UNION ALL
SELECT 'streak', platform, '', max(error_streak)::float8
  FROM targets WHERE active GROUP BY platform
UNION ALL
SELECT 'group', group_name, '', COALESCE(extract(epoch FROM max(last_ok_at)), 0)::float8
  FROM targets WHERE active GROUP BY group_name
UNION ALL
SELECT 'posts', p.platform, p.state, count(*)::float8
  FROM posts p JOIN targets t ON t.id = p.target_id WHERE t.active
  GROUP BY p.platform, p.state
UNION ALL
SELECT 'overdue', '', '', (""" + _OVERDUE_SQL + """)::float8
UNION ALL
SELECT 'attention', t.platform, p.known ->> %(attention)s::text, count(DISTINCT t.id)::float8
  FROM posts p JOIN targets t ON t.id = p.target_id
  WHERE t.active AND p.known ? %(attention)s::text
  GROUP BY t.platform, p.known ->> %(attention)s::text
UNION ALL
SELECT 'workers', '', '', count(*)::float8 FROM workers w WHERE """ + ALIVE + """
"""

_DELIVERIES_SQL = """
UNION ALL
SELECT 'deliveries', state, '', count(*)::float8 FROM deliveries GROUP BY state
"""


def gauge_rows(conn: Conn, timeout: float) -> tuple[list[dict[str, Any]], bool]:
    """The metrics collector's gauges as (metric, a, b, value) rows, in one statement
    bounded by ``timeout`` seconds; also whether the alerts' deliveries table exists."""
    cur = conn.cursor(row_factory=dict_row)
    head = cur.execute(
        "SELECT set_config('statement_timeout', %s, true), "
        "to_regclass('deliveries') IS NOT NULL AS has_deliveries",
        (f"{int(timeout * 1000)}ms",),
    ).fetchone()
    has_deliveries = bool(head and head["has_deliveries"])
    query = _GAUGES_SQL + (_DELIVERIES_SQL if has_deliveries else "")
    params = {"after": OVERDUE_AFTER_S, "attention": ATTENTION, "space": WORKER_LOCK_SPACE}
    return cur.execute(query, params).fetchall(), has_deliveries
