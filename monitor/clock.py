"""Where the monitor reads the time: a :class:`Clock`, injected where time decides.

The worker claims what is due at ``clock.now()`` and the spiders stamp each
observation's ``observed_at`` with it; everything the lifecycle schedules is
counted from those stamps. Production uses :class:`SystemClock`. Tests, the
sandbox and benchmarks use :class:`ManualClock`, which moves only when told, so a
run over hours of schedule takes as long as its cycles do, and never waits for
time to pass.

Timeouts, politeness pauses and other waits on the network stay on real time:
a clock that jumps does not make a socket answer sooner.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Tells the time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


#: The clock used when none is injected.
SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it forward.

    It never goes back (a schedule counted from its readings stays ordered), and
    it is safe to read from other threads (the sandbox's HTTP threads read it).
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start if start is not None else datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time, e.g. in UTC")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds`` (0 or more); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; cannot advance by {seconds}s")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> datetime:
        """Move forward to ``when``; a time already past leaves the clock where it is."""
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware time, e.g. in UTC")
        with self._lock:
            self._now = max(self._now, when.astimezone(UTC))
            return self._now

    def __deepcopy__(self, memo: dict[int, object]) -> ManualClock:
        # One clock, shared by identity: Scrapy deep-copies its settings per crawler.
        return self

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"
