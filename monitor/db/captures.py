"""SQL for imported browser captures (:mod:`monitor.captures`).

A capture is recorded as one observation row (``mode = 'import'``) on each post
row that tracks its post, with its content as a version the row points at. It
writes only what an existence at time T may change: ``first_seen`` moves back to
T, an ``unseen`` post becomes ``visible`` as of T, a visible one's
``last_visible_at`` moves forward to T. It never writes a suspicion, a gone or
hidden state, an event, the post's current version or its observation run
(``last_obs_id``), so the state machine's next probe reads the post as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..diff import SOURCE_FIELD
from ..observation import PostContent

Conn = psycopg.Connection[Any]


@dataclass(slots=True)
class CaptureRow:
    """One capture of one post, as the store writes it."""

    platform: str
    post: PostContent
    #: The value an account target of the post's author has (None: unknown).
    account: str | None
    #: The group whose account target is preferred when several watch the author.
    group: str
    at: datetime
    sha256: str
    url: str | None
    evidence: dict[str, Any]
    detail: str
    mode: str
    vantage: str
    content_hash: str
    content: dict[str, Any]
    counters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Recorded:
    """What recording one capture did."""

    recorded: int = 0  # observations written
    already: int = 0  # post rows that held this capture already
    new_posts: int = 0  # post rows created under the author's account target
    homes: int = 0  # post rows the capture was recorded on (0: nothing tracks it)
    #: The observation ids written: the caller chains them (monitor.db.chain.append)
    #: once its batch is written, so the chain's head lock is its last lock.
    observations: list[int] = field(default_factory=list)


def homeless(conn: Conn, items: Sequence[tuple[str, str, str | None]]
             ) -> set[tuple[str, str]]:
    """Of ``(platform, post key, author's account)``, the ``(platform, key)`` that
    no active target tracks and whose author no active listing target watches."""
    if not items:
        return set()
    rows = conn.execute(
        """
        SELECT DISTINCT i.platform, i.key
        FROM unnest(%s::text[], %s::text[], %s::text[]) AS i(platform, key, account)
        WHERE NOT EXISTS (SELECT 1 FROM posts p JOIN targets t ON t.id = p.target_id
                          WHERE t.active AND p.platform = i.platform AND p.post_key = i.key)
          AND NOT EXISTS (SELECT 1 FROM targets t
                          WHERE t.active AND NOT t.single_post AND t.platform = i.platform
                            AND i.account IS NOT NULL AND t.value = i.account)
        """,
        ([i[0] for i in items], [i[1] for i in items], [i[2] for i in items]),
    ).fetchall()
    return {(r["platform"], r["key"]) for r in rows}


def record_capture(conn: Conn, row: CaptureRow, now: datetime) -> Recorded:
    """Record ``row`` on every active post row of its post; when there is none, on a
    new post row under the author's account target (due for a probe at ``now``).
    Idempotent: a post row that has an import observation with the same line hash
    is left alone."""
    out = Recorded()
    posts = conn.execute(
        "SELECT p.id, p.target_id FROM posts p JOIN targets t ON t.id = p.target_id "
        "WHERE t.active AND p.platform = %s AND p.post_key = %s ORDER BY p.id FOR UPDATE OF p",
        (row.platform, row.post.key),
    ).fetchall()
    if not posts and row.account:
        created = _under_account(conn, row, now)
        if created is not None:
            posts, out.new_posts = [created], 1
    out.homes = len(posts)
    for post in posts:
        seen = conn.execute(
            "SELECT 1 FROM observations WHERE post_id = %s AND mode = %s AND body_hash = %s "
            "LIMIT 1",
            (post["id"], row.mode, row.sha256),
        ).fetchone()
        if seen is not None:
            out.already += 1
            continue
        out.observations.append(_record_on(conn, post["id"], post["target_id"], row))
        out.recorded += 1
    return out


def _under_account(conn: Conn, row: CaptureRow, now: datetime) -> dict[str, Any] | None:
    """A new post row for ``row``'s post under its author's active account target, or
    None when no active listing target has the author's account as its value."""
    target = conn.execute(
        "SELECT id FROM targets WHERE active AND NOT single_post AND platform = %s "
        "AND value = %s ORDER BY (group_name = %s) DESC, id LIMIT 1",
        (row.platform, row.account, row.group),
    ).fetchone()
    if target is None:
        return None
    post = row.post
    created = conn.execute(
        """
        INSERT INTO posts (target_id, platform, post_key, url, probe_url, author,
                           published_at, first_seen, state, state_since, last_visible_at,
                           known, next_check)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'visible', %s, %s, %s, %s)
        ON CONFLICT (target_id, post_key) DO NOTHING
        RETURNING id, target_id
        """,
        (target["id"], row.platform, post.key, post.url, post.probe_url or post.url,
         post.author, post.published_at, row.at, row.at, row.at, Jsonb(_known(post)), now),
    ).fetchone()
    return created  # type: ignore[no-any-return]


def _record_on(conn: Conn, post_id: int, target_id: int, row: CaptureRow) -> int:
    post = row.post
    version = conn.execute(
        """
        INSERT INTO versions (post_id, content_hash, content, raw_text, title, first_seen)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (post_id, content_hash)
        DO UPDATE SET first_seen = least(versions.first_seen, EXCLUDED.first_seen)
        RETURNING id
        """,
        (post_id, row.content_hash, Jsonb(row.content), post.text, post.title, row.at),
    ).fetchone()
    assert version is not None
    observed = conn.execute(
        """
        INSERT INTO observations (target_id, post_id, mode, first_at, last_at, outcome,
                                  version_id, body_hash, url, vantage, signals, counters,
                                  detail)
        VALUES (%s, %s, %s, %s, %s, 'ok', %s, %s, %s, %s, %s, %s, %s)
        RETURNING id
        """,
        (target_id, post_id, row.mode, row.at, row.at, version["id"], row.sha256, row.url,
         row.vantage, Jsonb({"capture": row.evidence}), Jsonb(row.counters) if row.counters
         else None, row.detail),
    ).fetchone()
    assert observed is not None
    # In an UPDATE every expression reads the row as it was: ``state`` below is the
    # old state. Only unseen → visible; suspect, gone and hidden stay as they are.
    conn.execute(
        """
        UPDATE posts SET
            first_seen = least(first_seen, %(at)s),
            author = COALESCE(author, %(author)s),
            published_at = COALESCE(published_at, %(published)s),
            url = COALESCE(url, %(url)s),
            probe_url = COALESCE(probe_url, %(probe)s),
            state = CASE WHEN state = 'unseen' THEN 'visible' ELSE state END,
            state_since = CASE WHEN state = 'unseen' THEN %(at)s ELSE state_since END,
            last_visible_at = CASE WHEN state IN ('unseen', 'visible')
                                   THEN greatest(last_visible_at, %(at)s)
                                   ELSE last_visible_at END,
            known = %(known)s || known
        WHERE id = %(id)s
        """,
        {"at": row.at, "author": post.author, "published": post.published_at,
         "url": post.url, "probe": post.probe_url or post.url, "known": Jsonb(_known(post)),
         "id": post_id},
    )
    return int(observed["id"])


def _known(post: PostContent) -> dict[str, Any]:
    """What a post row keeps of the capture's extra fields (its token, its author's
    id…); what the row knows already wins."""
    return {k: v for k, v in post.extra.items() if v is not None and k != SOURCE_FIELD}
