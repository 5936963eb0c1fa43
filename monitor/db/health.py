"""Is the database there, and is a worker there?

:class:`Health` (one per :class:`~monitor.db.Database`): every caller that meets
a connection fault reports it here instead of logging it: the tracker writes ONE
warning when the database goes away, counts the failed attempts while it is away,
and writes ONE warning when it is back (how long it was away, how many attempts
failed). No tracebacks: a connection fault
is expected, and the first line already says what it was.

:class:`Presence` (one per worker process): the worker's row in ``workers`` and
the session advisory lock that says it is alive. A claim records its worker
(:func:`mark_claimed`); :func:`reclaim_dead` gives back the leases of workers
whose lock is free (the process died), so a restart never waits out LEASE.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ..errors import StorageUnavailable
from ..observation import WorkItem

log = logging.getLogger(__name__)

__all__ = ["WORKER_LOCK_SPACE", "Health", "Presence", "is_transient", "mark_claimed",
           "reclaim_dead", "storage_faults", "unavailable"]

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
    """Up/down state of one database, with its transitions logged once each."""

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

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException, doing: str = "") -> None:
        """Report a failed attempt; logs only the first of an outage."""
        exc = _driver_error(exc)
        if not _is_outage(exc):
            return
        with self._lock:
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
        log.warning("%s is back after %.1f s and %d failed attempt(s)", self.name, away,
                    failures)


def _reason(exc: BaseException) -> str:
    """The first line of the error: the server's reason, without a traceback."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split("\n", 1)[0].split())[:300]


# --- worker presence: whose lease is it, and is that worker alive? -------------

#: First key of the two-key advisory locks that say a worker is alive (the second is
#: its ``workers.id``); two-key locks never collide with one-key ones (migrations').
WORKER_LOCK_SPACE = 0x5444_4D57
#: Seconds a worker waits to open its presence connection (unless the URL says).
CONNECT_TIMEOUT = 10
#: Seconds between a worker's tries to take a seat after one failed.
SEAT_RETRY = 30.0


class Presence:
    """This worker process's seat: a ``workers`` row and, on a connection of its own
    (outside the pool, held for the process's life), the advisory lock
    ``(WORKER_LOCK_SPACE, id)``. The lock ends with that connection, so a process
    that dies frees it at once, while a live one, however slow its crawl, keeps it.

    A lost lock connection (the server restarted, the network dropped it) means
    other workers may already have taken this worker's leases: :meth:`ensure`
    then takes a new seat rather than claim the old one's identity again. A worker
    that cannot take a seat (the server refuses one more connection) still works:
    its claims carry no holder and run out after ``LEASE``, as they did before
    seats existed; it tries again after :data:`SEAT_RETRY` seconds.
    """

    def __init__(self, url: str, name: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.name = name
        self.clock = clock
        self.id: int | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0
        self._seatless = False

    def ensure(self) -> int | None:
        """The worker's id, with its lock held: registers on first use, and again after
        the lock's connection was lost; None while it cannot (see the class)."""
        conn = self._conn
        if conn is not None and self.id is not None:
            try:
                with storage_faults():
                    conn.execute("SELECT 1")
                return self.id
            except StorageUnavailable as exc:
                # INFO: an outage behind it is logged by the Health tracker already.
                log.info("worker %s (id %d) lost its presence lock (%s); another worker may "
                         "check its claims in flight; taking a new seat", self.name, self.id,
                         _reason(exc))
                self._drop()
        now = self.clock()
        if now < self._retry_at:
            return None
        try:
            with storage_faults():
                self.id = self._register()
        except StorageUnavailable as exc:
            self._retry_at = now + SEAT_RETRY
            if _is_outage(_driver_error(exc)):  # the Health tracker tells of outages
                log.info("worker %s has no presence lock for now: %s", self.name, _reason(exc))
            elif not self._seatless:
                self._seatless = True
                log.warning("worker %s cannot hold its presence lock (%s): until it can, "
                            "what it claims stays claimed for LEASE if it dies", self.name,
                            _reason(exc))
            return None
        if self._seatless:
            self._seatless = False
            log.warning("worker %s holds its presence lock again (id %d)", self.name, self.id)
        return self.id

    def _register(self) -> int:
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        conn = psycopg.connect(self.url, autocommit=True, application_name="takedown-worker",
                               connect_timeout=info.get("connect_timeout") or CONNECT_TIMEOUT)
        try:
            # Row and lock in one transaction: no other worker can see the row
            # before its lock is held (and take it for a dead worker's).
            with conn.transaction():
                row = conn.execute("INSERT INTO workers (name) VALUES (%s) RETURNING id",
                                   (self.name,)).fetchone()
                assert row is not None
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (WORKER_LOCK_SPACE, row[0]))
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return int(row[0])

    def close(self) -> None:
        """Leave: delete the row and end the lock (its leases, if any, are free)."""
        conn, worker = self._conn, self.id
        if conn is not None and worker is not None and not conn.closed:
            try:
                conn.execute("DELETE FROM workers WHERE id = %s", (worker,))
            except psycopg.Error:
                pass  # the lock ends with the connection all the same
        self._drop()

    def __del__(self) -> None:
        # An unclosed worker (tests, one-shot commands) leaves when it is collected.
        try:
            self._drop()
        except Exception:  # interpreter shutdown: the process exit ends the lock anyway
            pass

    def _drop(self) -> None:
        conn, self._conn, self.id = self._conn, None, None
        if conn is not None:
            conn.close()


def reclaim_dead(conn: psycopg.Connection[Any], me: int | None) -> dict[str, int]:
    """Give back the leases of every worker whose presence lock is free (it died), and
    forget those workers; returns what was given back. Cheap when nobody died: one
    look at the few ``workers`` rows.

    A dead worker's lock is taken for this transaction (``pg_try_advisory_xact_lock``),
    so two workers reclaiming at once never both take the same dead one; a live
    worker's lock is held by its own session, so it never looks dead.
    """
    dead = [r["id"] if isinstance(r, dict) else r[0] for r in conn.execute(
        "DELETE FROM workers WHERE id IS DISTINCT FROM %s "
        "AND pg_try_advisory_xact_lock(%s, id) RETURNING id",
        (me, WORKER_LOCK_SPACE)).fetchall()]
    if not dead:
        return {"workers": 0, "targets": 0, "posts": 0}
    given = {"workers": len(dead)}
    for table in ("targets", "posts"):
        given[table] = conn.execute(
            f"UPDATE {table} SET lease_until = NULL, leased_by = NULL "
            "WHERE lease_until IS NOT NULL AND leased_by = ANY(%s)", (dead,)).rowcount
    return given


def mark_claimed(conn: psycopg.Connection[Any], me: int | None,
                 items: Iterable[WorkItem]) -> None:
    """Record ``me`` as the holder of the leases just taken on ``items`` (in the
    claim's own transaction); with no seat (None), they run out by time."""
    items = list(items)
    if me is None:
        return
    targets = [i.row_id for i in items if i.mode == "listing"]
    posts = [i.row_id for i in items if i.mode == "probe"]
    if targets:
        conn.execute("UPDATE targets SET leased_by = %s WHERE id = ANY(%s)", (me, targets))
    if posts:
        conn.execute("UPDATE posts SET leased_by = %s WHERE id = ANY(%s)", (me, posts))
