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

``takedown run`` uses :func:`monitor.continuous.run_continuous` instead: due
work is claimed as it becomes due, so a slow host delays only itself.

The crawl itself is injected (``spiders.crawl.crawl``), which keeps Scrapy out
of the core. What the cycles record is announced on the worker's
:class:`~monitor.signals.SignalManager` (:mod:`monitor.signals`): alerts,
metrics and the CLI connect there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import holding
from .claims import PendingKey, in_flight, pending_key, take_pending
from .clock import SYSTEM_CLOCK, Clock
from .cpus import machine_id
from .db import Database, claims, continuous, default_data_dir, sync, workers
from .errors import Aborted, StorageUnavailable
from .observation import Observation, WorkItem
from .recorder_priority import STARVED_LOOKS
from .recorder_process import RecorderProcess
from .recording import Recording, recording_for
from .settings import Settings
from .signals import SignalManager
from .spool import Spool
from .vantage import Vantage
from .watchlist_reload import Reload, reload_and_sync

if TYPE_CHECKING:
    from .snapshot import BackgroundRecorder
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
                 vantages: Mapping[str, Vantage] | None = None,
                 recording: str | None = None) -> None:
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
        self._writer: BackgroundRecorder | RecorderProcess | None = None
        #: ``process`` or ``thread``: where observations are recorded (RECORDER; ``auto``
        #: is a process where two CPUs are there for each worker of this machine,
        #: :meth:`place`).
        self.recording = recording or recording_for(settings["RECORDER"])
        #: Whether :meth:`place` may move the recording (RECORDER = auto, not forced).
        self.placing = recording is None and settings["RECORDER"] == "auto"
        #: The recorder process's scheduling (RECORDER_PRIORITY); ``normal`` for the rest
        #: of this worker's life once an ``idle`` one starved (:meth:`_unstarve`).
        self.priority: str = settings["RECORDER_PRIORITY"]
        #: Looks in a row that found the idle recorder process starved.
        self._starved = 0
        self._process: RecorderProcess | None = None
        #: Recorder processes replaced (by one at normal priority), ended once closed.
        self._retired: list[RecorderProcess] = []
        #: This process's seat among the workers (registered at the first cycle).
        self.presence = workers.Presence(db.url, self.name, machine=machine_id())
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
        try:
            platforms = await asyncio.to_thread(self._platforms_due, started)
        except StorageUnavailable:
            # The database's health tracker logged the outage once; the next tick retries.
            return {"claimed": 0, **holding.zero_stats(), "database": "unavailable"}
        recording = Recording(self)
        await recording.open()
        claimed: dict[str, int] = {}
        #: Claimed work with no observation yet, by (mode, row id, vantage name).
        pending: dict[PendingKey, WorkItem] = {}
        #: Claims running (each platform's next batch, see _due).
        claiming: set[asyncio.Future[list[WorkItem]]] = set()
        work = {p: self._due(p, started, claimed, pending, claiming) for p in platforms}

        async def sink(obs: Observation) -> None:
            take_pending(pending, obs)  # and obs takes the seat its work was claimed under
            await recording.put(obs)

        crawl_stats: object = None
        renewing = asyncio.ensure_future(self._renewing(pending))
        try:
            if work:
                crawl_stats = await self.crawl(work, sink, self.settings)
        finally:
            renewing.cancel()
            recorded = await recording.close()
            self._writer = None
            # A claim still running when the crawl ended (its next batch, taken ahead):
            # once it returns, its items are pending too, and given back with the rest.
            await asyncio.gather(*claiming, return_exceptions=True)
            if pending:
                # The crawl was cut short: give the unobserved work back now rather
                # than leave it leased for LEASE seconds.
                await asyncio.to_thread(self._release, list(pending.values()))
        self.cycles += 1
        stats = {"claimed": sum(claimed.values()), **recorded,
                 "seconds": round(time.monotonic() - began, 3)}
        if stats["claimed"]:
            log.info("cycle %d: %s (crawl: %s)", self.cycles, stats, crawl_stats)
        return stats

    def _platforms_due(self, now: datetime) -> list[str]:
        """Take (or check) this worker's seat, give back dead workers' leases, and
        return the platforms with work due."""
        with self.db.transaction() as conn:
            platforms = claims.platforms_due(conn, now, self.groups)
        if not platforms:
            return platforms
        # After the pool's transaction: during an outage, no direct connection is tried.
        me = self._holder()
        with self.db.transaction() as conn:
            given = workers.reclaim_dead(conn, me)
        if given["targets"] or given["posts"]:
            log.warning("%d worker(s) gone with work claimed: %d listing(s) and %d probe(s) "
                        "given back, to be checked now", given["workers"], given["targets"],
                        given["posts"])
        return platforms

    @property
    def watching(self) -> bool:
        """Whether a recording should call :meth:`place` now and then: RECORDER = auto,
        or a recorder process at idle priority (:meth:`_unstarve`)."""
        return self.placing or self.priority == "idle"

    def place(self) -> bool:
        """RECORDER = auto: where this worker records now, from the CPUs it may use
        shared among the live workers of its machine (their seats; this one counts
        itself); True when that moved it. The database away leaves it where it is.
        First, a recorder process at idle priority that starved is seen to
        (:meth:`_unstarve`)."""
        moved = self._unstarve()
        machine = self.presence.machine
        if not self.placing or machine is None:
            return moved
        try:
            with self.db.transaction() as conn:
                sharing = workers.on_machine(conn, machine)
        except StorageUnavailable:
            return False
        if self.presence.id is None:  # no seat (yet): it runs on this machine all the same
            sharing += 1
        place = recording_for("auto", sharing=sharing)
        where = "a process of its own" if place == "process" else "a thread"
        if place == self.recording:
            log.debug("%d worker(s) share this machine's CPUs: recording stays in %s "
                      "(RECORDER = auto)", sharing, where)
            return moved
        log.info("%d worker(s) share this machine's CPUs: recording in %s from now on "
                 "(RECORDER = auto)", sharing, where)
        self.recording = place
        return True

    def _unstarve(self) -> bool:
        """RECORDER_PRIORITY = idle: a recorder process found starved at
        :data:`STARVED_LOOKS` looks in a row (the crawl waited on it while it waited for a
        CPU, see :mod:`monitor.recorder_priority`) is lifted to normal scheduling; where the
        system refuses that, True: the recording moves to a new recorder process at
        normal priority (:meth:`open_writer`). Either way for the rest of this worker's
        life."""
        process = self._process
        if self.recording != "process" or process is None or self.priority != "idle":
            return False
        span = process.judge()
        if process.priority != "idle":  # the child refused SCHED_IDLE: nothing to watch
            self.priority = process.priority
        if span is None:
            return False
        log.debug("the recorder process at idle priority: %s", span)
        self._starved = self._starved + 1 if span.starved else 0
        if self._starved < STARVED_LOOKS:
            return False
        self.priority = "normal"
        refused = process.lift()
        if refused is None:
            log.warning("the recorder process at idle priority fell behind (%s): it runs "
                        "at normal priority from now on (RECORDER_PRIORITY = idle)", span)
            return False
        log.warning("the recorder process at idle priority fell behind (%s) and cannot "
                    "leave it (%s): the recording moves to a new recorder process at "
                    "normal priority (RECORDER_PRIORITY = idle)", span, refused)
        return True

    def open_placed(self) -> BackgroundRecorder | RecorderProcess:
        """:meth:`place`, then :meth:`open_writer` (a recorder process no longer used
        ends first, and one replaced by it: between cycles they hold nothing)."""
        self.place()
        self.retire_process()
        writer = self.open_writer()
        self.retire_process()
        return writer

    def retire_process(self) -> None:
        """End the recorder process once this worker records in a thread, and one
        replaced (what each still holds is committed first)."""
        while self._retired:
            self._retired.pop().shutdown()
        if self.recording != "process" and self._process is not None:
            self._process.shutdown()
            self._process = None

    def open_writer(self) -> BackgroundRecorder | RecorderProcess:
        """The recorder of a cycle (or of the continuous loop), fed with ``aput`` and
        flushed with ``close``: the worker's recorder process, started if it is not
        running (RECORDER = process), or a writer thread of this process."""
        # A transaction's worth: what BATCH_SIZE claims at once (at least 50), but never
        # more than holding.BATCH_COUNT held in memory while it is written.
        batch = min(max(50, int(self.settings["BATCH_SIZE"])), holding.BATCH_COUNT)
        if self.recording == "process":
            if self._process is None or self._process.priority != self.priority:
                process = RecorderProcess(self.db, self.settings, signals=self.signals,
                                          spool=self.spool, batch_size=batch,
                                          priority=self.priority)
                if self._process is not None:  # replaced: ended by retire_process
                    self._retired.append(self._process)
                self._process = process
            writer: BackgroundRecorder | RecorderProcess = self._process.open()
        else:
            # Loaded only here: with RECORDER = process this process never records, and
            # the recorder's modules (the lifecycle, the diff engine, the evidence
            # archive) are the recorder process's alone.
            from .snapshot import BackgroundRecorder, Recorder

            writer = BackgroundRecorder(Recorder(self.db, self.settings, signals=self.signals),
                                        batch_size=batch, spool=self.spool)
        self._writer = writer
        return writer

    def close(self) -> None:
        """Leave the workers sharing the database (at exit; a process that dies without
        it leaves just the same, only its leases wait for the next worker's cycle).
        The recorder process first commits what it holds. Under the seat lock: a claim
        thread still finishing cannot take a seat after."""
        self.retire_process()
        if self._process is not None:
            self._process.shutdown()
            self._process = None
        with self._seat_lock:
            self.presence.close()

    def stop(self) -> None:
        """Shutdown: stop a cycle's recorder from waiting for the database (what it
        holds is spooled and replayed at the next start)."""
        if self._writer is not None:
            self._writer.stop()

    async def _due(self, platform: str, now: datetime, claimed: dict[str, int],
                   pending: dict[PendingKey, WorkItem],
                   claiming: set[asyncio.Future[list[WorkItem]]]) -> AsyncIterator[WorkItem]:
        """Claim due work lazily, a batch at a time, so memory stays flat; the next batch
        is claimed while the crawl takes this one's items, so the crawl never stands idle
        for a claim's round trip (it did, at every batch: about 7% of a cycle). The
        database going away ends the claims (the health tracker logs it); the next tick
        retries.

        A claim is at most what the spider keeps in flight (MONITOR_MAX_IN_FLIGHT,
        twice CONCURRENT_REQUESTS), not BATCH_SIZE: work claimed ahead of the crawl is
        work no other worker can take, so at the end of a pass one worker would still
        hold a whole batch while the others stand idle. A batch's items are ``pending``
        as soon as its claim returns, yielded or not, so a crawl cut short gives them
        back with the rest (:meth:`cycle` waits for the claims still in ``claiming``)."""
        limit = min(int(self.settings["BATCH_SIZE"]), in_flight(self.settings))

        def taken(claim: asyncio.Future[list[WorkItem]]) -> None:
            claiming.discard(claim)
            if claim.cancelled() or claim.exception() is not None:
                return
            items = claim.result()
            claimed[platform] = claimed.get(platform, 0) + len(items)
            pending.update((pending_key(item), item) for item in items)

        def claim_next() -> asyncio.Future[list[WorkItem]]:
            claim = asyncio.ensure_future(asyncio.to_thread(self._claim, platform, now, limit))
            claiming.add(claim)
            claim.add_done_callback(taken)  # before any awaiter's: pending is filled first
            return claim

        claim = claim_next()
        while True:
            try:
                # Shielded: a crawl that stops waiting leaves the claim to finish, and
                # its items pending, rather than leased to nobody.
                items = await asyncio.shield(claim)
            except StorageUnavailable:
                return
            if not items:
                return
            claim = claim_next()
            for item in items:
                yield item

    def _release(self, items: list[WorkItem]) -> None:
        log.warning("releasing %d claimed item(s) the crawl did not observe", len(items))
        try:
            with self.db.transaction() as conn:
                claims.release(conn, items)
        except StorageUnavailable:
            log.info("database unavailable: %d lease(s) run out by themselves", len(items))

    def _holder(self) -> int:
        """:meth:`Presence.holder` (the seat, or the seatless token), one thread at a
        time: claims of several platforms run in threads side by side, and two at once
        would each take a new seat."""
        with self._seat_lock:
            return self.presence.holder()

    def _claim(self, platform: str, now: datetime, limit: int | None = None) -> list[WorkItem]:
        me = self._holder()
        with self.db.transaction() as conn:
            return claims.claim_due(conn, now, limit or self.settings["BATCH_SIZE"],
                                   self.settings["LEASE"], [platform], self.groups, worker=me,
                                   vantages=self.vantages)

    def _next_due(self, platforms: Sequence[str], now: datetime) -> dict[str, datetime | None]:
        """When each platform's next work falls due (None: nothing scheduled)."""
        with self.db.transaction() as conn:
            return continuous.next_due(conn, now, platforms, self.groups)

    async def _renewing(self, pending: dict[PendingKey, WorkItem]) -> None:
        """Every LEASE/3 while a cycle crawls, renew the leases of its work in flight,
        as the continuous loop's chores do: a live worker's claims stay its own however
        long an item waits (a host's pause, a Retry-After), instead of running out after
        LEASE and being claimed and checked again by another worker."""
        every = float(self.settings["LEASE"]) / 3
        while True:
            await asyncio.sleep(every)
            if pending:
                try:
                    await asyncio.to_thread(self._renew, list(pending.values()))
                except StorageUnavailable:
                    continue  # logged once by the health tracker; the next turn retries
                except Exception as exc:  # never ends the renewals (the chores' rule)
                    log.error("renewing the leases in flight failed: %r; the next turn "
                              "retries", exc)

    def _renew(self, items: list[WorkItem]) -> None:
        """Renew the leases of ``items`` still held by the seat each was claimed under."""
        until = self.clock.now() + timedelta(seconds=float(self.settings["LEASE"]))
        with self.db.transaction() as conn:
            continuous.renew(conn, items, until)


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
