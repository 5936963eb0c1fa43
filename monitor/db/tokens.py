"""SQL for per-item access tokens shared across targets (:mod:`monitor.tokens`).

Posts are rows per target (``UNIQUE (target_id, post_key)``): a note watched alone
and the same note in a watched account's listing are two rows. The listing hands
its row a fresh token; :func:`share_tokens` copies it to the other rows of the same
platform and post key, so the lone note probes with the listing's token too and
needs no attention while the listing carries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from ..rows import SharedToken
from ..tokens import ATTENTION, TOKEN_AT, TOKEN_WAIT, probe_token

Conn = psycopg.Connection[Any]


def share_tokens(conn: Conn, tokens: Iterable[SharedToken]) -> int:
    """Copy each listing's token to the other rows of its post; returns how many rows.

    A row waiting for a token (:data:`~monitor.tokens.TOKEN_WAIT`) or needing attention
    for want of one (:data:`~monitor.tokens.ATTENTION`) no longer does, and is probed at
    once.
    Rows of the batch's own listings keep theirs; a row another transaction holds
    is skipped (``SKIP LOCKED``: never a deadlock), and gets the next listing's.
    """
    latest: dict[tuple[str, str], SharedToken] = {}
    sources: set[int] = set()
    for t in tokens:
        sources.add(t.post_id)
        key = (t.platform, t.post_key)
        if key not in latest or latest[key].at <= t.at:
            latest[key] = t
    if not latest:
        return 0
    shared = list(latest.values())
    return conn.execute(
        """
        WITH s AS (SELECT * FROM unnest(%(platform)s::text[], %(key)s::text[],
                                        %(field)s::text[], %(token)s::text[],
                                        %(at)s::timestamptz[], %(stamp)s::text[])
                   AS s(platform, post_key, field, token, at, stamp)),
        due AS (SELECT p.id, s.field, s.token, s.at, s.stamp FROM posts p
                JOIN s ON p.post_key = s.post_key AND p.platform = s.platform
                WHERE NOT (p.id = ANY(%(sources)s::bigint[]))
                  AND (p.known ->> s.field IS DISTINCT FROM s.token
                       OR p.known ?| %(stale)s::text[])
                ORDER BY p.id FOR UPDATE OF p SKIP LOCKED)
        UPDATE posts p
        SET known = (p.known - %(stale)s::text[])
                    || jsonb_build_object(due.field, due.token, %(token_at)s::text, due.stamp),
            next_check = CASE WHEN p.known ?| %(stale)s::text[]
                         THEN least(p.next_check, due.at) ELSE p.next_check END
        FROM due WHERE p.id = due.id
        """,
        {"platform": [t.platform for t in shared], "key": [t.post_key for t in shared],
         "field": [t.field for t in shared], "token": [t.token for t in shared],
         "at": [t.at for t in shared], "stamp": [t.at.isoformat() for t in shared],
         "sources": sorted(sources), "stale": [TOKEN_WAIT, ATTENTION], "token_at": TOKEN_AT},
    ).rowcount


def url_token_keys(platform: str) -> list[str]:
    """The ``known`` keys a new watchlist URL of a single post makes stale: the token a
    probe took from an earlier answer (it would win over the URL's), and its wait."""
    field = probe_token(platform)
    return [k for k in (field, TOKEN_AT, TOKEN_WAIT) if k]
