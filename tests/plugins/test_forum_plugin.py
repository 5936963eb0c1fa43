"""A third-party plug-in end to end: a removal served as HTTP 200 with a marker, and a
block that is not a content signal.

The ``forum`` platform (``tests/plugins/forum/``) is registered through a fake entry
point, crawled by the real worker and crawl from an in-process server on 127.0.0.1,
recorded into real PostgreSQL; the real registry is restored afterwards. No core file
knows the forum.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.metrics import Metrics
from monitor.platforms import ENTRY_POINT_GROUP, PLATFORMS, reload_platforms
from monitor.settings import Settings
from monitor.signals import SignalManager
from monitor.watchlist import Target
from monitor.worker import Worker

LIVE = {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {
    "id": "abc", "title": "Protest at noon", "selftext": "Meet at the square.",
    "author": "alice", "removed_by_category": None}}]}}
REMOVED = {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {
    "id": "abc", "title": "Protest at noon", "selftext": "[removed]", "author": "alice",
    "removed_by_category": "moderator"}}]}}
PARDNER = (b"<!doctype html><html><head><title>Blocked</title></head><body><h1>whoa there, "
           b"pardner!</h1><p>Your request has been blocked due to a network policy.</p>"
           b"</body></html>")


class Forum:
    """The forum's ``/api/info``, answering as ``state`` says: live, removed or blocked."""

    def __init__(self) -> None:
        self.state = "live"
        self.hits = 0
        forum = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                if not self.path.startswith("/api/info"):
                    return self._send(404, b"no such endpoint", "text/plain")
                forum.hits += 1
                if forum.state == "blocked":
                    return self._send(200, PARDNER, "text/html; charset=utf-8")
                body = json.dumps(REMOVED if forum.state == "removed" else LIVE).encode()
                return self._send(200, body, "application/json; charset=utf-8")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def forum() -> Iterator[Forum]:
    eps = [*entry_points(group=ENTRY_POINT_GROUP),
           EntryPoint("forum", "tests.plugins.forum.platform:PLATFORM", ENTRY_POINT_GROUP)]
    registry = reload_platforms(eps)
    assert "forum" in registry.platforms, registry.broken
    server = Forum()
    try:
        yield server
    finally:
        server.close()
        reload_platforms()
    assert "forum" not in PLATFORMS and "rednote" in PLATFORMS


SETTINGS = {"default_interval": "1m", "recheck_schedule": "1m,2m,3m,4m,5m,6m",
            "confirm_probes": 2, "confirm_spacing": "1m", "confirm_retry": "30s",
            "autothrottle": False, "retry_times": 0, "download_timeout": "5s"}


class Run:
    """The real worker and crawl on a manual clock, with metrics connected."""

    def __init__(self, db: Database, forum: Forum, tmp_path: Path) -> None:
        from spiders.crawl import crawl, install_reactor

        install_reactor()
        self.db = db
        self.registry = CollectorRegistry()
        signals = SignalManager()
        Metrics(self.registry).connect(signals)
        settings = Settings.load(SETTINGS, environ={})
        self.url = f"{forum.base}/api/info?id=t3_abc"
        target = Target(group="g", platform="forum", kind="post", value=self.url,
                        base_url=forum.base, interval=60.0, tags=())
        self.clock = ManualClock()
        self.worker = Worker(db, settings, partial(crawl, MONITOR_CLOCK=self.clock),
                             signals=signals, spool_dir=tmp_path / "spool", clock=self.clock)
        self.worker.sync([target])  # the post is due at the database's now()
        self.seen: list[datetime] = []

    def next_check(self) -> datetime:
        with self.db.transaction() as conn:
            at = conn.execute("SELECT min(next_check) AS at FROM posts").fetchone()["at"]
        assert at is not None
        return at  # type: ignore[no-any-return]

    def check(self) -> dict[str, Any]:
        """Move the clock to the post's next check and run one cycle there."""
        from spiders.crawl import event_loop

        self.clock.set(max(self.clock.now(), self.next_check()))
        self.seen.append(self.clock.now())
        stats = event_loop().run_until_complete(self.worker.cycle())
        assert stats["claimed"] == 1, stats
        return stats

    def rows(self, query: str) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(query).fetchall()]


def test_a_200_removal_marker_ends_in_a_moderator_removal(db: Database, forum: Forum,
                                                          tmp_path: Path) -> None:
    run = Run(db, forum, tmp_path)
    run.check()
    assert run.rows("SELECT state FROM posts") == [{"state": "visible"}]
    forum.state = "removed"
    for _ in range(6):
        run.check()
        if run.rows("SELECT id FROM events"):
            break
    (event,) = run.rows("SELECT kind, cause, cause_detail, candidates, evidence FROM events")
    assert (event["kind"], event["cause"], event["cause_detail"], event["candidates"]) == (
        "disappeared", "removed_by_moderator", None, [])
    observed = event["evidence"]["observed"]
    assert observed["http_status"] == 200 and observed["outcome"] == "unavailable"
    assert observed["signals"] == {"fingerprint": "forum.removed.moderator",
                                   "notice": "removed_by_moderator"}
    assert observed["message"] == "moderator" and observed["body_hash"]
    probes = event["evidence"]["suspicion"]["probes"]
    assert len(probes) == 2
    assert {p["signals"]["fingerprint"] for p in probes} == {"forum.removed.moderator"}
    assert "removed_by_moderator" in event["evidence"]["reason"]
    assert run.rows("SELECT state, gone_cause FROM posts") == [
        {"state": "gone", "gone_cause": "removed_by_moderator"}]


def test_a_block_page_leaves_the_post_untouched_and_moves_the_health_metric(
        db: Database, forum: Forum, tmp_path: Path) -> None:
    run = Run(db, forum, tmp_path)
    run.check()
    first = run.seen[0].timestamp()
    forum.state = "blocked"
    for _ in range(3):
        run.check()
    assert run.rows("SELECT state, suspicion, first_gone_at FROM posts") == [
        {"state": "visible", "suspicion": None, "first_gone_at": None}]
    assert run.rows("SELECT id FROM events") == []
    blocked = run.rows("SELECT outcome, signals, http_status, repeats FROM observations "
                       "WHERE outcome = 'collector_blocked'")
    assert blocked and blocked[0]["signals"] == {"fingerprint": "forum.block.pardner"}
    assert blocked[0]["http_status"] == 200
    assert sum(r["repeats"] for r in blocked) == 3
    value = run.registry.get_sample_value
    assert value("takedown_collector_block_ratio", {"platform": "forum"}) == 0.75
    assert value("takedown_collector_last_success_timestamp_seconds",
                 {"platform": "forum"}) == pytest.approx(first, abs=1.0)
    assert value("takedown_checks_total", {"platform": "forum", "mode": "probe",
                                           "outcome": "collector_blocked"}) == 3
    # The block lifts: the post was never in doubt, and the ratio falls.
    forum.state = "live"
    run.check()
    assert run.rows("SELECT state FROM posts") == [{"state": "visible"}]
    assert value("takedown_collector_block_ratio", {"platform": "forum"}) == 0.6
    assert run.rows("SELECT id FROM events") == []
