"""Several worker processes on one PostgreSQL: every due post checked exactly once a pass.

Workers here are real processes (each with its own pool, its own seat and its own
advisory lock) running ``Worker.cycle()`` over an injected crawl that answers every
probe, on a clock fixed by the test, so what is due never depends on the wall
clock. A check is counted from the database: the sum of ``observations.repeats``
of a post (an unchanged re-check extends its observation row), never from what a
worker says it did.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import psycopg
import pytest
from psycopg import sql

from monitor.clock import ManualClock
from monitor.db import Database, claims
from monitor.observation import Observation, Outcome, PostContent, WorkItem
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker

N = 120
POSTS = [f"http://127.0.0.1:9/p{i}" for i in range(N)]
WATCHLIST = "[groups.g]\n" + "".join(
    f'[[groups.g.targets]]\nplatform = "rss"\npost = "{url}"\n' for url in POSTS)
#: Small claims, so that two workers' claims interleave many times a pass.
RAW = {"lease": "10m", "recheck_schedule": "1m,2m,5m", "batch_size": 10}

#: A worker process: ``url at raw stop_after``. It prints ``ready`` and waits for a
#: line on stdin (so that workers start their passes together), runs one cycle whose
#: crawl answers every probe (a little slowly: the other worker has time to claim),
#: and prints the post URLs it observed. With ``stop_after`` > 0 it prints ``hung``
#: after that many and never answers again (to be SIGKILLed).
_WORKER = textwrap.dedent("""
    import asyncio, json, sys
    from datetime import datetime
    from monitor.clock import ManualClock
    from monitor.db import Database
    from monitor.observation import Observation, Outcome, PostContent
    from monitor.settings import Settings
    from monitor.worker import Worker

    url, at, raw, stop_after = (sys.argv[1], datetime.fromisoformat(sys.argv[2]),
                                json.loads(sys.argv[3]), int(sys.argv[4]))
    clock = ManualClock(at)
    seen = []

    async def crawl(work, sink, settings):
        for platform, items in work.items():
            async for item in items:
                if stop_after and len(seen) == stop_after:
                    print("hung", flush=True)
                    await asyncio.Event().wait()
                seen.append(item.url)
                await asyncio.sleep(0.005)
                obs = Observation(mode=item.mode, platform=platform,
                                  target_key=item.target_key, url=item.url,
                                  outcome=Outcome.OK, row_id=item.row_id,
                                  post_key=item.post_key, observed_at=clock.now(),
                                  http_status=200)
                obs.post = PostContent(key=item.post_key or "", url=item.url, text="hello")
                await sink(obs)

    db = Database(url)
    worker = Worker(db, Settings.load(raw, environ={}), crawl, clock=clock)
    print("ready", flush=True)
    sys.stdin.readline()
    asyncio.run(worker.cycle())
    worker.close()
    db.close()
    print(json.dumps(seen), flush=True)
""")


class WorkerProcess:
    """One worker process (see ``_WORKER``), started and waiting for ``go``."""

    def __init__(self, db_url: str, at: datetime, stop_after: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, db_url, at.isoformat(), json.dumps(RAW),
             str(stop_after)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._line() == "ready", self._error()

    def _line(self) -> str:
        out: IO[bytes] | None = self.proc.stdout
        assert out is not None
        return out.readline().decode().strip()

    def _error(self) -> str:
        err = self.proc.stderr
        return err.read().decode()[-3000:] if err is not None and self.proc.poll() is not None \
            else ""

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def hung(self) -> None:
        assert self._line() == "hung", self._error()

    def seen(self) -> list[str]:
        stdout, stderr = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, stderr.decode()[-3000:]
        return list(json.loads(stdout.decode().strip().splitlines()[-1]))

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=60)
        assert self.proc.returncode == -signal.SIGKILL


def settings() -> Settings:
    return Settings.load(RAW, environ={})


def answering(clock: ManualClock, seen: list[str]) -> Any:
    """An injected crawl answering every probe with the post's unchanged text."""

    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        for platform, items in work.items():
            async for item in items:
                seen.append(item.url)
                obs = Observation(mode=item.mode, platform=platform, target_key=item.target_key,
                                  url=item.url, outcome=Outcome.OK, row_id=item.row_id,
                                  post_key=item.post_key, observed_at=clock.now(),
                                  http_status=200)
                obs.post = PostContent(key=item.post_key or "", url=item.url, text="hello")
                await sink(obs)

    return crawl


def checks(db: Database) -> dict[str, int]:
    """How many times each post was checked, by its URL."""
    with db.transaction() as conn:
        return {r["url"]: r["n"] for r in conn.execute(
            "SELECT p.url, coalesce(sum(o.repeats), 0)::int AS n FROM posts p "
            "LEFT JOIN observations o ON o.post_id = p.id GROUP BY p.url")}


def all_due(db: Database, at: datetime) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET next_check = %s", (at,))


def leases(db: Database) -> dict[str, int | None]:
    with db.transaction() as conn:
        return {r["url"]: r["leased_by"] for r in conn.execute(
            "SELECT url, leased_by FROM posts WHERE lease_until IS NOT NULL")}


@pytest.fixture
def synced(db: Database) -> tuple[Database, datetime]:
    start = datetime.now(UTC) + timedelta(seconds=1)
    worker = Worker(db, settings(), answering(ManualClock(start), []),
                    clock=ManualClock(start))
    worker.sync(parse_watchlist(WATCHLIST).targets)
    worker.close()
    return db, start


def test_two_worker_processes_check_every_due_post_exactly_once_per_pass(
        synced: tuple[Database, datetime], db_url: str) -> None:
    db, start = synced
    before = {url: 0 for url in POSTS}
    for n in range(3):  # the first sight of every post, then two unchanged re-checks
        at = start + timedelta(minutes=10 * n)
        all_due(db, at)
        pair = [WorkerProcess(db_url, at), WorkerProcess(db_url, at)]
        for w in pair:
            w.go()
        seen_a, seen_b = (w.seen() for w in pair)
        after = checks(db)
        assert {url: after[url] - before[url] for url in POSTS} == {url: 1 for url in POSTS}
        assert not set(seen_a) & set(seen_b)
        assert sorted(seen_a + seen_b) == sorted(POSTS)
        assert seen_a and seen_b  # the pass was shared, not run by one of them
        assert leases(db) == {}
        before = after


def test_a_worker_killed_mid_pass_has_its_posts_checked_once_by_the_survivor(
        synced: tuple[Database, datetime], db_url: str) -> None:
    """SIGKILLed with claims in flight (some recorded, some not): the live worker never
    takes them while the dead one's lock is held, then takes the rest of them at its
    next cycle, long before LEASE; no post is checked twice, none is missed."""
    db, start = synced
    all_due(db, start)
    dying = WorkerProcess(db_url, start, stop_after=45)
    dying.go()
    dying.hung()  # 45 observed, 50 claimed (batches of 10)
    held = leases(db)
    assert held and len(set(held.values())) == 1

    clock = ManualClock(start)
    seen: list[str] = []
    survivor = Worker(db, settings(), answering(clock, seen), clock=clock)
    asyncio.run(survivor.cycle())  # the other worker is alive: its claims are its own
    assert not set(seen) & set(held)
    dying.kill()
    left = leases(db)  # claimed by the dead worker, never recorded (its recorder may
    assert left and set(left.values()) == set(held.values())  # have committed a batch)
    clock.advance(1)  # a second later, far inside the dead worker's LEASE
    asyncio.run(survivor.cycle())
    asyncio.run(survivor.cycle())  # and nothing is left for a third
    assert set(left) <= set(seen)
    assert checks(db) == {url: 1 for url in POSTS}
    assert len(seen) == len(set(seen))
    assert leases(db) == {}
    survivor.close()


@pytest.mark.parametrize("holder", [None, -12345], ids=["nobody", "seatless-token"])
def test_a_lease_without_a_worker_runs_out_by_time_alone(synced: tuple[Database, datetime],
                                                         holder: int | None) -> None:
    """A claim made without a seat (the worker could not hold its presence lock) names
    no seat, only its worker's token (or nobody): nobody can tell that worker died, so
    its posts wait out LEASE, then the next worker checks them, once."""
    db, start = synced
    all_due(db, start)
    with db.transaction() as conn:
        claimed = claims.claim_due(conn, start, 30, 600.0, worker=holder)
    assert len(claimed) == 30 and set(leases(db).values()) == {holder}

    clock = ManualClock(start)
    seen: list[str] = []
    other = Worker(db, settings(), answering(clock, seen), clock=clock)
    asyncio.run(other.cycle())
    held = {i.url for i in claimed}
    assert sorted(seen) == sorted(set(POSTS) - held)
    clock.advance(599)
    asyncio.run(other.cycle())  # the others' re-checks (RECHECK_SCHEDULE) are due by now
    assert not held & set(seen)  # still leased: one second before it runs out
    clock.advance(2)
    seen.clear()
    asyncio.run(other.cycle())
    assert held <= set(seen) and len(seen) == len(set(seen))
    assert {url: n for url, n in checks(db).items() if url in held} == {u: 1 for u in held}
    other.close()


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    name = f"takedown_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def test_workers_starting_together_apply_each_migration_once(empty_db_url: str) -> None:
    """N workers started at once on an empty database (``docker compose up`` with
    replicas): the migrations' advisory lock lets one apply them; the others wait,
    then find nothing left to apply."""
    barrier = threading.Barrier(4)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        db = Database(empty_db_url)
        try:
            barrier.wait(timeout=60)
            applied.append(db.migrate())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(len(a) > 0 for a in applied) == [False, False, False, True]
    with psycopg.connect(empty_db_url) as conn:
        rows = conn.execute("SELECT version, count(*) FROM schema_migrations "
                            "GROUP BY version HAVING count(*) > 1").fetchall()
        total = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert rows == []
    assert total is not None and total[0] == len(max(applied, key=len))


def test_a_worker_claims_no_more_than_its_spider_keeps_in_flight(
        synced: tuple[Database, datetime]) -> None:
    """What a worker claims ahead of its crawl no other worker can take: a claim is
    at most the spider's window (twice CONCURRENT_REQUESTS), not BATCH_SIZE."""
    db, start = synced
    all_due(db, start)
    clock = ManualClock(start)
    held_at_first: list[int] = []

    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        for items in work.values():
            async for item in items:
                if not held_at_first:
                    # The first batch, and the next one if its claim (taken ahead, in a
                    # thread) has come back already: a window or two, never BATCH_SIZE.
                    held_at_first.append(len(leases(db)))
                obs = Observation(mode=item.mode, platform=item.platform,
                                  target_key=item.target_key, url=item.url,
                                  outcome=Outcome.OK, row_id=item.row_id,
                                  post_key=item.post_key, observed_at=clock.now(),
                                  http_status=200)
                obs.post = PostContent(key=item.post_key or "", url=item.url, text="hello")
                await sink(obs)

    worker = Worker(db, Settings.load({**RAW, "batch_size": 500, "concurrent_requests": 4},
                                      environ={}), crawl, clock=clock)
    sizes: list[int] = []
    claim = worker._claim

    def claim_sized(*args: Any, **kwargs: Any) -> list[WorkItem]:
        items = claim(*args, **kwargs)
        sizes.append(len(items))
        return items

    worker._claim = claim_sized  # type: ignore[method-assign]
    stats = asyncio.run(worker.cycle())
    assert sizes and max(sizes) == 8 and sizes[0] == 8  # each claim is one window
    assert sum(sizes) == N and sizes[-1] == 0  # …until one comes back empty
    assert held_at_first and held_at_first[0] in (8, 16)
    assert stats["claimed"] == N and checks(db) == {url: 1 for url in POSTS}
    worker.close()
