"""SQL for access: API tokens, the audit log, review groups and decisions, what may
be published (:func:`published_clause`) and the public view's rows.

The rules (roles, secrets, pseudonyms) are in :mod:`monitor.access`; this module
only stores and reads. Every write here that a person makes is audited by its
caller in the same transaction (:func:`audit`).
"""

from __future__ import annotations

import logging
import secrets as _secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ..access import ROLES, Principal, matches, new_secret, secret_hash, secret_prefix
from ..errors import TakedownError

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

__all__ = ["AccessError", "UnknownEvent", "audit", "audit_rows", "authenticate",
           "create_token", "decide", "decisions", "group_reviewed", "is_published",
           "list_tokens", "pending", "pseudonym_secret", "published_clause", "public_events",
            "revoke_token", "sync_review_groups"]

#: How stale ``last_used_at`` may grow before a request writes it again: one write a
#: minute per token at most, not one per request.
LAST_USED_GRAIN = "1 minute"
#: What a public delivery suppressed by a rejection says (an approval finds it by this).
REJECTED_NOTE = "rejected in review"


class AccessError(TakedownError):
    """A token or review request that cannot be done as asked (the message says why)."""


class UnknownEvent(AccessError, LookupError):
    """No event has that id."""


# -- tokens ---------------------------------------------------------------------------


def create_token(conn: Conn, name: str, role: str) -> tuple[int, str]:
    """A new token; returns its id and the secret, which is never stored (show it once)."""
    name = name.strip()
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not name or len(name) > 200 or not name.isprintable():
        raise AccessError("a token name is 1 to 200 printable characters, e.g. 'alice-laptop'")
    if name.isdecimal():
        raise AccessError(f"a token name cannot be only digits ({name!r} would read as an "
                          "id in `takedown token revoke`); add a letter")
    taken = conn.execute("SELECT 1 FROM api_tokens WHERE name = %s AND revoked_at IS NULL",
                         (name,)).fetchone()
    if taken:
        raise AccessError(f"a token named {name!r} exists; revoke it first or pick another name")
    while True:  # a prefix collision is a 1-in-2^47 event; retry rather than fail
        secret = new_secret()
        row = conn.execute(
            "INSERT INTO api_tokens (name, role, prefix, secret_hash, created_at) "
            "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (prefix) DO NOTHING RETURNING id",
            (name, role, secret_prefix(secret), secret_hash(secret))).fetchone()
        if row:
            return int(row["id"]), secret


def list_tokens(conn: Conn, *, include_revoked: bool = True) -> list[dict[str, Any]]:
    """Every token's id, name, role, prefix and times (never the hash)."""
    return conn.execute(
        "SELECT id, name, role, prefix, created_at, last_used_at, revoked_at FROM api_tokens "
        "WHERE %s OR revoked_at IS NULL ORDER BY id", (include_revoked,)).fetchall()


def revoke_token(conn: Conn, ref: str | int) -> dict[str, Any]:
    """Revoke the live token with this id or name; returns its row."""
    ref = str(ref).strip()
    if "\x00" in ref or len(ref) > 200:
        raise AccessError("no such token; `takedown token list` shows them")
    if ref.isdecimal() and len(ref) < 19:
        where, value = sql.SQL("id = %s"), int(ref)
    else:
        where, value = sql.SQL("name = %s"), ref  # type: ignore[assignment]
    row = conn.execute(
        sql.SQL("UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND {} "
                "RETURNING id, name, role, prefix, revoked_at").format(where), (value,)
    ).fetchone()
    if row is None:
        raise AccessError(f"no live token with id or name {ref!r}; `takedown token list` "
                          "shows them")
    return dict(row)


def authenticate(conn: Conn, secret: str) -> Principal | None:
    """The principal holding ``secret``, or None (unknown, malformed or revoked)."""
    prefix = secret_prefix(secret)
    if prefix is None:
        return None
    row = conn.execute(
        "SELECT id, name, role, secret_hash FROM api_tokens "
        "WHERE prefix = %s AND revoked_at IS NULL", (prefix,)).fetchone()
    if row is None or not matches(secret, bytes(row["secret_hash"])):
        return None
    conn.execute(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = %s AND "
        "(last_used_at IS NULL OR last_used_at < now() - %s::interval)",
        (row["id"], LAST_USED_GRAIN))
    return Principal(int(row["id"]), row["name"], row["role"])


# -- audit log ------------------------------------------------------------------------


def audit(conn: Conn, principal: Principal, action: str, subject: str,
          detail: Mapping[str, Any]) -> int:
    """Record a write (call it in the write's own transaction); returns the row id."""
    row = conn.execute(
        "INSERT INTO audit_log (at, token_id, actor, role, action, subject, detail) "
        "VALUES (now(), %s, %s, %s, %s, %s, %s) RETURNING id",
        (principal.token_id, principal.name, principal.role, action, subject,
         Jsonb(dict(detail)))).fetchone()
    assert row is not None
    return int(row["id"])


def audit_rows(conn: Conn, *, action: str | None = None, before: int | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
    """The audit log, newest first; ``before`` is the last id of the previous page."""
    return conn.execute(
        "SELECT id, at, token_id, actor, role, action, subject, detail FROM audit_log "
        "WHERE (%(action)s::text IS NULL OR action = %(action)s) "
        "AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(limit)s",
        {"action": action, "before": before, "limit": limit}).fetchall()


# -- pseudonyms -----------------------------------------------------------------------


def pseudonym_secret(conn: Conn, settings: Any) -> bytes:
    """The key of the public pseudonyms: ``PSEUDONYM_SECRET`` when set, else one the
    database generated once (so pseudonyms stay stable across restarts and hosts)."""
    configured = settings["PSEUDONYM_SECRET"]
    if configured:
        return str(configured).encode()
    conn.execute("INSERT INTO access_secrets (name, value) VALUES ('pseudonym', %s) "
                 "ON CONFLICT (name) DO NOTHING", (_secrets.token_bytes(32),))
    row = conn.execute("SELECT value FROM access_secrets WHERE name = 'pseudonym'").fetchone()
    assert row is not None
    return bytes(row["value"])


# -- review ---------------------------------------------------------------------------


def sync_review_groups(conn: Conn, groups: Mapping[str, bool]) -> None:
    """Store each watchlist group's ``review`` option (call it where targets sync).

    Groups missing from ``groups`` keep their row: a partial sync (one group)
    must not publish another group's held events.
    """
    for name, review in groups.items():
        conn.execute(
            "INSERT INTO review_groups (name, review) VALUES (%s, %s) ON CONFLICT (name) DO "
            "UPDATE SET review = EXCLUDED.review, updated_at = now() "
            "WHERE review_groups.review IS DISTINCT FROM EXCLUDED.review", (name, bool(review)))


def group_reviewed(conn: Conn, group: str) -> bool:
    row = conn.execute("SELECT review FROM review_groups WHERE name = %s", (group,)).fetchone()
    return bool(row and row["review"])


def published_clause(alias: str = "e") -> sql.Composable:
    """An SQL condition true for events (table alias ``alias``) that may be published:
    their group needs no review, or a reviewer approved them.

    Review is read at query time: switching a group's review on withholds its
    earlier events too, until approved (the safe direction).
    """
    a = sql.Identifier(alias)
    return sql.SQL(
        "(NOT EXISTS (SELECT 1 FROM review_groups rg WHERE rg.name = {a}.group_name "
        "AND rg.review) OR EXISTS (SELECT 1 FROM event_reviews er WHERE er.event_id = {a}.id "
        "AND er.state = 'approved'))").format(a=a)


def is_published(conn: Conn, event_id: int) -> bool:
    """Whether the event may be published now (see :func:`published_clause`)."""
    row = conn.execute(sql.SQL("SELECT {} AS ok FROM events e WHERE e.id = %s").format(
        published_clause("e")), (event_id,)).fetchone()
    return bool(row and row["ok"])


_EVENT_COLUMNS = sql.SQL(
    "e.id, e.kind, e.cause, e.platform, e.group_name, e.post_id, e.post_key, e.detected_at, "
    "e.last_seen_visible, e.first_seen_gone, e.published_at, p.url, p.author, "
    "v.title, v.raw_text AS text")


def pending(conn: Conn, *, limit: int = 50,
            after: tuple[datetime, int] | None = None) -> list[dict[str, Any]]:
    """Events awaiting review, oldest first, with their notes so far."""
    rows = conn.execute(sql.SQL(
        "SELECT {cols} FROM events e JOIN review_groups rg ON rg.name = e.group_name "
        "AND rg.review JOIN posts p ON p.id = e.post_id "
        "LEFT JOIN versions v ON v.id = COALESCE(e.version_id, p.current_version_id) "
        "WHERE NOT EXISTS (SELECT 1 FROM event_reviews er WHERE er.event_id = e.id) "
        "AND (%(at)s::timestamptz IS NULL OR (e.detected_at, e.id) > (%(at)s, %(id)s)) "
        "ORDER BY e.detected_at, e.id LIMIT %(limit)s").format(cols=_EVENT_COLUMNS),
        {"at": after[0] if after else None, "id": after[1] if after else None,
         "limit": limit}).fetchall()
    notes = _notes(conn, [r["id"] for r in rows])
    return [{**r, "notes": notes.get(r["id"], [])} for r in rows]


def _notes(conn: Conn, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute("SELECT event_id, text, at, actor FROM review_decisions "
                          "WHERE event_id = ANY(%s) AND decision = 'note' ORDER BY id", (ids,)):
        out.setdefault(r["event_id"], []).append(
            {"text": r["text"], "at": r["at"], "actor": r["actor"]})
    return out


def decide(conn: Conn, principal: Principal, event_id: int, decision: str,
           text: str | None = None) -> dict[str, Any]:
    """Record ``approved``, ``rejected`` (``text``: the reason) or a ``note`` on an
    event, audited; an approval or rejection replaces the event's earlier one and
    releases or suppresses its held public deliveries. Returns the decision row."""
    if decision not in ("approved", "rejected", "note"):
        raise AccessError(f"unknown decision {decision!r}")
    text = (text or "").strip() or None
    if decision != "approved" and text is None:
        what = "a reason" if decision == "rejected" else "the note's text"
        raise AccessError(f"give {what}; it cannot be empty")
    if text is not None and "\x00" in text:
        raise AccessError("the text cannot contain a NUL character")
    if text is not None and len(text) > 10_000:
        raise AccessError("keep the text under 10,000 characters")
    event = conn.execute("SELECT id, group_name FROM events WHERE id = %s FOR UPDATE",
                         (event_id,)).fetchone()
    if event is None:
        raise UnknownEvent(f"no event {event_id}; `takedown review list` shows the queue")
    row = conn.execute(
        "INSERT INTO review_decisions (event_id, decision, text, at, token_id, actor) "
        "VALUES (%s, %s, %s, now(), %s, %s) RETURNING id, event_id, decision, text, at, actor",
        (event_id, decision, text, principal.token_id, principal.name)).fetchone()
    assert row is not None
    released = 0
    if decision != "note":
        conn.execute(
            "INSERT INTO event_reviews (event_id, state, decision_id, decided_at) "
            "VALUES (%s, %s, %s, now()) ON CONFLICT (event_id) DO UPDATE SET "
            "state = EXCLUDED.state, decision_id = EXCLUDED.decision_id, "
            "decided_at = EXCLUDED.decided_at", (event_id, decision, row["id"]))
        released = _settle_held(conn, event_id, decision)
    action = {"approved": "approve", "rejected": "reject", "note": "note"}[decision]
    audit(conn, principal, f"review.{action}", f"event:{event_id}",
          {"decision": decision, "text": text, "group": event["group_name"],
           "deliveries": released})
    return {**row, "deliveries": released}


def _settle_held(conn: Conn, event_id: int, decision: str) -> int:
    """The event's held public deliveries: due now (approved) or suppressed (rejected).

    An approval after a rejection releases what the rejection suppressed; a
    rejection after an approval cannot call back what went out already.
    """
    if decision == "approved":
        cur = conn.execute(
            "UPDATE deliveries SET state = 'pending', last_error = NULL "
            "WHERE event_id = %s AND (state = 'held' OR (state = 'suppressed' "
            "AND last_error = %s))", (event_id, REJECTED_NOTE))
    else:
        cur = conn.execute("UPDATE deliveries SET state = 'suppressed', last_error = %s "
                           "WHERE event_id = %s AND state = 'held'", (REJECTED_NOTE, event_id))
    return cur.rowcount


def decisions(conn: Conn, event_id: int) -> dict[str, Any]:
    """An event's review state (``pending``, ``approved``, ``rejected`` or
    ``unreviewed``: its group needs none) and its whole history of decisions."""
    row = conn.execute(
        "SELECT e.id, rg.review, er.state FROM events e "
        "LEFT JOIN review_groups rg ON rg.name = e.group_name "
        "LEFT JOIN event_reviews er ON er.event_id = e.id WHERE e.id = %s",
        (event_id,)).fetchone()
    if row is None:
        raise UnknownEvent(f"no event {event_id}; `takedown events` lists them")
    state = row["state"] or ("pending" if row["review"] else "unreviewed")
    history = conn.execute("SELECT id, decision, text, at, actor FROM review_decisions "
                           "WHERE event_id = %s ORDER BY id", (event_id,)).fetchall()
    return {"event_id": event_id, "state": state, "history": history}


# -- the public view ------------------------------------------------------------------


def public_events(conn: Conn, *, limit: int = 50, before: int | None = None,
                  platform: str | None = None, group: str | None = None,
                  kind: str | None = None) -> list[dict[str, Any]]:
    """Published events, newest first (``before``: the last id of the previous page),
    with only what the public may see; the caller pseudonymises ``author``."""
    return conn.execute(sql.SQL(
        "SELECT e.id, e.kind, e.cause, e.platform, e.group_name, e.detected_at, "
        "e.last_seen_visible, e.first_seen_gone, e.published_at, p.url, p.author, v.title, "
        "v.raw_text AS text, e.evidence -> 'observed' ->> 'at' AS observed_at, "
        "e.evidence -> 'observed' ->> 'outcome' AS observed_outcome, "
        "e.evidence -> 'observed' ->> 'http_status' AS observed_status, "
        "e.evidence -> 'observed' ->> 'message' AS observed_words, "
        "e.evidence -> 'observed' ->> 'body_hash' AS observed_hash "
        "FROM events e JOIN posts p ON p.id = e.post_id "
        "LEFT JOIN versions v ON v.id = COALESCE(e.version_id, p.current_version_id) "
        "WHERE {published} AND (%(before)s::bigint IS NULL OR e.id < %(before)s) "
        "AND (%(platform)s::text IS NULL OR e.platform = %(platform)s) "
        "AND (%(group)s::text IS NULL OR e.group_name = %(group)s) "
        "AND (%(kind)s::text IS NULL OR e.kind = %(kind)s) "
        "ORDER BY e.id DESC LIMIT %(limit)s").format(published=published_clause("e")),
        {"before": before, "platform": platform, "group": group, "kind": kind,
         "limit": limit}).fetchall()
