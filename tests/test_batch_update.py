"""A recorder batch writes its stored posts in one UPDATE, the rows sent as JSON.

Every column must come back as it was written, whatever a post's content holds:
quotes, backslashes, newlines, emoji and right-to-left text (the people watched
write them), timestamps with their zone, arrays, nested JSON, NULLs.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from monitor.db import Database
from monitor.db import tracking as store
from monitor.lifecycle import PostState
from tests.test_seat_claims import synced

HOSTILE = 'a "quote", a \\ back\\slash,\nnew line, \t tab, 🙂 and مرحبا {"x": [1]}'


def test_a_batch_update_stores_every_column_as_written(db: Database) -> None:
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    with db.transaction() as conn:
        ids = [r["id"] for r in conn.execute("SELECT id FROM posts ORDER BY id")]
        posts = store.lock_posts(conn, ids)
        east = timezone(timedelta(hours=8))
        changed = [dataclasses.replace(
            p, author=HOSTILE, url=f"{p.url}?q={HOSTILE}", state=PostState.VISIBLE,
            published_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=east),
            recent_hashes=["h1", HOSTILE], known={"nested": {"text": HOSTILE, "n": [1, None]}},
            current_hash=None, next_check=start + timedelta(hours=i))
            for i, p in enumerate(posts.values())]
        store._update_posts(conn, changed, {})
    with db.transaction() as conn:
        stored = store.lock_posts(conn, ids)
    assert len(changed) == len(ids) > 1
    for want in changed:
        got = stored[want.id]
        for col in ("author", "url", "state", "published_at", "recent_hashes", "current_hash",
                    "next_check"):
            assert getattr(got, col) == getattr(want, col), col
        assert got.known["nested"] == {"text": HOSTILE, "n": [1, None]}
