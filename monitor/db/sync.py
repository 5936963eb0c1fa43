"""SQL for the watchlist sync: make the targets table match the watchlist, set-based.

The targets are COPYed into a temporary table, then one ``INSERT … SELECT … ON
CONFLICT … WHERE`` writes only the rows that really changed, one more does the
single posts, and one UPDATE deactivates what left the watchlist. An unchanged
re-sync writes no row at all (no dead tuples for the autovacuum to chase).

:func:`sync_watchlist` (the worker's entry point) adds a content hash of the
synced set, stored per group scope in ``watchlist_sync``, under a transaction-level
advisory lock: of two workers starting together, the first syncs and the second
finds the hash equal and returns at once, without writing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .. import __version__
from ..platforms import is_single_post, post_ref
from ._rows import first
from .tokens import url_token_keys

Conn = psycopg.Connection[Any]

__all__ = ["SYNC_LOCK", "forget_hashes", "scope_of", "sync_targets", "sync_watchlist",
           "watchlist_hash"]

#: The two-key advisory lock (taken for the transaction) that serialises syncs: one
#: lock for every scope, since a sync of all groups deactivates other scopes' rows.
SYNC_LOCK = (0x5444_5359, 0)

#: The temporary table's columns, in COPY order.
_COLS = ("key", "group_name", "platform", "kind", "value", "base_url", "interval_s", "tags",
         "allow_hosts", "single_post", "options", "vantages", "post_key", "probe_url",
         "tokens")

_CREATE = """
CREATE TEMPORARY TABLE _sync_targets (
    key text PRIMARY KEY, group_name text NOT NULL, platform text NOT NULL,
    kind text NOT NULL, value text NOT NULL, base_url text, interval_s double precision NOT NULL,
    tags text[] NOT NULL, allow_hosts text[] NOT NULL, single_post boolean NOT NULL,
    options jsonb NOT NULL, vantages text[], post_key text, probe_url text, tokens text[]
) ON COMMIT DROP
"""

# Synced columns are written only when one of them differs (IS DISTINCT FROM: NULLs
# compare as values). next_due changes only when single_post flips, or a listing has
# none yet: a listing's schedule is its own once it has one.
_UPSERT_TARGETS = """
WITH at AS (SELECT coalesce(%(now)s::timestamptz, now()) AS at)
INSERT INTO targets AS t (key, group_name, platform, kind, value, base_url, interval_s, tags,
                          allow_hosts, single_post, options, vantages, next_due)
SELECT s.key, s.group_name, s.platform, s.kind, s.value, s.base_url, s.interval_s, s.tags,
       s.allow_hosts, s.single_post, s.options, s.vantages,
       CASE WHEN s.single_post THEN NULL ELSE at.at END
FROM _sync_targets s LEFT JOIN targets o ON o.key = s.key, at
WHERE o.id IS NULL  -- unchanged rows never reach ON CONFLICT, which would lock them
   OR (o.group_name, o.interval_s, o.tags, o.allow_hosts, o.options, o.vantages, o.base_url,
       o.active, o.single_post, o.next_due IS NULL)
      IS DISTINCT FROM
      (s.group_name, s.interval_s, s.tags, s.allow_hosts, s.options, s.vantages, s.base_url,
       true, s.single_post, s.single_post)
ORDER BY s.key
ON CONFLICT (key) DO UPDATE SET group_name = EXCLUDED.group_name,
    interval_s = EXCLUDED.interval_s, tags = EXCLUDED.tags,
    allow_hosts = EXCLUDED.allow_hosts, options = EXCLUDED.options,
    vantages = EXCLUDED.vantages, base_url = EXCLUDED.base_url, active = true,
    single_post = EXCLUDED.single_post,
    next_due = CASE WHEN EXCLUDED.single_post THEN NULL
               ELSE coalesce(t.next_due, EXCLUDED.next_due) END
WHERE (t.group_name, t.interval_s, t.tags, t.allow_hosts, t.options, t.vantages, t.base_url,
       t.active, t.single_post, t.next_due IS NULL)
      IS DISTINCT FROM
      (EXCLUDED.group_name, EXCLUDED.interval_s, EXCLUDED.tags, EXCLUDED.allow_hosts,
       EXCLUDED.options, EXCLUDED.vantages, EXCLUDED.base_url, true, EXCLUDED.single_post,
       EXCLUDED.single_post)
RETURNING (xmax = 0) AS inserted
"""

# A single post is unseen and due at once when new. A changed probe URL drops the
# token a probe took from an earlier answer (the fresh URL's wins) and is due at once;
# an unchanged one is not written.
_UPSERT_POSTS = """
WITH at AS (SELECT coalesce(%(now)s::timestamptz, now()) AS at)
INSERT INTO posts AS p (target_id, platform, post_key, url, probe_url, first_seen, state,
                        state_since, next_check)
SELECT t.id, s.platform, s.post_key, s.value, s.probe_url, at.at, 'unseen', at.at, at.at
FROM _sync_targets s JOIN targets t ON t.key = s.key
     LEFT JOIN posts o ON o.target_id = t.id AND o.post_key = s.post_key, at
WHERE s.single_post AND (o.id IS NULL OR o.probe_url IS DISTINCT FROM s.probe_url)
ORDER BY t.id, s.post_key
ON CONFLICT (target_id, post_key) DO UPDATE SET probe_url = EXCLUDED.probe_url,
    known = p.known - (SELECT s.tokens FROM _sync_targets s JOIN targets t ON t.key = s.key
                       WHERE t.id = p.target_id),
    next_check = EXCLUDED.next_check
WHERE p.probe_url IS DISTINCT FROM EXCLUDED.probe_url
"""

_DEACTIVATE = """
UPDATE targets t SET active = false
WHERE t.active AND (%(groups)s::text[] IS NULL OR t.group_name = ANY(%(groups)s))
  AND NOT EXISTS (SELECT 1 FROM _sync_targets s WHERE s.key = t.key)
"""


def sync_targets(conn: Conn, targets: Iterable[Any], default_interval: float,
                 groups: Sequence[str] | None = None, *,
                 now: datetime | None = None) -> dict[str, int]:
    """Make the targets table match the watchlist; returns counts of what changed:
    ``targets`` (given), ``added``, ``changed`` (stored ones rewritten) and
    ``deactivated``. New targets (and single posts) are due at ``now``: the worker's
    clock, else the database's (a worker on an injected clock must not find them due
    later).

    Targets removed from the watchlist are deactivated, never deleted: their
    history stays queryable. With ``groups``, only those groups are deactivated from
    (``[]``: none). A single-post target (its platform's kind has a ``post_ref``,
    whatever its name) is stored with ``single_post`` set and its one post, due at
    once; it has no listing, so no ``next_due``. Its kind's options
    (``Target.options``) are stored with it and reach its spider in each work item's
    ``known``. A rewrite of any target voids every scope's stored hash.
    """
    given = list(targets)
    return _sync(conn, _rows(given, default_interval), len(given), groups, now)


def _sync(conn: Conn, rows: list[list[Any]], given: int, groups: Sequence[str] | None,
          now: datetime | None) -> dict[str, int]:
    with conn.transaction():  # a savepoint in the caller's transaction; ON COMMIT DROP
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SYNC_LOCK)
        conn.execute(_CREATE)
        with conn.cursor().copy(f"COPY _sync_targets ({', '.join(_COLS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        written = conn.execute(_UPSERT_TARGETS, {"now": now}).fetchall()
        added = sum(1 for r in written if first(r))
        posts = conn.execute(_UPSERT_POSTS, {"now": now}).rowcount
        deactivated = conn.execute(
            _DEACTIVATE, {"groups": list(groups) if groups is not None else None}).rowcount
        conn.execute("DROP TABLE pg_temp._sync_targets")
        if written or posts or deactivated:
            forget_hashes(conn)
        if _statistics_stale(conn, len(written) + posts + deactivated):
            conn.execute("ANALYZE targets, posts")
    return {"targets": given, "added": added, "changed": len(written) - added,
            "deactivated": deactivated}


#: Autovacuum's own measure of stale statistics (``autovacuum_analyze_threshold`` and
#: ``autovacuum_analyze_scale_factor`` at their defaults): rows written beyond this many
#: plus this share of the table's.
_ANALYZE_ROWS, _ANALYZE_SHARE = 50, 0.1


def _statistics_stale(conn: Conn, written: int) -> bool:
    """Whether a sync that wrote ``written`` rows left the planner's statistics of
    ``targets`` and ``posts`` stale, as autovacuum would judge it (a table never
    analysed counts as empty).

    The claims plan on them: with a new watchlist's tens of thousands of posts counted
    as none, each claim of due work read, joined and sorted every due post to take a
    hundred (45 ms a claim at 20,000 posts, a cycle quadratic in its posts), instead of
    walking the ``next_check`` index (about 4 ms). Autovacuum analyses them within a
    minute or so where it runs; a worker's first cycle starts at once, so the sync
    analyses them itself, in its own transaction (ANALYZE counts the rows it wrote)."""
    if written <= _ANALYZE_ROWS:
        return False
    row = conn.execute("SELECT greatest(max(reltuples), 0) FROM pg_class "
                       "WHERE oid IN ('targets'::regclass, 'posts'::regclass)").fetchone()
    return written > _ANALYZE_ROWS + _ANALYZE_SHARE * float(first(row) or 0)


def sync_watchlist(conn: Conn, targets: Iterable[Any], default_interval: float,
                   groups: Sequence[str] | None = None, *,
                   now: datetime | None = None) -> dict[str, int]:
    """:func:`sync_targets`, skipped when the set is the one last synced in this scope.

    Takes :data:`SYNC_LOCK` for the caller's transaction: a second worker syncing the
    same watchlist waits for the first to commit, then finds its hash and returns
    (``skipped``: 1) without writing a row.
    """
    given = list(targets)
    scope = scope_of(groups)
    digest = watchlist_hash(given, default_interval, groups)
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SYNC_LOCK)
    row = conn.execute("SELECT hash FROM watchlist_sync WHERE scope = %s", (scope,)).fetchone()
    if row is not None and first(row) == digest:
        return {"targets": len(given), "added": 0, "changed": 0, "deactivated": 0,
                "skipped": 1}
    counts = _sync(conn, _rows(given, default_interval), len(given), groups, now)
    conn.execute(
        "INSERT INTO watchlist_sync AS w (scope, hash, targets, synced_at) "
        "VALUES (%s, %s, %s, now()) ON CONFLICT (scope) DO UPDATE SET hash = EXCLUDED.hash, "
        "targets = EXCLUDED.targets, synced_at = EXCLUDED.synced_at",
        (scope, digest, len(given)))
    return {**counts, "skipped": 0}


def forget_hashes(conn: Conn) -> None:
    """Void every scope's stored hash: the targets changed (a sync wrote rows, a group
    was forgotten), so the next :func:`sync_watchlist` of each scope syncs for real."""
    conn.execute("DELETE FROM watchlist_sync")


def scope_of(groups: Sequence[str] | None) -> str:
    """The key of a group scope in ``watchlist_sync``: ``*`` for every group, else the
    sorted names (JSON, so no name can fake another scope)."""
    return "*" if groups is None else json.dumps(sorted(set(groups)))


def watchlist_hash(targets: Iterable[Any], default_interval: float,
                   groups: Sequence[str] | None = None) -> str:
    """SHA-256 of what the targets say (order of the watchlist aside), the default
    interval, the group scope and the project's version (whose platforms derive keys
    and probe URLs from them). Read from the targets' own fields, not from the rows
    a sync derives (keys, probe URLs): a hash that matches costs no derivation."""
    dump = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False).encode
    lines = sorted(dump([
        t.group, t.platform, t.kind, t.value, t.base_url, t.interval, list(t.tags),
        list(getattr(t, "allow_hosts", ())), dict(getattr(t, "options", None) or {}),
        [v.name for v in getattr(t, "vantages", ())]]) for t in targets)
    h = hashlib.sha256()
    h.update(dump([__version__, default_interval, scope_of(groups)]).encode())
    for line in lines:
        h.update(b"\n" + line.encode())
    return h.hexdigest()


def _rows(targets: list[Any], default_interval: float) -> list[list[Any]]:
    """One temporary-table row per target key (the last of a repeated key wins)."""
    rows: dict[str, list[Any]] = {}
    for t in targets:
        key = t.key
        single = is_single_post(t.platform, t.kind)
        post_key = probe_url = tokens = None
        if single:
            post_key, probe_url = post_ref(t.platform, t.value, t.base_url)
            tokens = url_token_keys(t.platform)
        rows[key] = [
            key, t.group, t.platform, t.kind, t.value, t.base_url,
            float(t.interval or default_interval), list(t.tags),
            list(getattr(t, "allow_hosts", ())), single,
            Jsonb(dict(getattr(t, "options", None) or {})),
            [v.name for v in getattr(t, "vantages", ())] or None, post_key, probe_url, tokens,
        ]
    return list(rows.values())
