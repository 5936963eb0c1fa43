"""Snapshot: write what the spiders observed, diff it and store the events that follow.

:class:`Recorder` takes batches of observations and, in ONE transaction per
batch, locks the rows involved, runs the :mod:`~monitor.lifecycle` over them and
writes the result (new versions, observation runs, post and target rows,
events, released leases). A crash before commit loses nothing: the dead
process's leases are given back at the next cycle of any worker (its presence
lock is free, :class:`~monitor.db.workers.Presence`) and the work is done again;
a crash after commit cannot repeat an event, because each event's
``dedupe_key`` names the post's transition. Each observation names the worker
seat its work was claimed under (:attr:`~monitor.observation.Observation.seat`),
and is committed only while that seat is still a worker's
(:func:`~monitor.db.workers.hold_seat`): neither a recorder process that outlives
its killed worker nor a worker that lost its seat and took a new one writes over
work another worker took back.

:class:`BackgroundRecorder` runs a Recorder in a writer thread fed by a bounded
queue, so the crawl keeps fetching while the database writes, and waits when
the database falls behind (backpressure instead of unbounded memory).

The Recorder announces what it stored through :mod:`monitor.signals`:
``events_stored`` inside each batch's transaction, ``batch_committed`` after it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from . import cadence, diff
from .collector import CollectorHealth
from .db import Connection, Database, claims, workers
from .db import tracking as store
from .errors import Aborted, StorageClosed, StorageUnavailable
from .events import Event
from .holding import BATCH_BYTES, BATCH_COUNT, QUEUE_BYTES, ByteQueue, weight, zero_stats
from .lifecycle import Lifecycle, PostRow, PostState, Rules, window_start
from .observation import Observation, Outcome, PostContent, sanitise
from .signals import SignalManager, batch_committed, batch_fenced, events_stored
from .spool import Spool

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: The recorder's pause between attempts while the database is away (first, cap;
#: doubling). The cap stays short: an attempt in an outage already waits out the
#: pool's timeout while the pool reconnects, so a longer pause only delays the batch
#: after the server is back (at 30 s, by up to 30 s: the crawl waits meanwhile).
RETRY_BACKOFF = (0.5, 5.0)


class _Ids:
    """Row ids handed out in blocks from the table sequences."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.free: dict[str, list[int]] = {}

    def __call__(self, table: str) -> int:
        free = self.free.setdefault(table, [])
        if not free:
            free.extend(reversed(store.allocate_ids(self.conn, table, 256)))
        return free.pop()


class SeatTaken(Exception):
    """Worker seats some of a batch's observations were claimed under were taken back
    (their worker was found dead): their leases are another worker's now; nothing of
    the batch was written."""

    def __init__(self, seats: frozenset[int]) -> None:
        super().__init__(f"worker seat(s) {', '.join(map(str, sorted(seats)))} taken back")
        #: The seats taken back.
        self.seats = seats


class Recorder:
    """Applies observations to the database, one transaction per batch.

    Every observation is :func:`~monitor.observation.sanitise`\\ d on its way in.
    A connection fault is retried with capped back-off until the database is
    back (or :attr:`abort` is set); any other failure is isolated by splitting
    the batch, so the rest commits and the observation at fault is recorded as
    ``malformed`` with the reason instead. A failing ``events_stored`` receiver
    is such a failure of its batch.

    The seat fence: an observation is committed only while the worker seat its
    work was claimed under (:attr:`~monitor.observation.Observation.seat`) is still
    a worker's; the observations of a seat taken back are dropped and announced with
    ``batch_fenced``, the rest of their batch commits. An observation of no seat (a
    seatless worker's claim, a spool replay, a tool) is not fenced.
    """

    def __init__(self, db: Database, settings: Mapping[str, Any], *,
                 signals: SignalManager | None = None,
                 sleep: Callable[[float], object] | None = None,
                 backoff: tuple[float, float] = RETRY_BACKOFF) -> None:
        self.db = db
        self.rules = Rules.from_settings(settings)
        #: Where ``events_stored`` and ``batch_committed`` are sent.
        self.signals = signals if signals is not None else SignalManager()
        #: Set to stop retrying during an outage: :meth:`record` raises :class:`Aborted`.
        self.abort = threading.Event()
        #: Waits between retries; the default wakes up at once when aborted.
        self.sleep = sleep or self.abort.wait
        self.backoff = backoff
        #: Collector health: marks what a blocked collector saw before the lifecycle reads it.
        self.health = CollectorHealth.from_settings(settings)
        self.stats = zero_stats()

    def record(self, observations: Sequence[Observation]) -> list[Event]:
        """Store a batch; returns its stored events. Raises only :class:`Aborted`."""
        if not observations:
            return []
        batch = sorted((sanitise(o) for o in observations), key=lambda o: o.observed_at)
        stored: list[Observation] = []
        fenced: list[Observation] = []
        events = self._isolate(batch, stored, fenced)
        self.stats["observations"] += len(stored)
        self.stats["events"] += len(events)
        if stored:  # receivers' errors are logged by the manager: recording goes on
            self.signals.send(batch_committed, observations=stored, events=events)
        if fenced:
            self.stats["fenced"] += len(fenced)
            log.warning("%d observation(s) not recorded: their worker's seat was taken back "
                        "as a dead worker's, so that work is another worker's now",
                        len(fenced))
            self.signals.send(batch_fenced, observations=fenced)
        return events

    def _isolate(self, batch: list[Observation], stored: list[Observation],
                 fenced: list[Observation], top: bool = True) -> list[Event]:
        """Record ``batch``; on a failure that is not the connection's, split it in
        halves until the observation at fault stands alone (log2 n extra tries).
        The observations of a seat taken back go to ``fenced``, unwritten; the rest
        is recorded without them."""
        try:
            events = self._retrying(lambda: self._record_once(batch))
        except Aborted:
            raise
        except SeatTaken as taken:
            fenced.extend(o for o in batch if o.seat in taken.seats)
            rest = [o for o in batch if o.seat not in taken.seats]
            return self._isolate(rest, stored, fenced, top) if rest else []
        except Exception as exc:
            if len(batch) == 1:
                return self._poison(batch[0], exc, stored, fenced)
            if top:
                log.info("a batch of %d observations failed (%s); isolating the one(s) at "
                         "fault", len(batch), _reason(exc))
            half = len(batch) // 2
            return (self._isolate(batch[:half], stored, fenced, False)
                    + self._isolate(batch[half:], stored, fenced, False))
        self.stats["batches"] += 1
        stored.extend(batch)
        return events

    def _poison(self, obs: Observation, exc: Exception,
                stored: list[Observation], fenced: list[Observation]) -> list[Event]:
        """Record ``obs`` as ``malformed`` with the reason and no content; if even that
        fails, give its lease back so the work is done again."""
        reason = _reason(exc)
        where = f"{obs.mode} of {obs.target_key}" + (f" post {obs.post_key}"
                                                      if obs.post_key else "")
        stand_in = sanitise(Observation(
            mode=obs.mode, platform=obs.platform, target_key=obs.target_key, url=obs.url,
            outcome=Outcome.MALFORMED, row_id=obs.row_id, post_key=obs.post_key,
            http_status=obs.http_status, final_url=obs.final_url, body_hash=obs.body_hash,
            detail=f"could not be stored: {reason}", vantage=obs.vantage,
            observed_at=obs.observed_at, elapsed_ms=obs.elapsed_ms, seat=obs.seat))
        try:
            events = self._retrying(lambda: self._record_once([stand_in]))
        except Aborted:
            raise
        except SeatTaken:
            fenced.append(obs)
            return []
        except Exception as again:
            self.stats["unstorable"] += 1
            log.error("%s could not be stored (%s), nor as malformed (%s); its lease is "
                      "given back so it is checked again", where, reason, _reason(again))
            try:
                self._retrying(lambda: self._release(obs))
            except Aborted:
                raise
            except Exception as failed:
                log.error("lease of %s not given back (%s); it runs out by itself", where,
                          _reason(failed))
            return []
        log.warning("%s recorded as malformed: the observation as served was refused (%s)",
                    where, reason)
        self.stats["malformed"] += 1
        self.stats["batches"] += 1
        stored.append(stand_in)
        return events

    def _release(self, obs: Observation) -> None:
        with self.db.transaction() as conn:
            claims.release_rows(conn, obs.mode, [obs.row_id], seat=obs.seat)

    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt`` until it stops failing on connection faults (the database's
        :class:`~monitor.db.Health` logs the outage once); other errors propagate. A
        database this process closed is no fault to wait out: :class:`Aborted` at once."""
        base, cap = self.backoff
        failures = 0
        while True:
            try:
                return attempt()
            except StorageClosed as exc:  # this process is stopping: no retry can succeed
                raise Aborted(_reason(exc)) from exc
            except StorageUnavailable as exc:
                self.stats["db_retries"] += 1
                if self.abort.is_set():
                    raise Aborted(_reason(exc)) from exc
                self.sleep(cadence.backoff(failures, base, cap))
                if self.abort.is_set():
                    raise Aborted(_reason(exc)) from exc
                failures += 1

    def fresh(self, observations: Sequence[Observation]) -> list[Observation]:
        """Of spooled ``observations``, those whose target or post has not been checked
        since (replaying an older one would undo a newer state)."""
        def query() -> set[tuple[str, int]]:
            with self.db.transaction() as conn:
                return {(mode, row_id) for mode in ("listing", "probe") for row_id in
                        store.checked_since(conn, mode, [(o.row_id, o.observed_at)
                                                         for o in observations
                                                         if o.mode == mode])}
        done = self._retrying(query)
        return [o for o in observations if (o.mode, o.row_id) not in done]

    def _record_once(self, observations: Sequence[Observation]) -> list[Event]:
        with self.db.transaction() as conn:
            # The seat fence, per claim-time seat: each held until the commit, so no
            # reclaim comes between (a batch mixes seats after its worker took a new one).
            seats = sorted({o.seat for o in observations if workers.is_seat(o.seat)})
            taken = frozenset(s for s in seats if not workers.hold_seat(conn, s))
            if taken:
                raise SeatTaken(taken)
            ids = _Ids(conn)
            probes = [o for o in observations if o.mode == "probe"]
            listings = [o for o in observations if o.mode == "listing"]
            posts = store.lock_posts(conn, [o.row_id for o in probes])
            target_ids = {o.row_id for o in listings} | {p.target_id for p in posts.values()}
            targets = store.lock_targets(conn, target_ids)
            contents: dict[int, diff.Normalised | None] = {}

            def old_content(post_id: int) -> diff.Normalised | None:
                if post_id not in contents:
                    raw = store.version_contents(conn, [post_id]).get(post_id)
                    contents[post_id] = diff.Normalised.from_json(raw) if raw else None
                return contents[post_id]

            self.health.screen(observations, conn)
            life = Lifecycle(self.rules, ids, old_content)
            for obs in sorted(observations, key=lambda o: o.observed_at):
                if obs.mode == "listing":
                    target = targets.get(obs.row_id)
                    if target is None:
                        log.warning("observation for unknown target %s dropped", obs.target_key)
                        continue
                    entries = obs.entries or []
                    oldest = window_start(obs)
                    keys = [e.key for e in entries] + [t[0] for t in obs.tombstones]
                    affected = store.lock_listing_posts(conn, target.id, keys, oldest)
                    for key, row in affected.items():  # share rows already in this batch
                        affected[key] = posts.setdefault(row.id, row)
                    for row in posts.values():  # posts created earlier in this batch
                        if row.is_new and row.target_id == target.id:
                            affected.setdefault(row.post_key, row)
                    life.listing(target, affected, obs,
                                 functools.partial(self._new_post, ids, target.id, obs))
                    for row in affected.values():
                        posts.setdefault(row.id, row)
                else:
                    post = posts.get(obs.row_id)
                    if post is None:
                        log.warning("observation for unknown post %s dropped", obs.post_key)
                        continue
                    life.probe(targets[post.target_id], post, obs)
            # Each claim answered, with its seat (the latest answer's: in time order).
            stored = store.apply(conn, life.changes, answered={
                "listing": {o.row_id: o.seat for o in listings},
                "probe": {o.row_id: o.seat for o in probes}})
            if stored:  # a receiver's error propagates: the batch rolls back
                self.signals.send(events_stored, conn=conn, events=stored)
            if len(stored) != len(life.changes.events):
                log.info("%d event(s) were already stored",
                         len(life.changes.events) - len(stored))
            return stored

    @staticmethod
    def _new_post(ids: _Ids, target_id: int, obs: Observation, entry: PostContent) -> PostRow:
        now = obs.observed_at
        return PostRow(
            id=ids("posts"), target_id=target_id, platform=obs.platform, post_key=entry.key,
            first_seen=now, state=PostState.UNSEEN, state_since=now, url=entry.url,
            probe_url=entry.probe_url or entry.url, author=entry.author,
            published_at=entry.published_at, is_new=True,
        )


class BackgroundRecorder:
    """A Recorder in a writer thread, fed through a bounded queue.

    While the database is away the thread keeps the batch it holds and retries;
    the queue fills and the crawl waits (backpressure). :meth:`close` waits at
    most ``close_timeout`` seconds, then stops the retries and spools what is
    still unwritten to ``spool`` (replayed by the next writer that starts).
    """

    def __init__(self, recorder: Recorder, *, batch_size: int = BATCH_COUNT,
                 max_wait: float = 0.25, max_queue: int = 2000, spool: Spool | None = None,
                 close_timeout: float = 60.0) -> None:
        self.recorder = recorder
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.spool = spool
        self.close_timeout = close_timeout
        #: Bounded by count and by the bodies held (:mod:`monitor.holding`).
        self.queue: queue.Queue[Observation | None] = ByteQueue(max_queue, QUEUE_BYTES)
        self.error: BaseException | None = None
        #: Observations written to the spool by this writer.
        self.spooled = 0
        self._closing = False
        recorder.abort.clear()
        self._thread = threading.Thread(target=self._run, name="takedown-recorder", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> dict[str, int]:
        """The recorder's counts (:attr:`Recorder.stats`)."""
        return self.recorder.stats

    def put(self, obs: Observation) -> bool:
        """Queue without blocking; False when the queue is full (caller waits and retries)."""
        if self.error is not None:
            raise RuntimeError("the recorder thread failed") from self.error
        if self.recorder.abort.is_set():
            raise Aborted("the recorder was stopped; this observation is not recorded")
        try:
            self.queue.put_nowait(obs)
        except queue.Full:
            return False
        return True

    async def aput(self, obs: Observation) -> None:
        import asyncio

        while not self.put(obs):
            await asyncio.sleep(0.01)

    def close(self, timeout: float | None = None) -> None:
        """Flush everything queued and stop the thread, waiting at most ``timeout``
        seconds (default ``close_timeout``) before spooling what is left."""
        timeout = self.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._closing = True
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            pass  # the thread notices _closing once the queue runs dry
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self.stop()
        if self.error is not None:
            raise RuntimeError("the recorder thread failed") from self.error

    def stop(self, grace: float = 60.0) -> None:
        """Stop retrying now: what is unwritten goes to the spool. ``grace`` bounds the
        wait for a database call already under way (the pool's own timeout)."""
        self._closing = True
        self.recorder.abort.set()
        self._thread.join(grace)
        if self._thread.is_alive():
            log.error("the recorder did not stop within %.0f s; what it holds is left to "
                      "the leases (the work is done again)", grace)

    def _next(self, timeout: float | None) -> Observation | None:
        """The next queued observation; None at the end (or when ``timeout`` passed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            try:
                return self.queue.get(timeout=max(0.0, wait))
            except queue.Empty:
                if self._closing or self.recorder.abort.is_set():
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def _run(self) -> None:
        if self.spool is not None and not self._replay(self.spool):
            return
        stop = False
        while not stop:
            batch: list[Observation] = []
            item = self._next(None)
            deadline = time.monotonic() + self.max_wait
            held = 0  # a batch is one transaction's worth by count and by bodies
            while item is not None:
                batch.append(item)
                held += weight(item)
                if len(batch) >= self.batch_size or held >= BATCH_BYTES:
                    break
                try:
                    item = self._next(max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            else:
                stop = True
            if batch and not self._record(batch):
                return

    def _record(self, batch: list[Observation]) -> bool:
        """Record one batch; False when stopped during an outage (after spooling)."""
        try:
            self.recorder.record(batch)
        except Aborted:
            self._spool(batch)
            return False
        except Exception:  # a bug: keep the thread alive, leave the batch to its leases
            log.exception("recording %d observations failed; their leases run out and the "
                          "work is done again", len(batch))
        return True

    def _spool(self, held: list[Observation]) -> None:
        rest: list[Observation] = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                rest.append(item)
        unwritten = held + rest
        if self.spool is None:
            log.error("stopped while the database is away: %d observation(s) not recorded; "
                      "their leases run out and the work is done again", len(unwritten))
            return
        self.spooled = self.spool.write(unwritten)
        log.warning("stopped while the database is away: %d observation(s) spooled to %s, "
                    "replayed at the next start", self.spooled, self.spool.directory)

    def _replay(self, spool: Spool) -> bool:
        """Record what an earlier writer spooled; False when stopped meanwhile."""
        for path, spooled in spool.take():
            # Their claims ended with the process that spooled them (given back at its
            # close, or taken back as a dead worker's): replayed as no seat's, so a
            # replay is never fenced and gives back no lease claimed since.
            observations = [dataclasses.replace(o, seat=None) for o in spooled]
            try:
                fresh = self.recorder.fresh(observations)
                for i in range(0, len(fresh), self.batch_size):
                    self.recorder.record(fresh[i:i + self.batch_size])
            except Aborted:
                spool.give_back(path)
                return False
            except Exception:
                log.exception("replaying spool file %s failed; it is kept for the next start",
                              path)
                spool.give_back(path)
                continue
            spool.done(path)
            log.warning("replayed %d spooled observation(s) from %s (%d out of date, skipped)",
                        len(fresh), path.name, len(observations) - len(fresh))
        return True


def _reason(exc: BaseException) -> str:
    """The first line of an error, bounded: for details and logs, never a traceback."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split("\n", 1)[0].split())[:300]
