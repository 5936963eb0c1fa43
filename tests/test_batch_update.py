"""A recorder batch writes its stored posts in one UPDATE through a session table.

The table (``pg_temp._post_updates``) is made once per connection and emptied at
each commit: created and dropped per batch, it would churn PostgreSQL's catalogs
(a few dozen catalog rows a batch) for as long as a worker runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.db import Database
from monitor.db import tracking as store
from monitor.snapshot import Recorder
from tests.test_seat_claims import LEASE, POSTS, answer, settings, synced


def _session_tables(db: Database) -> set[int]:
    with db.transaction() as conn:
        return {r["oid"] for r in conn.execute(
            "SELECT oid::int AS oid FROM pg_class WHERE relname = '_post_updates'")}


def test_batches_reuse_the_sessions_update_table(db: Database) -> None:
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    recorder = Recorder(db, settings())
    at = start
    for n in range(4):  # every post stored and updated again, four batches
        with db.transaction() as conn:
            items = store.claim_due(conn, at, 100, LEASE)
        assert len(items) == len(POSTS), n
        recorder.record([answer(i, at) for i in items])
        if n == 0:
            first = _session_tables(db)
        at += timedelta(days=1)
        with db.transaction() as conn:
            conn.execute("UPDATE posts SET next_check = %s", (at,))
    assert first and _session_tables(db) == first  # made once, not once per batch
    with db.transaction() as conn:
        seen = conn.execute("SELECT count(*) AS n FROM posts WHERE last_visible_at = %s",
                            (at - timedelta(days=1),)).fetchone()["n"]
    assert seen == len(POSTS)  # the last batch's values are the ones stored
