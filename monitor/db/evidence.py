"""The evidence bundles' SQL: frozen manifests and their RFC 3161 stamps.

A manifest is stored once per event (``evidence_manifests``; an UPDATE is refused
by trigger) and each configured authority gets a stamp row per manifest
(``evidence_stamps``): ``pending`` until asked, ``failed`` with ``next_try`` and
``last_error`` while the authority fails, ``ok`` with the token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import Connection as Conn

__all__ = ["DueStamp", "StoredManifest", "chain_since", "due_stamps", "event_row",
           "events_without_manifest", "manifest", "record_failure", "record_token", "stamps",
           "store_manifest", "timeline", "add_authorities", "stamp_counts"]


@dataclass(frozen=True, slots=True)
class StoredManifest:
    event_id: int
    built_at: datetime
    sha256: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DueStamp:
    event_id: int
    authority: str
    attempts: int
    manifest: bytes


def event_row(conn: Conn, event_id: int) -> dict[str, Any] | None:
    """The event's stored row (every column), None when there is no such event."""
    row: dict[str, Any] | None = conn.execute(
        "SELECT * FROM events WHERE id = %s", (event_id,)).fetchone()
    return row


def timeline(conn: Conn, post_id: int, until: datetime, rests_on: Sequence[int],
             limit: int) -> list[dict[str, Any]]:
    """The post's observation runs that began by ``until`` (the newest ``limit``),
    and every one of ``rests_on`` whatever its age, oldest first."""
    rows: list[dict[str, Any]] = conn.execute(
        "SELECT * FROM observations WHERE id IN ("
        " (SELECT id FROM observations WHERE post_id = %(post)s AND first_at <= %(until)s"
        "  ORDER BY first_at DESC, id DESC LIMIT %(limit)s)"
        " UNION SELECT id FROM observations WHERE post_id = %(post)s AND id = ANY(%(ids)s))"
        " ORDER BY first_at, id",
        {"post": post_id, "until": until, "limit": limit, "ids": list(rests_on)},
    ).fetchall()
    return rows


def manifest(conn: Conn, event_id: int) -> StoredManifest | None:
    row = conn.execute("SELECT event_id, built_at, sha256, manifest FROM evidence_manifests"
                       " WHERE event_id = %s", (event_id,)).fetchone()
    if row is None:
        return None
    return StoredManifest(event_id=row["event_id"], built_at=row["built_at"],
                          sha256=row["sha256"], data=bytes(row["manifest"]))


def store_manifest(conn: Conn, event_id: int, data: bytes, built_at: datetime,
                   authorities: Sequence[str]) -> StoredManifest:
    """Freeze ``data`` as the event's manifest (the stored one wins if another
    process got there first) and add a pending stamp per authority; returns the
    manifest that is stored."""
    conn.execute(
        "INSERT INTO evidence_manifests (event_id, built_at, sha256, manifest)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (event_id, built_at, hashlib.sha256(data).hexdigest(), data))
    add_authorities(conn, authorities, event_ids=[event_id])
    stored = manifest(conn, event_id)
    assert stored is not None  # inserted above, or by the process that won
    return stored


def add_authorities(conn: Conn, authorities: Sequence[str],
                    event_ids: Sequence[int] | None = None) -> int:
    """A pending stamp for every stored manifest (or those of ``event_ids``) and
    authority that has none yet (an authority configured later); returns how many."""
    if not authorities:
        return 0
    cur = conn.execute(
        "INSERT INTO evidence_stamps (event_id, authority)"
        " SELECT m.event_id, a FROM evidence_manifests m, unnest(%s::text[]) a"
        " WHERE %s::bigint[] IS NULL OR m.event_id = ANY(%s::bigint[])"
        " ON CONFLICT DO NOTHING",
        (list(authorities), None if event_ids is None else list(event_ids),
         None if event_ids is None else list(event_ids)))
    return cur.rowcount


def events_without_manifest(conn: Conn, limit: int) -> list[int]:
    """Events with no manifest yet, oldest first."""
    return [r["id"] for r in conn.execute(
        "SELECT e.id FROM events e WHERE NOT EXISTS (SELECT 1 FROM evidence_manifests m"
        " WHERE m.event_id = e.id) ORDER BY e.id LIMIT %s", (limit,))]


def due_stamps(conn: Conn, authorities: Sequence[str], now: datetime,
               limit: int) -> list[DueStamp]:
    """Stamps of the configured ``authorities`` not yet ok and due at ``now``."""
    rows = conn.execute(
        "SELECT s.event_id, s.authority, s.attempts, m.manifest FROM evidence_stamps s"
        " JOIN evidence_manifests m USING (event_id)"
        " WHERE s.status <> 'ok' AND s.authority = ANY(%s)"
        " AND (s.next_try IS NULL OR s.next_try <= %s)"
        " ORDER BY s.next_try NULLS FIRST, s.event_id LIMIT %s",
        (list(authorities), now, limit)).fetchall()
    return [DueStamp(event_id=r["event_id"], authority=r["authority"],
                     attempts=r["attempts"], manifest=bytes(r["manifest"])) for r in rows]


def record_token(conn: Conn, event_id: int, authority: str, token: bytes,
                 now: datetime) -> None:
    """Keep ``authority``'s token for the event's manifest (a token already kept stays)."""
    conn.execute(
        "INSERT INTO evidence_stamps AS s (event_id, authority, status, token, stamped_at,"
        " attempts) VALUES (%s, %s, 'ok', %s, %s, 1) ON CONFLICT (event_id, authority) DO"
        " UPDATE SET status = 'ok', token = excluded.token, stamped_at = excluded.stamped_at,"
        " attempts = s.attempts + 1, next_try = NULL, last_error = NULL WHERE s.status <> 'ok'",
        (event_id, authority, token, now))


def chain_since(conn: Conn) -> dict[str, int]:
    """Per chained kind, the largest row id when the hash chain began: every later row
    has an entry (rows up to it predate the chain)."""
    row = conn.execute("SELECT since FROM chain_head").fetchone()
    since = row["since"] if row is not None and isinstance(row["since"], dict) else {}
    return {str(k): int(v) for k, v in since.items() if isinstance(v, int)}


def record_failure(conn: Conn, event_id: int, authority: str, error: str,
                   next_try: datetime) -> None:
    conn.execute(
        "UPDATE evidence_stamps SET status = 'failed', attempts = attempts + 1,"
        " next_try = %s, last_error = %s WHERE event_id = %s AND authority = %s"
        " AND status <> 'ok'", (next_try, error[:1000], event_id, authority))


def stamps(conn: Conn, event_id: int) -> list[dict[str, Any]]:
    """The event's stamp rows (authority, status, token, attempts, next_try,
    last_error, stamped_at), by authority."""
    rows: list[dict[str, Any]] = conn.execute(
        "SELECT authority, status, token, attempts, next_try, last_error, stamped_at"
        " FROM evidence_stamps WHERE event_id = %s ORDER BY authority", (event_id,)).fetchall()
    for row in rows:
        if row["token"] is not None:
            row["token"] = bytes(row["token"])
    return rows


def stamp_counts(conn: Conn) -> dict[str, int]:
    """How many stamps are in each status."""
    return {r["status"]: r["n"] for r in conn.execute(
        "SELECT status, count(*) AS n FROM evidence_stamps GROUP BY status")}
