"""What runs in the recorder process (:mod:`monitor.recorder_process` starts it).

:func:`run` records what arrives through the pipe with a
:class:`~monitor.snapshot.BackgroundRecorder` and reports back: each committed
batch (without its raw captures), each span's counts, what it spooled, the
scheduling it runs under (RECORDER_PRIORITY), and its
log records. It ignores SIGINT and SIGTERM (a terminal's Ctrl-C or a service
manager reaches the whole process group): the worker ends it by closing the
pipe, after a flush; a worker that died closes the pipe too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import logging.handlers
import os
import queue
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cadence, heap
from .db import Database
from .errors import Aborted, TakedownError
from .holding import zero_stats
from .observation import Observation
from .recorder_priority import prioritise
from .signals import SignalManager, batch_committed, batch_fenced, events_stored
from .spool import Spool

if TYPE_CHECKING:
    from .snapshot import BackgroundRecorder, Recorder

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Start:
    """What the child needs: picklable, sent once."""

    url: str
    #: The worker's settings as a plain dict (the recorder reads them by name): this
    #: process never loads pydantic and the settings model (about 9 MiB).
    settings: Mapping[str, Any]
    receivers: tuple[Any, ...]
    spool_dir: str
    batch_size: int
    max_queue: int
    log_level: int
    #: The parent pool's wait for a connection (a stop waits at most this long).
    timeout: float


def run(start: Start, work: Pipe, news: Pipe, abort: Any) -> None:
    """The recorder process: record what arrives, report what was committed."""
    # The recorder is loaded here, in the child: the worker imports this module for
    # Start and this function's name only, and never runs the recording code itself.
    from .snapshot import BackgroundRecorder, Recorder

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sending = threading.Lock()

    def say(*msg: Any) -> None:
        with sending, contextlib.suppress(OSError, ValueError):
            news.send(msg)

    _forward_logs(start.log_level, say)
    parent = os.getppid()
    signals = SignalManager()
    for receiver in start.receivers:
        signals.connect(receiver, events_stored)
    signals.connect(lambda observations, events: say(
        "committed", [o.reported() for o in observations], events),
        batch_committed)
    signals.connect(lambda observations: say(
        "settled", [settled_key(o) for o in observations]), batch_fenced)
    spool = Spool(Path(start.spool_dir))
    db = _connect(start, abort, parent)
    if db is None:  # stopped (or orphaned) before the database was ever reachable
        _spool_rest(work, spool, say)
        return
    recorder = Recorder(db, start.settings, signals=signals)  # observations carry seats
    heap.own()
    heap.settle()  # this process is the monitor's, and its start-up is done
    _prioritise(start.settings["RECORDER_PRIORITY"], say)
    threading.Thread(target=_watch, args=(abort, recorder), daemon=True,
                     name="takedown-recorder-watch").start()
    writer: BackgroundRecorder | None = None
    try:
        while True:
            try:
                msg = work.recv()
            except (EOFError, OSError):
                break  # the parent is gone, or shut us down
            if msg[0] == "obs":
                if abort.is_set() and writer is None:  # stopped between spans
                    _spool_rest(work, spool, say, msg[1])
                    return
                if writer is None:
                    writer = BackgroundRecorder(recorder, batch_size=start.batch_size,
                                                max_queue=start.max_queue, spool=spool)
                for i, obs in enumerate(msg[1]):
                    if not _put(writer, obs, parent):
                        writer.stop()
                        say("spooled", writer.spooled)
                        _spool_rest(work, spool, say, msg[1][i:])
                        return
            elif msg[0] == "flush":
                if writer is not None:
                    _end(writer, msg[2], say)
                    writer = None
                say("flushed", msg[1], dict(recorder.stats))
                recorder.stats = zero_stats()
        if writer is not None:
            _end(writer, 60.0, say)
    finally:
        db.close()


def settled_key(obs: Observation) -> tuple[str, int, int | None]:
    """What the parent counts ``obs`` by until it is settled: the lease it answers,
    (mode, row id, the seat it was claimed under)."""
    return (obs.mode, obs.row_id, obs.seat)


def _put(writer: BackgroundRecorder, obs: Observation, parent: int) -> bool:
    """Queue ``obs``, waiting while the writer is full; False once stopped, or when
    the parent died while the writer could not take it (the database is away)."""
    try:
        while not writer.put(obs):
            if os.getppid() != parent:
                return False
            time.sleep(0.005)
    except Aborted:
        return False
    return True


def _end(writer: BackgroundRecorder, timeout: float, say: Any) -> None:
    writer.close(timeout)  # stopped meanwhile: it spooled what it held
    if writer.spooled:
        say("spooled", writer.spooled)


def _spool_rest(work: Pipe, spool: Spool, say: Any, held: Sequence[Observation] = ()
                ) -> None:
    """Stopped: spool what was received but not recorded, and what is still in the pipe."""
    rest = list(held)
    with contextlib.suppress(EOFError, OSError):
        while work.poll(0.5):
            msg = work.recv()
            if msg[0] == "obs":
                rest.extend(msg[1])
    if rest:
        kept = spool.write(rest)
        say("spooled", kept)
        say("settled", [settled_key(o) for o in rest])


def _connect(start: Start, abort: Any, parent: int) -> Database | None:
    """The child's pool, waiting for the database with the recorder's back-off (a
    warning for the first failure, the rest at debug level)."""
    from .snapshot import RETRY_BACKOFF

    failures = 0
    while True:
        try:
            return Database(start.url, timeout=start.timeout)
        except TakedownError as exc:
            log.log(logging.DEBUG if failures else logging.WARNING,
                    "the recorder process cannot reach the database yet (%s); it tries "
                    "again every few seconds", exc)
        if abort.wait(cadence.backoff(failures, *RETRY_BACKOFF)) or os.getppid() != parent:
            return None
        failures += 1


def _watch(abort: Any, recorder: Recorder) -> None:
    """Stop the recorder's retries when the parent says so (:meth:`RecorderProcess.stop`).
    A parent that died is seen as the end of the pipe: what arrived is recorded (or
    spooled after the close timeout, if the database is away)."""
    abort.wait()
    recorder.abort.set()


class _Forward(logging.handlers.QueueHandler):
    """Log records to the parent, formatted and without arguments (picklable)."""

    def __init__(self, say: Any) -> None:
        super().__init__(queue.SimpleQueue())
        self.say = say

    def enqueue(self, record: logging.LogRecord) -> None:
        self.say("log", record)


def _prioritise(priority: str, say: Any) -> None:
    """RECORDER_PRIORITY, once the start-up is done (imports, the connection: at normal
    priority they are over at once, under SCHED_IDLE they would wait for the crawl's
    start), for every thread running and so for those started later; then tell the
    worker which it is."""
    refused = prioritise(priority)
    say("priority", "normal" if refused else priority)
    if refused:
        log.warning("RECORDER_PRIORITY = idle not applied (%s); the recorder process runs "
                    "at normal priority. Set RECORDER_PRIORITY = normal to silence this",
                    refused)


def _forward_logs(level: int, say: Any) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_Forward(say)]
    root.setLevel(level)
