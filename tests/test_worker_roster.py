"""Which workers are running, and what each has claimed: ``takedown status`` and the
``takedown_workers_live`` gauge, read from real seats on a real PostgreSQL.

Seats are real :class:`~monitor.db.workers.Presence` objects (a ``workers`` row and its
presence lock on a connection of its own); a dead worker is a terminated presence
session (:func:`tests.test_seat_fence.die`), as a killed process leaves it. Leases are
written as a claim writes them (``lease_until``, ``leased_by``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from metrics_support import value
from prometheus_client import CollectorRegistry

from monitor import query
from monitor.db import Database, sync, workers
from monitor.db.workers import Presence, roster
from monitor.metrics import Metrics
from monitor.watchlist import parse_watchlist
from spiders.cli import cli
from tests.test_seat_fence import die

FEEDS = [f"http://127.0.0.1:9/f{i}.xml" for i in range(2)]
POSTS = [f"http://127.0.0.1:9/p{i}" for i in range(6)]
WATCHLIST = "[groups.g]\n" + "".join(
    f'[[groups.g.targets]]\nplatform = "rss"\nfeed = "{url}"\n' for url in FEEDS) + "".join(
    f'[[groups.g.targets]]\nplatform = "rss"\npost = "{url}"\n' for url in POSTS)


def lease(db: Database, table: str, column: str, values: list[str], holder: int,
          until: str = "10 minutes") -> None:
    """Lease the rows of ``table`` whose ``column`` is in ``values`` to ``holder`` until
    ``until`` from now (negative: a lease already run out)."""
    with db.transaction() as conn:
        n = conn.execute(
            f"UPDATE {table} SET leased_by = %s, lease_until = now() + %s::interval "
            f"WHERE {column} = ANY(%s)", (holder, until, values)).rowcount
    assert n == len(values)


@pytest.fixture
def seats(db: Database, db_url: str) -> Iterator[list[Presence]]:
    """Three seats, the third one's worker dead; the watchlist synced."""
    with db.transaction() as conn:
        sync.sync_targets(conn, parse_watchlist(WATCHLIST).targets, 600.0)
    made = [Presence(db_url, name, machine=machine) for name, machine in
            (("host-a:101", "boot:a"), ("host-b:202", "boot:b"), ("host-a:303", "boot:a"))]
    try:
        for presence in made:
            assert presence.ensure() is not None
        yield made
    finally:
        for presence in made:
            presence.close()


def test_the_roster_says_who_runs_and_what_each_holds(db: Database,
                                                     seats: list[Presence]) -> None:
    a, b, c = (p.id for p in seats)
    assert a is not None and b is not None and c is not None
    lease(db, "targets", "value", FEEDS[:1], a)
    lease(db, "posts", "url", POSTS[:3], a)
    lease(db, "posts", "url", POSTS[3:4], a, until="-1 minute")  # run out: not held
    lease(db, "posts", "url", POSTS[4:5], c)
    lease(db, "posts", "url", POSTS[5:], -7)  # a worker without a seat
    die(db, c)
    with db.transaction() as conn:
        rows = roster(conn)
    assert [(r["id"], r["name"], r["machine"], r["alive"], r["listings"], r["probes"])
            for r in rows] == [
        (a, "host-a:101", "boot:a", True, 1, 3),
        (b, "host-b:202", "boot:b", True, 0, 0),
        (c, "host-a:303", "boot:a", False, 0, 1),
        (None, None, None, None, 0, 1),
    ]
    text = query.format_workers(rows)
    lines = text.splitlines()
    assert lines[0] == "2 worker(s) running on 2 machine(s):"
    assert lines[1].startswith(f"  #{a} host-a:101 since ")
    assert lines[1].endswith(": 1 listing(s) and 3 probe(s) claimed")
    assert lines[2].endswith(": nothing claimed")
    assert lines[3] == (f"  #{c} host-a:303 is gone, 0 listing(s) and 1 probe(s) claimed: "
                        "the next cycle of any running worker gives them back")
    assert lines[4] == ("  workers without a seat (the database refused them one): "
                        "0 listing(s) and 1 probe(s) claimed, given back when their LEASE "
                        "runs out")
    assert len(lines) == 5


def test_the_live_workers_gauge_counts_held_seats_only(db: Database,
                                                      seats: list[Presence]) -> None:
    registry = CollectorRegistry()
    Metrics(registry, db)
    assert value(registry, "takedown_workers_live") == 3
    die(db, seats[2].id or 0)
    assert value(registry, "takedown_workers_live") == 2  # its row stays until reclaimed
    seats[0].close()  # a worker that leaves deletes its row and ends its lock
    assert value(registry, "takedown_workers_live") == 1


def test_status_prints_the_workers(db: Database, db_url: str, seats: list[Presence],
                                   tmp_path: Path) -> None:
    watchlist = tmp_path / "w.toml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    env = {"TAKEDOWN_DATABASE_URL": db_url, "TAKEDOWN_WATCHLIST": str(watchlist)}
    lease(db, "posts", "url", POSTS[:2], seats[1].id or 0)
    done = CliRunner().invoke(cli, ["status"], env=env)
    assert done.exit_code == 0, done.output
    assert "3 worker(s) running on 2 machine(s):" in done.output
    assert f"#{seats[1].id} host-b:202 since " in done.output
    assert "0 listing(s) and 2 probe(s) claimed" in done.output
    for presence in seats:
        presence.close()
    done = CliRunner().invoke(cli, ["status"], env=env)
    assert done.exit_code == 0, done.output
    assert "no worker running now" in done.output
    assert "worker(s) running" not in done.output


def test_a_live_seat_of_another_database_on_the_server_is_not_alive_here(
        db: Database, pg_server_url: str, fresh_databases: Any) -> None:
    """Advisory locks belong to one database. A live worker of another takedown database
    on the same server, whose seat has the same number as a dead seat here, does not make
    that seat look alive: not to the machine's count (RECORDER = auto), the roster or the
    gauge."""
    name = fresh_databases.take()
    elsewhere = Presence(psycopg.conninfo.make_conninfo(pg_server_url, dbname=name),
                         "elsewhere:1", machine="boot:m")
    try:
        seat = elsewhere.ensure()
        assert seat is not None
        with db.transaction() as conn:  # here, a dead worker's row with that number
            conn.execute("INSERT INTO workers (id, name, machine) OVERRIDING SYSTEM VALUE "
                         "VALUES (%s, 'dead-here:2', 'boot:m')", (seat,))
            assert workers.on_machine(conn, "boot:m") == 0
            assert [(r["id"], r["alive"]) for r in roster(conn)] == [(seat, False)]
        registry = CollectorRegistry()
        Metrics(registry, db)
        assert value(registry, "takedown_workers_live") == 0
    finally:  # its lock connection ends before its database goes back, even on a failure
        elsewhere.close()
        fresh_databases.give_back(name)
