"""Work answers for the seat it was claimed under, not for the seat its worker holds now.

A worker whose presence lock was lost (its lock connection dropped) is a dead worker
to the others: one of them takes its leases back and checks that work itself. The
worker then takes a new seat. What it observed for the claims of its old seat must
not be recorded under the new one (the post would be checked twice in one pass), and
nothing it gives back may clear a lease that is another worker's now (a third worker
would claim the row while the second is still checking it).

Real PostgreSQL, real :class:`~monitor.db.workers.Presence` seats, the real claims,
reclaims and recorders; the clock is a :class:`~monitor.clock.ManualClock`, and a lost
lock is a terminated presence session, as a dropped connection would leave it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.clock import ManualClock
from monitor.db import Database, claims
from monitor.db.workers import Presence, reclaim_dead
from monitor.errors import StorageUnavailable
from monitor.observation import Observation, Outcome, PostContent, WorkItem
from monitor.settings import Settings
from monitor.signals import batch_fenced
from monitor.snapshot import Recorder
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker
from tests import test_database_errors
from tests.test_database_errors import Site
from tests.test_seat_fence import claimed_under, die, holders
from tests.test_workers_scale import checks

proxy = test_database_errors.proxy
site = test_database_errors.site

#: Six single-post targets: each is one probe, all claimed in one claim.
POSTS = [f"http://127.0.0.1:9/p{i}" for i in range(6)]
WATCHLIST = "[groups.g]\n" + "".join(
    f'[[groups.g.targets]]\nplatform = "rss"\npost = "{url}"\n' for url in POSTS)
RAW = {"lease": "10m", "recheck_schedule": "1m,2m,5m", "batch_size": 50}
LEASE = 600.0


def settings() -> Settings:
    return Settings.load(RAW, environ={})


def answer(item: WorkItem, at: datetime) -> Observation:
    """The probe's answer: the post, unchanged."""
    obs = Observation(mode=item.mode, platform=item.platform, target_key=item.target_key,
                      url=item.url, outcome=Outcome.OK, row_id=item.row_id,
                      post_key=item.post_key, observed_at=at, http_status=200)
    obs.post = PostContent(key=item.post_key or "", url=item.url, text="hello")
    return obs


def answering(clock: ManualClock, seen: list[str]) -> Any:
    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        for items in work.values():
            async for item in items:
                seen.append(item.url)
                await sink(answer(item, clock.now()))

    return crawl


def leases(db: Database) -> dict[str, int | None]:
    """Each leased post's holder."""
    with db.transaction() as conn:
        return {r["url"]: r["leased_by"] for r in conn.execute(
            "SELECT url, leased_by FROM posts WHERE lease_until IS NOT NULL")}


def synced(db: Database, start: datetime) -> None:
    """The watchlist's posts, every one due at ``start``."""
    worker = Worker(db, settings(), answering(ManualClock(start), []), clock=ManualClock(start))
    worker.sync(parse_watchlist(WATCHLIST).targets)
    worker.close()
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET next_check = %s", (start,))


@pytest.mark.parametrize("recording", ["thread", "process"])
def test_work_claimed_under_a_lost_seat_is_not_recorded_under_the_next_seat(
        db: Database, recording: str) -> None:
    """Worker A claims every post under seat 1 and loses its lock; worker B takes A's
    leases back and checks every post; A takes seat 2 (at its next claim) and hands
    in its answers: they are fenced out, so each post is checked once, by B."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    clock = ManualClock(start)
    seen_b: list[str] = []
    b = Worker(db, settings(), answering(clock, seen_b), clock=clock, recording="thread")
    seats: list[int | None] = []

    def taken_over() -> None:
        """A's lock connection drops; B runs its pass meanwhile; then A takes seat 2, as
        its next claim would (its claims ran already, under seat 1)."""
        seats.append(a.presence.id)
        assert seats[0] is not None
        die(db, seats[0])
        asyncio.run(b.cycle())
        a._holder()

    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        for items in work.values():
            # Every item first: the items end once A's claim of the next batch (taken
            # ahead, in a thread) has come back empty. Taken over earlier, that claim
            # could run after B took A's leases back and lease the posts to A again
            # before B's own claim, leaving B nothing to check (seen in CI).
            held = [item async for item in items]
            await asyncio.to_thread(taken_over)
            for item in held:
                await sink(answer(item, clock.now()))

    a = Worker(db, settings(), crawl, clock=clock, recording=recording)
    fenced: list[Observation] = []
    a.signals.connect(lambda observations: fenced.extend(observations), batch_fenced)
    try:
        stats = asyncio.run(a.cycle())
        assert sorted(seen_b) == sorted(POSTS)  # B checked every post
        assert a.presence.id not in (None, seats[0])  # A went on under a new seat
        assert checks(db) == {url: 1 for url in POSTS}
        assert stats["fenced"] == len(POSTS) and stats["observations"] == 0
        if recording == "thread":  # the child announces it as settled to its parent
            assert sorted(o.url for o in fenced) == sorted(POSTS)
        assert leases(db) == {}
    finally:
        a.close()
        b.close()


def test_giving_back_work_whose_lease_was_taken_back_leaves_the_new_holders_lease(
        db: Database, db_url: str) -> None:
    """A's leases were taken back (its lock was lost) and B claimed the posts again; A
    giving back its unobserved work afterwards must leave B's leases alone, or a third
    worker claims the posts while B is still checking them."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    a, b, c = Presence(db_url, "a"), Presence(db_url, "b"), Presence(db_url, "c")
    seat_a, seat_b, seat_c = a.ensure(), b.ensure(), c.ensure()
    assert None not in (seat_a, seat_b, seat_c)
    try:
        with db.transaction() as conn:
            mine = claims.claim_due(conn, start, 100, LEASE, worker=seat_a)
        assert len(mine) == len(POSTS)
        die(db, seat_a)  # (here only A's lock session ends; its process goes on)
        with db.transaction() as conn:
            assert reclaim_dead(conn, seat_b)["posts"] == len(POSTS)
            theirs = claims.claim_due(conn, start, 100, LEASE, worker=seat_b)
        assert sorted(i.row_id for i in theirs) == sorted(i.row_id for i in mine)

        with db.transaction() as conn:  # A's crawl was cut short: it gives "its" work back
            claims.release(conn, mine)
        assert leases(db) == {url: seat_b for url in POSTS}
        with db.transaction() as conn:
            assert claims.claim_due(conn, start, 100, LEASE, worker=seat_c) == []
    finally:
        for presence in (a, b, c):
            presence.close()


def test_a_late_answer_leaves_the_lease_its_post_was_claimed_again_under(
        db: Database) -> None:
    """A live worker slower than LEASE: its leases ran out and B claimed the posts. A's
    answers are recorded (A still holds its seat), but the lease given back with them
    is A's only: B's claims stand until B's own answers end them."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    clock = ManualClock(start)
    claimed = asyncio.Event()
    answered = asyncio.Event()

    async def slow(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        items = [item for its in work.values() async for item in its]
        claimed.set()
        await answered.wait()
        for item in items:
            await sink(answer(item, clock.now()))

    a = Worker(db, settings(), slow, clock=clock, recording="thread")
    b = Worker(db, settings(), answering(clock, []), clock=clock, recording="thread")

    async def main() -> dict[str, int | None]:
        task = asyncio.create_task(a.cycle())
        await asyncio.wait_for(claimed.wait(), 30)
        clock.advance(LEASE + 1)  # A's leases ran out; B claims the posts (and holds them)
        await asyncio.to_thread(lambda: b._claim("rss", clock.now()))
        held_by_b = leases(db)
        answered.set()
        await task
        return held_by_b

    try:
        held_by_b = asyncio.run(main())
        assert held_by_b == {url: b.presence.id for url in POSTS}
        assert leases(db) == held_by_b  # A's answers left B's claims alone
    finally:
        a.close()
        b.close()


def test_a_batch_mixing_seats_records_the_held_seats_work_and_fences_the_rest(
        site: Site, db_url: str) -> None:
    """A worker's batch may hold answers claimed under its lost seat and under its new
    one: the lost seat's are fenced (their rows are another worker's now), the new
    seat's are recorded in the same pass, and only their leases are given back."""
    lost, new, other = Presence(db_url, "lost"), Presence(db_url, "new"), Presence(db_url, "b")
    lost_seat, new_seat, other_seat = lost.ensure(), new.ensure(), other.ensure()
    assert None not in (lost_seat, new_seat, other_seat)
    old_rows, new_rows = site.rows[:3], site.rows[3:]
    with site.direct.transaction() as conn:
        conn.execute("UPDATE targets SET leased_by = %s WHERE id = ANY(%s)",
                     (lost_seat, [r["id"] for r in old_rows]))
        conn.execute("UPDATE targets SET leased_by = %s WHERE id = ANY(%s)",
                     (new_seat, [r["id"] for r in new_rows]))
    die(site.direct, lost_seat)
    with site.direct.transaction() as conn:  # taken back; another worker claims those rows
        assert reclaim_dead(conn, other_seat)["targets"] == 3
        conn.execute("UPDATE targets SET lease_until = now() + interval '1 hour', "
                     "leased_by = %s WHERE id = ANY(%s)",
                     (other_seat, [r["id"] for r in old_rows]))
    answers = site.observations()
    batch = (claimed_under(answers[:3], lost_seat) + claimed_under(answers[3:], new_seat))
    fenced: list[Observation] = []
    recorder = Recorder(site.direct, settings())
    recorder.signals.connect(lambda observations: fenced.extend(observations), batch_fenced)
    try:
        recorder.record(batch)
        assert recorder.stats["fenced"] == 3 and recorder.stats["observations"] == 3
        assert sorted(o.row_id for o in fenced) == sorted(r["id"] for r in old_rows)
        assert site.counts() == {"posts": 3, "versions": 3, "listings": 3, "leased": 3}
        assert holders(site.direct) == [other_seat] * 3  # the other worker's leases stand
    finally:
        for presence in (lost, new, other):
            presence.close()


def test_seatless_workers_give_back_and_record_their_own_leases_only(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """Two workers that cannot take a seat (their presence connection is refused): A's
    leases ran out and B claimed the posts. A giving back its unobserved work must
    leave B's leases alone, and B's answers are recorded (a seatless claim is never
    fenced) and end B's leases. Before, both claimed for nobody (NULL), and A's give
    back cleared B's leases: a third worker would check the posts again."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    synced(db, start)
    clock = ManualClock(start)
    a = Worker(db, settings(), answering(clock, []), clock=clock, recording="thread")
    b = Worker(db, settings(), answering(clock, []), clock=clock, recording="thread")
    for worker, name in ((a, "a"), (b, "b")):
        worker.presence = Presence("postgresql://postgres@127.0.0.1:9/none", name)
    try:
        with caplog.at_level(logging.INFO, logger="monitor.db.workers"):
            mine = a._claim("rss", clock.now())
            clock.advance(LEASE + 1)  # A's leases ran out; B claims the posts
            theirs = b._claim("rss", clock.now())
        assert a.presence.id is None and b.presence.id is None
        assert sorted(i.row_id for i in theirs) == sorted(i.row_id for i in mine)
        held_by_b = leases(db)
        assert set(held_by_b) == set(POSTS)

        a._release(mine)  # A's crawl was cut short: it gives "its" work back
        assert leases(db) == held_by_b
        seat_a, seat_b = mine[0].seat, theirs[0].seat  # tokens of their own, no seats
        assert seat_a is not None and seat_b is not None and seat_a != seat_b
        assert held_by_b == {url: seat_b for url in POSTS}
        with db.transaction() as conn:
            assert claims.claim_due(conn, clock.now(), 100, LEASE) == []

        recorder = Recorder(db, settings())
        answers = [answer(i, clock.now()) for i in theirs]
        for obs, item in zip(answers, theirs, strict=True):
            obs.seat = item.seat  # as the worker's sink stamps it
        recorder.record(answers)
        assert recorder.stats["observations"] == len(POSTS) and recorder.stats["fenced"] == 0
        assert leases(db) == {}
    finally:
        a.close()
        b.close()


def test_a_cycle_renews_the_leases_of_its_work_in_flight(db: Database) -> None:
    """A crawl that outlasts LEASE (an item waiting out a host's pause or a Retry-After):
    the cycle renews its leases every LEASE/3, as the continuous loop does, so another
    worker claims none of its posts meanwhile and each is checked once. Before, the
    leases ran out under the live worker and the posts were claimed again."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    synced(db, start)  # every post due now
    short = Settings.load({**RAW, "lease": 0.6}, environ={})
    taken: list[WorkItem] = []

    def another_worker_claims() -> list[WorkItem]:
        with db.transaction() as conn:
            return claims.claim_due(conn, datetime.now(UTC), 50, LEASE, None, None)

    async def slow(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        items = [item for its in work.values() async for item in its]
        await asyncio.sleep(1.5)  # 2.5 leases
        taken.extend(await asyncio.to_thread(another_worker_claims))
        for item in items:
            await sink(answer(item, datetime.now(UTC)))

    worker = Worker(db, short, slow, recording="thread")
    try:
        stats = asyncio.run(worker.cycle())
    finally:
        worker.close()
    assert stats["claimed"] == len(POSTS)
    assert [i.url for i in taken] == []
    assert checks(db) == {url: 1 for url in POSTS}
    assert leases(db) == {}


def test_a_failed_renewal_is_logged_and_the_next_one_still_runs(
        db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The database away at one turn, a bug at the next: the renewals go on (the
    continuous chores' rule), so the leases still never run out under the crawl."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    synced(db, start)
    short = Settings.load({**RAW, "lease": 0.6}, environ={})
    taken: list[WorkItem] = []
    faults = [StorageUnavailable("away"), RuntimeError("a bug")]

    async def slow(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        items = [item for its in work.values() async for item in its]
        await asyncio.sleep(1.5)
        with db.transaction() as conn:
            taken.extend(claims.claim_due(conn, datetime.now(UTC), 50, LEASE, None, None))
        for item in items:
            await sink(answer(item, datetime.now(UTC)))

    worker = Worker(db, short, slow, recording="thread")
    renew = worker._renew

    def failing(items: list[WorkItem]) -> None:
        if faults:
            raise faults.pop(0)
        renew(items)

    monkeypatch.setattr(worker, "_renew", failing)
    try:
        with caplog.at_level(logging.ERROR, logger="monitor.worker"):
            asyncio.run(worker.cycle())
    finally:
        worker.close()
    assert faults == []  # both turns failed
    assert [i.url for i in taken] == []
    assert checks(db) == {url: 1 for url in POSTS}
    assert [r.getMessage() for r in caplog.records
            if "renewing the leases" in r.getMessage()] == [
        "renewing the leases in flight failed: RuntimeError('a bug'); the next turn retries"]
