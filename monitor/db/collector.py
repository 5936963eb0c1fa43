"""SQL for collector health (:mod:`monitor.collector`): the current state of each
platform at each vantage point, and the history of its changes.

:func:`save` writes inside the recorder's batch transaction, so a rolled-back batch
leaves no trace; it compares with the stored row rather than with what this process
last wrote, so the write after a rollback is made again with the next batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from ..collector import CollectorState

Conn = psycopg.Connection[Any]

__all__ = ["changes", "gauge_rows", "load", "paused", "save"]

#: A paused state's ``updated_at`` is refreshed at most this often (in the
#: observations' time): one write a minute, not one per batch.
REFRESH = timedelta(minutes=1)


def load(conn: Conn) -> list[CollectorState]:
    """Every stored state (for a recorder that starts)."""
    rows = conn.execute(
        "SELECT platform, vantage, state, since, reason, updated_at FROM collector_state "
        "ORDER BY platform, vantage").fetchall()
    return [CollectorState(r["platform"], r["vantage"], r["state"], r["since"], r["reason"],
                           r["updated_at"]) for r in rows]


def save(conn: Conn, states: Sequence[CollectorState]) -> set[tuple[str, str]]:
    """Write the states that differ from the stored ones, with a history row for each
    change of state; returns the (platform, vantage) pairs that were already stored as
    they are (settled: the caller need not write them again). A healthy pair that was
    never paused is not stored."""
    settled: set[tuple[str, str]] = set()
    if not states:
        return settled
    stored = {(r["platform"], r["vantage"]): r for r in conn.execute(
        "SELECT platform, vantage, state, since, reason, updated_at FROM collector_state "
        "WHERE (platform, vantage) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([s.platform for s in states], [s.vantage for s in states])).fetchall()}
    for s in states:
        row = stored.get((s.platform, s.vantage))
        previous = row["state"] if row else "ok"
        if row is None and not s.paused:
            settled.add((s.platform, s.vantage))
            continue
        if row is not None and row["state"] == s.state and row["since"] == s.since:
            settled.add((s.platform, s.vantage))
            if s.paused and s.updated - row["updated_at"] >= REFRESH:
                conn.execute("UPDATE collector_state SET updated_at = %s "
                             "WHERE platform = %s AND vantage = %s",
                             (s.updated, s.platform, s.vantage))
            continue
        conn.execute(
            "INSERT INTO collector_state (platform, vantage, state, since, reason, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (platform, vantage) DO UPDATE SET "
            "state = EXCLUDED.state, since = EXCLUDED.since, reason = EXCLUDED.reason, "
            "updated_at = EXCLUDED.updated_at",
            (s.platform, s.vantage, s.state, s.since, s.reason, s.updated))
        if previous != s.state:
            conn.execute(
                "INSERT INTO collector_state_changes (platform, vantage, state, previous, at, "
                "reason) VALUES (%s, %s, %s, %s, %s, %s)",
                (s.platform, s.vantage, s.state, previous, s.since, s.reason))
    return settled


def paused(conn: Conn) -> list[dict[str, Any]]:
    """The pairs blocked or out now, oldest first: platform, vantage, state, since,
    reason, updated_at."""
    return list(conn.execute(
        "SELECT platform, vantage, state, since, reason, updated_at FROM collector_state "
        "WHERE state <> 'ok' ORDER BY since, platform, vantage").fetchall())


def gauge_rows(conn: Conn, timeout: float = 4.0) -> list[dict[str, Any]]:
    """Every stored pair and its state, for the scrape-time gauge (bounded wait)."""
    conn.execute("SELECT set_config('statement_timeout', %s, true)",
                 (f"{int(timeout * 1000)}ms",))
    return list(conn.execute(
        "SELECT platform, vantage, state FROM collector_state ORDER BY platform, vantage"
    ).fetchall())


def changes(conn: Conn, since: datetime | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest changes of state, newest first."""
    return list(conn.execute(
        "SELECT platform, vantage, state, previous, at, reason FROM collector_state_changes "
        "WHERE %s::timestamptz IS NULL OR at >= %s ORDER BY at DESC, id DESC LIMIT %s",
        (since, since, max(1, min(limit, 1000)))).fetchall())

