"""Helpers for the alerts tests: events in a real database, and local receivers.

Every receiver listens on 127.0.0.1: an HTTP server whose answers a test
scripts (200, 500, stall, drop) and an SMTP server (aiosmtpd). The fixtures
that wrap them are in ``conftest.py``.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from psycopg.types.json import Jsonb

from alerts.config import AlertConfig, load_config
from alerts.outbox import Outbox
from monitor.db import Database, tracking
from monitor.events import Event
from monitor.lifecycle import Changes

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-hmac-key-for-tests"

# Fixture texts: Chinese, emoji, right-to-left.
ZH = "警方今天在广场清场，视频已被删除 #香港"
EMOJI = "They took it down 🚨🔥 again 👀"
AR = "تم حذف هذا المنشور من قبل المنصة"
HE = "הפוסט נמחק על ידי הפלטפורמה"


# -- HTTP receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.received.append(Received(self.path, dict(self.headers.items()), body))
        action = self.server.next_action()
        if action == "drop":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if action.startswith("stall"):
            seconds = float(action.partition(":")[2] or 30)
            self.server.release.wait(seconds)
            action = "200"
        status = int(action)
        reply = b'{"ok": true}' if status < 300 else b"receiver error"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.script: list[str] = []
        self.default = "200"
        self.release = threading.Event()
        self.lock = threading.Lock()

    def next_action(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else self.default


@dataclass
class Receiver:
    server: _Server
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def answer(self, *actions: str, default: str | None = None) -> None:
        """Script the next answers: "200", "500", "drop", "stall:SECONDS"."""
        self.server.script.extend(actions)
        if default is not None:
            self.server.default = default

    @property
    def received(self) -> list[Received]:
        return self.server.received

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

    def stop(self) -> None:
        self.server.release.set()
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> Receiver:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    return Receiver(server, thread)


def refused_url() -> str:
    """A local URL where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# -- SMTP receiver ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.original_content or
                                                envelope.content, policy=policy.default))
        return "250 OK"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages




# -- events in the database --------------------------------------------------------------------


class World:
    """Targets, posts with a version, and events stored through ``tracking.apply``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.n = 0

    def target(self, value: str = "alice@ex.social", group: str = "journalists",
               platform: str = "mastodon") -> int:
        with self.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO targets (key, group_name, platform, kind, value, base_url, "
                "interval_s) VALUES (%s, %s, %s, 'account', %s, %s, 600) RETURNING id",
                (f"{platform}:account:{value}", group, platform, value, "https://ex.social"),
            ).fetchone()
        assert row is not None
        return int(row["id"])

    def post(self, target_id: int, key: str, text: str = "a post", *, title: str = "",
             published_at: datetime | None = None, author: str | None = "alice") -> int:
        content = {"title": title, "text": text, "media": [], "links": [], "warning": ""}
        with self.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO posts (target_id, platform, post_key, url, author, published_at, "
                "first_seen, state, state_since) SELECT %s, platform, %s, %s, %s, %s, %s, "
                "'visible', %s FROM targets WHERE id = %s RETURNING id",
                (target_id, key, f"https://ex.social/@alice/{key}", author, published_at,
                 T0 - timedelta(days=1), T0, target_id)).fetchone()
            assert row is not None
            post_id = int(row["id"])
            version = conn.execute(
                "INSERT INTO versions (post_id, content_hash, content, raw_text, title, "
                "first_seen) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (post_id, f"h{post_id}", Jsonb(content), text, title, T0)).fetchone()
            assert version is not None
            conn.execute("UPDATE posts SET current_version_id = %s WHERE id = %s",
                         (version["id"], post_id))
        return post_id

    def event(self, kind: str, post_id: int, at: datetime, cause: str | None = None,
              **kw: Any) -> Event:
        self.n += 1
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT p.target_id, p.platform, p.post_key, p.published_at, t.group_name "
                "FROM posts p JOIN targets t ON t.id = p.target_id WHERE p.id = %s",
                (post_id,)).fetchone()
        assert row is not None
        evidence = kw.pop("evidence", None)
        if evidence is None and kind in ("disappeared", "hidden"):
            evidence = {
                "observed": {"at": at.isoformat(), "mode": "probe",
                             "url": f"https://ex.social/api/v1/statuses/{row['post_key']}",
                             "vantage": "de-fra", "outcome": "not_found",
                             "http_status": 410, "message": "This post was removed",
                             "body_hash": "ab" * 32, "signals": {}},
                "reason": "the platform answered 410 with its removal notice",
            }
        if kind == "disappeared":
            kw.setdefault("first_seen_gone", at - timedelta(minutes=5))
        return Event(kind=kind, post_id=post_id, target_id=row["target_id"],
                     platform=row["platform"], group=row["group_name"],
                     post_key=row["post_key"], detected_at=at, cause=cause,
                     published_at=row["published_at"], evidence=evidence or {},
                     dedupe_key=f"{post_id}:{self.n}:{kind}", **kw)

    def record(self, outbox: Any, *events: Event) -> list[Event]:
        """Store ``events`` and send them to ``outbox`` in the same transaction, as the
        recorder's ``events_stored`` signal does."""
        with self.db.transaction() as conn:
            stored = tracking.apply(conn, Changes(events=list(events)))
            if stored:
                outbox(conn=conn, events=stored)
            return stored

    def rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(query, args).fetchall()]

    def deliveries(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM deliveries ORDER BY id")


def config(channels: dict[str, Any], **options: Any) -> AlertConfig:
    """A config whose channels are given as tables; secrets come from ``environ``."""
    environ = options.pop("environ", {"HOOK_SECRET": SECRET})
    return load_config({"channels": channels, **options}, "watchlist.toml", environ)


def hook(url: str, **kw: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret_env": "HOOK_SECRET", "timeout": "2s", **kw}


def fixed_clock(at: datetime) -> Any:
    return lambda: at


def outbox(cfg: AlertConfig, at: datetime = T0) -> Outbox:
    return Outbox(cfg, clock=fixed_clock(at))
