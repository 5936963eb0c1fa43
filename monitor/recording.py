"""The recorder a crawl hands its observations to, moved while they flow.

With ``RECORDER = auto`` a worker records in a process of its own where its CPUs,
shared among the live workers of its machine, give it two or more, else in a thread
(:meth:`~monitor.worker.Worker.place`). Workers started together take their seats a
moment apart, and one may join or leave a machine at any time: so the machine's
workers are counted again a second after the recording opens, then every few seconds
(:data:`PLACE_AT`, :data:`PLACE_EVERY`), and when the answer changes the recording
moves.

A move never loses an observation nor records one twice: new observations go to the
new recorder at once; the last one is closed (what it holds is committed) only when
no hand-over to it is still waiting for room; a recorder process no longer used then
ends. Both check cycles (:meth:`Worker.cycle`) and ``takedown run``'s loop
(:class:`~monitor.continuous.Continuous`) record through a :class:`Recording`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .cpus import usable_cpus
from .holding import zero_stats
from .observation import Observation

if TYPE_CHECKING:
    from .recorder_process import RecorderProcess
    from .snapshot import BackgroundRecorder
    from .worker import Worker

    Writer = BackgroundRecorder | RecorderProcess

log = logging.getLogger(__name__)

__all__ = ["PLACE_AT", "PLACE_EVERY", "Recording", "recording_for"]

#: Seconds after the recording opens at which the machine's workers are counted again
#: (workers started together are all seated within them) ...
PLACE_AT = (1.0, 3.0)
#: ... and between two counts after that: a worker started or gone moves the
#: recording within this. A count is one small query (the few ``workers`` rows and
#: the lock table), so a worker that has run for hours still makes room for a
#: newcomer within seconds at no cost an idle daemon would notice.
PLACE_EVERY = 10.0


def recording_for(choice: str, cpus: float | None = None, *, sharing: int = 1) -> str:
    """Where a worker records, from RECORDER: ``process`` or ``thread`` as given;
    ``auto``, a process of its own where the CPUs this process may use
    (:func:`~monitor.cpus.usable_cpus`, or ``cpus``), shared among the ``sharing``
    workers of its machine, give each two or more; else a thread."""
    if choice != "auto":
        return choice
    each = (usable_cpus() if cpus is None else cpus) / max(1, sharing)
    return "process" if each >= 2 else "thread"


def _schedule(at: tuple[float, ...], every: float) -> Iterator[float]:
    """The waits between counts: up to each of ``at``, then ``every`` for good."""
    last = 0.0
    for when in at:
        yield max(0.0, when - last)
        last = when
    yield from itertools.repeat(every)


class Recording:
    """A worker's recorder for a cycle or a continuous loop: :meth:`open`, :meth:`put`
    each observation, :meth:`close`; moved between a process and a thread as the
    worker's place changes (``RECORDER = auto``)."""

    def __init__(self, worker: Worker, *, place_at: tuple[float, ...] | None = None,
                 place_every: float | None = None) -> None:
        self.worker = worker
        self.place_at = PLACE_AT if place_at is None else place_at
        self.place_every = PLACE_EVERY if place_every is None else place_every
        #: Where observations go now.
        self.writer: Writer | None = None
        #: The counts of the recorders closed so far (moves), with the last one's at close.
        self.stats: dict[str, int] = zero_stats()
        #: Hand-overs under way, by recorder (its id): a recorder closes when none is.
        self._feeding: Counter[int] = Counter()
        self._moving: asyncio.Future[None] | None = None
        self._placing: asyncio.Future[None] | None = None

    async def open(self) -> None:
        """The worker's place, then its recorder; recounted on :data:`PLACE_AT`."""
        worker = self.worker
        self.writer = await asyncio.to_thread(worker.open_placed)
        if worker.watching:
            self._placing = asyncio.ensure_future(self._place())

    async def put(self, obs: Observation) -> None:
        """Hand ``obs`` to the recorder of the moment (waits while it is full)."""
        writer = self.writer
        assert writer is not None, "open() first"
        self._feeding[id(writer)] += 1
        try:
            await writer.aput(obs)
        finally:
            self._feeding[id(writer)] -= 1

    async def close(self, timeout: float | None = None) -> dict[str, int]:
        """Stop placing, let a move under way finish, close the recorder (what it holds
        is committed; see its ``close`` for ``timeout``); the counts of every
        recorder of this recording."""
        if self._placing is not None:
            self._placing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._placing
        if self._moving is not None:
            await self._moving  # it logs its own failure
        writer = self.writer
        if writer is not None:
            await asyncio.to_thread(writer.close, timeout)
            self._add(writer)
        return self.stats

    async def _place(self) -> None:
        for wait in _schedule(self.place_at, self.place_every):
            await asyncio.sleep(wait)
            was = self.worker.recording
            try:  # (the database away: place() says nothing moved)
                moved = await asyncio.to_thread(self.worker.place)
            except Exception as exc:  # placing never stops the recording
                log.error("counting this machine's workers failed: %r", exc)
                continue
            if not moved:
                continue
            # Shielded: the recording closing waits for a move to finish.
            self._moving = asyncio.ensure_future(self._move(was))
            await asyncio.shield(self._moving)

    async def _move(self, was: str) -> None:
        """:meth:`_switch`; one that fails (a recorder that cannot open, or the last one
        failing to close) is logged, and the recording goes on where it is: the worker
        says so again (``was``), and the next count tries the move again."""
        last = self.writer
        assert last is not None
        try:
            await self._switch(last)
        except Exception as exc:
            if self.writer is last:  # the new recorder never opened
                self.worker.recording = was
            log.error("moving the recording failed: %r; it goes on in %s", exc,
                      type(self.writer).__name__)

    async def _switch(self, last: Writer) -> None:
        """Observations go to a new recorder from now on; the last one closes once no
        hand-over to it waits, and a recorder process no longer used ends."""
        worker = self.worker
        self.writer = await asyncio.to_thread(worker.open_writer)
        while self._feeding[id(last)]:  # a hand-over waiting for room in the last one
            await asyncio.sleep(0.01)
        del self._feeding[id(last)]
        await asyncio.to_thread(last.close)
        self._add(last)
        await asyncio.to_thread(worker.retire_process)

    def _add(self, writer: Writer) -> None:
        for key, value in writer.stats.items():
            self.stats[key] = self.stats.get(key, 0) + value
