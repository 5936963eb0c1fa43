"""SQL for the tracking loop: targets, due work, post rows and the writes of a batch."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..events import Event
from ..geo import GEO_KEY, fan_out
from ..lifecycle import SOURCES_KEY, Changes, PostRow, PostState, Suspicion, TargetRow
from ..observation import WorkItem
from ..platforms import value_is_url
from ..rows import ObsWrite
from ..vantage import Vantage, unknown_vantages
from ..vantage import resolve as resolve_vantages
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


def platforms_due(conn: Conn, now: datetime, groups: Sequence[str] | None = None) -> list[str]:
    """The platforms with a target or post due at ``now`` (of ``groups``, if given), sorted."""
    rows = conn.execute(
        """
        SELECT DISTINCT platform FROM (
          SELECT platform FROM targets WHERE active AND next_due <= %(now)s
                 AND (%(g)s::text[] IS NULL OR group_name = ANY(%(g)s))
          UNION
          SELECT p.platform FROM posts p JOIN targets t ON t.id = p.target_id
          WHERE t.active AND p.next_check <= %(now)s
                 AND (%(g)s::text[] IS NULL OR t.group_name = ANY(%(g)s))) due
        """,
        {"now": now, "g": list(groups) if groups else None},
    ).fetchall()
    return sorted(r["platform"] for r in rows)


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


def claim_due(
    conn: Conn, now: datetime, limit: int, lease: float,
    platforms: Sequence[str] | None = None, groups: Sequence[str] | None = None,
    *, worker: int | None = None, vantages: Mapping[str, Vantage] | None = None,
) -> list[WorkItem]:
    """Claim up to ``limit`` due items (listings first), leasing them for ``lease`` s
    to ``worker`` (its ``workers.id``, or a seatless worker's negative token; None: a
    holder nobody can tell, whose lease only runs out by time). Each item carries that
    seat (:attr:`WorkItem.seat`): what answers it is recorded, and its lease given
    back, only as that seat's.

    ``FOR UPDATE SKIP LOCKED`` lets several workers share the queue; an item whose
    lease ran out (its worker died) is due again. Each claim is one UPDATE that
    sets the lease and its holder together.

    A target's vantage points are stored by name: with ``vantages`` (the watchlist's),
    each item carries its :class:`~monitor.vantage.Vantage`, and an item naming one
    not in it is not handed out (fetched from here, it would record this network under
    that name): its row is given back unless another of its items is handed out.
    Without ``vantages``, items carry the names alone.
    """
    until = now + timedelta(seconds=lease)
    bounds = {"until": until, "now": now, "platforms": platforms, "groups": groups,
              "worker": worker}
    items = _claim_listings(conn, limit, bounds)
    if len(items) < limit:
        items += _claim_probes(conn, limit - len(items), bounds)
    if vantages is None:
        return items
    items, unknown = resolve_vantages(items, vantages)
    if unknown:
        log.error("%s: not fetched; reload the watchlist", unknown_vantages(unknown))
        kept = {(i.mode, i.row_id) for i in items}
        release(conn, [i for i in unknown if (i.mode, i.row_id) not in kept])
    return items


def _claim_listings(conn: Conn, limit: int, bounds: dict[str, Any]) -> list[WorkItem]:
    """Claim the due listings of active targets that are not single posts."""
    rows = conn.execute(
        """
        UPDATE targets t SET lease_until = %(until)s, leased_by = %(worker)s
        FROM (SELECT id FROM targets
              WHERE active AND NOT single_post AND next_due <= %(now)s
                AND (lease_until IS NULL OR lease_until < %(now)s)
                AND (%(platforms)s::text[] IS NULL OR platform = ANY(%(platforms)s))
                AND (%(groups)s::text[] IS NULL OR group_name = ANY(%(groups)s))
              ORDER BY next_due LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due
        WHERE t.id = due.id
        RETURNING t.id, t.key, t.platform, t.kind, t.value, t.base_url, t.allow_hosts,
                  t.single_post, t.options, t.vantages
        """,
        {**bounds, "limit": limit},
    ).fetchall()
    return [WorkItem(mode="listing", platform=r["platform"], target_key=r["key"],
                     url=r["value"], base_url=r["base_url"], row_id=r["id"],
                     known=dict(r["options"] or {}), vantage=vantage, seat=bounds["worker"],
                     **_policy(r))
            for r in rows for vantage in fan_out(r["vantages"], None, None)[:1]]


def _claim_probes(conn: Conn, limit: int, bounds: dict[str, Any]) -> list[WorkItem]:
    """Claim the due probes of the posts of active targets; ``known``: the post's (less
    its content sources' readings and its per-vantage answers, the core's own) with the
    target's options over it. A post probed from every vantage point of its target
    (:func:`monitor.geo.fan_out`) gives one work item per vantage point, same row."""
    rows = conn.execute(
        """
        UPDATE posts p SET lease_until = %(until)s, leased_by = %(worker)s
        FROM (SELECT p.id FROM posts p JOIN targets t ON t.id = p.target_id
              WHERE p.next_check <= %(now)s AND t.active
                AND (p.lease_until IS NULL OR p.lease_until < %(now)s)
                AND (%(platforms)s::text[] IS NULL OR p.platform = ANY(%(platforms)s))
                AND (%(groups)s::text[] IS NULL OR t.group_name = ANY(%(groups)s))
              ORDER BY p.next_check LIMIT %(limit)s FOR UPDATE OF p SKIP LOCKED) due,
             targets t
        WHERE p.id = due.id AND t.id = p.target_id
        RETURNING p.id, p.platform, p.post_key, p.url, p.probe_url,
                  p.known - %(core)s::text[] AS known, t.key AS target_key, t.base_url,
                  t.kind, t.value, t.allow_hosts, t.single_post, t.options, t.vantages,
                  p.state, p.gone_cause
        """,
        {**bounds, "limit": limit, "core": [SOURCES_KEY, GEO_KEY]},
    ).fetchall()
    return [WorkItem(mode="probe", platform=r["platform"], target_key=r["target_key"],
                     url=r["probe_url"] or r["url"], base_url=r["base_url"],
                     post_key=r["post_key"], row_id=r["id"],
                     known={**(r["known"] or {}), **(r["options"] or {})}, vantage=vantage,
                     seat=bounds["worker"], **_policy(r))
            for r in rows for vantage in fan_out(r["vantages"], r["state"], r["gone_cause"])]


def _policy(row: dict[str, Any]) -> dict[str, Any]:
    """The fetch policy's bounds for a work item: the target's own URL, its allowed hosts.

    A probe's URL came from content, so the spider must learn the target's own
    URL from here: the target's value when its kind's values are URLs (a feed, a
    post, a page: :attr:`monitor.platform.Kind.value_is_url`), else the base_url
    (an account's server).
    """
    own = row["value"] if _value_is_url(row) else row["base_url"]
    return {"target_url": own, "allow_hosts": tuple(row["allow_hosts"] or ())}


def _value_is_url(row: dict[str, Any]) -> bool:
    """Whether the target's value is a URL, as its platform declares the kind. A
    platform no longer installed cannot be crawled anyway; its single posts are
    still known to be URLs."""
    declared = value_is_url(row["platform"], row["kind"])
    return declared if declared is not None else bool(row["single_post"])


#: A claim's lease: (mode, row id, the seat it was claimed under).
Lease = tuple[str, int, int | None]


def by_seat(leases: Iterable[Lease]) -> dict[tuple[str, int | None], list[int]]:
    """Row ids by (mode, the seat they were claimed under): what one statement gives
    back or renews."""
    held: dict[tuple[str, int | None], list[int]] = {}
    for mode, row_id, seat in leases:
        held.setdefault((mode, seat), []).append(row_id)
    return held


def release(conn: Conn, items: Iterable[WorkItem]) -> None:
    """Give back leases of items that produced no observation (a crawl was cut short),
    each only while the seat it was claimed under still holds it (:func:`release_rows`)."""
    release_leases(conn, ((i.mode, i.row_id, i.seat) for i in items))


def release_leases(conn: Conn, leases: Iterable[Lease]) -> None:
    """:func:`release_rows` for each (mode, seat) of ``leases``."""
    for (mode, seat), row_ids in by_seat(leases).items():
        release_rows(conn, mode, row_ids, seat=seat)


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
    if extended:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE observations SET last_at = greatest(last_at, %s), "
                "repeats = repeats + %s, body_hash = %s, counters = %s WHERE id = %s",
                [(o.at, n, o.body_hash, _json_or_none(o.counters), o.id)
                 for o, n in extended.values()],
            )


def _update_rows(conn: Conn, old_posts: list[PostRow], targets: list[TargetRow],
                 answered: Mapping[str, Mapping[int, int | None]]) -> None:
    """Write the changed state of stored posts and of targets; release the leases of
    those whose claim the batch answered (see :func:`apply`)."""
    release = _RELEASE_IF_ANSWERED
    if old_posts:
        _update_posts(conn, old_posts, answered.get("probe", {}))
    if targets:
        listed = answered.get("listing", {})
        sets = ", ".join(f"{c} = %s" for c in _TARGET_MUTABLE)
        with conn.cursor() as cur:
            cur.executemany(
                f"UPDATE targets SET {sets}, {release} WHERE id = %s",
                [[getattr(t, c) for c in _TARGET_MUTABLE] + [t.id in listed, listed.get(t.id),
                                                            t.id]
                 for t in {t.id: t for t in targets}.values()],
            )


#: The lease clause of a row update: given back when the row's claim was answered and
#: the seat it was claimed under still holds it (:func:`release_rows`).
_RELEASE_IF_ANSWERED = ("lease_until = CASE WHEN %s AND leased_by IS NOT DISTINCT FROM "
                        "%s::integer THEN NULL ELSE lease_until END")


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
    raise TypeError(f"a post column of type {type(value).__name__} has no JSON form")


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


def release_rows(conn: Conn, mode: str, row_ids: Sequence[int], *, seat: int | None) -> None:
    """Give back the leases of targets (``listing``) or posts (``probe``) by row id that
    ``seat`` still holds: claimed under it (:attr:`WorkItem.seat`), and not taken back
    and claimed again by another worker since. ``seat`` None gives back only leases that
    name no holder (a seatless worker's claims; one seatless worker may so give back
    another's, which nothing can tell apart)."""
    table = "targets" if mode == "listing" else "posts"
    conn.execute(f"UPDATE {table} SET lease_until = NULL WHERE id = ANY(%s) "
                 "AND leased_by IS NOT DISTINCT FROM %s::integer", (list(row_ids), seat))


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
