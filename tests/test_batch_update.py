"""A recorder batch writes its stored posts, its targets and the observations it
extends in one UPDATE each, the rows sent as JSON.

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
from monitor.rows import ObsWrite
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


def test_a_batch_update_of_targets_stores_every_column_and_answers_only_its_claims(
        db: Database) -> None:
    """Each target's mutable columns come back as written (hostile text, a zone, NULLs);
    a lease is given back only where the batch answered that claim under the seat that
    still holds it: not another seat's, not a claim the batch did not answer."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    east = timezone(timedelta(hours=-5))
    lease = start + timedelta(minutes=5)
    with db.transaction() as conn:
        ids = [r["id"] for r in conn.execute("SELECT id FROM targets ORDER BY id")]
        assert len(ids) >= 3
        conn.execute("UPDATE targets SET lease_until = %s, leased_by = CASE WHEN id = %s "
                     "THEN NULL ELSE 7 END", (lease, ids[2]))  # the third: a seatless lease
        targets = store.lock_targets(conn, ids)
        changed = [dataclasses.replace(
            t, next_due=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=east),
            last_checked_at=start, last_ok_at=None, last_outcome="ok", error_streak=i,
            last_error=HOSTILE if i else None, account_state=None, last_obs_id=None,
            last_obs_sig=HOSTILE) for i, t in enumerate(targets.values())]
        # The first answered under seat 7 (holds it), the second under seat 8 (does not);
        # the rest were changed without their claim being answered.
        store._update_rows(conn, [], changed, {"listing": {ids[0]: 7, ids[1]: 8}})
    with db.transaction() as conn:
        stored = store.lock_targets(conn, ids)
        leases = {r["id"]: r["lease_until"] for r in conn.execute(
            "SELECT id, lease_until FROM targets WHERE id = ANY(%s)", (ids,))}
    for want in changed:
        got = stored[want.id]
        for col in store._TARGET_MUTABLE:
            assert getattr(got, col) == getattr(want, col), col
    assert leases[ids[0]] is None
    assert all(leases[i] == lease for i in ids[1:])


def _obs(obs_id: int, target_id: int, post_id: int, at: datetime, *, extend: bool,
         counters: dict[str, int] | None, body_hash: str) -> ObsWrite:
    return ObsWrite(id=obs_id, extend=extend, target_id=target_id, post_id=post_id,
                    mode="probe", at=at, outcome="ok", http_status=200, version_id=None,
                    body_hash=body_hash, message=HOSTILE, url="https://example.test/p",
                    vantage="test", signals={}, counters=counters, detail=None)


def test_extending_observations_in_one_statement_counts_each_repeat(db: Database) -> None:
    """A batch that repeats one stored observation twice adds two repeats; ``last_at``
    never goes back; the last write's body hash and counters win, None counters as SQL
    NULL (not JSON null); a row the batch does not name is untouched."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    with db.transaction() as conn:
        post = conn.execute("SELECT id, target_id FROM posts ORDER BY id LIMIT 1").fetchone()
        a, b, c = store.allocate_ids(conn, "observations", 3)
        first = [_obs(i, post["target_id"], post["id"], start, extend=False,
                      counters={"likes": 1}, body_hash="h0") for i in (a, b, c)]
        store._write_observations(conn, first)
        later = start + timedelta(minutes=10)
        store._write_observations(conn, [
            _obs(a, post["target_id"], post["id"], later, extend=True,
                 counters={"likes": 2}, body_hash="h1"),
            _obs(a, post["target_id"], post["id"], later + timedelta(minutes=1),
                 extend=True, counters={"likes": 3}, body_hash="h2"),
            _obs(b, post["target_id"], post["id"], start - timedelta(hours=1),
                 extend=True, counters=None, body_hash="h3")])
    with db.transaction() as conn:
        rows = {r["id"]: r for r in conn.execute(
            "SELECT id, repeats, last_at, body_hash, counters, counters IS NULL AS null "
            "FROM observations WHERE id = ANY(%s)", ([a, b, c],))}
    assert (rows[a]["repeats"], rows[a]["body_hash"], rows[a]["counters"]) == \
        (3, "h2", {"likes": 3})
    assert rows[a]["last_at"] == later + timedelta(minutes=1)
    assert (rows[b]["repeats"], rows[b]["body_hash"], rows[b]["null"]) == (2, "h3", True)
    assert rows[b]["last_at"] == start  # an older repeat never moves last_at back
    assert (rows[c]["repeats"], rows[c]["body_hash"], rows[c]["counters"]) == \
        (1, "h0", {"likes": 1})
