"""Is a worker there? Whose lease is it, and is that worker alive?

:class:`Presence` (one per worker process): the worker's row in ``workers`` and
the session advisory lock that says it is alive. A claim records its worker in
the same statement that leases the work (``claim_due(..., worker=id)`` in
:mod:`monitor.db.tracking`); :func:`reclaim_dead` gives back the leases of
workers whose lock is free (the process died), so a restart never waits out
``LEASE``. The lock is taken *shared*: a recording transaction of the worker's
(in its recorder process, which may outlive it by a moment) holds it too, with
:func:`hold_seat`, so a seat is never taken back while its work is being
committed, and once it was, that work is no longer committed as the worker's.
Outages met on the way are logged by :mod:`monitor.db.health`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

import psycopg
from psycopg.rows import dict_row

from ..errors import StorageUnavailable
from ._rows import first
from .health import _driver_error, _is_outage, _reason, storage_faults

log = logging.getLogger(__name__)

__all__ = ["ALIVE", "CHORE_LOCK_SPACE", "CONNECT_TIMEOUT", "SEAT_RETRY", "WORKER_LOCK_SPACE",
           "Presence", "hold_seat", "is_seat", "on_machine", "one_worker", "reclaim_dead",
           "roster"]

#: First key of the two-key advisory locks that say a worker is alive (the second is
#: its ``workers.id``); two-key locks never collide with one-key ones (migrations').
WORKER_LOCK_SPACE = 0x5444_4D57
#: First key of the advisory locks that let one worker at a time run a shared chore
#: (the second is the CRC-32 of the chore's name).
CHORE_LOCK_SPACE = 0x5444_4348
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
    its claims run out after ``LEASE``, as they did before seats existed, and it tries
    again after :data:`SEAT_RETRY` seconds. Meanwhile they carry its :attr:`token`, a
    negative number of its own that is no worker's id (never reclaimed nor fenced), so
    what it gives back clears its own leases only, never another seatless worker's.
    """

    def __init__(self, url: str, name: str,
                 clock: Callable[[], float] = time.monotonic, *,
                 machine: str | None = None) -> None:
        self.url = url
        self.name = name
        #: The machine it runs on (:func:`monitor.cpus.machine_id`), for :func:`on_machine`.
        self.machine = machine
        self.clock = clock
        self.id: int | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0
        self._seatless = False
        self._closed = False
        #: Whom this process's claims are leased to while it has no seat (:meth:`holder`).
        self.token = -1 - secrets.randbelow(2**31 - 1)

    def ensure(self) -> int | None:
        """The worker's id, with its lock held: registers on first use, and again after
        the lock's connection was lost; None while it cannot (see the class), and for
        good once :meth:`close` ran (a claim still finishing at shutdown must not
        take a seat nobody would give back)."""
        if self._closed:
            return None
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

    def holder(self) -> int:
        """Whom a claim made now is leased to: this worker's seat (:meth:`ensure`), or
        while it has none, its :attr:`token`."""
        seat = self.ensure()
        return self.token if seat is None else seat

    def _register(self) -> int:
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        conn = psycopg.connect(self.url, autocommit=True, application_name="takedown-worker",
                               connect_timeout=info.get("connect_timeout") or CONNECT_TIMEOUT)
        try:
            # Row and lock in one transaction: no other worker can see the row
            # before its lock is held (and take it for a dead worker's).
            with conn.transaction():
                row = conn.execute("INSERT INTO workers (name, machine) VALUES (%s, %s) "
                                   "RETURNING id", (self.name, self.machine)).fetchone()
                assert row is not None
                # Shared: the worker's recording transactions hold it too (hold_seat).
                conn.execute("SELECT pg_advisory_lock_shared(%s, %s)",
                             (WORKER_LOCK_SPACE, row[0]))
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return int(row[0])

    def close(self) -> None:
        """Leave: give back the claims still held, delete the row and end the lock.

        Claims still held at exit (a cycle that outlasted the shutdown's wait) are
        given back here; once the row is gone, nobody else could tell them free
        before ``LEASE`` ran out.
        """
        self._closed = True
        conn, worker = self._conn, self.id
        if conn is not None and worker is not None and not conn.closed:
            try:
                with conn.transaction():
                    for table in ("targets", "posts"):
                        conn.execute(f"UPDATE {table} SET lease_until = NULL, leased_by = NULL "
                                     "WHERE leased_by = %s AND lease_until IS NOT NULL",
                                     (worker,))
                    conn.execute("DELETE FROM workers WHERE id = %s", (worker,))
            except psycopg.Error:
                pass  # the lock ends with the connection: the next cycle reclaims them
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


def is_seat(holder: int | None) -> TypeGuard[int]:
    """Whether a lease's holder is a worker's seat (a ``workers.id``), not a seatless
    worker's token (:attr:`Presence.token`, negative) nor nobody."""
    return holder is not None and holder > 0


def hold_seat(conn: psycopg.Connection[Any], seat: int) -> bool:
    """Whether ``seat`` is still a worker's, held so until ``conn``'s transaction ends.

    The seat's lock is taken shared for the transaction: while it is held no
    :func:`reclaim_dead` can take the seat back (its exclusive try fails), and a
    reclaim under way is waited for. Then the ``workers`` row is looked up in a
    statement of its own (it sees what a reclaim just committed): gone, the seat was
    taken back and its leases are another worker's now. The recorder commits the
    observations of work claimed under ``seat`` only when this says True
    (:class:`~monitor.snapshot.Recorder`), whatever seat their worker holds now.
    """
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", (WORKER_LOCK_SPACE, seat))
    return conn.execute("SELECT 1 FROM workers WHERE id = %s", (seat,)).fetchone() is not None


#: Whether worker ``w``'s presence lock is held (the worker is alive); ``%(space)s`` is
#: :data:`WORKER_LOCK_SPACE`. In this database: advisory locks are a database's own,
#: and ``pg_locks`` shows every database's, so a live worker of another takedown
#: database on the server with the same seat number would make a dead seat look alive.
ALIVE = ("EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
         " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
         " AND l.classid = %(space)s::oid AND l.objid = w.id::oid AND l.objsubid = 2)")


def on_machine(conn: psycopg.Connection[Any], machine: str) -> int:
    """How many live workers run on ``machine``: seats registered with it whose presence
    lock is held (a dead worker's row not yet reclaimed does not count)."""
    row = conn.execute(
        "SELECT count(*) FROM workers w WHERE w.machine = %(machine)s AND " + ALIVE,
        {"machine": machine, "space": WORKER_LOCK_SPACE}).fetchone()
    return int(first(row)) if row is not None else 0


def roster(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every worker seat, oldest first: ``id``, ``name`` (host:pid), ``machine``,
    ``started_at``, ``up`` (how long ago), ``alive`` (its presence lock held; a dead
    one's row stays until the next cycle of a live worker reclaims it), and the
    ``listings`` and ``probes`` leased to it now. Then one row with ``id`` None when
    workers without a seat (see :class:`Presence`) hold leases: theirs run out after
    ``LEASE``. One pass over each of ``targets`` and ``posts``: for ``takedown
    status``, not a hot path."""
    return conn.cursor(row_factory=dict_row).execute(
        "WITH leased AS ("
        " SELECT leased_by, count(*) AS listings, 0 AS probes FROM targets"
        "  WHERE lease_until > now() GROUP BY leased_by"
        " UNION ALL SELECT leased_by, 0, count(*) FROM posts"
        "  WHERE lease_until > now() GROUP BY leased_by),"
        " per AS (SELECT CASE WHEN leased_by > 0 THEN leased_by END AS seat,"
        "  sum(listings)::int AS listings, sum(probes)::int AS probes FROM leased"
        "  WHERE leased_by IS NOT NULL GROUP BY 1)"
        " SELECT w.id, w.name, w.machine, w.started_at, now() - w.started_at AS up, "
        + ALIVE + " AS alive,"
        "  coalesce(per.listings, 0) AS listings, coalesce(per.probes, 0) AS probes"
        " FROM workers w LEFT JOIN per ON per.seat = w.id"
        " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, listings, probes"
        "  FROM per WHERE seat IS NULL"
        " ORDER BY id NULLS LAST", {"space": WORKER_LOCK_SPACE}).fetchall()


def reclaim_dead(conn: psycopg.Connection[Any], me: int | None) -> dict[str, int]:
    """Give back the leases of every worker whose presence lock is free (it died), and
    forget those workers; returns what was given back. Cheap when nobody died: one
    look at the few ``workers`` rows.

    A dead worker's lock is taken for this transaction (``pg_try_advisory_xact_lock``,
    exclusive), so two workers reclaiming at once never both take the same dead one; a
    live worker's lock is held (shared) by its own session, so it never looks dead, nor
    does a dead one's while its recorder process commits a batch (:func:`hold_seat`).
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


@contextlib.contextmanager
def one_worker(url: str, chore: str) -> Iterator[bool]:
    """Whether this worker runs ``chore`` now: True while it holds the chore's session
    advisory lock (on a connection of its own, outside the pool and any transaction,
    released when the block ends), False when another worker holds it. Several
    workers on one database then stamp and prune once, not once each. A connection
    fault raises :class:`~monitor.errors.StorageUnavailable`.

    The lock is released explicitly: closing the connection ends the session only once
    the server's backend has exited, after ``close`` returns, so the next worker's turn
    could still find it held. Where the release fails (the connection broke), the lock
    ends with the session."""
    key = zlib.crc32(chore.encode()) - 2**31  # a signed int4
    info = psycopg.conninfo.conninfo_to_dict(url)
    with storage_faults():
        conn = psycopg.connect(url, autocommit=True, application_name="takedown-chore",
                               connect_timeout=info.get("connect_timeout") or CONNECT_TIMEOUT)
    held = False
    try:
        with storage_faults():
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                               (CHORE_LOCK_SPACE, key)).fetchone()
        held = bool(row and row[0])
        yield held
    finally:
        if held:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (CHORE_LOCK_SPACE, key))
        conn.close()
