"""Snapshot: write what the spiders observed, diff it and store the events that follow.

:class:`Recorder` takes batches of observations and, in ONE transaction per
batch, locks the rows involved, runs the :mod:`~monitor.lifecycle` over them and
writes the result (new versions, observation runs, post and target rows,
events, released leases). A crash before commit loses nothing: the leases run
out and the work is done again; a crash after commit cannot repeat an event,
because each event's ``dedupe_key`` names the post's transition.

:class:`BackgroundRecorder` runs a Recorder in a writer thread fed by a bounded
queue, so the crawl keeps fetching while the database writes, and waits when
the database falls behind (backpressure instead of unbounded memory).
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from . import diff
from .db import Database
from .db import tracking as store
from .events import Event
from .lifecycle import Lifecycle, PostRow, Rules, window_start
from .observation import Observation, PostContent

log = logging.getLogger(__name__)

EventCallback = Callable[[list[Event]], None]


class _Ids:
    """Row ids handed out in blocks from the table sequences."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.free: dict[str, list[int]] = {}

    def __call__(self, table: str) -> int:
        free = self.free.setdefault(table, [])
        if not free:
            free.extend(reversed(store.allocate_ids(self.conn, table, 256)))
        return free.pop()


class Recorder:
    """Applies observations to the database, one transaction per batch."""

    def __init__(self, db: Database, settings: Any, on_events: EventCallback | None = None,
                 *, outbox: store.Outbox | None = None,
                 on_recorded: Callable[[Sequence[Observation], list[Event]], None] | None = None
                 ) -> None:
        self.db = db
        self.rules = Rules.from_settings(settings)
        self.on_events = on_events
        #: Called inside the batch's transaction with the events it stored.
        self.outbox = outbox
        #: Called after commit with the batch and its stored events (metrics).
        self.on_recorded = on_recorded
        self.retries = 5
        self.stats = {"observations": 0, "events": 0, "batches": 0, "db_retries": 0}

    def record(self, observations: Sequence[Observation]) -> list[Event]:
        """Store a batch; retries the whole transaction on connection faults."""
        if not observations:
            return []
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                events = self._record_once(observations)
            except psycopg.OperationalError as exc:
                if attempt == self.retries:
                    raise
                self.stats["db_retries"] += 1
                log.warning("database fault while recording %d observations (%s); retrying "
                            "in %.1fs", len(observations), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.stats["observations"] += len(observations)
            self.stats["events"] += len(events)
            self.stats["batches"] += 1
            if self.on_recorded is not None:
                try:
                    self.on_recorded(observations, events)
                except Exception:
                    log.exception("metrics callback failed")
            if events and self.on_events:
                try:
                    self.on_events(events)
                except Exception:
                    log.exception("event callback failed")
            return events
        return []  # pragma: no cover - the loop returns or raises

    def _record_once(self, observations: Sequence[Observation]) -> list[Event]:
        with self.db.transaction() as conn:
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
            stored = store.apply(conn, life.changes, self.outbox)
            if len(stored) != len(life.changes.events):
                log.info("%d event(s) were already stored",
                         len(life.changes.events) - len(stored))
            return stored

    @staticmethod
    def _new_post(ids: _Ids, target_id: int, obs: Observation, entry: PostContent) -> PostRow:
        now = obs.observed_at
        return PostRow(
            id=ids("posts"), target_id=target_id, platform=obs.platform, post_key=entry.key,
            first_seen=now, state="unseen", state_since=now, url=entry.url,
            probe_url=entry.probe_url or entry.url, author=entry.author,
            published_at=entry.published_at, is_new=True,
        )


class BackgroundRecorder:
    """A Recorder in a writer thread, fed through a bounded queue."""

    def __init__(self, recorder: Recorder, *, batch_size: int = 200, max_wait: float = 0.25,
                 max_queue: int = 2000) -> None:
        self.recorder = recorder
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.queue: queue.Queue[Observation | None] = queue.Queue(maxsize=max_queue)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="takedown-recorder", daemon=True)
        self._thread.start()

    def put(self, obs: Observation) -> bool:
        """Queue without blocking; False when the queue is full (caller waits and retries)."""
        if self.error is not None:
            raise RuntimeError("the recorder thread failed") from self.error
        try:
            self.queue.put_nowait(obs)
        except queue.Full:
            return False
        return True

    async def aput(self, obs: Observation) -> None:
        import asyncio

        while not self.put(obs):
            await asyncio.sleep(0.01)

    def close(self) -> None:
        """Flush everything queued, then stop the thread."""
        self.queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise RuntimeError("the recorder thread failed") from self.error

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[Observation] = []
            item = self.queue.get()
            deadline = time.monotonic() + self.max_wait
            while item is not None:
                batch.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            else:
                stop = True
            try:
                self.recorder.record(batch)
            except BaseException as exc:  # surfaced to the crawl through put()
                log.exception("recording %d observations failed", len(batch))
                self.error = exc
                return
