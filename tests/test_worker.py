"""The worker and daemon with an injected crawl: bad input never stops them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from monitor.db import Database
from monitor.errors import StorageUnavailable, WatchlistError
from monitor.observation import Observation, Outcome, PostContent, WorkItem
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker, run_daemon

WATCHLIST = """
[groups.g]
[[groups.g.targets]]
platform = "rss"
feed = "http://127.0.0.1:9/feed.xml"
[[groups.g.targets]]
platform = "mastodon"
account = "alice"
base_url = "http://127.0.0.1:9"
"""


def fake_crawl(outcomes: dict[str, Outcome]) -> Any:
    """A crawl that answers every work item without the network."""

    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any, settings: Any
                    ) -> dict[str, int]:
        seen = 0
        for platform, items in work.items():
            async for item in items:
                seen += 1
                outcome = outcomes[platform]
                obs = Observation(mode=item.mode, platform=platform,
                                  target_key=item.target_key, url=item.url, outcome=outcome,
                                  row_id=item.row_id, post_key=item.post_key)
                if outcome is Outcome.OK:
                    obs.entries = [PostContent(key="p1", url="http://127.0.0.1:9/p1",
                                               text="hello")]
                else:
                    obs.detail = "not well-formed (invalid token): line 1, column 0"
                await sink(obs)
        return {"seen": seen}

    return crawl


def test_malformed_pages_are_recorded_as_errors_and_the_daemon_goes_on(db: Database) -> None:
    settings = Settings.load({"tick": "0.2s", "default_interval": "0.1s"}, environ={})
    worker = Worker(db, settings, fake_crawl({"rss": Outcome.MALFORMED,
                                              "mastodon": Outcome.OK}))
    worker.sync(parse_watchlist(WATCHLIST).targets)
    asyncio.run(run_daemon(worker, max_cycles=4))
    assert worker.cycles >= 4
    with db.transaction() as conn:
        rows = {r["platform"]: r for r in conn.execute(
            "SELECT platform, error_streak, last_error, last_outcome, active FROM targets")}
        events = conn.execute("SELECT count(*) AS n FROM events").fetchone()["n"]
    assert rows["rss"]["last_outcome"] == "malformed"
    assert rows["rss"]["error_streak"] >= 1
    assert "not well-formed" in rows["rss"]["last_error"]
    assert rows["mastodon"]["error_streak"] == 0
    assert events == 0


def _active_keys(db: Database) -> list[str]:
    with db.transaction() as conn:
        return sorted(r["key"] for r in conn.execute("SELECT key FROM targets WHERE active"))


def test_a_broken_reload_keeps_the_old_targets_and_a_good_one_is_applied(db: Database) -> None:
    settings = Settings.load({"tick": "0.05s", "default_interval": "1h"}, environ={})
    worker = Worker(db, settings, fake_crawl({"rss": Outcome.OK, "mastodon": Outcome.OK}))
    old = parse_watchlist(WATCHLIST).targets
    worker.sync(old)
    new = parse_watchlist(WATCHLIST.split("[[groups.g.targets]]\nplatform = \"mastodon\"")[0]
                          + '[[groups.g.targets]]\nplatform = "rss"\n'
                          'feed = "http://127.0.0.1:9/other.xml"\n').targets
    assert sorted(t.key for t in old) != sorted(t.key for t in new)
    seen: list[list[str]] = []  # the active targets as each reload starts
    stop = asyncio.Event()
    loop: asyncio.AbstractEventLoop | None = None

    def reload() -> Any:  # APScheduler runs it in a worker thread
        seen.append(_active_keys(db))
        if len(seen) == 1:
            raise WatchlistError("watchlist.toml", "groups.g.targets[0].platform",
                                 "unknown platform 'tiktokk'")
        if len(seen) == 3:
            assert loop is not None
            loop.call_soon_threadsafe(stop.set)
        return new

    async def main() -> None:
        nonlocal loop
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(run_daemon(worker, reload=reload, stop=stop, reload_every=0.05),
                               timeout=60)

    asyncio.run(main())
    assert len(seen) >= 3  # the reload job ran: a broken file, then good ones
    assert seen[0] == seen[1] == sorted(t.key for t in old)  # the broken file kept them
    assert seen[2] == _active_keys(db) == sorted(t.key for t in new)  # the good one applied
    with db.transaction() as conn:
        dropped = conn.execute("SELECT key FROM targets WHERE NOT active").fetchall()
    assert [r["key"] for r in dropped] == [t.key for t in old if t.platform == "mastodon"]


def test_a_failing_cycle_is_logged_and_the_next_tick_retries(db: Database) -> None:
    settings = Settings.load({"tick": "0.2s", "default_interval": "0.1s"}, environ={})
    calls = []

    async def flaky(work: Any, sink: Any, s: Any) -> None:
        calls.append(1)
        for items in work.values():
            async for _ in items:
                pass
        if len(calls) == 1:
            raise ConnectionError("reactor hiccup")

    worker = Worker(db, settings, flaky)
    worker.sync(parse_watchlist(WATCHLIST).targets)

    async def main() -> None:
        stop = asyncio.Event()

        async def stopper() -> None:
            while len(calls) < 3:
                await asyncio.sleep(0.05)
            stop.set()

        task = asyncio.create_task(stopper())
        await asyncio.wait_for(run_daemon(worker, stop=stop), timeout=20)
        await task

    asyncio.run(main())
    assert len(calls) >= 3


FIVE_ACCOUNTS = "[groups.g]\n" + "".join(
    f'[[groups.g.targets]]\nplatform = "mastodon"\naccount = "user{i}"\n'
    f'base_url = "http://127.0.0.1:9"\n' for i in range(5))


def leases(db: Database) -> tuple[int, int]:
    """(targets leased, targets due now: leased or not)."""
    with db.transaction() as conn:
        row = conn.execute("SELECT count(*) FILTER (WHERE lease_until IS NOT NULL) AS leased, "
                           "count(*) FILTER (WHERE next_due <= now()) AS due FROM targets"
                           ).fetchone()
    return row["leased"], row["due"]


@pytest.mark.parametrize(("raw", "watchlist", "take", "due"), [
    ({"lease": "1h"}, WATCHLIST, None, 2),  # every item taken, none observed
    # One item taken of a two-item batch: the next batch, claimed ahead, is given back too.
    ({"lease": "1h", "batch_size": 2}, FIVE_ACCOUNTS, 1, 5),
])
def test_a_crawl_cut_short_gives_its_unobserved_work_back(
        db: Database, raw: dict[str, Any], watchlist: str, take: int | None, due: int) -> None:
    """Whatever the crawl took of its work, a crawl that fails leaves every claimed
    target due at once, none leased to nobody until the lease runs out."""
    settings = Settings.load(raw, environ={})

    async def dies(work: Any, sink: Any, s: Any) -> None:
        for items in work.values():
            taken = 0
            async for _ in items:  # claimed, never observed
                taken += 1
                if taken == take:
                    break
        raise ConnectionError("reactor hiccup")

    worker = Worker(db, settings, dies)
    worker.sync(parse_watchlist(watchlist).targets)
    with pytest.raises(ConnectionError):  # the crawl's error is not swallowed
        asyncio.run(worker.cycle())
    assert leases(db) == (0, due)  # due again at once, not in an hour


def answered(item: WorkItem) -> Observation:
    return Observation(mode=item.mode, platform=item.platform, target_key=item.target_key,
                       url=item.url, outcome=Outcome.TIMEOUT, row_id=item.row_id)


def counting_claims(worker: Worker, fail_at: int | None = None) -> tuple[list[int], Any]:
    """Count the items of each of ``worker``'s claims (one ``threading.Event`` set per
    claim returned); the claim numbered ``fail_at`` (from 1) finds the database away."""
    sizes: list[int] = []
    returned = [threading.Event() for _ in range(8)]
    claim = worker._claim

    def counted(*args: Any) -> list[WorkItem]:
        if len(sizes) + 1 == fail_at:
            sizes.append(-1)
            raise StorageUnavailable("the database is unavailable")
        items = claim(*args)
        sizes.append(len(items))
        returned[len(sizes) - 1].set()
        return items

    worker._claim = counted  # type: ignore[method-assign,assignment]
    return sizes, returned


def test_the_next_batch_is_claimed_while_the_crawl_works_on_this_one(db: Database) -> None:
    """The crawl never waits for a claim's round trip at a batch's end: while it holds the
    first item of a two-item batch, the next two are claimed already."""
    worker = Worker(db, Settings.load({"batch_size": 2}, environ={}), None)  # type: ignore[arg-type]
    worker.sync(parse_watchlist(FIVE_ACCOUNTS).targets)
    sizes, returned = counting_claims(worker)
    held: list[tuple[int, int]] = []

    async def crawl(work: Any, sink: Any, s: Any) -> None:
        items = work["mastodon"]
        first = await anext(items)
        # Nothing more is taken from the iterator until the second claim has returned
        # (with claims made only on demand, this times out).
        assert await asyncio.to_thread(returned[1].wait, 10)
        held.append(await asyncio.to_thread(leases, db))
        for item in [first] + [item async for item in items]:
            await sink(answered(item))

    worker.crawl = crawl
    stats = asyncio.run(worker.cycle())
    assert held == [(4, 5)]  # two batches leased while the first item was in hand
    assert sizes == [2, 2, 1, 0]  # every batch claimed once; the empty one ends it
    assert stats["claimed"] == 5 and stats["observations"] == 5
    assert leases(db) == (0, 0)  # each observed: checked, not due again yet


def test_a_claim_ahead_that_finds_the_database_away_ends_the_work_quietly(
        db: Database) -> None:
    """The database goes away at the next batch's claim: the crawl still gets the batch it
    has, the cycle ends without an error, and the unclaimed work stays due."""
    worker = Worker(db, Settings.load({"batch_size": 2}, environ={}), None)  # type: ignore[arg-type]
    worker.sync(parse_watchlist(FIVE_ACCOUNTS).targets)
    sizes, _ = counting_claims(worker, fail_at=2)

    async def crawl(work: Any, sink: Any, s: Any) -> None:
        async for item in work["mastodon"]:
            await sink(answered(item))

    worker.crawl = crawl
    stats = asyncio.run(worker.cycle())
    assert sizes == [2, -1]  # no claim after the failed one
    assert stats["claimed"] == 2 and stats["observations"] == 2
    assert leases(db) == (0, 3)  # the two checked; three due, none leased


def test_stopping_lets_a_job_in_flight_end_instead_of_cancelling_it(
        db: Database, caplog: Any) -> None:
    """A stop (SIGTERM) while the watchlist reload runs: the reload finishes and syncs,
    and no job is cancelled (APScheduler logs a cancelled job as an error, with a
    traceback)."""
    import logging
    import threading
    import time

    settings = Settings.load({"tick": "1h"}, environ={})
    worker = Worker(db, settings, fake_crawl({"rss": Outcome.OK, "mastodon": Outcome.OK}))
    started = threading.Event()
    synced: list[int] = []
    sync = worker.sync

    def reload() -> Any:  # APScheduler runs it in a worker thread
        started.set()
        time.sleep(0.3)  # still running when the stop comes
        return parse_watchlist(WATCHLIST).targets

    def counted_sync(targets: Any) -> Any:
        synced.append(len(targets))
        return sync(targets)

    worker.sync = counted_sync  # type: ignore[method-assign]

    async def main() -> None:
        stop = asyncio.Event()

        async def stopper() -> None:
            while not started.is_set():
                await asyncio.sleep(0.01)
            stop.set()

        task = asyncio.create_task(stopper())
        await asyncio.wait_for(run_daemon(worker, reload=reload, stop=stop,
                                          reload_every=0.05), timeout=30)
        await task

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert synced == [2]  # the reload ran to its end
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
