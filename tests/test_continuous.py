"""The continuous loop (``takedown run``): one hanging host delays only itself.

The crawl is injected (as in test_worker.py): it starts a task per work item as
the loop hands items over, answers the healthy host at once and never answers
the hanging one, so the assertions are on order and counts, never on timing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from monitor import recording
from monitor.continuous import Continuous, host_of
from monitor.db import Database, workers
from monitor.errors import StorageUnavailable
from monitor.observation import Observation, Outcome, WorkItem
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker

HEALTHY = "127.0.0.1:9"
HANGING = "127.0.0.1:10"


def watchlist(healthy: int, hanging: int, interval: str) -> str:
    feeds = [f"http://{HEALTHY}/feed{i}.xml" for i in range(healthy)]
    feeds += [f"http://{HANGING}/feed{i}.xml" for i in range(hanging)]
    return f'[groups.g]\ninterval = "{interval}"\n' + "".join(
        f'[[groups.g.targets]]\nplatform = "rss"\nfeed = "{feed}"\n' for feed in feeds)


class FakeCrawl:
    """A crawl over every platform's work: a task per item, as a spider keeps them in
    flight; the hanging host's requests never end (until the crawl is cancelled)."""

    def __init__(self) -> None:
        self.fetched: Counter[str] = Counter()
        self.open_hanging = 0
        self.max_open_hanging = 0
        self.hanging_seen: list[str] = []
        self.healthy_after_hang = 0
        self.progress = asyncio.Event()

    async def __call__(self, work: Mapping[str, AsyncIterator[WorkItem]], sink: Any,
                       settings: Any) -> dict[str, int]:
        tasks: set[asyncio.Task[None]] = set()

        async def fetch(item: WorkItem) -> None:
            if host_of(item) == HANGING:
                self.hanging_seen.append(item.target_key)
                self.open_hanging += 1
                self.max_open_hanging = max(self.max_open_hanging, self.open_hanging)
                await asyncio.Event().wait()  # never answers
            obs = Observation(mode=item.mode, platform=item.platform,
                              target_key=item.target_key, url=item.url, outcome=Outcome.OK,
                              row_id=item.row_id)
            obs.entries = []
            await sink(obs)
            self.fetched[item.target_key] += 1
            if self.open_hanging:
                self.healthy_after_hang += 1
            self.progress.set()

        async def drive(items: AsyncIterator[WorkItem]) -> None:
            async for item in items:
                task = asyncio.ensure_future(fetch(item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        try:
            await asyncio.gather(*(drive(items) for items in work.values()))
            while tasks:
                await asyncio.wait(list(tasks))
        finally:
            for task in list(tasks):
                task.cancel()
        return {"fetched": sum(self.fetched.values())}

    async def wait_until(self, done: Any, task: asyncio.Future[Any]) -> None:
        """Wait until ``done()`` holds, checked as this crawl progresses; ``task`` (the
        loop running the crawl) must not end first."""
        while not done():
            self.progress.clear()
            await asyncio.wait([asyncio.ensure_future(self.progress.wait()), task],
                               timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            assert not task.done(), task.result()


def settings(**extra: Any) -> Settings:
    return Settings.load({"tick": "0.05s", "concurrent_requests": 4,
                          "concurrent_requests_per_host": 1, **extra}, environ={})


async def run_until(loop: Continuous, done: Any, limit: float = 20.0) -> None:
    """Run ``loop`` until ``done()`` holds (checked as the crawl progresses), then stop it."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(loop.run(stop))
    crawl = loop.worker.crawl
    assert isinstance(crawl, FakeCrawl)
    async with asyncio.timeout(limit):
        await crawl.wait_until(done, task)
    stop.set()
    await task


def leases(db: Database, host: str) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return list(conn.execute(
            "SELECT key, lease_until, leased_by, lease_until > now() AS live FROM targets "
            "WHERE value LIKE %s ORDER BY key", (f"http://{host}/%",)))


def test_a_hanging_host_delays_only_itself_and_cannot_fill_the_window(db: Database) -> None:
    # Window 2 x 4 = 8 items in flight; at most 2 x 1 = 2 of one host. Six feeds hang.
    worker = Worker(db, settings(default_interval="0.2s", lease="0.5s"), FakeCrawl())
    worker.sync(parse_watchlist(watchlist(healthy=2, hanging=6, interval="0.2s")).targets)
    loop = Continuous(worker, drain=0.2)
    crawl = worker.crawl
    assert isinstance(crawl, FakeCrawl)
    seen_leases: list[list[dict[str, Any]]] = []

    def done() -> bool:
        # Each healthy feed fetched again and again while the first hanging requests are
        # still open, and for longer than LEASE: their leases must have been renewed.
        if min(crawl.fetched[k] for k in healthy_keys) >= 8:
            seen_leases.append(leases(db, HANGING))
            return True
        return False

    healthy_keys = [t.key for t in parse_watchlist(watchlist(2, 0, "0.2s")).targets]
    asyncio.run(run_until(loop, done))

    assert crawl.max_open_hanging == 2  # the host's cap, although six were due
    assert crawl.healthy_after_hang >= 14  # all but each feed's first fetch
    assert not any(k.startswith("rss:feed:http://127.0.0.1:10") for k in crawl.fetched)
    # The claims name the worker and stay alive while in flight (renewed past LEASE).
    in_flight = [r for r in seen_leases[0] if r["leased_by"] is not None]
    assert len(in_flight) == 6  # two in flight, four waiting for their host's room
    assert {r["leased_by"] for r in in_flight} == {worker.presence.id}
    assert all(r["live"] for r in in_flight)
    # Stopped mid-crawl: the hanging host's work was given back, due at once.
    assert all(r["lease_until"] is None for r in leases(db, HANGING))
    assert loop.pending == {}
    with db.transaction() as conn:
        rows = conn.execute("SELECT count(*) AS n FROM observations o JOIN targets t "
                            "ON t.id = o.target_id WHERE t.value LIKE %s",
                            (f"http://{HANGING}/%",)).fetchone()
    assert rows["n"] == 0  # absence of an answer is no observation of the hanging host
    worker.close()


def test_two_continuous_workers_never_check_the_same_work_twice(db: Database) -> None:
    targets = parse_watchlist(watchlist(healthy=30, hanging=0, interval="1h")).targets
    first = Worker(db, settings(), FakeCrawl())
    second = Worker(db, settings(), FakeCrawl())
    second.presence = workers.Presence(db.url, "second-worker")
    first.sync(targets)

    async def both() -> None:
        loops = [Continuous(first, drain=0.2), Continuous(second, drain=0.2)]
        crawls = [w.crawl for w in (first, second) if isinstance(w.crawl, FakeCrawl)]

        def done() -> bool:
            return sum(sum(c.fetched.values()) for c in crawls) >= 30

        await asyncio.gather(run_until(loops[0], done), run_until(loops[1], done))

    asyncio.run(both())
    a, b = first.crawl, second.crawl
    assert isinstance(a, FakeCrawl) and isinstance(b, FakeCrawl)
    total = a.fetched + b.fetched
    assert len(total) == 30
    assert set(total.values()) == {1}
    assert not set(a.fetched) & set(b.fetched)
    first.close()
    second.close()


@pytest.mark.parametrize("url, base, host", [
    ("http://Example.org:8080/a", None, "example.org:8080"),
    ("alice", "https://social.example/", "social.example"),
    ("alice", None, "t"),
])
def test_host_of_keys_work_by_the_host_it_is_fetched_from(url: str, base: str | None,
                                                          host: str) -> None:
    item = WorkItem(mode="listing", platform="mastodon", target_key="t", url=url, base_url=base)
    assert host_of(item) == host


def test_a_failed_crawl_is_logged_and_a_new_one_starts(db: Database,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from monitor.continuous import run_continuous

    good = FakeCrawl()
    calls: list[int] = []

    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any,
                    settings: Any) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            async for _item in work["rss"]:  # claims one, then the crawl breaks
                raise RuntimeError("the crawl broke")
        return await good(work, sink, settings)

    worker = Worker(db, settings(default_interval="1h"), crawl)
    worker.sync(parse_watchlist(watchlist(healthy=3, hanging=0, interval="1h")).targets)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(run_continuous(worker, stop=stop))
        async with asyncio.timeout(20):
            await good.wait_until(lambda: sum(good.fetched.values()) >= 3, task)
        stop.set()
        await task

    asyncio.run(main())
    assert len(calls) == 2
    assert "the crawl broke" in caplog.text
    # The broken crawl's claim was given back and checked by the next crawl.
    assert sorted(good.fetched.values()) == [1, 1, 1]
    worker.close()



READS = "(reads)"


def counting(worker: Worker) -> tuple[Counter[tuple[str, bool]], Counter[str]]:
    """Count the worker's claims by (platform, found work) and its reads of next due
    times, as the loop makes them: by platform read, and under ``READS`` the reads
    themselves (one may read several platforms)."""
    claims: Counter[tuple[str, bool]] = Counter()
    looks: Counter[str] = Counter()
    claim, next_due = worker._claim, worker._next_due

    def counted_claim(platform: str, *args: Any) -> list[WorkItem]:
        items = claim(platform, *args)
        claims[(platform, bool(items))] += 1
        return items

    def counted_look(platforms: list[str], *args: Any) -> Any:
        looks.update(platforms)
        looks[READS] += 1
        return next_due(platforms, *args)

    worker._claim = counted_claim  # type: ignore[method-assign]
    worker._next_due = counted_look  # type: ignore[method-assign]
    return claims, looks


def test_fetches_ending_make_no_claims_of_a_platform_with_nothing_due(db: Database) -> None:
    # Twenty feeds due every 0.2 s end fetches all the time, two at once (their host's
    # cap); TICK is 0.5 s. Every other platform has nothing scheduled: each claims once
    # at its start, then they read their next due times together once a TICK, never
    # at a fetch's end.
    worker = Worker(db, settings(tick="0.5s", default_interval="0.2s"), FakeCrawl())
    worker.sync(parse_watchlist(watchlist(healthy=20, hanging=0, interval="0.2s")).targets)
    claims, looks = counting(worker)
    loop = Continuous(worker, drain=0.2)
    crawl = worker.crawl
    assert isinstance(crawl, FakeCrawl)
    began = time.monotonic()
    asyncio.run(run_until(loop, lambda: sum(crawl.fetched.values()) >= 60))
    ticks = (time.monotonic() - began) / 0.5
    worker.close()

    assert len(crawl.fetched) == 20
    idle = {p for p, _ in claims} - {"rss"}
    assert idle  # every platform's stream claimed at its start
    for platform in idle:
        assert (claims[(platform, False)], claims[(platform, True)]) == (1, 0), claims
        assert 1 <= looks[platform] <= ticks + 2, (platform, looks, ticks)
    # The idle platforms look together: one read a TICK for all of them (each read
    # alone at its start, after its claim), not one each.
    assert looks[READS] - looks["rss"] <= len(idle) + ticks + 2, (looks, ticks)
    # The feeds' own platform: a claim that found nothing waits for the next due time.
    assert claims[("rss", True)] >= 3
    assert claims[("rss", False)] <= claims[("rss", True)] + ticks + 2, (claims, ticks)


def test_a_platform_with_nothing_scheduled_claims_work_added_while_it_waits(
        db: Database) -> None:
    worker = Worker(db, settings(tick="0.2s", default_interval="1h"), FakeCrawl())
    claims, looks = counting(worker)
    loop = Continuous(worker, drain=0.2)
    crawl = worker.crawl
    assert isinstance(crawl, FakeCrawl)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(loop.run(stop))
        async with asyncio.timeout(20):
            while looks["rss"] < 2:  # found nothing, and looked again a TICK later
                await asyncio.sleep(0.05)
            await asyncio.to_thread(worker.sync, parse_watchlist(
                watchlist(healthy=3, hanging=0, interval="1h")).targets)
            await crawl.wait_until(lambda: sum(crawl.fetched.values()) >= 3, task)
        stop.set()
        await task

    asyncio.run(main())
    worker.close()
    assert sorted(crawl.fetched.values()) == [1, 1, 1]
    assert claims[("rss", False)] == 1  # at the start; then reads until work was due
    assert claims[("rss", True)] >= 1


def test_work_a_claim_gives_back_is_claimed_again_a_tick_later_not_at_once(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    # The feed names a vantage point this worker does not know (its watchlist is older
    # than the one synced): every claim gives the row back, due at once.
    text = watchlist(healthy=1, hanging=0, interval="1h").replace(
        "[groups.g]\n", '[vantages.nl]\nproxy = "socks5://127.0.0.1:1080"\ncountry = "NL"\n'
                        '[groups.g]\nvantages = ["nl"]\n')
    Worker(db, settings(), FakeCrawl()).sync(parse_watchlist(text).targets)
    worker = Worker(db, settings(tick="0.3s"), FakeCrawl())
    claims, _ = counting(worker)
    loop = Continuous(worker, drain=0.2)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(loop.run(stop))
        await asyncio.wait([task], timeout=1.5)  # the loop runs; nothing here to wait for
        stop.set()
        await task

    began = time.monotonic()
    asyncio.run(main())
    ticks = (time.monotonic() - began) / 0.3
    worker.close()
    assert "reload the watchlist" in caplog.text
    assert loop.claimed == 0 and claims[("rss", True)] == 0
    assert 2 <= claims[("rss", False)] <= ticks + 2, (claims, ticks)


def test_idle_platforms_share_one_read_that_wakes_the_one_with_work_due(
        db: Database) -> None:
    """Two streams looking at once share one read; a platform it finds due is free to
    claim at once (and woken), one with nothing scheduled waits a TICK; the database
    away: every platform read waits a TICK and stays unscheduled."""
    worker = Worker(db, settings(tick="0.5s"), FakeCrawl())
    loop = Continuous(worker)
    reads: list[list[str]] = []
    now = worker.clock.now()
    answer: Any = {"rss": now, "mastodon": None}

    def next_due(platforms: list[str], at: Any) -> Any:
        reads.append(list(platforms))
        if isinstance(answer, Exception):
            raise answer
        return answer

    worker._next_due = next_due  # type: ignore[method-assign]

    async def main() -> tuple[float, float]:
        clock = asyncio.get_running_loop().time()
        loop.unscheduled.update({"rss", "mastodon"})
        loop.quiet["rss"] = 0.0
        await asyncio.gather(loop._survey(), loop._survey())
        assert loop._room.is_set()  # the streams wake to act on it
        return clock, loop.quiet.get("mastodon", 0.0)

    began, quiet_until = asyncio.run(main())
    assert reads == [["mastodon", "rss"]]
    assert "rss" not in loop.unscheduled and "rss" not in loop.quiet  # claims now
    assert "mastodon" in loop.unscheduled
    assert began + 0.4 <= quiet_until <= began + 1.5  # a TICK on

    answer = StorageUnavailable("the database is away")
    loop.unscheduled.update({"rss"})
    asyncio.run(loop._survey())
    assert reads[-1] == ["mastodon", "rss"]
    assert loop.unscheduled == {"rss", "mastodon"}
    assert set(loop.quiet) == {"rss", "mastodon"}  # both wait a TICK
    worker.close()


@pytest.mark.parametrize("joins", [True, False])
def test_the_recording_moves_when_a_worker_joins_this_machine_and_loses_nothing(
        db: Database, monkeypatch: pytest.MonkeyPatch, joins: bool) -> None:
    """RECORDER = auto on two CPUs: a recorder process while the worker is alone on its
    machine; a worker joining it moves the recording to a thread mid-crawl (one that
    leaves moves it back), and every observation handed over is recorded once."""
    monkeypatch.setattr(recording, "usable_cpus", lambda: 2)
    targets = parse_watchlist(watchlist(healthy=6, hanging=0, interval="0.1s")).targets
    worker = Worker(db, settings(default_interval="0.1s"), FakeCrawl())
    worker.presence.machine = "shared"
    other = workers.Presence(db.url, "other", machine="shared")
    if not joins:  # there from the start, and leaves
        assert other.ensure() is not None
    worker.sync(targets)
    loop = Continuous(worker, drain=0.5)
    loop.recording.place_at, loop.recording.place_every = (), 0.1
    crawl = worker.crawl
    assert isinstance(crawl, FakeCrawl)
    first = "thread" if not joins else "process"
    seen: list[str] = []

    def done() -> bool:
        fetched = sum(crawl.fetched.values())
        if fetched and (not seen or seen[-1] != worker.recording):  # once it records
            seen.append(worker.recording)
        if fetched >= 12 and len(seen) == 1:
            if joins:
                other.ensure()
            else:
                other.close()
        return len(seen) == 2 and fetched >= 40

    try:
        asyncio.run(run_until(loop, done))
    finally:
        other.close()
    assert seen == [first, "thread" if joins else "process"]
    assert worker._process is None if joins else worker._process is not None
    with db.transaction() as conn:
        recorded = conn.execute("SELECT coalesce(sum(repeats), 0) AS n FROM observations"
                                ).fetchone()["n"]
    assert recorded == sum(crawl.fetched.values())  # none lost at the move, none twice
    worker.close()
