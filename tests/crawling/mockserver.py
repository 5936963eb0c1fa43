"""A tiny HTTP server for fetch-behaviour tests, Scrapy-mockserver style.

Runs the stdlib ``ThreadingHTTPServer`` in a thread on 127.0.0.1, port 0.
Endpoints:

- ``/status?n=503``           answer with that status
- ``/delay?s=3``              answer after ``s`` seconds
- ``/drop``                   reset the connection without answering
- ``/truncate``               promise 1,000 bytes, send 10, close
- ``/big?n=100000``           a body of ``n`` bytes
- ``/gzip-bomb?n=10000000``   a gzip body that inflates to ``n`` bytes
- ``/retry-after?s=1&key=k``  429 with ``Retry-After: s`` the first time per key, then 200
- ``/echo-ua``                200 with the request's User-Agent as the body
- ``/robots.txt``             disallows ``/private``
- ``/fixture/<path>``         a file under tests/fixtures (``status``/``ctype`` in the query)
- ``/route/<name>``           a response registered with :meth:`MockServer.route`
- ``/prefix/*``               a route registered with a trailing ``*``: every path under it
- ``/api/info?id=t3_a,t3_b``  with :class:`InfoApi` installed: a Reddit-shaped batch answer
- ``/by_id/t3_a.json``        with :class:`InfoApi` installed: that one post
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Canned:
    """A registered answer: status, headers, body."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output quiet

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.server.hits[parts.path] += 1
        self.server.requests.append((self.path, dict(self.headers.items())))
        path = parts.path
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow: /private\n", "text/plain")
        if path == "/status":
            n = int(query.get("n", "200"))
            return self._send(n, f"status {n}".encode(), "text/plain")
        if path == "/delay":
            time.sleep(float(query.get("s", "1")))
            return self._send(200, b"late", "text/plain")
        if path == "/drop":
            # SO_LINGER 0 makes close() send a RST: a reset, not a clean close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return None
        if path == "/truncate":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            return None
        if path == "/big":
            return self._send(200, b"x" * int(query.get("n", "100000")), "text/plain")
        if path == "/gzip-bomb":
            # A small gzip body that inflates to ``n`` bytes: a decompression bomb.
            body = gzip.compress(b"\0" * int(query.get("n", "10000000")), compresslevel=9)
            return self._send(200, body, "text/plain", {"Content-Encoding": "gzip"})
        if path == "/retry-after":
            key = query.get("key", "")
            self.server.keys[key] += 1
            if self.server.keys[key] == 1:
                return self._send(429, b"slow down", "text/plain",
                                  {"Retry-After": query.get("s", "1")})
            return self._send(200, b"fine now", "text/plain")
        if path == "/echo-ua":
            return self._send(200, self.headers.get("User-Agent", "").encode(), "text/plain")
        if path.startswith("/fixture/"):
            body = (FIXTURES / path.removeprefix("/fixture/")).read_bytes()
            return self._send(int(query.get("status", "200")), body,
                              query.get("ctype", "application/octet-stream"))
        if path.startswith("/route/") or path in self.server.routes:
            key = path if path in self.server.routes else path.removeprefix("/route/")
            canned = self.server.routes.get(key)
            if callable(canned):
                canned = canned(self.path)
            if canned is not None:
                return self._send(canned.status, canned.body, None, canned.headers)
        for key, answer in list(self.server.routes.items()):
            if key.endswith("*") and path.startswith(key[:-1]):
                canned = answer(self.path) if callable(answer) else answer
                if canned is not None:
                    return self._send(canned.status, canned.body, None, canned.headers)
        return self._send(404, b"no such endpoint", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str | None,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib default listen backlog (5) makes a burst of connections wait
    # for a SYN retransmit (1 s), which reads as a client timeout.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out or give up hang up on us: expected, not news.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]
    hits: Counter[str]
    keys: Counter[str]
    requests: list[tuple[str, dict[str, str]]]
    routes: dict[str, Canned | Callable[[str], Canned | None]]


class MockServer:
    """Start with ``with MockServer() as server``; ``server.url("/status?n=500")``."""

    def __init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.hits = Counter()
        self.httpd.keys = Counter()
        self.httpd.requests = []
        self.httpd.routes = {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MockServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, answer: Canned | Callable[[str], Canned | None]) -> None:
        """Serve ``answer`` at ``path`` (an exact path, query ignored)."""
        self.httpd.routes[path] = answer

    @property
    def hits(self) -> Counter[str]:
        return self.httpd.hits

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return self.httpd.requests


_JSON = {"Content-Type": "application/json; charset=UTF-8"}


@dataclass
class InfoApi:
    """A Reddit ``/api/info``-shaped batch endpoint and its single-post path.

    ``/api/info?id=t3_a,t3_b`` answers a Listing whose children are the asked
    posts found in ``posts`` (fullname → data), in the order asked, minus the
    ids in ``omit``, plus ``extra`` children (hostile answers); ``duplicate``
    repeats every child with ``"dup": true`` in its data. ``status`` and
    ``delay`` shape the whole answer; ``body`` replaces it. ``/by_id/t3_a.json``
    answers that one post as a Listing, or 404 when it is not in ``posts``
    (``single_status`` overrides). ``batches`` and ``singles`` record what was asked.
    """

    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    omit: set[str] = field(default_factory=set)
    extra: list[Any] = field(default_factory=list)
    duplicate: bool = False
    status: int = 200
    delay: float = 0.0
    body: bytes | None = None
    single_status: dict[str, int] = field(default_factory=dict)
    batches: list[list[str]] = field(default_factory=list)
    singles: list[str] = field(default_factory=list)

    def install(self, server: MockServer) -> InfoApi:
        server.route("/api/info", self.batch)
        server.route("/by_id/*", self.single)
        return self

    @staticmethod
    def child(data: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "t3", "data": data}

    @staticmethod
    def listing(children: list[Any]) -> bytes:
        return json.dumps({"kind": "Listing", "data": {"after": None, "before": None,
                                                       "dist": len(children),
                                                       "children": children}}).encode()

    def batch(self, path: str) -> Canned:
        query = parse_qs(urlsplit(path).query)
        asked = [i for i in query.get("id", [""])[-1].split(",") if i]
        self.batches.append(asked)
        if self.delay:
            time.sleep(self.delay)
        if self.body is not None or self.status != 200:
            return Canned(self.status, self.body or b"", _JSON)
        children: list[Any] = [self.child(self.posts[i]) for i in asked
                               if i in self.posts and i not in self.omit]
        if self.duplicate:
            children += [self.child({**c["data"], "dup": True}) for c in children]
        return Canned(200, self.listing([*children, *self.extra]), _JSON)

    def single(self, path: str) -> Canned:
        name = urlsplit(path).path.rsplit("/", 1)[-1].removesuffix(".json")
        self.singles.append(name)
        status = self.single_status.get(name, 200 if name in self.posts else 404)
        if status != 200:
            return Canned(status, b'{"message": "Not Found", "error": 404}', _JSON)
        return Canned(200, self.listing([self.child(self.posts[name])]), _JSON)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
