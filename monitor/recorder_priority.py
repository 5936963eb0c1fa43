"""The recorder process's CPU scheduling (RECORDER_PRIORITY), and its way back.

``idle`` runs the recorder process under Linux's SCHED_IDLE (:func:`prioritise`, in
the child, once its start-up is done): a core running only SCHED_IDLE tasks counts as
idle when the kernel places a task that wakes (nginx, PostgreSQL), so the crawl keeps
its own core. The price: on a machine kept busy by other work the recorder barely runs,
its hand-over queue fills and the crawl waits on it.

The worker watches for that (:class:`Watch`, each time it counts its place): over the
span since the last look, the crawl waited on the hand-over for a good part of it
(:data:`WAITED_SHARE`) while one of the recorder's threads waited runnable for a CPU
half of it or more (the kernel's schedstat): its backlog wanted a CPU it did not get. A
database that is away also fills the queue, but then the recorder sleeps between its
retries; it does not wait for a CPU. A starved recorder is lifted to normal scheduling where
the system allows it (:func:`lift`: root, CAP_SYS_NICE or RLIMIT_NICE; an unprivileged
process cannot leave SCHED_IDLE by itself), else the worker moves the recording to a
new recorder process at normal priority (:meth:`monitor.worker.Worker.place`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable

__all__ = ["QUEUED_SHARE", "STARVED_LOOKS", "WAITED_SHARE", "Watch", "lift", "prioritise",
           "sched_idle_tasks"]

#: The share of a span the crawl waited on a full hand-over for its recorder to count
#: as starved ...
WAITED_SHARE = 0.25
#: ... with one of the recorder's threads waiting runnable for a CPU this share of it.
QUEUED_SHARE = 0.5
#: Looks in a row that must find the recorder starved before the worker acts: one span
#: can be a burst (the crawl's start, a batch of large captures); starving goes on.
STARVED_LOOKS = 2


def prioritise(priority: str) -> str | None:
    """Apply RECORDER_PRIORITY to every thread of the calling process (and so to the
    threads they start later): ``idle`` is Linux's SCHED_IDLE. None when done (or
    nothing to do); else why the system refused it (not Linux, or a sandbox that forbids
    the call)."""
    if priority != "idle":
        return None
    try:
        for tid in _tasks(os.getpid()) or [0]:
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except AttributeError:
        return "this system has no SCHED_IDLE"
    except OSError as exc:
        return f"sched_setscheduler: {exc.strerror or exc}"
    return None


def _tasks(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def sched_idle_tasks(pid: int) -> list[int]:
    """The threads of process ``pid`` that run under SCHED_IDLE (none off Linux)."""
    idle = getattr(os, "SCHED_IDLE", None)
    if idle is None:
        return []
    found = []
    for tid in _tasks(pid):
        with contextlib.suppress(OSError):
            if os.sched_getscheduler(tid) == idle:
                found.append(tid)
    return found


def cpu_times(pid: int) -> dict[int, tuple[float, float]] | None:
    """By thread of process ``pid``: seconds it ran on a CPU and waited runnable for one
    (``/proc/<pid>/task/*/schedstat``); None where the kernel does not say."""
    times = {}
    for tid in _tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                fields = fh.read().split()
            times[tid] = (int(fields[0]) / 1e9, int(fields[1]) / 1e9)
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended
        except (OSError, ValueError, IndexError):
            return None
    return times or None


def lift(pid: int) -> str | None:
    """Move every SCHED_IDLE thread of process ``pid`` to normal scheduling. None when
    done; else why the system refused (an unprivileged process cannot leave SCHED_IDLE)."""
    for tid in sched_idle_tasks(pid):
        try:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        except ProcessLookupError:
            continue  # the thread ended
        except OSError as exc:
            return f"sched_setscheduler: {exc.strerror or exc}"
    return None


@dataclasses.dataclass(frozen=True)
class Span:
    """What one :meth:`Watch.starved` judged: over ``seconds``, the crawl ``waited`` on
    the hand-over while the recorder's threads ``ran`` on a CPU (in all) and the most
    delayed of them ``queued`` for one."""

    seconds: float
    waited: float
    ran: float
    queued: float

    @property
    def starved(self) -> bool:
        """The crawl waited :data:`WAITED_SHARE` of the span or more, and one of the
        recorder's threads waited runnable for a CPU :data:`QUEUED_SHARE` of it or more
        (its backlog wanted a CPU it did not get; a recorder waiting on a database
        sleeps instead)."""
        return (self.seconds > 0 and self.waited >= WAITED_SHARE * self.seconds
                and self.queued >= QUEUED_SHARE * self.seconds)

    def __str__(self) -> str:
        return (f"in {self.seconds:.1f} s the crawl waited {self.waited:.1f} s for it; it "
                f"ran {self.ran:.1f} s and waited up to {self.queued:.1f} s for a CPU")


class Watch:
    """Whether a recorder process (``pid``) starves, span after span: each call of
    :meth:`starved` judges the span since the last one (the first call only starts)."""

    def __init__(self, pid: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.pid = pid
        self._clock = clock
        self._last: tuple[float, float, dict[int, tuple[float, float]]] | None = None

    def starved(self, waited: float) -> Span | None:
        """The span since the last call, given the crawl's total wait on the hand-over
        so far (``waited`` seconds); None for the first call, or where the kernel does
        not tell how the recorder was scheduled."""
        times = cpu_times(self.pid)
        now = self._clock()
        if times is None:
            self._last = None
            return None
        last, self._last = self._last, (now, waited, times)
        if last is None:
            return None
        before = last[2]
        ran = queued = 0.0
        for tid, (run, wait) in times.items():
            was = before.get(tid, (0.0, 0.0))  # a thread started since: all of it is new
            ran += max(0.0, run - was[0])
            queued = max(queued, wait - was[1])
        return Span(now - last[0], waited - last[1], ran, queued)
