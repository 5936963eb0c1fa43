"""The daemon's evidence upkeep: stamping new events' manifests, expiring raw captures.

Two chores run beside the crawl in ``takedown run`` (and by hand as ``takedown
evidence stamp`` / ``prune``):

- every ``STAMP_EVERY`` seconds, :func:`monitor.evidence.stamping.stamp_pending`
  freezes the manifests of new events and asks the timestamp authorities for the
  stamps that are due (a failing authority is retried later, never blocking);
- every ``PRUNE_EVERY`` seconds, :func:`monitor.archive_retention.expire_archive`
  deletes the raw captures past ``ARCHIVE_RETENTION`` that no event needs.

A chore that fails is logged and tried again at its next turn; a database outage
is logged once by the database's health tracker. With several workers on one
database, a chore runs in one worker at a time (:func:`monitor.db.workers.one_worker`):
the others skip that turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from .clock import SYSTEM_CLOCK, Clock
from .db import Database, workers
from .errors import StorageUnavailable

log = logging.getLogger(__name__)

#: How often manifests are built and stamps asked for (seconds).
STAMP_EVERY = 60.0
#: How often the archive's retention runs (seconds).
PRUNE_EVERY = 3600.0


def _stamp(db: Database, settings: Any, now: datetime) -> None:
    from .evidence.stamping import stamp_pending

    run = stamp_pending(db, settings, now)
    if run.built or run.stamped or run.failed:
        log.info("evidence: %d manifest(s) built, %d stamp(s) made, %d failed",
                 run.built, run.stamped, run.failed)


def _prune(db: Database, settings: Any, now: datetime) -> None:
    from .archive_retention import expire_archive

    expire_archive(db, settings, now)


Chore = Callable[[Database, Any, datetime], None]
CHORES: tuple[tuple[str, float, Chore], ...] = (
    ("stamp", STAMP_EVERY, _stamp),
    ("prune", PRUNE_EVERY, _prune),
)


#: Whether this worker runs the named chore now (a context manager: True while it does).
Alone = Callable[[str], AbstractContextManager[bool]]


class Upkeep:
    """Runs each chore when it is due; :meth:`tick` is one pass (tests call it).
    ``alone`` decides whether this worker runs a chore now: by default, the chore's
    advisory lock on ``db`` (:func:`monitor.db.workers.one_worker`)."""

    def __init__(self, db: Database, settings: Any, *, clock: Clock = SYSTEM_CLOCK,
                 chores: tuple[tuple[str, float, Chore], ...] = CHORES,
                 alone: Alone | None = None) -> None:
        self.db, self.settings, self.clock, self.chores = db, settings, clock, chores
        self._alone: Alone = alone or (
            lambda name: workers.one_worker(db.url, f"upkeep:{name}"))
        self._last: dict[str, datetime] = {}

    def tick(self) -> list[str]:
        """Run the chores that are due now; returns the names of those that ran."""
        now = self.clock.now()
        ran = []
        for name, every, chore in self.chores:
            last = self._last.get(name)
            if last is not None and (now - last).total_seconds() < every:
                continue
            self._last[name] = now
            try:
                with self._alone(name) as mine:
                    if not mine:
                        log.debug("evidence upkeep (%s): another worker runs it now", name)
                        continue
                    chore(self.db, self.settings, now)
                ran.append(name)
            except StorageUnavailable:
                pass  # logged once by the database's health tracker; next turn retries
            except Exception as exc:  # a chore never stops the daemon
                log.error("evidence upkeep (%s) failed: %r; retried at its next turn",
                          name, exc, exc_info=exc)
        return ran

    async def run(self, stop: asyncio.Event, *, pause: float = 5.0) -> None:
        """Tick until ``stop`` is set (each tick in a thread: the chores use the
        database's blocking pool)."""
        while not stop.is_set():
            await asyncio.to_thread(self.tick)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
