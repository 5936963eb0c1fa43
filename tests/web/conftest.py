"""Fixtures of the browser tests (helpers in ``web_harness.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from web_harness import CHROMIUM, Served, Watched, serve

from monitor.db import Database


@contextmanager
def _copy(pg_server_url: str, template: str) -> Iterator[str]:
    """A migrated copy of the analyst history, dropped afterwards."""
    name = f"takedown_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        # A pool closed just before may still hold a session on the template for a
        # moment, and CREATE DATABASE ... TEMPLATE refuses while any does.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE datname = %s AND pid <> pg_backend_pid()", (template,))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    try:
        database = Database(url)
        database.migrate()
        database.close()
        yield url
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture(scope="module")
def world(analyst_template: tuple[str, object]) -> Any:
    return analyst_template[1]


@pytest.fixture(scope="session")
def shared_server(pg_server_url: str, analyst_template: tuple[str, object]
                  ) -> Iterator[Served]:
    """One server for the modules that only read (they may add tokens): each copy costs
    a CREATE and a DROP DATABASE, and a DROP waits for a checkpoint."""
    with _copy(pg_server_url, analyst_template[0]) as url:
        yield from serve(url, PUBLIC_VIEW=True, PSEUDONYM_SECRET="web-tests")


@pytest.fixture(scope="module")
def private_server(pg_server_url: str, analyst_template: tuple[str, object]
                   ) -> Iterator[Served]:
    """A server over a copy of its own, for a module that writes (new events, review
    decisions): what it changes no other module sees."""
    with _copy(pg_server_url, analyst_template[0]) as url:
        yield from serve(url, PUBLIC_VIEW=True, PSEUDONYM_SECRET="web-tests")


@pytest.fixture(scope="module")
def server(shared_server: Served) -> Served:
    """The server a test talks to; a module that writes overrides this with
    ``private_server``."""
    return shared_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, per module: Playwright's sync API keeps an asyncio loop
    running in this thread while it is open, and a later test's ``asyncio.run`` in
    the same process (another module, under pytest-xdist) would fail on it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the browser tests drive Debian's chromium at {CHROMIUM}: install it "
                    "with `apt-get install chromium` (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    """A fresh context and page, recording dialogs, errors and console messages."""
    context = browser.new_context(locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = Watched(page)

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
    page.on("console", lambda msg: seen.console.append((msg.type, msg.text)))
    yield seen
    context.close()


