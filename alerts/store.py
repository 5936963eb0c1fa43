"""SQL for the alert tables (``monitor/migrations/002_alerts.sql``): the only
module of ``alerts/`` that speaks SQL.

Write side (called by :mod:`alerts.outbox` inside the event's transaction):
scope locks, marks, bursts and delivery rows, and :func:`savepoint` for a
part of that transaction that may fail on its own. Delivery side (:mod:`alerts.dispatcher`):
claim one due row, finish it, log the attempt. Operator side: list, retry,
and :func:`delivery_summary` for ``takedown status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from monitor.db import Connection as Conn
from monitor.db import storage_faults

from .rules import ALERTED, BurstDecision, Facts, Mark, OpenBurst

#: ``held``: a public channel's delivery of an event awaiting review; the review's
#: decision (:func:`monitor.db.access.decide`) makes it pending or suppressed.
STATES = ("pending", "sending", "sent", "failed", "dead", "folded", "suppressed", "held")

_LOCK_CLASS = 0x7A6B_3D02  # advisory locks of burst scopes: pg_advisory_xact_lock(class, hash)


@contextmanager
def savepoint(conn: Conn) -> Iterator[None]:
    """A nested transaction: an error inside rolls back only the block's writes.

    The driver's transient faults (the connection is gone) come out as
    :class:`~monitor.errors.StorageUnavailable`, which the caller lets through so
    the whole transaction is retried; any other error is the caller's to handle.
    """
    with storage_faults(), conn.transaction():
        yield


# -- marks and bursts ---------------------------------------------------------------------


def lock_scopes(conn: Conn, keys: Iterable[str]) -> None:
    """Serialise burst decisions per scope (``target:<id>``, ``group:<name>``) across
    concurrent writers, until the transaction ends. Taken in one sorted order, so two
    transactions cannot deadlock here."""
    for key in sorted(set(keys)):
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, key))


def burst_scope(conn: Conn, burst_id: int) -> tuple[str, str]:
    """A burst's ``(scope, scope_key)``."""
    row = conn.execute("SELECT scope, scope_key FROM alert_bursts WHERE id = %s",
                       (burst_id,)).fetchone()
    if row is None:
        raise LookupError(f"burst {burst_id} is not in alert_bursts")
    return str(row["scope"]), str(row["scope_key"])


def has_mark(conn: Conn, event_id: int) -> bool:
    return conn.execute("SELECT 1 FROM alert_marks WHERE event_id = %s",
                        (event_id,)).fetchone() is not None


def post_marks(conn: Conn, post_id: int, limit: int = 50) -> list[Mark]:
    """The post's latest marks, oldest first: the flap look-back."""
    rows = conn.execute(
        "SELECT * FROM (SELECT * FROM alert_marks WHERE post_id = %s "
        "ORDER BY detected_at DESC, event_id DESC LIMIT %s) recent "
        "ORDER BY detected_at, event_id", (post_id, limit)).fetchall()
    return [_mark(r) for r in rows]


def recent_gone(conn: Conn, group: str, since: datetime, until: datetime) -> list[Mark]:
    """Alerted disappearances of a group in (since, until]: the burst look-back."""
    rows = conn.execute(
        "SELECT * FROM alert_marks WHERE group_name = %s AND kind = 'disappeared' "
        "AND verdict = ANY(%s) AND detected_at > %s AND detected_at <= %s "
        "ORDER BY detected_at, event_id", (group, list(ALERTED), since, until)).fetchall()
    return [_mark(r) for r in rows]


def open_bursts(conn: Conn, target_id: int, group: str, since: datetime) -> list[OpenBurst]:
    rows = conn.execute(
        "SELECT id, scope, scope_key, last_at FROM alert_bursts "
        "WHERE ((scope = 'target' AND scope_key = %s) OR (scope = 'group' AND scope_key = %s)) "
        "AND last_at > %s", (str(target_id), group, since)).fetchall()
    return [OpenBurst(r["id"], r["scope"], r["scope_key"], r["last_at"]) for r in rows]


def start_burst(conn: Conn, d: BurstDecision, f: Facts) -> int:
    row = conn.execute(
        "INSERT INTO alert_bursts (scope, scope_key, group_name, target_id, started_at, "
        "last_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (d.scope, d.key, f.group, f.target_id if d.scope == "target" else None,
         f.detected_at, f.detected_at)).fetchone()
    assert row is not None
    conn.execute("UPDATE alert_marks SET burst_id = %s WHERE event_id = ANY(%s)",
                 (row["id"], list(d.members)))
    return int(row["id"])


def extend_burst(conn: Conn, burst_id: int, at: datetime) -> None:
    conn.execute("UPDATE alert_bursts SET last_at = greatest(last_at, %s) WHERE id = %s",
                 (at, burst_id))


def insert_mark(conn: Conn, f: Facts, verdict: str, burst_id: int | None) -> None:
    conn.execute(
        "INSERT INTO alert_marks (event_id, post_id, target_id, group_name, kind, cause, "
        "detected_at, verdict, burst_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (event_id) DO NOTHING",
        (f.event_id, f.post_id, f.target_id, f.group, f.kind, f.cause, f.detected_at,
         verdict, burst_id))


def burst_members(conn: Conn, burst_id: int) -> list[int]:
    rows = conn.execute("SELECT event_id FROM alert_marks WHERE burst_id = %s "
                        "ORDER BY detected_at, event_id", (burst_id,)).fetchall()
    return [r["event_id"] for r in rows]


def _mark(r: dict[str, Any]) -> Mark:
    return Mark(event_id=r["event_id"], post_id=r["post_id"], target_id=r["target_id"],
                group=r["group_name"], kind=r["kind"], cause=r["cause"],
                detected_at=r["detected_at"], verdict=r["verdict"], burst_id=r["burst_id"])


# -- delivery rows --------------------------------------------------------------------------


def insert_delivery(conn: Conn, event_id: int, channel: str, at: datetime, *,
                    state: str = "pending", parent_id: int | None = None,
                    burst_id: int | None = None, note: str | None = None) -> None:
    """One row per event and channel; a second insert for the pair is a no-op."""
    conn.execute(
        "INSERT INTO deliveries (event_id, channel, kind, state, next_attempt_at, "
        "parent_id, burst_id, last_error) VALUES (%s, %s, 'event', %s, %s, %s, %s, %s) "
        "ON CONFLICT (event_id, channel) DO NOTHING",
        (event_id, channel, state, at, parent_id, burst_id, note))


def open_burst_delivery(conn: Conn, burst_id: int, channel: str) -> int | None:
    """The burst's message for ``channel`` that has not been tried yet, locked."""
    row = conn.execute(
        "SELECT id FROM deliveries WHERE burst_id = %s AND channel = %s "
        "AND kind = 'burst' AND state = 'pending' AND tries = 0 "
        "ORDER BY id DESC LIMIT 1 FOR UPDATE", (burst_id, channel)).fetchone()
    return None if row is None else int(row["id"])


def burst_messages(conn: Conn, burst_id: int, channel: str) -> int:
    row = conn.execute("SELECT count(*) AS n FROM deliveries WHERE burst_id = %s "
                       "AND channel = %s AND kind = 'burst'", (burst_id, channel)).fetchone()
    return int(row["n"]) if row else 0


def insert_aggregate(conn: Conn, kind: str, channel: str, at: datetime, key: str,
                     payload: dict[str, Any], burst_id: int | None = None) -> int | None:
    """A burst or digest message, unique by ``key``; an existing one that has not
    been tried yet is returned (locked), one already tried gives None."""
    row = conn.execute(
        "INSERT INTO deliveries (channel, kind, state, next_attempt_at, dedupe_key, "
        "payload, burst_id) VALUES (%s, %s, 'pending', %s, %s, %s, %s) "
        "ON CONFLICT (dedupe_key) DO UPDATE SET dedupe_key = EXCLUDED.dedupe_key "
        "WHERE deliveries.state = 'pending' AND deliveries.tries = 0 "
        "RETURNING id", (channel, kind, at, key, Jsonb(payload), burst_id)).fetchone()
    return None if row is None else int(row["id"])


def fold_pending(conn: Conn, parent_id: int, channel: str, event_ids: Sequence[int]) -> list[int]:
    """Fold rows of ``event_ids`` on ``channel`` not yet tried into ``parent_id``."""
    rows = conn.execute(
        "UPDATE deliveries SET state = 'folded', parent_id = %s WHERE channel = %s "
        "AND event_id = ANY(%s) AND state = 'pending' AND tries = 0 RETURNING event_id",
        (parent_id, channel, list(event_ids))).fetchall()
    return [r["event_id"] for r in rows]


def alerted_on(conn: Conn, channel: str, event_ids: Sequence[int]) -> list[int]:
    """Which of ``event_ids`` have a message of their own on ``channel``, sent or on
    its way (a dead letter does not count: nobody got it)."""
    rows = conn.execute(
        "SELECT event_id FROM deliveries WHERE channel = %s AND event_id = ANY(%s) "
        "AND state IN ('pending', 'sending', 'sent', 'failed')",
        (channel, list(event_ids))).fetchall()
    return [r["event_id"] for r in rows]


def set_payload(conn: Conn, delivery_id: int, payload: dict[str, Any]) -> None:
    conn.execute("UPDATE deliveries SET payload = %s WHERE id = %s",
                 (Jsonb(payload), delivery_id))


# -- the dispatcher's side ----------------------------------------------------------------


def next_due(conn: Conn, now: datetime, channels: Sequence[str]) -> dict[str, Any] | None:
    """Lock one due row: pending, failed and due, or sending with its lease run out."""
    return conn.execute(
        "SELECT * FROM deliveries WHERE state IN ('pending', 'failed', 'sending') "
        "AND next_attempt_at <= %s AND channel = ANY(%s) "
        "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (now, list(channels))).fetchone()


def start_sending(conn: Conn, delivery_id: int, now: datetime, lease_until: datetime,
                  by: str) -> int:
    row = conn.execute(
        "UPDATE deliveries SET state = 'sending', tries = tries + 1, "
        "next_attempt_at = %s, claimed_at = %s, claimed_by = %s WHERE id = %s RETURNING tries",
        (lease_until, now, by, delivery_id)).fetchone()
    assert row is not None
    return int(row["tries"])


def finish(conn: Conn, delivery_id: int, tries: int, state: str, at: datetime,
           next_attempt_at: datetime | None = None, error: str | None = None) -> bool:
    """Record the outcome of try ``tries``; False when the row moved on meanwhile
    (the lease ran out and another dispatcher took it)."""
    cur = conn.execute(
        "UPDATE deliveries SET state = %s, last_error = %s, "
        "sent_at = CASE WHEN %s = 'sent' THEN %s ELSE sent_at END, "
        "next_attempt_at = COALESCE(%s, next_attempt_at) "
        "WHERE id = %s AND state = 'sending' AND tries = %s",
        (state, error, state, at, next_attempt_at, delivery_id, tries))
    return cur.rowcount == 1


def set_state(conn: Conn, delivery_id: int, state: str, error: str | None,
              at: datetime) -> None:
    conn.execute("UPDATE deliveries SET state = %s, last_error = %s, "
                 "next_attempt_at = %s WHERE id = %s", (state, error, at, delivery_id))


def log_attempt(conn: Conn, delivery_id: int, attempt: int, started: datetime,
                finished: datetime, result: str, error: str | None, by: str | None) -> None:
    conn.execute(
        "INSERT INTO delivery_attempts (delivery_id, try, started_at, finished_at, result, error, "
        "dispatcher) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (delivery_id, attempt, started, finished, result, error, by))


def was_interrupted(conn: Conn, delivery_id: int) -> bool:
    """True when an earlier try of the delivery was interrupted (it may have arrived)."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM delivery_attempts WHERE delivery_id = %s "
                       "AND result = 'interrupted') AS interrupted", (delivery_id,)).fetchone()
    return bool(row and row["interrupted"])


def members(conn: Conn, parent_id: int) -> list[int]:
    rows = conn.execute("SELECT event_id FROM deliveries WHERE parent_id = %s "
                        "AND event_id IS NOT NULL ORDER BY id", (parent_id,)).fetchall()
    return [r["event_id"] for r in rows]


def event_views(conn: Conn, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Events with their post, target, last version and burst: what rendering needs."""
    rows = conn.execute(
        """
        SELECT e.id, e.kind, e.cause, e.cause_detail, e.candidates, e.platform,
               e.group_name, e.post_key, e.detected_at, e.last_seen_visible,
               e.first_seen_gone, e.published_at, e.edit, e.evidence,
               t.key AS target_key, t.value AS target, p.url, p.probe_url, p.author,
               v.title, v.raw_text AS text, v.content, m.burst_id
        FROM events e
        JOIN targets t ON t.id = e.target_id
        JOIN posts p ON p.id = e.post_id
        LEFT JOIN versions v ON v.id = COALESCE(e.version_id, p.current_version_id)
        LEFT JOIN alert_marks m ON m.event_id = e.id
        WHERE e.id = ANY(%s)
        ORDER BY e.detected_at, e.id
        """, (list(ids),)).fetchall()
    return [dict(r) for r in rows]


def target_label(conn: Conn, scope: str, key: str) -> str:
    if scope != "target":
        return key
    row = conn.execute("SELECT value FROM targets WHERE id = %s", (int(key),)).fetchone()
    return str(row["value"]) if row else key


# -- the operator's side ------------------------------------------------------------------


def list_deliveries(conn: Conn, states: Sequence[str], limit: int = 100,
                    channel: str | None = None) -> list[dict[str, Any]]:
    return conn.execute(
        """
        SELECT d.id, d.channel, d.kind, d.state, d.tries, d.next_attempt_at, d.created_at,
               d.last_error, d.event_id, e.kind AS event_kind, e.platform, e.post_key,
               (SELECT count(*) FROM deliveries c WHERE c.parent_id = d.id) AS folded
        FROM deliveries d LEFT JOIN events e ON e.id = d.event_id
        WHERE d.state = ANY(%s) AND (%s::text IS NULL OR d.channel = %s)
        ORDER BY d.id LIMIT %s
        """, (list(states), channel, channel, limit)).fetchall()


def retry(conn: Conn, now: datetime, *, ids: Sequence[int] | None = None,
          channel: str | None = None, states: Sequence[str] = ("dead", "failed")) -> int:
    """Dead or failed rows back to pending, due now, with a fresh count of tries."""
    cur = conn.execute(
        "UPDATE deliveries SET state = 'pending', tries = 0, next_attempt_at = %s "
        "WHERE state = ANY(%s) AND (%s::bigint[] IS NULL OR id = ANY(%s)) "
        "AND (%s::text IS NULL OR channel = %s)",
        (now, list(states), ids, ids, channel, channel))
    return cur.rowcount


def attempts(conn: Conn, delivery_id: int) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM delivery_attempts WHERE delivery_id = %s ORDER BY id",
                        (delivery_id,)).fetchall()


def delivery_summary(conn: Conn) -> dict[str, Any]:
    """Counts by state, the oldest undelivered alert and the last failure.

    ``{"states": {"pending": 2, "sent": 40, …}, "oldest_pending": datetime | None,
    "last_failure": {"at", "channel", "delivery_id", "error"} | None}``; oldest
    pending counts pending, failed and sending rows (alerts not yet out).
    """
    states = {s: 0 for s in STATES}
    for r in conn.execute("SELECT state, count(*) AS n FROM deliveries GROUP BY state"):
        states[r["state"]] = int(r["n"])
    oldest = conn.execute(
        "SELECT min(created_at) AS at FROM deliveries "
        "WHERE state IN ('pending', 'failed', 'sending')").fetchone()
    failure = conn.execute(
        "SELECT a.finished_at AS at, d.channel, a.delivery_id, a.error, a.result "
        "FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
        "WHERE a.result <> 'sent' ORDER BY a.id DESC LIMIT 1").fetchone()
    return {"states": states, "oldest_pending": oldest["at"] if oldest else None,
            "last_failure": dict(failure) if failure else None}
