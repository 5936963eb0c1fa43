"""``takedown run``'s loop: due work claimed as it falls due, one long-lived crawl.

:class:`Continuous` drives one :class:`~monitor.worker.Worker`: its spiders ask
for work as they have room, per host and per platform, and what they observe is
recorded as it comes (the worker's recorder, :meth:`Worker.open_writer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator
from datetime import datetime

from .claims import PendingKey, host_of, in_flight, pending_key, take_pending
from .errors import Aborted, StorageUnavailable
from .observation import Observation, WorkItem
from .recording import Recording
from .watchlist_reload import Reload, reload_and_sync
from .worker import DRAIN_SECONDS, Worker

log = logging.getLogger(__name__)

__all__ = ["Continuous", "host_of", "run_continuous"]


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
        #: By platform: the loop time before which it claims nothing (its next due time,
        #: learnt when a claim came back short; at most a TICK on).
        self.quiet: dict[str, float] = {}
        #: Platforms with nothing scheduled at their last look: they read before claiming,
        #: all of them in one read a TICK (:meth:`_survey`).
        self.unscheduled: set[str] = set()
        self._surveying: asyncio.Future[None] | None = None
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        #: Where observations are recorded (moved as the worker's place changes).
        self.recording = Recording(worker)

    async def run(self, stop: asyncio.Event) -> None:
        """Crawl until ``stop`` is set (or the crawl fails: its error is raised); give
        back what was not observed."""
        from .platforms import PLATFORMS

        worker = self.worker
        # The seat first: before claims in threads, and counted with this machine's.
        with contextlib.suppress(StorageUnavailable):
            await asyncio.to_thread(worker._holder)
        await self.recording.open()

        async def sink(obs: Observation) -> None:
            self._done(obs)
            await self.recording.put(obs)

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
            await self.recording.close(self.drain)
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
        """Due work of one platform, claimed as it becomes due and the spider has room.

        A claim that came back short of what it asked for took everything due: the
        platform then claims again only at its next due time (at most a TICK on),
        however many fetches end meanwhile. Platforms with nothing scheduled at all
        read their next due times once a TICK, all in one read, and claim only when
        something is due."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            room = self.window - self.platforms[platform]
            if room <= 0:  # woken when a fetch of any platform ends
                self._room.clear()
                await self._wait(self._room)
                continue
            take = self._release_held(platform, room)
            short: datetime | None = None  # when a claim that came back short ran
            quiet = loop.time() < self.quiet.get(platform, 0.0)
            if len(take) < room and not quiet and platform in self.unscheduled:
                await self._survey()
                quiet = loop.time() < self.quiet.get(platform, 0.0)
            if len(take) < room and not quiet:
                short = await self._claim(platform, room - len(take))
                take += self._release_held(platform, room - len(take))
            for item in take:
                self._start(item)
                yield item
                if self._stopping.is_set():
                    break
            if short is not None:
                await self._look_ahead([platform], after=short)
                quiet = True
            if not take:
                # Until the next due time; a fetch's end wakes it early only to hand
                # over held work whose host has room now. Nothing taken from a full
                # claim (all of it held for busy hosts): until a fetch ends, or a TICK.
                until = self.quiet[platform] - loop.time() if quiet else self.tick
                self._room.clear()
                await self._wait(self._room, max(0.0, until))

    async def _wait(self, event: asyncio.Event, timeout: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.tick if timeout is None else timeout)

    async def _look_ahead(self, platforms: list[str], *,
                          after: datetime | None = None) -> None:
        """Read when each platform's next work falls due and keep it from claiming until
        then, at most a TICK (waiting for the tick would add up to a tick to every
        interval); one whose work is due now may claim at once. ``after``:
        the time of a claim that came back short; work due by then that it did not take
        (another worker's claim held the row, or the claim gave it back: a vantage
        point this worker does not know) waits a TICK, rather than being claimed again
        and again. The database away: a TICK."""
        worker = self.worker
        now = worker.clock.now()
        try:
            dues = await asyncio.to_thread(worker._next_due, platforms, now)
        except StorageUnavailable:
            dues = {}
        clock = asyncio.get_running_loop().time()
        for platform in platforms:
            due = dues.get(platform)
            if due is None:
                self.unscheduled.add(platform)
                wait = self.tick
            else:
                self.unscheduled.discard(platform)
                wait = min(self.tick, (due - now).total_seconds())
                if after is not None and due <= after:
                    wait = self.tick
                elif wait <= 0 and after is None:
                    self.quiet.pop(platform, None)
                    continue
                wait = max(0.01, wait)
            self.quiet[platform] = clock + wait

    async def _survey(self) -> None:
        """One read of the next due times of every platform with nothing scheduled
        (:meth:`_look_ahead`), shared: a platform that finds one under way waits for
        it. Each read moves every such platform's next look to the same time, so
        idle platforms look together, once a TICK, rather than each on its own. The
        streams then wake to act on what it found (work due now: a claim)."""
        if self._surveying is None or self._surveying.done():
            self._surveying = asyncio.ensure_future(self._look_ahead(sorted(self.unscheduled)))
            self._surveying.add_done_callback(lambda _: self._room.set())
        await asyncio.shield(self._surveying)

    async def _claim(self, platform: str, limit: int) -> datetime | None:
        """Claim up to ``limit`` due items into their hosts' queues; when the claim came
        back short (nothing more is due now) or the database is away, the time it ran
        at, else None."""
        worker = self.worker
        limit = min(limit, int(worker.settings["BATCH_SIZE"]))
        now = worker.clock.now()
        try:
            items = await asyncio.to_thread(worker._claim, platform, now, limit)
        except StorageUnavailable:
            return now
        for item in items:
            key = pending_key(item)
            if key in self.pending:
                # Claimed again while its first claim is in flight (its lease was given
                # back under it): that fetch answers both; a second would leave one
                # answer without its claim, and its host's count never coming down.
                # The answer is the new claim's, under its seat (the old seat's lease
                # is gone: recorded as that seat's, it would be fenced or left held).
                self.pending[key].seat = item.seat
                log.warning("%s %s was claimed again while in flight here; not fetched "
                            "twice", item.mode, item.post_key or item.target_key)
                continue
            self.pending[key] = item
            self.held[(platform, host_of(item))].append(item)
            self.claimed += 1
        return now if len(items) < limit else None

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
