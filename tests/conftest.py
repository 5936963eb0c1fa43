"""Shared fixtures. Database tests run against a real PostgreSQL: the server named
by ``TAKEDOWN_TEST_DATABASE_URL`` when set, otherwise an embedded one (pgserver)
started for the session. Every test gets a fresh database cloned from a migrated
template."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from monitor.db import Database


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TAKEDOWN_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from monitor.db._embedded import start_embedded

    # Not under pytest's basetemp: a concurrent pytest run prunes those folders.
    home = Path(tempfile.mkdtemp(prefix="takedown-test-pg-"))
    server, url = start_embedded(home)
    yield url
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


def _with_db(url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=name)


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> Iterator[str]:
    name = f"takedown_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = Database(_with_db(pg_server_url, name))
    db.migrate()
    db.close()
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


class FreshDatabases:
    """Fresh databases cloned from the migrated template, the next one made in a thread
    while a test runs and each used one dropped there after: a clone costs 0.12 s on a
    slow idle 2-core machine and 0.5-0.7 s on a loaded one (the template's 9 MB copied
    through the WAL), which no test waits for any more. One thread, so a clone and a
    drop never overlap; a test still gets a database nobody else used."""

    def __init__(self, server_url: str, template: str) -> None:
        self.server_url = server_url
        self.template = template
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-db")
        self._next = self._thread.submit(_create_from, server_url, template, "takedown_test")

    def take(self) -> str:
        """A new database's name (an error making it is raised here, in the test)."""
        name = self._next.result()
        self._next = self._thread.submit(_create_from, self.server_url, self.template,
                                         "takedown_test")
        return name

    def give_back(self, name: str) -> None:
        self._thread.submit(_drop, self.server_url, name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.give_back(self._next.result())
        self._thread.shutdown(wait=True)


@pytest.fixture(scope="session")
def fresh_databases(pg_server_url: str, pg_template: str) -> Iterator[FreshDatabases]:
    databases = FreshDatabases(pg_server_url, pg_template)
    yield databases
    databases.close()


@pytest.fixture
def db_url(pg_server_url: str, fresh_databases: FreshDatabases) -> Iterator[str]:
    from monitor.recorder_process import shutdown_all

    name = fresh_databases.take()
    yield _with_db(pg_server_url, name)
    # The recorder processes of workers the test did not close (RECORDER = auto starts
    # one on two CPUs) end with its database, as they would at exit: not idle until the
    # test process ends, then writing to a database or a server that is gone.
    shutdown_all()
    fresh_databases.give_back(name)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.close()


# --- the metrics tests (tests/test_metrics*.py; their data: tests/metrics_support.py) ---


@pytest.fixture
def registry() -> object:
    """A fresh prometheus_client ``CollectorRegistry``."""
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


@pytest.fixture
def tracked(db: Database) -> Database:
    """Five targets (one inactive), a few posts, some overdue, one failing."""
    from metrics_support import track

    return track(db)


# --- the analyst side's tests: a real history, built once (tests/analyst_world.py) ---


def _create_from(server_url: str, template: str, prefix: str) -> str:
    """A new database copied from ``template``; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    return name


def _end_sessions(server_url: str, name: str) -> None:
    """A template must have no session when it is copied: end any a build left."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        for _ in range(100):
            if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s",
                                (name,)).fetchone():
                break
            time.sleep(0.05)  # a terminated backend takes a moment to leave


def _drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture(scope="session")
def demo_template(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """A database holding the demo scenario's real history, as recorded (untouched):
    the template of ``demo_db_url`` and of the analyst history."""
    from analyst_world import run_demo

    name = _create_from(pg_server_url, pg_template, "takedown_demo")
    run_demo(_with_db(pg_server_url, name))
    _end_sessions(pg_server_url, name)
    yield name
    _drop(pg_server_url, name)


@pytest.fixture
def demo_db_url(pg_server_url: str, demo_template: str) -> Iterator[str]:
    """A fresh copy of the demo's history as recorded, migrated to the current schema."""
    name = _create_from(pg_server_url, demo_template, "takedown_test")
    url = _with_db(pg_server_url, name)
    Database(url).migrate()
    yield url
    _drop(pg_server_url, name)


@pytest.fixture(scope="session")
def analyst_template(pg_server_url: str, demo_template: str) -> Iterator[tuple[str, object]]:
    """The demo's history made hostile: the template every ``analyst_db_url`` is
    cloned from, and its :class:`World`."""
    from analyst_world import make_hostile

    name = _create_from(pg_server_url, demo_template, "takedown_world")
    world = make_hostile(_with_db(pg_server_url, name))
    _end_sessions(pg_server_url, name)
    yield name, world
    _drop(pg_server_url, name)


@pytest.fixture
def analyst_world(analyst_template: tuple[str, object]) -> object:
    """Where things are in the analyst history (an ``analyst_world.World``)."""
    return analyst_template[1]


@pytest.fixture
def analyst_db_url(pg_server_url: str, analyst_template: tuple[str, object]) -> Iterator[str]:
    """A fresh copy of the analyst history, migrated to the current schema."""
    name = _create_from(pg_server_url, analyst_template[0], "takedown_test")
    url = _with_db(pg_server_url, name)
    Database(url).migrate()
    yield url
    _drop(pg_server_url, name)


@pytest.fixture
def analyst_db(analyst_db_url: str) -> Iterator[Database]:
    database = Database(analyst_db_url)
    yield database
    database.close()
