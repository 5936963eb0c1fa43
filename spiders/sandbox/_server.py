"""The sandbox's HTTP server: routing to the fakes, control endpoints and socket-level
faults."""

from __future__ import annotations

import logging
import socket
import struct
import sys
import time
import traceback
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from ._http import Query, Response, json_response, simple_page, text_response

if TYPE_CHECKING:
    from ._sandbox import Sandbox
    from .fake import Fake

logger = logging.getLogger(__name__)

ROBOTS = "User-agent: *\nAllow: /\n"


def _not_found(path: str) -> Response:
    if path.startswith("/api/"):
        return json_response(404, {"error": "Not Found"})
    return Response(
        404,
        simple_page("Not Found", "No such page in the sandbox.").encode(),
        [("Content-Type", "text/html; charset=utf-8")],
    )


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        super().__init__(address, SandboxHandler)
        self.sandbox = sandbox
        self.requests_served = count()

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """Log instead of printing to stderr; a client hanging up is not an error."""
        exc = sys.exc_info()[1]  # called from inside socketserver's except block
        if isinstance(exc, ConnectionError):
            logger.debug("sandbox: client %s hung up: %s", client_address, exc)
        else:
            logger.error("sandbox: error serving %s:\n%s", client_address, traceback.format_exc())


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox"
    sys_version = ""
    server: SandboxHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("sandbox %s %s", self.client_address[0], format % args)

    # -- dispatch ----------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        path = split.path
        query = Query(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        # The script moves with the sandbox's clock: what is due by now happens first.
        sandbox.catch_up()
        try:
            if path == "/robots.txt":  # the host's, wherever the platforms are mounted
                self._send(self._control(method, path, query), method)
                return
            mounted = sandbox.mounted(path)
            if mounted is None:
                self._send(_not_found(path), method)
                return
            path = mounted
            if path.startswith("/_sandbox/"):
                self._send(self._control(method, path, query), method)
                return
            sandbox.count_request()
            fake = sandbox.claimant(path)
            # The request and the script's tick: a run's faults follow its script and
            # schedule, not the real time or the order requests arrive in.
            fault = sandbox.faults.draw(f"{path}?{split.query}@{sandbox.world.tick}")
            if fault is not None:
                logger.debug("sandbox fault %s on %s", fault, path)
            if fault == "reset":
                self._reset()
                return
            if fault == "timeout":
                time.sleep(sandbox.timeout_delay)
            if fault in ("server_error", "rate_limit", "anti_bot"):
                response = sandbox.faults.response(fault, fake)
            elif method not in ("GET", "HEAD") and not (
                    fake is not None and method == "POST" and path in fake.post_paths):
                response = json_response(405, {"error": "Method Not Allowed"})
            else:
                response = self._route(fake, path, query)
            if fake is not None:
                fake.decorate(path, response, self.server.requests_served)
            if fault == "truncated":
                self._send_truncated(response)
            else:
                self._send(response, method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, fake: Fake | None, path: str, query: dict[str, str]) -> Response:
        sandbox = self.server.sandbox
        headers = {k.lower(): v for k, v in self.headers.items()}
        country = sandbox.country_of(headers, self.client_address)
        found: Response | None = None
        if fake is not None:
            world = sandbox.world
            with world.lock:
                # Geo-blocking: the request's country decides what it may see.
                world.viewer = country
                try:
                    post = fake.post_for(world, path, query) if country else None
                    # A post gone for everyone answers as gone: withholding hides
                    # only what the platform still serves elsewhere.
                    if (post is not None and country in world.withheld_in(post)
                            and fake.visible(world, post)):
                        found = fake.withheld(world, sandbox.base_url, post, country)
                    else:
                        found = fake.handle(world, sandbox.base_url, path, query, headers)
                finally:
                    world.viewer = None
        if found is not None:
            return found
        return _not_found(path)

    def _control(self, method: str, path: str, query: dict[str, str]) -> Response:
        sandbox = self.server.sandbox
        if path == "/robots.txt":
            return text_response(200, ROBOTS)
        if path == "/_sandbox/truth" and method in ("GET", "HEAD"):
            return json_response(200, sandbox.truth())
        if path == "/_sandbox/watchlist.toml" and method in ("GET", "HEAD"):
            body = sandbox.watchlist_toml(
                group=query.get("group", "sandbox"), interval=query.get("interval", "5s")
            )
            return text_response(200, body, "application/toml; charset=utf-8")
        if path == "/_sandbox/step":
            if method != "POST":
                return json_response(405, {"error": "POST to step the sandbox"})
            try:
                n = int(query.get("n", "1"))
            except ValueError:
                return json_response(400, {"error": "n must be a whole number"})
            applied = sandbox.step(n)
            return json_response(
                200, {"tick": sandbox.tick, "done": sandbox.done, "applied": applied}
            )
        if path == "/_sandbox/withhold":
            if method != "POST":
                return json_response(405, {"error": "POST to withhold a post"})
            countries = {c.strip().upper() for c in query.get("countries", "").split(",")
                         if c.strip()}
            try:
                withheld = sandbox.withhold(query.get("url", ""), countries,
                                            lift=query.get("lift") == "1")
            except (KeyError, ValueError) as exc:
                return json_response(400, {"error": str(exc).strip("'\"")})
            return json_response(200, {"url": query.get("url"), "withheld_in": withheld})
        if path == "/_sandbox/finish":
            if method != "POST":
                return json_response(405, {"error": "POST to finish the sandbox"})
            sandbox.finish()
            return json_response(200, {"tick": sandbox.tick, "done": sandbox.done})
        return json_response(404, {"error": "unknown sandbox control endpoint"})

    # -- sending -----------------------------------------------------------------------

    def _head(self, response: Response, length: int) -> None:
        self.send_response_only(response.status, response.reason)
        names = {k.lower() for k, _ in response.headers}
        if "server" not in names:
            self.send_header("Server", self.version_string())
        self.send_header("Date", formatdate(usegmt=True))
        for key, value in response.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, response: Response, method: str) -> None:
        self._head(response, len(response.body))
        if method != "HEAD" and response.status != 304:
            self.wfile.write(response.body)

    def _send_truncated(self, response: Response) -> None:
        """Promise the whole body, send half of it, hang up."""
        body = response.body or b"{}"
        self._head(response, len(body))
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _reset(self) -> None:
        """Close the socket with RST and no response at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:  # pragma: no cover - platform without SO_LINGER
            pass
        # The fd really closes (with RST, thanks to SO_LINGER 0) once finish() drops
        # the last file object on it; shutdown_request's FIN then fails harmlessly.
        self.connection.close()
