"""The worker: claim due work from PostgreSQL, crawl it, record what was observed.

The schedule of *what* is due lives in the database (``targets.next_due``,
``posts.next_check``), so a restart loses nothing and several workers can share
one database (claims use ``FOR UPDATE SKIP LOCKED`` with a lease). Each worker
holds a presence lock (:class:`~monitor.db.workers.Presence`) and every cycle
first gives back the leases of workers whose lock is free: a worker killed with
its claims in flight is replaced at the next tick, not after ``LEASE``. APScheduler
only provides the heartbeat: one coalesced ``cycle`` job every ``TICK`` seconds
(``max_instances=1``, so cycles never overlap; missed ticks after downtime are
coalesced into one run, never replayed).

``takedown run`` uses :func:`run_continuous` (:class:`Continuous`) instead: due
work is claimed as it becomes due, so a slow host delays only itself.

The crawl itself is injected (``spiders.crawl.crawl``), which keeps Scrapy out
of the core. What the cycles record is announced on the worker's
:class:`~monitor.signals.SignalManager` (:mod:`monitor.signals`): alerts,
metrics and the CLI connect there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .claims import PendingKey, host_of, in_flight, pending_key, take_pending
from .clock import SYSTEM_CLOCK, Clock
from .db import Database, continuous, default_data_dir, sync, workers
from .db import tracking as store
from .errors import StorageUnavailable
from .observation import Observation, WorkItem
from .settings import Settings
from .signals import SignalManager
from .snapshot import Aborted, BackgroundRecorder, Recorder
from .spool import Spool
from .vantage import Vantage
from .watchlist_reload import Reload, reload_and_sync

if TYPE_CHECKING:
    from .watchlist import Target

log = logging.getLogger(__name__)

Sink = Callable[[Observation], Awaitable[None]]
#: ``crawl(work by platform, sink, settings)``: returns the crawl's stats, for the log.
CrawlFn = Callable[[Mapping[str, AsyncIterator[WorkItem]], Sink, Settings], Awaitable[object]]


class Worker:
    def __init__(self, db: Database, settings: Settings, crawl: CrawlFn, *,
                 groups: Sequence[str] | None = None,
                 signals: SignalManager | None = None,
                 spool_dir: Path | None = None, clock: Clock = SYSTEM_CLOCK,
                 vantages: Mapping[str, Vantage] | None = None) -> None:
        self.db = db
        self.vantages = dict(vantages or {})  # the watchlist's, by name; sync() learns them
        self.settings = settings
        self.crawl = crawl
        self.groups = list(groups) if groups else None
        #: Where every cycle's recorder sends ``events_stored`` and ``batch_committed``.
        self.signals = signals if signals is not None else SignalManager()
        #: What is due is what is due at ``clock.now()`` (tests inject a ManualClock).
        self.clock = clock
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.cycles = 0
        #: Unwritten observations at a shutdown during an outage; replayed at start.
        self.spool = Spool(spool_dir or _spool_dir(settings, db))
        self._writer: BackgroundRecorder | None = None
        #: This process's seat among the workers (registered at the first cycle).
        self.presence = workers.Presence(db.url, self.name)
        self._seat_lock = threading.Lock()

    def sync(self, targets: Sequence[Target]) -> dict[str, int]:
        """Make the database's targets match the watchlist's; learn their vantage points."""
        self.vantages.update({v.name: v for t in targets for v in getattr(t, "vantages", ())})
        with self.db.transaction() as conn:  # skipped when the database has this set's hash
            return sync.sync_watchlist(conn, targets, self.settings["DEFAULT_INTERVAL"],
                                       self.groups, now=self.clock.now())

    async def cycle(self) -> dict[str, Any]:
        """One pass over everything due now; returns counts."""
        started = self.clock.now()
        began = time.monotonic()
        recorder = Recorder(self.db, self.settings, signals=self.signals)
        try:
            platforms = await asyncio.to_thread(self._platforms_due, started)
        except StorageUnavailable:
            # The database's health tracker logged the outage once; the next tick retries.
            return {"claimed": 0, **recorder.stats, "database": "unavailable"}
        writer = BackgroundRecorder(recorder, batch_size=max(50, self.settings["BATCH_SIZE"]),
                                    spool=self.spool)
        self._writer = writer
        claimed: dict[str, int] = {}
        #: Claimed work with no observation yet, by (mode, row id, vantage name).
        pending: dict[PendingKey, WorkItem] = {}
        work = {p: self._due(p, started, claimed, pending) for p in platforms}

        async def sink(obs: Observation) -> None:
            take_pending(pending, obs)
            await writer.aput(obs)

        crawl_stats: object = None
        try:
            if work:
                crawl_stats = await self.crawl(work, sink, self.settings)
        finally:
            await asyncio.to_thread(writer.close)
            self._writer = None
            if pending:
                # The crawl was cut short: give the unobserved work back now rather
                # than leave it leased for LEASE seconds.
                await asyncio.to_thread(self._release, list(pending.values()))
        self.cycles += 1
        stats = {"claimed": sum(claimed.values()), **recorder.stats,
                 "seconds": round(time.monotonic() - began, 3)}
        if stats["claimed"]:
            log.info("cycle %d: %s (crawl: %s)", self.cycles, stats, crawl_stats)
        return stats

    def _platforms_due(self, now: datetime) -> list[str]:
        """Take (or check) this worker's seat, give back dead workers' leases, and
        return the platforms with work due."""
        with self.db.transaction() as conn:
            platforms = store.platforms_due(conn, now, self.groups)
        if not platforms:
            return platforms
        # After the pool's transaction: during an outage, no direct connection is tried.
        me = self._seat()
        with self.db.transaction() as conn:
            given = workers.reclaim_dead(conn, me)
        if given["targets"] or given["posts"]:
            log.warning("%d worker(s) gone with work claimed: %d listing(s) and %d probe(s) "
                        "given back, to be checked now", given["workers"], given["targets"],
                        given["posts"])
        return platforms

    def close(self) -> None:
        """Leave the workers sharing the database (at exit; a process that dies without
        it leaves just the same, only its leases wait for the next worker's cycle).
        Under the seat lock: a claim thread still finishing cannot take a seat after."""
        with self._seat_lock:
            self.presence.close()

    def stop(self) -> None:
        """Shutdown: stop a cycle's recorder from waiting for the database (what it
        holds is spooled and replayed at the next start)."""
        if self._writer is not None:
            self._writer.stop()

    async def _due(self, platform: str, now: datetime, claimed: dict[str, int],
                   pending: dict[PendingKey, WorkItem]) -> AsyncIterator[WorkItem]:
        """Claim due work lazily, a batch at a time, so memory stays flat. The database
        going away ends the claims (the health tracker logs it); the next tick retries.

        A claim is at most what the spider keeps in flight (MONITOR_MAX_IN_FLIGHT,
        twice CONCURRENT_REQUESTS), not BATCH_SIZE: work claimed ahead of the crawl is
        work no other worker can take, so at the end of a pass one worker would still
        hold a whole batch while the others stand idle."""
        limit = min(int(self.settings["BATCH_SIZE"]), in_flight(self.settings))
        while True:
            try:
                items = await asyncio.to_thread(self._claim, platform, now, limit)
            except StorageUnavailable:
                return
            if not items:
                return
            claimed[platform] = claimed.get(platform, 0) + len(items)
            pending.update((pending_key(item), item) for item in items)
            for item in items:
                yield item

    def _release(self, items: list[WorkItem]) -> None:
        log.warning("releasing %d claimed item(s) the crawl did not observe", len(items))
        try:
            with self.db.transaction() as conn:
                store.release(conn, items)
        except StorageUnavailable:
            log.info("database unavailable: %d lease(s) run out by themselves", len(items))

    def _seat(self) -> int | None:
        """:meth:`Presence.ensure`, one thread at a time: claims of several platforms run
        in threads side by side, and two at once would each take a new seat."""
        with self._seat_lock:
            return self.presence.ensure()

    def _claim(self, platform: str, now: datetime, limit: int | None = None) -> list[WorkItem]:
        me = self._seat()
        with self.db.transaction() as conn:
            return store.claim_due(conn, now, limit or self.settings["BATCH_SIZE"],
                                   self.settings["LEASE"], [platform], self.groups, worker=me,
                                   vantages=self.vantages)

    def _next_due(self, platform: str, now: datetime) -> datetime | None:
        with self.db.transaction() as conn:
            return continuous.next_due(conn, now, platform, self.groups)

    def _renew(self, items: list[WorkItem]) -> None:
        until = self.clock.now() + timedelta(seconds=float(self.settings["LEASE"]))
        with self.db.transaction() as conn:
            continuous.renew(conn, items, until, self.presence.id)


async def run_daemon(worker: Worker, *, reload: Reload | None = None,
                     stop: asyncio.Event | None = None, max_cycles: int | None = None,
                     reload_every: float = 30.0) -> None:
    """Run cycles every TICK seconds until ``stop`` is set (or ``max_cycles`` ran);
    call ``reload`` for the watchlist's targets every ``reload_every`` seconds (None:
    unchanged, nothing to sync; :mod:`monitor.watchlist_reload`)."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    stop = stop or asyncio.Event()
    tick = float(worker.settings["TICK"])
    executor = _draining_executor()
    scheduler = AsyncIOScheduler(timezone=UTC, executors={"default": executor})

    async def cycle() -> None:
        try:
            await worker.cycle()
        except Aborted:
            # Stopped mid-crawl (shutdown): its claimed work is given back; not an error.
            log.info("cycle stopped with the worker; its unrecorded work is given back")
            return
        if max_cycles is not None and worker.cycles >= max_cycles:
            stop.set()

    def reload_watchlist() -> None:
        assert reload is not None
        reload_and_sync(worker, reload)  # unchanged: nothing parsed, nothing written

    def on_job_event(event: JobExecutionEvent) -> None:
        if event.exception is not None:
            log.error("job %s failed: %r; the next tick retries", event.job_id, event.exception)
        else:
            log.warning("job %s missed its run time; coalesced into the next", event.job_id)

    scheduler.add_listener(on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.add_job(cycle, "interval", seconds=tick, id="cycle", coalesce=True,
                      max_instances=1, misfire_grace_time=max(1, int(tick)),
                      next_run_time=datetime.now(UTC))
    if reload is not None:
        scheduler.add_job(reload_watchlist, "interval", seconds=reload_every, id="reload",
                          coalesce=True, max_instances=1, misfire_grace_time=30)
    scheduler.start()
    try:
        await stop.wait()
    finally:
        # No new job; let those in flight end (a cancelled one logs a traceback), the
        # recorder told not to wait for the database; then stop.
        scheduler.pause()
        worker.stop()
        await executor.drain(DRAIN_SECONDS)
        scheduler.shutdown(wait=False)


#: Seconds a stopping daemon waits for the jobs in flight (a cycle, a reload) to end.
DRAIN_SECONDS = 10.0


class Continuous:
    """``takedown run``'s loop: one long-lived crawl over every platform whose work
    iterators claim due work as it becomes due (every TICK, and as soon as a fetch
    ends), never ending until stop; observations are recorded as they come.

    A slow or hanging host delays only itself: at most ``host_cap`` (twice
    CONCURRENT_REQUESTS_PER_HOST) items of one host are handed to its spider at a
    time; more of its claimed work waits here, so it can never fill the spider's
    in-flight window (MONITOR_MAX_IN_FLIGHT) and starve other hosts. Leases of
    claimed work not yet observed are renewed every LEASE/3 seconds. Stop: no more
    claims, the crawl has ``drain`` seconds to finish what is in flight, then it is
    cancelled and the work it did not observe is given back.
    """

    def __init__(self, worker: Worker, *, drain: float = DRAIN_SECONDS) -> None:
        self.worker = worker
        settings = worker.settings
        self.tick = float(settings["TICK"])
        self.host_cap = max(1, 2 * int(settings["CONCURRENT_REQUESTS_PER_HOST"]))
        #: A platform's window: what its spider keeps in flight (MONITOR_MAX_IN_FLIGHT).
        self.window = in_flight(settings)
        self.drain = drain
        self.pending: dict[PendingKey, WorkItem] = {}
        self.hosts: Counter[str] = Counter()
        self.platforms: Counter[str] = Counter()
        #: Claimed work waiting for its host to have room, by (platform, host).
        self.held: defaultdict[tuple[str, str], deque[WorkItem]] = defaultdict(deque)
        self.claimed = 0
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Crawl until ``stop`` is set (or the crawl fails: its error is raised); give
        back what was not observed."""
        from .platforms import PLATFORMS

        worker = self.worker
        recorder = Recorder(worker.db, worker.settings, signals=worker.signals)
        writer = BackgroundRecorder(recorder, batch_size=max(50, worker.settings["BATCH_SIZE"]),
                                    spool=worker.spool)
        worker._writer = writer
        with contextlib.suppress(StorageUnavailable):  # the seat, before claims in threads
            await asyncio.to_thread(worker._seat)

        async def sink(obs: Observation) -> None:
            self._done(obs)
            await writer.aput(obs)

        work = {name: self._stream(name) for name in PLATFORMS}
        crawl = asyncio.ensure_future(worker.crawl(work, sink, worker.settings))
        chores = asyncio.ensure_future(self._chores())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([crawl, stopped], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            self._stopping.set()
            self._room.set()
            done, _ = await asyncio.wait([crawl], timeout=self.drain)
            if not done:
                log.warning("stopping: %d fetch(es) still in flight after %.1f s, cancelled",
                            len(self.pending), self.drain)
                crawl.cancel()
            with contextlib.suppress(asyncio.CancelledError, Aborted):
                await crawl
        finally:
            chores.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chores
            # Flush what was observed; during an outage, spool it after the drain.
            await asyncio.to_thread(writer.close, self.drain)
            worker._writer = None
            if self.pending:
                await asyncio.to_thread(worker._release, list(self.pending.values()))
                self.pending.clear()

    def _done(self, obs: Observation) -> None:
        item = take_pending(self.pending, obs)
        if item is not None and self.hosts[host_of(item)] > 0:
            self.hosts[host_of(item)] -= 1
            self.platforms[item.platform] -= 1
            self._room.set()

    async def _stream(self, platform: str) -> AsyncIterator[WorkItem]:
        """Due work of one platform, claimed as it becomes due and the spider has room."""
        while not self._stopping.is_set():
            room = self.window - self.platforms[platform]
            if room <= 0:  # woken when a fetch of any platform ends
                self._room.clear()
                await self._wait(self._room)
                continue
            take = self._release_held(platform, room)
            claimed = 0
            if len(take) < room:
                claimed = await self._claim(platform, room - len(take))
                take += self._release_held(platform, room - len(take))
            for item in take:
                self._start(item)
                yield item
                if self._stopping.is_set():
                    break
            if not take and not claimed:
                self._room.clear()
                await self._wait(self._room, await self._until_due(platform))

    async def _wait(self, event: asyncio.Event, timeout: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.tick if timeout is None else timeout)

    async def _until_due(self, platform: str) -> float:
        """Seconds until the platform's next work falls due, at most a tick (waiting for
        the tick would add up to a tick to every interval)."""
        worker = self.worker
        now = worker.clock.now()
        try:
            due = await asyncio.to_thread(worker._next_due, platform, now)
        except StorageUnavailable:
            return self.tick
        return self.tick if due is None else min(self.tick,
                                                  max(0.01, (due - now).total_seconds()))

    async def _claim(self, platform: str, limit: int) -> int:
        """Claim up to ``limit`` due items into their hosts' queues; returns how many."""
        worker = self.worker
        try:
            items = await asyncio.to_thread(
                worker._claim, platform, worker.clock.now(),
                min(limit, int(worker.settings["BATCH_SIZE"])))
        except StorageUnavailable:
            return 0
        for item in items:
            self.pending[pending_key(item)] = item
            self.held[(platform, host_of(item))].append(item)
        self.claimed += len(items)
        return len(items)

    def _release_held(self, platform: str, limit: int) -> list[WorkItem]:
        """Up to ``limit`` claimed items of hosts below their cap, oldest claims first."""
        out: list[WorkItem] = []
        for (name, host), queue in self.held.items():
            if name != platform:
                continue
            free = self.host_cap - self.hosts[host] - sum(host_of(i) == host for i in out)
            while queue and free > 0 and len(out) < limit:
                out.append(queue.popleft())
                free -= 1
        return out

    def _start(self, item: WorkItem) -> None:
        self.hosts[host_of(item)] += 1
        self.platforms[item.platform] += 1

    async def _chores(self) -> None:
        """Every TICK: take this worker's seat and give back dead workers' leases; every
        LEASE/3: renew the leases of the work in flight."""
        worker = self.worker
        every = max(self.tick, float(worker.settings["LEASE"]) / 3)
        last_renewal = time.monotonic()
        while True:
            await asyncio.sleep(self.tick)
            try:
                await asyncio.to_thread(worker._platforms_due, worker.clock.now())
                if time.monotonic() - last_renewal >= every and self.pending:
                    last_renewal = time.monotonic()
                    await asyncio.to_thread(worker._renew, list(self.pending.values()))
            except Exception as exc:  # the chores never stop the loop (an outage: logged once)
                if isinstance(exc, StorageUnavailable):
                    continue
                log.error("worker chores failed: %r; the next tick retries", exc)


async def run_continuous(worker: Worker, *,
                         reload: Reload | None = None,
                         stop: asyncio.Event | None = None,
                         reload_every: float = 30.0) -> None:
    """``takedown run``: the continuous loop (:class:`Continuous`) until ``stop`` is set;
    ``reload`` gives the watchlist's targets every ``reload_every`` seconds (None:
    unchanged, nothing to sync; :mod:`monitor.watchlist_reload`)."""
    stop = stop or asyncio.Event()

    async def reloads() -> None:
        assert reload is not None
        while True:
            await asyncio.sleep(reload_every)
            await asyncio.to_thread(reload_and_sync, worker, reload)

    task = asyncio.ensure_future(reloads()) if reload is not None else None
    try:
        while not stop.is_set():
            try:
                await Continuous(worker).run(stop)
            except Exception as exc:  # a crawl that fails never stops the daemon
                log.error("the crawl failed: %r; a new one starts after a tick", exc,
                          exc_info=exc)
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), float(worker.settings["TICK"]))
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _draining_executor() -> Any:
    """APScheduler's asyncio executor that can wait for its jobs in flight: its own
    shutdown cancels them, and each cancelled job is logged as an error."""
    from apscheduler.executors.asyncio import AsyncIOExecutor

    class DrainingExecutor(AsyncIOExecutor):  # type: ignore[misc]
        async def drain(self, timeout: float) -> None:
            pending = [f for f in self._pending_futures if not f.done()]
            if pending:
                await asyncio.wait(pending, timeout=timeout)

    return DrainingExecutor()


def _spool_dir(settings: Settings, db: Database) -> Path:
    """One spool per database, under the data directory."""
    base = Path(settings["DATA_DIR"]) if settings["DATA_DIR"] else default_data_dir()
    return base / "spool" / db.identity
