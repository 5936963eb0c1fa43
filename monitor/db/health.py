"""Is the database there? Outage logging for every caller of the database.

:class:`Health` (one per :class:`~monitor.db.Database`): every caller that meets
a connection fault reports it here instead of logging it: the tracker writes ONE
warning when the database goes away, counts the failed attempts while it is away,
and writes ONE warning when it is back (how long it was away, how many attempts
failed). No tracebacks: a connection fault
is expected, and the first line already says what it was.

Whether a *worker* is there is :mod:`monitor.db.workers`' business.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout

from ..errors import StorageClosed, StorageUnavailable

log = logging.getLogger(__name__)

__all__ = ["Health", "is_transient", "storage_faults", "unavailable"]

#: SQLSTATE classes of ``OperationalError`` that a retry cannot cure.
_PERMANENT = ("54",)


def is_transient(exc: BaseException) -> bool:
    """A fault worth retrying: the connection or the server, not the data.

    :class:`~monitor.errors.StorageUnavailable`, or the driver's
    ``OperationalError`` it stands for: a lost or refused connection, a server
    shutting down, a pool timeout (``PoolTimeout``), serialisation failures or
    deadlocks. Anything else (bad data, a bug) fails the same way again, and so
    does a ``program_limit_exceeded`` (SQLSTATE class 54, e.g. an index row too
    big), though the driver files it under ``OperationalError`` too.
    """
    if isinstance(exc, (StorageClosed, PoolClosed)):  # closed by this process: for good
        return False
    if isinstance(exc, StorageUnavailable):
        return True
    return (isinstance(exc, psycopg.OperationalError)
            and not (getattr(exc, "sqlstate", None) or "").startswith(_PERMANENT))



def unavailable(exc: BaseException) -> StorageUnavailable:
    """The project's error for the driver's transient fault ``exc`` (raise it ``from exc``)."""
    return StorageUnavailable(
        f"the database is unavailable ({_reason(exc)}). The work is retried; if this "
        "lasts, check that PostgreSQL is running and reachable.")


@contextmanager
def storage_faults() -> Iterator[None]:
    """Raise :class:`~monitor.errors.StorageUnavailable` in place of the driver's
    transient faults inside the block; other errors pass unchanged."""
    try:
        yield
    except psycopg.OperationalError as exc:
        if not is_transient(exc):
            raise
        raise unavailable(exc) from exc


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error behind a :class:`StorageUnavailable` (for its SQLSTATE
    and the server's words), else ``exc`` itself."""
    if isinstance(exc, StorageUnavailable) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def _is_outage(exc: BaseException) -> bool:
    """A transient fault that means the server is out of reach: no SQLSTATE (the
    client lost or could not make the connection; a pool timeout), class 08
    (connection exception) or 57P (shut down, starting up). A deadlock or a
    serialisation failure is retried too, but the server is there."""
    if not is_transient(exc):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


class Health:
    """Up/down state of one database, with its transitions logged once each.

    For :attr:`SETTLE` seconds after the database is back, a pool timeout is the
    pool still refilling with its own back-off (every connection was lost in the
    outage), not a new outage: it is logged at debug level only. A connection that
    fails outright is a new outage at any time.
    """

    #: Seconds after the end of an outage during which a pool timeout is the pool refilling.
    SETTLE = 10.0

    def __init__(self, name: str = "PostgreSQL",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self._lock = threading.Lock()
        self.down_since: float | None = None
        #: Failed attempts in the current outage.
        self.failures = 0
        #: Outages seen by this process (a count for status and metrics).
        self.outages = 0
        self._back_at: float | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException, doing: str = "") -> None:
        """Report a failed attempt; logs only the first of an outage."""
        exc = _driver_error(exc)
        if not _is_outage(exc):
            return
        with self._lock:
            if (self.down_since is None and isinstance(exc, PoolTimeout)
                    and self._back_at is not None
                    and self.clock() - self._back_at < self.SETTLE):
                log.debug("%s: the pool is still refilling after the outage: %s",
                          self.name, _reason(exc))
                return
            self.failures += 1
            if self.down_since is not None:
                log.debug("%s still unreachable (%d failed attempts): %s", self.name,
                          self.failures, _reason(exc))
                return
            self.down_since = self.clock()
            self.outages += 1
        log.warning("%s went away%s: %s; retrying with back-off until it returns",
                    self.name, f" while {doing}" if doing else "", _reason(exc))

    def ok(self) -> None:
        """Report a successful round trip; logs the end of an outage."""
        if self.down_since is None:  # the common case: no lock needed
            return
        with self._lock:
            if self.down_since is None:
                return
            away, failures = self.clock() - self.down_since, self.failures
            self.down_since, self.failures = None, 0
            self._back_at = self.clock()
        log.warning("%s is back after %.1f s and %d failed attempt(s)", self.name, away,
                    failures)


def _reason(exc: BaseException) -> str:
    """The first line of the error: the server's reason, without a traceback."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split("\n", 1)[0].split())[:300]
