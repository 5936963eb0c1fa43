"""Recording in a process of its own, so the crawl's GIL is the crawl's alone.

A :class:`~monitor.snapshot.BackgroundRecorder` records in a thread of the
crawling process: its Python time (sanitising, the lifecycle, WARC captures,
chain digests, the writes) and the crawl's add up under one GIL. A
:class:`RecorderProcess` runs the same BackgroundRecorder in a child process
(``spawn``: no copy of the reactor, the pool or the loop) and feeds it through
a pipe, so on a machine with a second core the two run side by side.

The guarantees are the thread's:

- **Backpressure.** The parent queues at most ``max_queue`` observations; a
  sender thread pickles them into the pipe, the child into its recorder's own
  bounded queue. A slow database fills them in turn and the crawl waits.
- **Nothing lost, nothing twice.** What the child commits is what the thread
  would have committed (one transaction per batch, events deduplicated by their
  keys). If the child dies, the observations it had not committed are given
  back as leases (:meth:`_lost`), so the work is done again at once; if the
  parent dies, the child sees the pipe close, records what it had received and
  exits (a parent gone while the database is away: the child spools it).
- **Stop during an outage.** :meth:`stop` sets a shared flag: the child stops
  retrying and spools what it holds, and what is still in the pipe, to the same
  spool the thread would use; the next recorder replays it.
- **A killed worker's child.** It goes on recording what it received, each
  observation only while the seat its work was claimed under (which it carries,
  :attr:`~monitor.observation.Observation.seat`) was not taken back by another
  worker (:func:`~monitor.db.workers.hold_seat`): a batch committing keeps its
  seats from being taken back, and once one was, that seat's observations are
  dropped (that work is another worker's), never written over the other worker's
  newer state or leases. The same fence as the thread's, so a worker that lost its
  seat and took a new one never records the old seat's work as the new one's.
- **Signals.** ``events_stored`` runs inside the child's transaction, so its
  receivers (the alerts outbox) are sent to the child when it starts and must
  be picklable. ``batch_committed`` is announced in the parent, from the
  reader thread, with each committed batch (observations without their raw
  captures): metrics and the CLI listen there. The child's log records are
  handled by the parent's loggers.

One child serves a worker for its whole life: :meth:`close` waits until what
was queued is committed (the end of a cycle) and returns that span's counts;
:meth:`shutdown` ends the child.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import pickle
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from . import recorder_child, recorder_priority
from .db import Database, claims
from .errors import Aborted, StorageUnavailable, TakedownError
from .holding import CHUNK_BYTES, QUEUE_BYTES, ByteQueue, weight, zero_stats
from .observation import Observation
from .recorder_priority import Span, Watch
from .settings import Settings
from .signals import SignalManager, batch_committed, events_stored
from .spool import Spool

log = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")
#: Recorder processes with a child running: ended at interpreter exit (:func:`shutdown_all`).
_RUNNING: set[RecorderProcess] = set()
#: Observations handed to the sender, and pickled into the pipe, as one message.
_CHUNK = 100
#: Longest an observation waits for its chunk to fill before it is sent anyway.
_CHUNK_WAIT = 0.05


#: An observation's lease: (mode, row id, the seat it was claimed under).
_Key = claims.Lease


@dataclasses.dataclass(frozen=True)
class _Flush:
    token: int
    timeout: float


class _Child:
    """One child process and what the parent keeps for it: its queue, its stop flag,
    and the observations sent to it and not yet reported committed."""

    def __init__(self, start: recorder_child.Start, max_queue: int) -> None:
        #: Chunks of observations (never more than about ``max_queue`` of them in all),
        #: flush markers, and None at the end.
        self.queue: queue.Queue[list[Observation] | _Flush | None] = ByteQueue(
            max_queue // _CHUNK, QUEUE_BYTES)
        self.abort: Any = _SPAWN.Event()
        #: Set by the reader when the child is gone (whatever the reason).
        self.gone = threading.Event()
        #: By (mode, row id, claim's seat): sent, and neither committed nor settled yet.
        self.unsettled: Counter[_Key] = Counter()
        work_r, self.work = _SPAWN.Pipe(duplex=False)
        self.news, news_w = _SPAWN.Pipe(duplex=False)
        self.proc: Any = _SPAWN.Process(target=recorder_child.run, name="takedown-recorder",
                                        daemon=True, args=(start, work_r, news_w, self.abort))
        self.proc.start()
        work_r.close()
        news_w.close()
        #: The scheduling the child says it runs under (None until it says).
        self.priority: str | None = None
        #: How the child is scheduled, span after span (RECORDER_PRIORITY = idle).
        assert self.proc.pid is not None
        self.watch = Watch(self.proc.pid)

    @property
    def usable(self) -> bool:
        return not (self.gone.is_set() or self.abort.is_set())


class RecorderProcess:
    """A BackgroundRecorder in a child process; the same ``put``/``aput``/``close``/
    ``stop`` as the thread, plus :meth:`shutdown` at the worker's end."""

    def __init__(self, db: Database, settings: Settings, *, signals: SignalManager,
                 spool: Spool, batch_size: int, max_queue: int = 2000,
                 close_timeout: float = 60.0, priority: str | None = None) -> None:
        receivers = tuple(signals.receivers(events_stored))
        for receiver in receivers:
            try:
                pickle.dumps(receiver)
            except Exception as exc:
                raise TakedownError(
                    f"the events_stored receiver {receiver!r} cannot be sent to the recorder "
                    f"process ({type(exc).__name__}: {exc}); make it picklable (a module-level "
                    "function or an object of plain data), or set RECORDER = \"thread\"") from exc
        self.db = db
        self.signals = signals
        self.close_timeout = close_timeout
        #: The child's CPU scheduling: RECORDER_PRIORITY unless given; ``normal`` once
        #: the child was lifted (:meth:`lift`) or refused ``idle`` (:meth:`judge`).
        self.priority: str = priority or settings["RECORDER_PRIORITY"]
        #: What :attr:`waited` adds up: the time past waits took, the puts waiting now
        #: and since when.
        self._waited = 0.0
        self._waiters = 0
        self._wait_began = 0.0
        self._start = recorder_child.Start(
            db.url, dict(settings), receivers, str(spool.directory), batch_size, max_queue,
            logging.getLogger().getEffectiveLevel(), float(db.pool.timeout))
        self._max_queue = max_queue
        #: Counts of the last span :meth:`close` waited for (the Recorder's ``stats``).
        self.stats: dict[str, int] = zero_stats()
        self.error: BaseException | None = None
        #: Observations spooled by the child when it was stopped.
        self.spooled = 0
        self._child: _Child | None = None
        #: Observations not yet handed to the sender (see :meth:`put`).
        self._chunk: list[Observation] = []
        self._chunk_bytes = 0  # the bodies it holds (monitor.holding.weight)
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._flushed: dict[int, dict[str, int]] = {}
        self._flush_cond = threading.Condition(self._lock)

    def open(self) -> RecorderProcess:
        """Start a span of recording (a cycle): a child is started if none is usable
        (the first span, or the last child died or was stopped)."""
        if self._child is None or not self._child.usable:
            self.error = None
            start = dataclasses.replace(  # at the priority it has now (one lifted: normal)
                self._start, settings={**self._start.settings, "RECORDER_PRIORITY": self.priority})
            child = self._child = _Child(start, self._max_queue)
            _RUNNING.add(self)
            threading.Thread(target=self._send_loop, args=(child,), daemon=True,
                             name="takedown-recorder-send").start()
            threading.Thread(target=self._read_loop, args=(child,), daemon=True,
                             name="takedown-recorder-read").start()
        return self

    # --- the crawl's side ------------------------------------------------------------

    def put(self, obs: Observation) -> bool:
        """Queue without blocking; False when full (the caller waits and retries).

        Observations are handed to the sender a chunk at a time (one wake-up of its
        thread, one pipe message per :data:`_CHUNK`): a chunk that does not fill goes
        after :data:`_CHUNK_WAIT` seconds when a loop runs (:meth:`aput`), else at once.
        """
        child = self._child or self.open()._child
        assert child is not None
        if self.error is not None:
            raise RuntimeError("the recorder process failed") from self.error
        if child.abort.is_set():
            raise Aborted("the recorder was stopped; this observation is not recorded")
        with self._lock:
            if self._chunk_full() and not self._hand_over(child):
                return False
            self._chunk.append(obs)
            self._chunk_bytes += weight(obs)
            if self._chunk_full():
                self._hand_over(child)
            elif len(self._chunk) == 1:
                self._chunk_started()
        return True

    def _chunk_full(self) -> bool:
        """A chunk goes at :data:`_CHUNK` observations, or sooner by the bodies it
        holds (:data:`~monitor.holding.CHUNK_BYTES`)."""
        return len(self._chunk) >= _CHUNK or self._chunk_bytes >= CHUNK_BYTES

    def _chunk_started(self) -> None:
        """A new chunk: send it after _CHUNK_WAIT even if it does not fill."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._hand_over(self._child)
            return
        loop.call_later(_CHUNK_WAIT, self._send_late, self._chunk)

    def _send_late(self, chunk: list[Observation]) -> None:
        with self._lock:
            if chunk is self._chunk and chunk and self._child is not None:
                if not self._hand_over(self._child):  # full: try again shortly
                    asyncio.get_running_loop().call_later(_CHUNK_WAIT, self._send_late, chunk)

    def _hand_over(self, child: _Child | None) -> bool:
        """Give the current chunk to the sender (under the lock); False when it is full."""
        if child is None or not self._chunk:
            return True
        try:
            child.queue.put_nowait(self._chunk)
        except queue.Full:
            return False
        self._chunk, self._chunk_bytes = [], 0
        return True

    async def aput(self, obs: Observation) -> None:
        if self.put(obs):
            return
        if not self._waiters:
            self._wait_began = time.monotonic()
        self._waiters += 1
        try:
            while not self.put(obs):
                await asyncio.sleep(0.01)
        finally:
            self._waiters -= 1
            if not self._waiters:
                self._waited += time.monotonic() - self._wait_began

    @property
    def waited(self) -> float:
        """Seconds the crawl was held up in :meth:`aput` for room in the hand-over, up to
        now (puts waiting at once count once: the wall time some put waited)."""
        began = self._wait_began if self._waiters else None
        return self._waited + (time.monotonic() - began if began is not None else 0.0)

    # --- its priority (RECORDER_PRIORITY = idle) -------------------------------------

    def judge(self) -> Span | None:
        """How the child at idle priority fared since the last call (see
        :class:`~monitor.recorder_priority.Span`; ``.starved`` says whether it starved);
        None at the first call, when no child runs, at normal priority, or where the
        kernel does not say. A child that refused SCHED_IDLE is at normal priority."""
        child = self._child
        if self.priority != "idle" or child is None or not child.usable:
            return None
        if child.priority == "normal":  # it refused SCHED_IDLE (and logged why)
            self.priority = "normal"
        if child.priority != "idle":  # (None: not started yet)
            return None
        return child.watch.starved(self.waited)

    def lift(self) -> str | None:
        """Move the child to normal scheduling: None when done, else why the system
        refused it (then only a new recorder process runs at normal priority)."""
        child = self._child
        refused = recorder_priority.lift(child.proc.pid) if child is not None else None
        if refused is None:
            self.priority = "normal"
        return refused

    def close(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is committed, at most ``timeout`` seconds
        (default ``close_timeout``); then stop, spooling what is left. The child stays
        for the next span; :attr:`stats` holds this span's counts (zero if it was
        stopped or died: see :attr:`spooled` and :attr:`error`)."""
        timeout = self.close_timeout if timeout is None else timeout
        child = self._child
        self.stats = zero_stats()
        if child is None or not child.usable:
            self._raise()
            return
        deadline = time.monotonic() + timeout
        token = next(self._tokens)
        try:
            with self._lock:
                chunk, self._chunk, self._chunk_bytes = self._chunk, [], 0
            if chunk:
                child.queue.put(chunk, timeout=timeout)
            child.queue.put(_Flush(token, timeout), timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            pass
        with self._flush_cond:
            while token not in self._flushed and not child.gone.is_set() \
                    and time.monotonic() < deadline:
                self._flush_cond.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            stats = self._flushed.pop(token, None)
        if stats is not None:
            self.stats = stats
        elif not child.gone.is_set():
            self.stop()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise RuntimeError("the recorder process failed") from self.error

    def stop(self, grace: float = 60.0) -> None:
        """Stop retrying now: the child spools what it holds and exits. ``grace``
        bounds the wait for a database call already under way."""
        child = self._child
        if child is None or child.gone.is_set():
            return
        child.abort.set()
        child.queue.put(None)  # ends the sender, which closes the pipe
        # The reader thread alone reaps the child (two threads waiting on one pid race).
        if not child.gone.wait(grace):
            log.error("the recorder process did not stop within %g s; it is killed",
                      grace)
            child.proc.kill()
            child.gone.wait(5)

    def shutdown(self, timeout: float | None = None) -> None:
        """At the worker's end: commit what is queued, then end the child."""
        child = self._child
        if child is None:
            return
        with contextlib.suppress(RuntimeError):
            self.close(timeout)
        if not child.gone.is_set():
            child.queue.put(None)
            if not child.gone.wait(self.close_timeout):
                child.proc.kill()
                child.gone.wait(5)
        self._child = None
        _RUNNING.discard(self)

    # --- threads ---------------------------------------------------------------------

    def _send_loop(self, child: _Child) -> None:
        """Pickle what is queued into the pipe, in order."""
        pipe = child.work
        try:
            while True:
                item = child.queue.get()
                if isinstance(item, list):
                    with self._lock:
                        child.unsettled.update(_keys(item))
                    pipe.send(("obs", item))
                elif isinstance(item, _Flush):
                    pipe.send(("flush", item.token, item.timeout))
                else:
                    return
        except (OSError, EOFError, ValueError):
            return  # the child is gone: the reader says so
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    def _read_loop(self, child: _Child) -> None:
        """Handle what the child says; when it is gone, give back what it lost."""
        pipe = child.news
        try:
            while True:
                msg = pipe.recv()
                kind = msg[0]
                if kind == "committed":
                    observations, events = msg[1], msg[2]
                    self._settle(child, _keys(observations))
                    self.signals.send(batch_committed, observations=observations,
                                      events=events)
                elif kind == "settled":  # spooled or released: not committed, not lost
                    self._settle(child, msg[1])
                elif kind == "log":
                    logging.getLogger(msg[1].name).handle(msg[1])
                elif kind == "flushed":
                    with self._flush_cond:
                        self._flushed[msg[1]] = msg[2]
                        self._flush_cond.notify_all()
                elif kind == "spooled":
                    self.spooled += msg[1]
                elif kind == "priority":
                    child.priority = msg[1]
        except (EOFError, OSError):
            pass
        finally:
            pipe.close()
            self._gone(child)

    def _settle(self, child: _Child, keys: Iterable[_Key]) -> None:
        """What the child no longer holds; a key at zero goes (the set stays the size of
        what is in flight, not of everything ever recorded)."""
        with self._lock:
            for key in keys:
                if child.unsettled[key] <= 1:
                    child.unsettled.pop(key, None)
                else:
                    child.unsettled[key] -= 1

    def _gone(self, child: _Child) -> None:
        child.proc.join(5)
        code = child.proc.exitcode
        stopped = child.abort.is_set()
        with self._flush_cond:
            lost = child.unsettled.copy()
            child.unsettled.clear()
            if self._child is child:  # what was never handed to the sender
                lost.update(_keys(self._chunk))
                self._chunk = []
            if code != 0 and not stopped:
                self.error = RuntimeError(f"the recorder process exited with code {code}")
            child.gone.set()
            self._flush_cond.notify_all()
        while True:  # what the sender never sent is lost with the child too
            try:
                item = child.queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, list):
                lost.update(_keys(item))
        # A stopped child that ended by itself spooled what it held (the leases wait for
        # the replay); one that died, or was killed after the stop's grace, spooled none
        # of what is still unsettled.
        if lost and not (stopped and code == 0):
            self._lost(lost)

    def _lost(self, lost: Counter[_Key]) -> None:
        """Give back the leases of observations the child never committed (those their
        claim's seat still holds)."""
        log.error("the recorder process ended with %d observation(s) not recorded; their "
                  "leases are given back, so they are checked again", sum(lost.values()))
        try:
            with self.db.transaction() as conn:
                claims.release_leases(conn, lost)
        except StorageUnavailable:
            log.info("database unavailable: those leases run out by themselves")


def _keys(observations: Iterable[Observation]) -> Iterator[_Key]:
    """The lease each observation answers: (mode, row id, the claim's seat)."""
    return (recorder_child.settled_key(o) for o in observations)


@atexit.register
def shutdown_all() -> None:
    """A worker never closed (a script, a test): commit what its child holds and end
    it. At interpreter exit this runs before multiprocessing's own exit handler
    (registered earlier, so run later) waits for the child, which ignores SIGTERM and
    ends only when its pipe closes; the tests run it as each test's database goes."""
    for process in list(_RUNNING):
        process.shutdown()
