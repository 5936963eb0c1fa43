"""Fixtures for the JSON API tests: the app over one copy of the analyst history
(``tests/analyst_world.py``) shared by the whole folder, a viewer token, and clients.

One copy, not one per test: cloning and dropping a database costs a second or more
each, and these tests would take minutes. So tests here never change the history's own
rows; they add their own (``api_rows.py``: a group, author or word of their own, times
in 2031, after the history) and assert only about what they can tell apart. Hand-made
rows never collide: every test chooses distinct names and words.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql

from monitor.api import create_app
from monitor.clock import ManualClock
from monitor.db import Database
from monitor.db.access import create_token
from monitor.settings import Settings

#: The app's clock: durations such as since=24h count back from here.
NOW = datetime(2031, 1, 2, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def shared_db_url(pg_server_url: str, analyst_template: tuple[str, Any]) -> Iterator[str]:
    name = f"takedown_api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        # A template must have no session when it is copied, but the history's builder
        # (tests/test_e2e.py run_scenario) can leave its worker's lock connection
        # ('takedown-worker') open until garbage collection: collect it, and end any
        # session still there.
        gc.collect()
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE datname = %s AND pid <> pg_backend_pid()", (analyst_template[0],))
        for attempt in range(50):
            try:
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(analyst_template[0])))
                break
            except psycopg.errors.ObjectInUse:  # a terminated session still ending
                if attempt == 49:
                    raise
                time.sleep(0.1)
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture(scope="session")
def shared_db(shared_db_url: str) -> Iterator[Database]:
    database = Database(shared_db_url)
    database.migrate()
    yield database
    database.close()


@pytest.fixture(scope="session")
def world(analyst_template: tuple[str, Any]) -> Any:
    """Where things are in the history (an ``analyst_world.World``)."""
    return analyst_template[1]


@pytest.fixture(scope="session")
def app(shared_db: Database) -> FastAPI:
    return create_app(Settings.load(), shared_db, clock=ManualClock(NOW))


@pytest.fixture(scope="session")
def viewer_token(shared_db: Database) -> str:
    with shared_db.transaction() as conn:
        _, secret = create_token(conn, "api-tests", "viewer")
    return secret


@pytest.fixture(scope="session")
def client(app: FastAPI, viewer_token: str) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {viewer_token}"}) as c:
        yield c


@pytest.fixture(scope="session")
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
