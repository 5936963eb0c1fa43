"""A worker's seat fences what is recorded as its work (:func:`monitor.db.workers.hold_seat`).

A recorder process can outlive its SIGKILLed worker by a moment with observations
in hand. Those are committed only while the worker's seat was not taken back: a
batch being committed keeps the seat from being reclaimed, and once another worker
reclaimed it (and the leases went on to others), nothing more is written as that
worker's: no older state over a newer one, no lease of another worker's cleared.
Against real PostgreSQL; the last test with a real parent killed by SIGKILL.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.db import Database
from monitor.db.workers import WORKER_LOCK_SPACE, Presence, hold_seat, reclaim_dead
from monitor.observation import Observation
from monitor.recorder_process import RecorderProcess
from monitor.settings import Settings
from monitor.signals import SignalManager, batch_fenced
from monitor.snapshot import Recorder
from monitor.spool import Spool
from tests import test_database_errors
from tests.test_database_errors import T0, Proxy, Site
from tests.test_recorder_process import SEND_ROWS, exited, wait_for

proxy = test_database_errors.proxy
site = test_database_errors.site

SETTINGS = Settings.load({}, environ={})


def lock_holders(db: Database, seat: int) -> list[int]:
    """The backends (other than the asking one) holding ``seat``'s presence lock."""
    with db.transaction() as conn:
        return [r["pid"] for r in conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND objid = %s AND objsubid = 2 AND granted AND pid <> pg_backend_pid() "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (WORKER_LOCK_SPACE, seat))]


def die(db: Database, seat: int) -> None:
    """The seat's worker process dies, as the database sees it: its presence session
    (``takedown-worker``) ends; a recording transaction holding the seat goes on."""
    def presence() -> list[int]:
        with db.transaction() as conn:
            return [r["pid"] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s) "
                "AND application_name = 'takedown-worker'", (lock_holders(db, seat),))]

    pids = presence()
    assert len(pids) == 1
    with db.transaction() as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
    wait_for(lambda: presence() == [])


def claimed_under(observations: list[Observation], seat: int) -> list[Observation]:
    """The answers to work claimed under ``seat`` (the worker stamps each with it)."""
    return [dataclasses.replace(o, seat=seat) for o in observations]


def reclaimed(db: Database) -> int:
    with db.transaction() as conn:
        return reclaim_dead(conn, None)["workers"]


def holders(db: Database) -> list[int | None]:
    with db.transaction() as conn:
        return [r["leased_by"] for r in conn.execute(
            "SELECT leased_by FROM targets WHERE lease_until > now() ORDER BY id")]


def test_a_batch_being_committed_keeps_its_dead_workers_seat(db: Database, db_url: str) -> None:
    """While a recording transaction holds the seat, the worker may be dead: the seat is
    not taken back until that batch ends; then it is, and the seat is refused."""
    presence = Presence(db_url, "w")
    seat = presence.ensure()
    assert seat is not None
    try:
        with db.transaction() as batch:
            assert hold_seat(batch, seat)  # the worker is alive: the seat is its own
            die(db, seat)  # the worker's process is gone; the batch goes on
            assert reclaimed(db) == 0  # held by the batch: not taken back
        assert reclaimed(db) == 1  # the batch ended: now it is
        with db.transaction() as late:
            assert not hold_seat(late, seat)  # a later batch is refused
    finally:
        presence.close()


def test_a_recorder_whose_seat_was_taken_back_writes_nothing_and_says_so(
        site: Site, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The recorder of a worker found dead: its leases went to another worker, and its
    batch writes nothing (no observation, no post, no lease cleared); the same batch
    under the live worker's seat is written."""
    dead, alive = Presence(db_url, "dead"), Presence(db_url, "alive")
    dead_seat, live_seat = dead.ensure(), alive.ensure()
    assert dead_seat is not None and live_seat is not None
    with site.direct.transaction() as conn:
        conn.execute("UPDATE targets SET leased_by = %s", (dead_seat,))
    die(site.direct, dead_seat)
    with site.direct.transaction() as conn:  # taken back, then claimed by the live worker
        assert reclaim_dead(conn, live_seat) == {"workers": 1, "targets": 6, "posts": 0}
        conn.execute("UPDATE targets SET lease_until = now() + interval '1 hour', "
                     "leased_by = %s", (live_seat,))
    fenced: list[Observation] = []
    signals = SignalManager()
    signals.connect(lambda observations: fenced.extend(observations), batch_fenced)
    stale = Recorder(site.direct, SETTINGS, signals=signals)
    try:
        assert stale.record(claimed_under(site.observations(), dead_seat)) == []
        assert stale.stats["fenced"] == 6 and stale.stats["observations"] == 0
        assert sorted(o.row_id for o in fenced) == sorted(r["id"] for r in site.rows)
        assert "their worker's seat was taken back" in caplog.text
        assert site.counts() == {"posts": 0, "versions": 0, "listings": 0, "leased": 6}
        assert holders(site.direct) == [live_seat] * 6  # the live worker's leases stand

        live = Recorder(site.direct, SETTINGS)
        live.record(claimed_under(site.observations(), live_seat))
        assert live.stats["observations"] == 6 and live.stats["fenced"] == 0
        assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}
    finally:
        alive.close()
        dead.close()


def test_a_fenced_batch_in_the_recorder_process_is_settled_not_given_back(
        site: Site, db_url: str, tmp_path: Path) -> None:
    """A live worker whose seat was taken back (its lock connection was lost): its
    recorder process drops the batch and tells the worker so (``settled``), so the
    worker does not give back, as lost, leases that are another worker's now."""
    dead, alive = Presence(db_url, "dead"), Presence(db_url, "alive")
    dead_seat, live_seat = dead.ensure(), alive.ensure()
    assert dead_seat is not None and live_seat is not None
    die(site.direct, dead_seat)
    with site.direct.transaction() as conn:
        assert reclaim_dead(conn, live_seat)["workers"] == 1
        conn.execute("UPDATE targets SET lease_until = now() + interval '1 hour', "
                     "leased_by = %s", (live_seat,))
    rec = RecorderProcess(site.proxied, SETTINGS, signals=SignalManager(),
                          spool=Spool(tmp_path / "spool"), batch_size=4).open()
    try:
        for obs in claimed_under(site.observations(), dead_seat):
            assert rec.put(obs)
        rec.close()
        assert rec.stats["fenced"] == 6 and rec.stats["observations"] == 0
        child = rec._child
        assert child is not None and not child.unsettled  # settled, not in flight
        rec.shutdown()  # a child ending with work unsettled would give its leases back
        assert site.counts() == {"posts": 0, "versions": 0, "listings": 0, "leased": 6}
        assert holders(site.direct) == [live_seat] * 6
    finally:
        rec.shutdown()
        alive.close()  # (which gives back the live worker's own leases)
        dead.close()


#: A worker: its seat, a recorder process on the proxied database, its work sent
#: while the database is cut off; prints its seat and its child's pid, then waits.
ORPHAN = """
import json, sys, time
from datetime import datetime, timedelta
from monitor.db import Database
from monitor.db.workers import Presence
from monitor.observation import Observation, Outcome, PostContent
from monitor.recorder_process import RecorderProcess
from monitor.settings import Settings
from monitor.signals import SignalManager
from monitor.spool import Spool

if __name__ == "__main__":
    direct, proxied, spool, rows = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    at = datetime.fromisoformat(sys.argv[5])
    presence = Presence(direct, "orphaned")
    seat = presence.ensure()
    with Database(direct).transaction() as conn:
        conn.execute("UPDATE targets SET leased_by = %s", (seat,))
    rec = RecorderProcess(Database(proxied, timeout=0.5), Settings.load({}, environ={}),
                          signals=SignalManager(), spool=Spool(spool), batch_size=4).open()
    rec.close()  # the child is up and connected
    print("ready", flush=True)
    sys.stdin.readline()  # the database is cut off now
""" + SEND_ROWS + """\
    print(seat, rec._child.proc.pid, flush=True)
    time.sleep(3600)
"""


def test_an_orphaned_recorder_process_never_writes_over_work_taken_back(
        site: Site, proxy: Proxy, db_url: str, tmp_path: Path) -> None:
    """The worker is SIGKILLed while its recorder process cannot reach the database;
    another worker takes its seat back and claims that work; the database returns:
    the orphaned child writes none of what it held, and exits."""
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    rows = [[r["id"], r["key"]] for r in site.rows]
    parent = subprocess.Popen(
        [sys.executable, str(script), db_url, site.proxied.url, str(tmp_path / "spool"),
         json.dumps(rows), T0.isoformat()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent)
    other = Presence(db_url, "other")
    try:
        assert parent.stdin is not None and parent.stdout is not None
        assert parent.stdout.readline().strip() == b"ready"
        proxy.cut()
        parent.stdin.write(b"go\n")
        parent.stdin.flush()
        seat, child = map(int, parent.stdout.readline().split())
    finally:
        parent.kill()
        parent.wait()
    try:
        wait_for(lambda: lock_holders(site.direct, seat) == [])  # the kill ended its session
        live_seat = other.ensure()
        assert reclaimed(site.direct) == 1
        with site.direct.transaction() as conn:  # the other worker claims the work again
            conn.execute("UPDATE targets SET lease_until = now() + interval '1 hour', "
                         "leased_by = %s", (live_seat,))
        proxy.restore()
        wait_for(lambda: exited(child), timeout=90)
        assert site.counts() == {"posts": 0, "versions": 0, "listings": 0, "leased": 6}
        assert holders(site.direct) == [live_seat] * 6
        assert not list((tmp_path / "spool").glob("*"))  # dropped, not kept for a replay
    finally:
        other.close()
