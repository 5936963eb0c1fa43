"""Helpers of the archive tests: captures, a recorder world with one account, and a
tiny local HTTP server whose answers the test writes (hostile headers included)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent, RawCapture
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m"},
                         environ={})
#: Every byte value, twice: bodies are bytes, never text.
HOSTILE_BODY = bytes(range(256)) * 2 + b"\r\n\r\nWARC/1.1\r\nWARC-Type: response\r\n\r\n"


def capture(url: str, status: int = 200, body: bytes = b"<p>hello</p>",
            at: datetime = T0, **kw: Any) -> RawCapture:
    return RawCapture(method=kw.pop("method", "GET"), url=url,
                      request_headers=kw.pop("request_headers", (("User-Agent", "tm/1"),)),
                      status=status,
                      response_headers=kw.pop("response_headers",
                                              (("Content-Type", "text/html"),)),
                      body=body, fetched_at=at, vantage=kw.pop("vantage", "local"))


def entry(key: str, text: str, minutes_old: int = 5) -> PostContent:
    return PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                       probe_url=f"https://ex.social/api/v1/statuses/{key}", text=text,
                       author="alice", published_at=T0 - timedelta(minutes=minutes_old))


class World:
    """One Mastodon account target and a recorder; every observation carries a capture
    (as the spider gives it), and the helpers read the archive back."""

    def __init__(self, db: Database, settings: Settings = SETTINGS) -> None:
        self.db = db
        self.recorder = Recorder(db, settings)
        target = Target(group="g", platform="mastodon", kind="account", value="alice",
                        base_url="https://ex.social", interval=60.0, tags=())
        with db.transaction() as conn:
            store.sync_targets(conn, [target], 600)
            row = conn.execute("SELECT id, key FROM targets").fetchone()
        assert row is not None
        self.target_id, self.target_key = row["id"], row["key"]

    def listing(self, at: datetime, entries: list[PostContent], body: bytes = b"[]") -> list[Any]:
        obs = Observation(mode="listing", platform="mastodon", target_key=self.target_key,
                          url="alice", outcome=Outcome.OK, row_id=self.target_id,
                          entries=entries, observed_at=at, http_status=200,
                          capture=capture("https://ex.social/api/v1/accounts/1/statuses",
                                          body=body, at=at))
        return self.recorder.record([obs])

    def probe(self, key: str, at: datetime, outcome: Outcome, status: int,
              post: PostContent | None = None, body: bytes = b"{}") -> list[Any]:
        url = f"https://ex.social/api/v1/statuses/{key}"
        obs = Observation(mode="probe", platform="mastodon", target_key=self.target_key,
                          url=url, outcome=outcome, row_id=self.post_id(key), post_key=key,
                          post=post, http_status=status, observed_at=at,
                          capture=capture(url, status, body, at))
        return self.recorder.record([obs])

    def post_id(self, key: str) -> int:
        return int(self.one("SELECT id FROM posts WHERE post_key = %s", key)["id"])

    def one(self, query: str, *args: Any) -> dict[str, Any]:
        rows = self.all(query, *args)
        assert rows, query
        return rows[0]

    def all(self, query: str, *args: Any) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(query, args).fetchall()]

    def record_count(self) -> int:
        return int(self.one("SELECT count(*) AS n FROM archive_records")["n"])


# --- a local HTTP server ----------------------------------------------------------

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class _Handler(BaseHTTPRequestHandler):
    answers: dict[str, Answer] = {}

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        status, headers, body = self.answers.get(self.path, (404, [], b"no such page"))
        head = [b"HTTP/1.1 %d Answer" % status]
        head += [name + b": " + value for name, value in headers]  # raw: non-ASCII on purpose
        head += [b"Content-Length: %d" % len(body), b"Connection: close", b"", b""]
        self.wfile.write(b"\r\n".join(head) + body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_server(answers: dict[str, Answer]) -> Iterator[str]:
    """Serve ``answers`` (path → status, raw headers, body) on 127.0.0.1; yields the base
    URL."""
    handler = type("Handler", (_Handler,), {"answers": answers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
