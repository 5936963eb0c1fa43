"""SQL for recording: the target and post rows a batch locks, and the batch's writes.

The work queue (what is due, claims, leases) is :mod:`monitor.db.claims`."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..events import Event
from ..lifecycle import SOURCES_KEY, Changes, PostRow, PostState, Suspicion, TargetRow
from ..rows import ObsWrite
from . import archive, chain
from .sync import forget_hashes
from .sync import sync_targets as sync_targets  # re-exported: callers import it from here
from .tokens import share_tokens
from .versions import insert_versions, new_versions

Conn = psycopg.Connection[Any]
log = logging.getLogger(__name__)

_TARGET_COLS = [f.name for f in dataclasses.fields(TargetRow)]
_POST_COLS = [f.name for f in dataclasses.fields(PostRow) if f.name != "is_new"]
_POST_MUTABLE = [c for c in _POST_COLS if c not in {"id", "target_id", "platform", "post_key"}]
_TARGET_MUTABLE = [
    "next_due", "last_checked_at", "last_ok_at", "last_outcome", "error_streak",
    "last_error", "account_state", "last_obs_id", "last_obs_sig",
]
_JSON_POST = {"suspicion", "known"}


def forget_group(conn: Conn, group: str) -> int:
    """Delete a group's targets with everything recorded about them (their posts,
    versions, observations and events go with them); returns how many targets.
    For throw-away groups such as the demo's: a watchlist change only deactivates.
    The chained rows it removes are retired in the chain (after the delete: the
    chain's head lock is always taken last)."""
    doomed = chain.group_rows(conn, group)
    count = conn.execute("DELETE FROM targets WHERE group_name = %s", (group,)).rowcount
    if count:
        forget_hashes(conn)  # a stored watchlist hash no longer says what is there
    chain.retire_gone(conn, doomed, f"forget group {group}")
    return count


def lock_targets(conn: Conn, ids: Iterable[int]) -> dict[int, TargetRow]:
    rows = conn.execute(
        f"SELECT {', '.join(_TARGET_COLS)} FROM targets WHERE id = ANY(%s) ORDER BY id "
        "FOR UPDATE",
        (sorted(set(ids)),),
    ).fetchall()
    return {r["id"]: TargetRow(**r) for r in rows}


def lock_posts(conn: Conn, ids: Iterable[int]) -> dict[int, PostRow]:
    """Lock posts for their probes. Each of its other content sources' readings in
    ``known`` (:data:`monitor.lifecycle.SOURCES_KEY`) gets the newest one's stored
    content as ``content``, what the next reading is compared with (never written
    back: the version holds it)."""
    rows = conn.execute(
        f"""
        SELECT {', '.join(_POST_COLS)},
               (SELECT jsonb_object_agg(s.key, v.content)
                FROM jsonb_each(CASE jsonb_typeof(p.known -> %(sources)s)
                                WHEN 'object' THEN p.known -> %(sources)s END) s
                JOIN versions v ON v.post_id = p.id
                 AND jsonb_typeof(s.value -> 'recent' -> 0 -> 1) = 'number'
                 AND v.id = (s.value -> 'recent' -> 0 ->> 1)::bigint) AS source_contents
        FROM posts p WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE
        """,
        {"ids": sorted(set(ids)), "sources": SOURCES_KEY},
    ).fetchall()
    posts = {r["id"]: _post({k: v for k, v in r.items() if k != "source_contents"})
             for r in rows}
    for r in rows:
        for name, content in (r["source_contents"] or {}).items():
            posts[r["id"]].known[SOURCES_KEY][name]["content"] = content
    return posts


def lock_listing_posts(
    conn: Conn, target_id: int, keys: Sequence[str], oldest: datetime | None
) -> dict[str, PostRow]:
    """The posts a listing can affect: listed now, inside its window, or not visible."""
    rows = conn.execute(
        f"""
        SELECT {', '.join(_POST_COLS)} FROM posts
        WHERE target_id = %(t)s AND (post_key = ANY(%(keys)s)
              OR state NOT IN ('visible', 'unseen')
              OR (%(oldest)s::timestamptz IS NOT NULL AND published_at >= %(oldest)s))
        ORDER BY id FOR UPDATE
        """,
        {"t": target_id, "keys": list(keys), "oldest": oldest},
    ).fetchall()
    return {r["post_key"]: _post(r) for r in rows}


def version_contents(conn: Conn, post_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Current version content of each post (for word diffs)."""
    rows = conn.execute(
        "SELECT p.id, v.content FROM posts p JOIN versions v ON v.id = p.current_version_id "
        "WHERE p.id = ANY(%s)",
        (list(set(post_ids)),),
    ).fetchall()
    return {r["id"]: r["content"] for r in rows}


def allocate_ids(conn: Conn, table: str, n: int) -> list[int]:
    seq = {"observations": "observations_id_seq", "versions": "versions_id_seq",
           "posts": "posts_id_seq"}[table]
    rows = conn.execute(
        "SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)", (seq, n)
    ).fetchall()
    return [r["id"] for r in rows]


def apply(conn: Conn, changes: Changes,
          answered: Mapping[str, Mapping[int, int | None]] | None = None) -> list[Event]:
    """Write one batch of changes; returns the events actually stored (with ids).

    An event whose ``dedupe_key`` is already stored is skipped. The caller's
    transaction is still open, so what it writes next with the stored events
    (the alerts outbox, through the ``events_stored`` signal) commits with them.

    ``answered``: by mode (``listing``: target ids, ``probe``: post ids), the claims
    the batch's observations answer, each with the seat it was claimed under; only
    their leases are given back, and only while that seat holds them (a lease taken
    back and claimed again by another worker stays that worker's). A row the batch
    changes without answering its claim (a post a listing saw again, the target of a
    probed post) keeps its lease: it may be claimed, and in flight, right now. None:
    no lease is given back.
    """
    posts = {p.id: p for p in changes.posts}  # one row per post, the last state wins
    _insert_posts(conn, [p for p in posts.values() if p.is_new])
    insert_versions(conn, new_versions(conn, changes))  # after the posts they belong to
    _write_observations(conn, changes.observations)
    for post_id, content_hash in changes.revert_versions:
        row = posts.get(post_id)
        found = conn.execute(
            "SELECT id FROM versions WHERE post_id = %s AND content_hash = %s",
            (post_id, content_hash),
        ).fetchone()
        if row is not None and found is not None:
            row.current_version_id = found["id"]
    _update_rows(conn, [p for p in posts.values() if not p.is_new], changes.targets,
                 answered or {})
    share_tokens(conn, changes.tokens)  # after the rows: a lone note's may be among them
    events = _insert_events(conn, changes.events)
    fresh = list(dict.fromkeys(o.id for o in changes.observations if not o.extend))
    captures = archive.write(conn, [(o.id, o.capture) for o in changes.observations
                                    if o.capture is not None])
    # Tamper evidence: every new row joins the chain in the transaction that wrote it.
    chain.append(conn, [("observation", i) for i in fresh] + [("capture", i) for i in captures]
                 + [("event", e.id) for e in events if e.id is not None])
    return events


def _insert_posts(conn: Conn, new_posts: list[PostRow]) -> None:
    """COPY the batch's new posts."""
    if new_posts:
        with conn.cursor().copy(
            f"COPY posts ({', '.join(_POST_COLS)}) FROM STDIN"
        ) as copy:
            for p in new_posts:
                copy.write_row([_db_value(c, getattr(p, c)) for c in _POST_COLS])


def _write_observations(conn: Conn, observations: list[ObsWrite]) -> None:
    """COPY the new observations; extend the ones that repeat a stored one."""
    fresh = [o for o in observations if not o.extend]
    extended: dict[int, list[Any]] = {}  # id -> [latest write, count]
    for o in observations:
        if o.extend:
            entry = extended.setdefault(o.id, [o, 0])
            entry[0], entry[1] = o, entry[1] + 1
    if fresh:
        seen: set[int] = set()
        with conn.cursor().copy(
            "COPY observations (id, target_id, post_id, mode, first_at, last_at, outcome, "
            "http_status, version_id, body_hash, message, url, vantage, signals, counters, "
            "detail) FROM STDIN"
        ) as copy:
            for o in fresh:
                if o.id in seen:
                    continue
                seen.add(o.id)
                copy.write_row([o.id, o.target_id, o.post_id, o.mode, o.at, o.at, o.outcome,
                                o.http_status, o.version_id, o.body_hash, o.message, o.url,
                                o.vantage, Jsonb(o.signals), _json_or_none(o.counters),
                                o.detail])
    if extended:  # one statement for the batch (see _update_posts)
        conn.execute(_EXTEND_OBSERVATIONS, (Jsonb(
            [{"id": o.id, "at": o.at, "n": n, "body_hash": o.body_hash,
              "counters": o.counters} for o, n in extended.values()], dumps=_dumps),))


#: Extend stored observations in place, the batch's rows as one JSON array (a JSON
#: null is an SQL NULL in ``jsonb_to_recordset``).
_EXTEND_OBSERVATIONS = (
    "UPDATE observations o SET last_at = greatest(o.last_at, u.at), "
    "repeats = o.repeats + u.n, body_hash = u.body_hash, counters = u.counters "
    "FROM jsonb_to_recordset(%s) AS u(id bigint, at timestamptz, n integer, "
    "body_hash text, counters jsonb) WHERE o.id = u.id")


def _update_rows(conn: Conn, old_posts: list[PostRow], targets: list[TargetRow],
                 answered: Mapping[str, Mapping[int, int | None]]) -> None:
    """Write the changed state of stored posts and of targets; release the leases of
    those whose claim the batch answered (see :func:`apply`)."""
    if old_posts:
        _update_posts(conn, old_posts, answered.get("probe", {}))
    if targets:
        listed = answered.get("listing", {})
        rows = [{"id": t.id, **{c: getattr(t, c) for c in _TARGET_MUTABLE},
                 "answered": t.id in listed, "seat": listed.get(t.id)}
                for t in {t.id: t for t in targets}.values()]
        conn.execute(_UPDATE_TARGETS, (Jsonb(rows, dumps=_dumps),))


#: The batch's targets in one statement, as _UPDATE_POSTS writes posts; a target whose
#: listing claim the batch answered, under the seat that still holds it, gives its
#: lease back (:func:`monitor.db.claims.release_rows`).
_UPDATE_TARGETS = (
    "UPDATE targets t SET " + ", ".join(f"{c} = u.{c}" for c in _TARGET_MUTABLE)
    + ", lease_until = CASE WHEN (e->>'answered')::boolean AND t.leased_by IS NOT DISTINCT "
    "FROM (e->>'seat')::integer THEN NULL ELSE t.lease_until END "
    "FROM jsonb_array_elements(%s) AS e, LATERAL jsonb_populate_record(NULL::targets, e) AS u "
    "WHERE t.id = u.id")


def _update_posts(conn: Conn, posts: list[PostRow], probed: Mapping[int, int | None]) -> None:
    """Write the batch's stored posts in one statement: their rows as one JSON array,
    read back as ``posts`` rows (``jsonb_populate_record``, the table's own column
    types), joined to the table: the rollup trigger runs once for the batch (migration
    020), and no temporary table is made per batch (catalog churn in a long-running
    worker). A probe answered under the seat that claimed it gives its lease back."""
    rows = [{"id": p.id, **{c: _post_value(c, getattr(p, c)) for c in _POST_MUTABLE},
             "answered": p.id in probed, "seat": probed.get(p.id)} for p in posts]
    conn.execute(_UPDATE_POSTS, (Jsonb(rows, dumps=_dumps),))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"a column value of type {type(value).__name__} has no JSON form")


_UPDATE_POSTS = (
    "UPDATE posts p SET " + ", ".join(f"{c} = u.{c}" for c in _POST_MUTABLE)
    + ", lease_until = CASE WHEN (e->>'answered')::boolean AND p.leased_by IS NOT DISTINCT "
    "FROM (e->>'seat')::integer THEN NULL ELSE p.lease_until END "
    "FROM jsonb_array_elements(%s) AS e, LATERAL jsonb_populate_record(NULL::posts, e) AS u "
    "WHERE p.id = u.id")


def _insert_events(conn: Conn, events: list[Event]) -> list[Event]:
    """Insert the events, skipping those whose ``dedupe_key`` is stored; return the rest."""
    stored: list[Event] = []
    for e in events:
        row = conn.execute(
            """
            INSERT INTO events (dedupe_key, kind, cause, cause_detail, candidates, post_id,
                target_id, platform, group_name, post_key, detected_at, last_seen_visible,
                first_seen_gone, published_at, version_id, edit, evidence)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id
            """,
            (e.dedupe_key, e.kind, e.cause, e.cause_detail, e.candidates, e.post_id,
             e.target_id, e.platform, e.group, e.post_key, e.detected_at, e.last_seen_visible,
             e.first_seen_gone, e.published_at, e.version_id, _json_or_none(e.edit),
             Jsonb(e.evidence)),
        ).fetchone()
        if row is not None:
            e.id = row["id"]
            stored.append(e)
    return stored


def _post(row: dict[str, Any]) -> PostRow:
    row = dict(row)
    row["recent_hashes"] = list(row["recent_hashes"] or [])
    row["known"] = dict(row["known"] or {})
    row["state"] = PostState(row["state"])
    if row["suspicion"] is not None:
        row["suspicion"] = Suspicion.from_json(row["suspicion"])
    return PostRow(**row)


def _db_value(col: str, value: Any) -> Any:
    """A post column's value as psycopg adapts it (JSON columns wrapped)."""
    value = _post_value(col, value)
    return Jsonb(value) if col in _JSON_POST and value is not None else value


def _post_value(col: str, value: Any) -> Any:
    """A post column's value as stored, JSON columns as plain Python."""
    if col == "suspicion":
        return None if value is None else value.to_json()
    if col == "known" and isinstance((value or {}).get(SOURCES_KEY), dict):
        value = {**value, SOURCES_KEY: {  # the content lock_posts added is the version's
            k: {f: x for f, x in v.items() if f != "content"} if isinstance(v, dict) else v
            for k, v in value[SOURCES_KEY].items()}}
    if col in _JSON_POST:
        return value or {}
    return value


def _json_or_none(value: Any) -> Any:
    return None if value is None else Jsonb(value)


def checked_since(conn: Conn, mode: str, rows: Sequence[tuple[int, datetime]]) -> set[int]:
    """Of ``(row id, time)`` pairs, the targets (``listing``) or posts (``probe``) already
    checked at or after that time: a spooled observation of them is out of date."""
    if not rows:
        return set()
    ids, times = [r[0] for r in rows], [r[1] for r in rows]
    if mode == "listing":
        query = ("SELECT t.id FROM targets t JOIN unnest(%s::bigint[], %s::timestamptz[]) "
                 "AS s(id, at) ON s.id = t.id WHERE t.last_checked_at >= s.at")
    else:
        query = ("SELECT p.id FROM posts p JOIN unnest(%s::bigint[], %s::timestamptz[]) "
                 "AS s(id, at) ON s.id = p.id JOIN observations o ON o.id = p.last_obs_id "
                 "WHERE o.last_at >= s.at")
    return {r["id"] for r in conn.execute(query, (ids, times)).fetchall()}
