"""The daemon's evidence upkeep (monitor/upkeep.py): each chore at its own pace, a
failing chore never stopping the others, and the real chores on a real database."""

from __future__ import annotations

import asyncio
import logging
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.errors import StorageUnavailable
from monitor.settings import Settings
from monitor.upkeep import CHORES, Upkeep

#: No other worker: every chore runs here (the tests whose chores need no database).
ALWAYS = lambda name: nullcontext(True)  # noqa: E731

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def test_each_chore_runs_at_its_own_pace() -> None:
    clock = ManualClock(T0)
    calls: list[tuple[str, datetime]] = []
    chores = (("fast", 60.0, lambda db, s, now: calls.append(("fast", now))),
              ("slow", 3600.0, lambda db, s, now: calls.append(("slow", now))))
    upkeep = Upkeep(None, {}, clock=clock, chores=chores,  # type: ignore[arg-type]
                    alone=ALWAYS)
    assert upkeep.tick() == ["fast", "slow"]  # both due at the start
    clock.advance(59)
    assert upkeep.tick() == []
    clock.advance(1)
    assert upkeep.tick() == ["fast"]
    clock.advance(3540)
    assert upkeep.tick() == ["fast", "slow"]
    assert [c[0] for c in calls] == ["fast", "slow", "fast", "fast", "slow"]


def test_a_failing_chore_is_logged_and_never_stops_the_others(caplog: Any) -> None:
    clock = ManualClock(T0)
    ran: list[str] = []

    def broken(db: Any, s: Any, now: datetime) -> None:
        raise RuntimeError("disk full")

    def away(db: Any, s: Any, now: datetime) -> None:
        raise StorageUnavailable("database down")

    chores = (("broken", 60.0, broken), ("away", 60.0, away),
              ("fine", 60.0, lambda db, s, now: ran.append("fine")))
    upkeep = Upkeep(None, {}, clock=clock, chores=chores,  # type: ignore[arg-type]
                    alone=ALWAYS)
    assert upkeep.tick() == ["fine"]
    assert ran == ["fine"]
    assert "evidence upkeep (broken) failed" in caplog.text
    assert "away" not in caplog.text  # an outage is logged once elsewhere
    clock.advance(60)
    assert upkeep.tick() == ["fine"]  # retried at its next turn, the others go on


def test_the_real_chores_run_on_a_real_database_and_the_loop_stops(db: Database) -> None:
    settings = Settings.load(environ={})
    upkeep = Upkeep(db, settings, clock=ManualClock(T0), chores=CHORES)
    assert upkeep.tick() == ["stamp", "prune"]

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(upkeep.run(stop, pause=0.01))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(run())


def test_a_chore_runs_in_one_worker_at_a_time(db: Database) -> None:
    """Two workers' upkeep on one database: while one stamps, the other skips that
    turn (no duplicate stamps from N replicas), and takes the next once it is free."""
    calls: list[str] = []
    clock = ManualClock(T0)
    second: list[Upkeep] = []

    def stamp(_db: Any, _settings: Any, _now: datetime) -> None:
        calls.append("stamp")
        if len(calls) == 1:  # the first worker is stamping: the second's turn comes now
            assert second[0].tick() == []

    chores = (("stamp", 60.0, stamp),)
    first = Upkeep(db, {}, clock=clock, chores=chores)
    second.append(Upkeep(db, {}, clock=clock, chores=chores))
    assert first.tick() == ["stamp"]
    assert calls == ["stamp"]  # the second skipped, it did not stamp as well
    clock.advance(60)
    assert second[0].tick() == ["stamp"]  # the lock ended with the first's turn
    assert calls == ["stamp", "stamp"]


def test_a_chore_lock_is_free_for_the_next_worker_as_soon_as_its_turn_ends(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing a connection does not end its session at once (the server's backend
    exits after): a lock left to end with the session was still held for the next
    worker's turn on a loaded machine (seen in CI). Here no closed session ends until
    the test is over, and the next turn takes the lock all the same."""
    import psycopg

    from monitor.db import workers

    lingering: list[Any] = []
    real_connect = psycopg.connect

    class Lingering:
        """A connection whose close leaves its session running for now."""

        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def execute(self, *args: Any) -> Any:
            return self._conn.execute(*args)

        def close(self) -> None:
            lingering.append(self._conn)

    monkeypatch.setattr(workers.psycopg, "connect",
                        lambda *a, **kw: Lingering(real_connect(*a, **kw)))
    try:
        for _ in range(2):
            with workers.one_worker(db.url, "upkeep:stamp") as mine:
                assert mine  # the turn before ended: its lock went with it
        assert len(lingering) == 2  # both sessions still open when the second took it
    finally:
        for conn in lingering:
            conn.close()


def test_a_chore_lock_the_database_cannot_give_is_a_turn_skipped_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    """The chore's lock needs a connection of its own: with the database away, it is
    StorageUnavailable (logged once by the health tracker, not here), the chore does
    not run, and its next turn tries again."""
    from monitor.db.workers import one_worker

    closed = "postgresql://postgres@127.0.0.1:1/takedown?connect_timeout=2"
    with pytest.raises(StorageUnavailable):
        with one_worker(closed, "upkeep:stamp"):
            pass
    calls: list[str] = []
    clock = ManualClock(T0)
    upkeep = Upkeep(None, {}, clock=clock,  # type: ignore[arg-type]
                    chores=(("stamp", 60.0, lambda *_: calls.append("stamp")),),
                    alone=lambda name: one_worker(closed, name))
    assert upkeep.tick() == [] and calls == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
