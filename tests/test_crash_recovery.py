"""Crash recovery: work a killed worker had claimed is done again at once by the next.

A worker leases what it claims (``LEASE``, 10 min by default) so that no other
live worker checks the same post at the same time. A worker that dies (SIGKILL,
OOM, power) cannot give its leases back; its successor must not wait them out.
Each worker holds a session advisory lock naming it; the lock dies with its
connection, so a lease whose worker's lock is free is free to claim.

The small tests pin the mechanism with a real process killed by SIGKILL and an
injected crawl; the slow one kills a real daemon while the sandbox answers it,
restarts it on a controlled clock and requires every lasting removal found
before a lease could have run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# The end-to-end driver and the sandbox's truth, as the e2e tests hold the monitor to it.
from test_e2e import (
    FAST,
    INTERVAL,
    REAL_TIME_PLATFORMS,
    STEP,
    assert_true_to,
    gone_at_the_end,
    make_worker,
    only_platforms,
    run_until_quiet,
)

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.db.workers import WORKER_LOCK_SPACE
from monitor.observation import Observation, Outcome, PostContent, WorkItem
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker
from spiders.sandbox import Sandbox, detection_window

#: Ten single-post targets: each is one probe, no listing to wait for.
POSTS = [f"http://127.0.0.1:9/p{i}" for i in range(10)]
WATCHLIST = "[groups.g]\n" + "".join(
    f'[[groups.g.targets]]\nplatform = "rss"\npost = "{url}"\n' for url in POSTS)
#: The default lease, stated: the point is that nothing waits for it.
RAW = {"lease": "10m", "recheck_schedule": "1m,2m,5m", "confirm_probes": 2,
       "confirm_spacing": "5s", "confirm_retry": "5s", "batch_size": 4}
LEASE = 600.0


def settings() -> Settings:
    return Settings.load(RAW, environ={})


def answering(outcome: Outcome, clock: ManualClock, seen: list[WorkItem] | None = None) -> Any:
    """An injected crawl answering every probe with ``outcome`` (OK: the post's text)."""

    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        for platform, items in work.items():
            async for item in items:
                if seen is not None:
                    seen.append(item)
                obs = Observation(mode=item.mode, platform=platform, target_key=item.target_key,
                                  url=item.url, outcome=outcome, row_id=item.row_id,
                                  post_key=item.post_key, observed_at=clock.now(),
                                  http_status=200 if outcome is Outcome.OK else 404)
                if outcome is Outcome.OK:
                    obs.post = PostContent(key=item.post_key or "", url=item.url, text="hello")
                await sink(obs)

    return crawl


def worker_on(db: Database, clock: ManualClock, crawl: Any) -> Worker:
    return Worker(db, settings(), crawl, clock=clock)


def disappeared(db: Database) -> set[str]:
    with db.transaction() as conn:
        rows = conn.execute("SELECT post_key FROM events WHERE kind = 'disappeared'").fetchall()
    return {r["post_key"] for r in rows}


def leased(db: Database) -> int:
    with db.transaction() as conn:
        return int(conn.execute("SELECT count(*) AS n FROM posts WHERE lease_until IS NOT NULL"
                                ).fetchone()["n"])


#: A worker process that claims everything due at the given time, then hangs with its
#: claims in flight (as a daemon does while the sandbox answers its requests).
_CLAIM_AND_HANG = textwrap.dedent("""
    import asyncio, json, sys
    from datetime import datetime
    from monitor.clock import ManualClock
    from monitor.db import Database
    from monitor.settings import Settings
    from monitor.worker import Worker

    async def hang(work, sink, settings):
        n = 0
        for items in work.values():
            async for _ in items:
                n += 1
        print("claimed", n, flush=True)
        await asyncio.Event().wait()

    url, at, raw = sys.argv[1], datetime.fromisoformat(sys.argv[2]), json.loads(sys.argv[3])
    db = Database(url)
    worker = Worker(db, Settings.load(raw, environ={}), hang, clock=ManualClock(at))
    asyncio.run(worker.cycle())
""")


def claim_and_die(db_url: str, at: datetime) -> int:
    """Run a worker process that claims what is due at ``at``; SIGKILL it while its
    claims are in flight. Returns how many items it had claimed."""
    proc = subprocess.Popen([sys.executable, "-c", _CLAIM_AND_HANG, db_url, at.isoformat(),
                             json.dumps(RAW)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("claimed"), (line, proc.stderr.read().decode()[-3000:]
                                            if proc.stderr else "")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return int(line.split()[1])


def test_a_killed_workers_claims_are_checked_again_at_once(
        db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Claimed, then SIGKILLed: the next worker checks those posts at its next cycle,
    and their removal is confirmed long before the dead worker's lease would end."""
    db = Database(db_url)
    try:
        start = datetime.now(UTC) + timedelta(seconds=1)
        clock = ManualClock(start)
        first = worker_on(db, clock, answering(Outcome.OK, clock))
        first.sync(parse_watchlist(WATCHLIST).targets)
        asyncio.run(first.cycle())  # every post seen: visible, re-checked in 1 min
        killed_at = clock.advance(60)
        assert claim_and_die(db_url, killed_at) == len(POSTS)
        assert leased(db) == len(POSTS)  # the dead worker's leases are still there

        # The posts are deleted meanwhile; a restarted worker takes over two seconds on.
        seen: list[WorkItem] = []
        restarted = worker_on(db, clock, answering(Outcome.NOT_FOUND, clock, seen))
        clock.advance(2)
        with caplog.at_level(logging.WARNING, logger="monitor.worker"):
            asyncio.run(restarted.cycle())
        assert sorted(i.url for i in seen) == sorted(POSTS)  # re-checked at once
        assert [r.getMessage() for r in caplog.records if r.name == "monitor.worker"] == [
            "1 worker(s) gone with work claimed: 0 listing(s) and 10 probe(s) given back, "
            "to be checked now"]
        with db.transaction() as conn:  # the dead worker is forgotten; the two live remain
            assert conn.execute("SELECT count(*) AS n FROM workers").fetchone()["n"] == 2
        for _ in range(4):  # the confirming probes, CONFIRM_RETRY apart
            clock.advance(6)
            asyncio.run(restarted.cycle())
        assert (clock.now() - killed_at).total_seconds() < LEASE / 10
        assert disappeared(db) == set(POSTS)
    finally:
        db.close()


def holders(db: Database) -> dict[str, int | None]:
    """Each leased post's lease holder (worker id)."""
    with db.transaction() as conn:
        rows = conn.execute("SELECT post_key, leased_by FROM posts "
                            "WHERE lease_until IS NOT NULL").fetchall()
    return {r["post_key"]: r["leased_by"] for r in rows}


def test_a_live_but_slow_workers_claims_are_not_taken(db: Database) -> None:
    """A worker whose crawl takes longer than anyone's cycle is alive: its claims stay
    its own, however many cycles another worker runs meanwhile."""
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=1))
    release = asyncio.Event()
    claimed = asyncio.Event()

    async def slow(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        items = [item for its in work.values() async for item in its]
        claimed.set()
        await release.wait()
        for item in items:
            await sink(Observation(mode=item.mode, platform=item.platform,
                                   target_key=item.target_key, url=item.url,
                                   outcome=Outcome.TIMEOUT, row_id=item.row_id,
                                   post_key=item.post_key, observed_at=clock.now()))

    seen: list[WorkItem] = []
    slow_worker = worker_on(db, clock, slow)
    slow_worker.sync(parse_watchlist(WATCHLIST).targets)
    other = worker_on(db, clock, answering(Outcome.NOT_FOUND, clock, seen))

    async def main() -> dict[str, int | None]:
        task = asyncio.create_task(slow_worker.cycle())
        await asyncio.wait_for(claimed.wait(), 30)
        for _ in range(3):
            clock.advance(5)
            await other.cycle()
        during = holders(db)
        release.set()
        await task
        return during

    during = asyncio.run(main())
    assert seen == []  # nothing checked twice at once
    assert set(during) == set(POSTS) and set(during.values()) == {slow_worker.presence.id}
    assert holders(db) == {}  # recorded: the slow worker's leases ended with its batch
    assert disappeared(db) == set()
    slow_worker.close()
    other.close()


def test_a_closing_worker_gives_back_the_claims_it_still_holds(db: Database) -> None:
    """A worker that closes with claims in flight (a cycle that outlasted the
    shutdown's wait) gives them back: once its seat is gone nobody else could tell
    them free before LEASE ran out."""
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=1))
    claimed = asyncio.Event()

    async def hangs(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, s: Any) -> None:
        _ = [item for its in work.values() async for item in its]
        claimed.set()
        await asyncio.Event().wait()  # never records: cancelled below

    worker = worker_on(db, clock, hangs)
    worker.sync(parse_watchlist(WATCHLIST).targets)

    async def main() -> tuple[dict[str, int | None], dict[str, int | None]]:
        task = asyncio.create_task(worker.cycle())
        await asyncio.wait_for(claimed.wait(), 30)
        during = holders(db)
        worker.close()  # the process leaves with the crawl still open
        after = holders(db)  # before the cycle's own clean-up could run
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return during, after

    during, after = asyncio.run(main())
    assert set(during) == set(POSTS)  # they were claimed
    assert after == {}  # and given back by close() itself
    assert holders(db) == {} and leased(db) == 0
    other = worker_on(db, clock, answering(Outcome.NOT_FOUND, clock, seen := []))
    asyncio.run(other.cycle())
    assert {item.url for item in seen} == set(POSTS)  # checked by the next worker now
    other.close()


def test_two_live_workers_never_claim_the_same_post(db: Database) -> None:
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=1))
    seen_a: list[WorkItem] = []
    seen_b: list[WorkItem] = []
    a = worker_on(db, clock, answering(Outcome.OK, clock, seen_a))
    b = worker_on(db, clock, answering(Outcome.OK, clock, seen_b))
    a.sync(parse_watchlist(WATCHLIST).targets)

    async def both() -> None:
        await asyncio.gather(a.cycle(), b.cycle())  # claims of 4 at a time interleave

    for _ in range(3):  # first sight, then two re-checks
        asyncio.run(both())
        keys_a = [i.post_key for i in seen_a]
        keys_b = [i.post_key for i in seen_b]
        assert not set(keys_a) & set(keys_b), (keys_a, keys_b)
        assert sorted(keys_a + keys_b) == sorted(POSTS)
        seen_a.clear()
        seen_b.clear()
        clock.advance(60)  # the next offset of RECHECK_SCHEDULE (1m, 2m)
    assert a.presence.id != b.presence.id
    a.close()
    b.close()


def test_a_worker_that_lost_its_lock_takes_a_new_seat(db: Database, db_url: str) -> None:
    """The lock's connection dropped (server restart, network): others may take its
    leases, so the worker does not go on under its old id."""
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=1))
    worker = worker_on(db, clock, answering(Outcome.OK, clock))
    worker.sync(parse_watchlist(WATCHLIST).targets)
    asyncio.run(worker.cycle())
    old = worker.presence.id
    with db.transaction() as conn:
        pids = [r["pid"] for r in conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND objid = %s AND objsubid = 2 AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (WORKER_LOCK_SPACE, old))]
        assert len(pids) == 1  # the worker's lock, held by one session
        conn.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
    clock.advance(60)
    seen: list[WorkItem] = []
    worker.crawl = answering(Outcome.OK, clock, seen)
    asyncio.run(worker.cycle())
    assert worker.presence.id not in (None, old)
    assert len(seen) == len(POSTS)
    with db.transaction() as conn:
        ids = [r["id"] for r in conn.execute("SELECT id FROM workers")]
    assert ids == [worker.presence.id]  # the old seat was reclaimed as a dead worker's
    worker.close()
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM workers").fetchone()["n"] == 0


def test_a_closed_worker_never_takes_a_seat_again(db: Database) -> None:
    """Shutdown closes the seat while a claim thread may still be finishing (a stop
    that outlasted its wait, under load): that claim must not register a new seat,
    which would be left behind as a dead worker's (CI saw one after SIGINT)."""
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=1))
    worker = worker_on(db, clock, answering(Outcome.OK, clock))
    worker.sync(parse_watchlist(WATCHLIST).targets)
    asyncio.run(worker.cycle())
    assert worker.presence.id is not None
    worker.close()
    assert worker.presence.ensure() is None
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM workers").fetchone()["n"] == 0


#: The daemon's command line (the ``takedown`` console script's module).
DAEMON = [sys.executable, "-m", "spiders.cli", "run"]
#: Clock seconds per scripted tick of the sandbox (as the e2e tests: states last 2 ticks).
TICK = 6.0


def _toml_settings(raw: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        return f'"{v}"' if isinstance(v, str) else str(v)

    return "[settings]\n" + "".join(f"{k} = {value(v)}\n" for k, v in raw.items())


class KillWhileAnswering:
    """SIGKILLs the daemon from inside the sandbox's request handler, once armed: the
    daemon dies with a request (and its claims) in flight."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.pid: int | None = None
        self.killed = threading.Event()
        self._count = sandbox.count_request

        def count_request() -> None:
            self._count()
            if self.pid is not None and not self.killed.is_set():
                os.kill(self.pid, signal.SIGKILL)
                self.killed.set()

        sandbox.count_request = count_request  # type: ignore[method-assign]

    def arm(self, pid: int) -> None:
        self.pid = pid


def _unread_targets(db: Database) -> int:
    with db.transaction() as conn:
        return int(conn.execute("SELECT count(*) AS n FROM targets WHERE active AND "
                                "kind <> 'post' AND last_checked_at IS NULL").fetchone()["n"])


@pytest.mark.slow
@pytest.mark.realtime
@pytest.mark.parametrize("kill_tick", [0, 4])
def test_sigkill_while_answering_then_restart_finds_every_lasting_removal(
        db_url: str, tmp_path: Path, kill_tick: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The product: a real daemon reads every target once (and lives until the script's
    ``kill_tick``: 4 is mid-script, with suspicions open), is SIGKILLed while the
    sandbox answers it, and a restarted worker runs to quiescence on a controlled
    clock that ends long before the default LEASE: every lasting removal is found,
    none twice, nothing invented."""
    only_platforms(monkeypatch, REAL_TIME_PLATFORMS)
    raw = {**FAST, "lease": "10m", "tick": "0.5s", "metrics_address": ""}
    settings = Settings.load(raw, environ={"TAKEDOWN_DATABASE_URL": db_url})
    clock = ManualClock()
    following = threading.Event()

    def follow_real_time() -> None:  # the daemon runs on real time: so does the world
        while not following.is_set():
            clock.set(datetime.now(UTC))
            time.sleep(0.02)

    with Sandbox(scenario="demo", seed=3, clock=clock, tick_seconds=TICK,
                 resolution=detection_window(settings, INTERVAL) + STEP) as sb:
        killer = KillWhileAnswering(sb)
        watchlist = tmp_path / "watchlist.toml"
        watchlist.write_text(_toml_settings(raw) + "\n" + sb.watchlist_toml(interval="1s"),
                             encoding="utf-8")
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url,
               "TAKEDOWN_WATCHLIST": str(watchlist),
               # the fakes' API credentials (Reddit's OAuth app at the sandbox)
               **{f"TAKEDOWN_{k}": v for k, v in sb.settings().items()}}
        log = tmp_path / "daemon.log"
        follower = threading.Thread(target=follow_real_time, daemon=True)
        follower.start()
        db = Database(db_url)
        try:
            with log.open("ab") as err:
                proc = subprocess.Popen(DAEMON, env=env, stdout=subprocess.DEVNULL, stderr=err)
            try:
                deadline = time.monotonic() + 60
                while _unread_targets(db) and time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text(encoding="utf-8")[-3000:]
                    time.sleep(0.05)
                assert _unread_targets(db) == 0, log.read_text(encoding="utf-8")[-3000:]
                while sb.world.tick < kill_tick and time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text(encoding="utf-8")[-3000:]
                    time.sleep(0.05)
                    sb.catch_up()
                killer.arm(proc.pid)
                assert killer.killed.wait(30), "the daemon sent no request to kill it in"
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL
            finally:
                following.set()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            with db.transaction() as conn:
                in_flight = conn.execute(
                    "SELECT (SELECT count(*) FROM targets WHERE lease_until IS NOT NULL) + "
                    "(SELECT count(*) FROM posts WHERE lease_until IS NOT NULL) AS n"
                ).fetchone()["n"]
            assert in_flight > 0  # the kill left claims behind: the case under test
            killed_at = clock.now()

            # The restart, on the controlled clock from the moment of the kill.
            with Database.open(settings) as db2:
                worker = make_worker(db2, settings.replace(**sb.settings()), clock)
                from spiders.crawl import event_loop

                event_loop().run_until_complete(run_until_quiet(
                    sb, worker, clock, settle=3 * detection_window(settings, INTERVAL)))
                worker.close()
            assert (clock.now() - killed_at).total_seconds() < settings["LEASE"]
            truth = sb.truth()
            with db.transaction() as conn:
                events = conn.execute(
                    "SELECT target_id, post_key, kind, cause, cause_detail, candidates, "
                    "evidence, platform FROM events ORDER BY id").fetchall()
        finally:
            following.set()
            db.close()
    # Per target: a post two targets watch (a subreddit and its author) is tracked,
    # and reported, by each; the crash must not repeat any target's event.
    keys = [(e["target_id"], e["post_key"], e["kind"], e["cause"]) for e in events]
    assert [k for k, n in Counter(keys).items() if n > 1 and k[2] != "edited"] == []
    lasting = gone_at_the_end(truth)
    found = {e["post_key"] for e in events if e["kind"] == "disappeared"}
    assert lasting <= found, sorted(lasting - found)
    # Strict, as the e2e tests: every scripted change found with its cause, none invented.
    assert_true_to(events, truth)
