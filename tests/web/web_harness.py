"""The browser tests' harness: the app served by a real uvicorn on 127.0.0.1 over a
copy of the analyst history, and Debian's chromium driven by Playwright (the
fixtures are in ``conftest.py``; this module is importable by name).

Each test module gets its own copy of the history and its own server (module scope:
cloning and serving take about a second), so a module that writes (review decisions,
new events) never changes what another module sees. Each test gets a fresh browser
context (no cookies shared) and a page that records dialogs, page errors and console
messages, for the XSS assertions.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.settings import Settings

CHROMIUM = "/usr/bin/chromium"


@dataclass
class Served:
    """A running server: its base URL, database, settings and clock."""

    url: str
    db: Database
    settings: Settings
    clock: ManualClock
    db_url: str


@dataclass
class Watched:
    """A page and what it did: dialogs opened, uncaught errors, console messages."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [text for kind, text in self.console
                if kind == "error" and "Content Security Policy" in text]

    def other_errors(self) -> list[str]:
        return [text for kind, text in self.console
                if kind == "error" and "Content Security Policy" not in text] + self.errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db_url: str, **settings: Any) -> Iterator[Served]:
    """Serve the app over ``db_url`` in a background thread until the generator ends."""
    import uvicorn

    from monitor.api.app import create_app

    db = Database(db_url)
    conf = Settings.load(environ={}).replace(DATABASE_URL=db_url, **settings)
    with db.transaction() as conn:
        start = conn.execute("SELECT max(detected_at) AS t FROM events").fetchone()["t"]
    clock = ManualClock(start)
    app = create_app(conf, db, clock=clock)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):  # up to 10 s, polled on the server's own flag
        if server.started:
            started.set()
            break
        started.wait(0.05)
    assert server.started, "the test server did not start within 10 s"
    try:
        yield Served(f"http://127.0.0.1:{port}", db, conf, clock, db_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.close()


def make_token(db: Database, role: str, name: str | None = None) -> str:
    """A fresh API token's secret with ``role``."""
    from monitor.db.access import create_token

    with db.transaction() as conn:
        _, secret = create_token(conn, name or f"web-{role}-{uuid.uuid4().hex[:6]}", role)
    return secret


def login(watched: Watched, served: Served, secret: str, next_path: str = "/") -> None:
    """Sign in through the login form, as a person would."""
    page = watched.page
    page.goto(f"{served.url}/login?next={next_path}")
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


#: Elements a payload would inject; none may exist inside the page's content.
INJECTED = "main img, main svg, main iframe, main script, main style, main object, " \
    "main embed, a[href^='javascript'], [onerror], [onload]"


def assert_inert(watched: Watched, shown: Sequence[str] = ()) -> None:
    """Nothing in the page ran or was injected, and each of ``shown`` is there as text."""
    page = watched.page
    assert watched.dialogs == [], watched.dialogs
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator(INJECTED).count() == 0
    assert page.locator("script").count() == 1  # our own /static/app.js
    assert page.locator("style, [style]").count() == 0
    assert page.locator("main").is_visible()  # an injected <style> could hide the body
    text = page.locator("main").text_content() or ""
    for payload in shown:
        assert payload in text, payload
    assert watched.csp_violations() == []  # nothing was even attempted
    assert watched.other_errors() == [], watched.other_errors()


def assert_accessible(page: Any) -> None:
    """The basics on every page: a language, one main landmark, a label for every form
    control, headers in every table, no inline style."""
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("main").count() == 1
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea')].filter(el => !el.labels.length)
        .map(el => el.name)""")
    assert unlabelled == []
    headless = page.evaluate("""() => [...document.querySelectorAll('table')]
        .filter(t => !t.querySelector('th')).length""")
    assert headless == 0
    assert page.locator("[style]").count() == 0


def bearer(watched: Watched, served: Served, role: str = "viewer") -> Any:
    """The page, sending a fresh token of ``role`` with every request of its context."""
    watched.page.context.set_extra_http_headers(
        {"Authorization": f"Bearer {make_token(served.db, role)}"})
    return watched.page


def copy_event(db: Database, event_id: int, **changes: Any) -> int:
    """A new event like ``event_id`` (``changes``: kind, cause), detected a minute after
    the newest one; returns its id. As the recorder would add it while a page is open."""
    kind = changes.get("kind")
    with db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO events (dedupe_key, kind, cause, cause_detail, candidates, post_id,"
            " target_id, platform, group_name, post_key, detected_at, last_seen_visible,"
            " first_seen_gone, published_at, version_id, edit, evidence)"
            " SELECT dedupe_key || ':copy:' || gen_random_uuid(), COALESCE(%(kind)s, kind),"
            " cause, cause_detail, candidates, post_id, target_id, platform, group_name,"
            " post_key, (SELECT max(detected_at) FROM events) + interval '1 minute',"
            " last_seen_visible, first_seen_gone, published_at, version_id, edit, evidence"
            " FROM events WHERE id = %(id)s RETURNING id",
            {"kind": kind, "id": event_id}).fetchone()
    assert row is not None, f"no event {event_id} to copy"
    return int(row["id"])
