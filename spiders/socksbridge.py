"""A local HTTP proxy that forwards through a SOCKS5 proxy, for Scrapy, which speaks no SOCKS.

Scrapy sends a request through an HTTP proxy (``request.meta["proxy"]``) but has no
SOCKS client. A vantage point reached over SOCKS5 is therefore given a
:class:`SocksBridge`: an HTTP proxy on 127.0.0.1, on the crawl's own event loop,
that opens each connection through the SOCKS5 proxy with ``python-socks``
(names are resolved by the SOCKS proxy, so DNS answers come from the vantage's
network too) and relays the bytes.

- Plain ``http://`` requests arrive in absolute form (``GET http://host/path``);
  the bridge sends them on in origin form with ``Connection: close`` both ways
  (one request per connection: no keep-alive state to get wrong).
- ``https://`` requests arrive as ``CONNECT host:443``; the bridge answers 200 and
  relays the TLS bytes untouched.
- A SOCKS proxy that cannot be reached, refuses, or times out gets the client's
  connection closed without an answer, so Scrapy records a connection error (a
  transient outcome, never an absence). It is logged without credentials.
- Only the crawl may use the bridge: each has a random token, sent by Scrapy as
  ``Proxy-Authorization`` (the token is in the proxy URL the middleware hands
  out); any other client of 127.0.0.1 gets 407.

:class:`HttpRelay` is the shared HTTP side; the test suite's forward proxies
(``tests/vantage/proxies.py``) are relays that connect directly.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from python_socks import ProxyError, ProxyTimeoutError
from python_socks.async_.asyncio import Proxy

from monitor.vantage import redact

logger = logging.getLogger(__name__)

__all__ = ["HttpRelay", "RelayRefused", "SocksBridge", "redact"]

#: The longest request or response head relayed; longer ones are refused.
MAX_HEAD = 64 * 1024
#: Seconds a client has to send its request head.
HEAD_TIMEOUT = 30.0
#: Seconds the server side may stay open once the client has hung up.
DRAIN_TIMEOUT = 30.0
_CHUNK = 64 * 1024
#: Request headers meant for the proxy (or hop-by-hop), never sent on.
_HOP_HEADERS = frozenset({b"proxy-authorization", b"proxy-connection", b"connection",
                          b"keep-alive"})


class RelayRefused(Exception):
    """The relay could not open the upstream connection (the message says why)."""


class HttpRelay:
    """An HTTP forward proxy on 127.0.0.1 whose upstream connections :meth:`open` makes.

    ``token``: the password a client must send in ``Proxy-Authorization``
    (Basic, any user name); None accepts every client. ``add_headers`` are added
    to every relayed plain-HTTP request (the test proxies' country header).
    """

    def __init__(self, *, token: str | None = None,
                 add_headers: Sequence[tuple[str, str]] = (),
                 connect_timeout: float = 30.0) -> None:
        self.token = token
        self.add_headers = tuple(add_headers)
        self.connect_timeout = connect_timeout
        self.host = "127.0.0.1"
        self.port = 0
        #: Requests relayed upstream (a CONNECT counts once).
        self.forwarded = 0
        #: Upstream connections that could not be opened.
        self.failures = 0
        #: Clients turned away (bad token, bad request).
        self.rejected = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int | None = None) -> int:
        """Listen on 127.0.0.1 (``port``, or the last one, or an ephemeral one)."""
        if self._server is None:
            self._server = await asyncio.start_server(
                self._client, self.host, self.port if port is None else port, limit=MAX_HEAD)
            self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def running(self) -> bool:
        return self._server is not None

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if server is not None:
            await server.wait_closed()

    async def open(self, host: str, port: int
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The upstream connection to ``host:port``; RelayRefused when it cannot be made."""
        raise NotImplementedError

    # --- one client ----------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            self.rejected += 1
            return
        lines = head[:-4].split(b"\r\n")
        try:
            method, target, version = lines[0].split(b" ")
        except ValueError:
            await self._answer(writer, 400, "Bad Request")
            return
        headers = [_header(line) for line in lines[1:]]
        if not self._authorised(headers):
            await self._answer(writer, 407, "Proxy Authentication Required",
                               [("Proxy-Authenticate", 'Basic realm="takedown"')])
            return
        destination = _destination(method, target)
        if destination is None:
            await self._answer(writer, 400, "Bad Request")
            return
        host, port, path = destination
        try:
            up_reader, up_writer = await self.open(host, port)
        except RelayRefused as exc:
            self.failures += 1
            logger.info("Proxy relay to %s:%d failed: %s", host, port, exc)
            return  # no answer: the client records a lost connection, not a status
        self.forwarded += 1
        try:
            if path is None:  # CONNECT: a tunnel of opaque bytes
                writer.write(version + b" 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                up_writer.write(self._request_head(method, path, version, headers))
                await up_writer.drain()
                if not await _relay_response_head(up_reader, writer):
                    return
            await _splice(reader, writer, up_reader, up_writer)
        finally:
            up_writer.transport.abort()

    def _authorised(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if self.token is None:
            return True
        for name, value in headers:
            if name.lower() != b"proxy-authorization":
                continue
            scheme, _, encoded = value.strip().partition(b" ")
            if scheme.lower() != b"basic":
                return False
            try:
                _user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(password, self.token.encode())
        return False

    def _request_head(self, method: bytes, path: bytes, version: bytes,
                      headers: list[tuple[bytes, bytes]]) -> bytes:
        kept = [(n, v) for n, v in headers if n.lower() not in _HOP_HEADERS]
        kept += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in self.add_headers]
        kept.append((b"Connection", b"close"))
        lines = [b" ".join((method, path, version))] + [n + b": " + v for n, v in kept]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _answer(self, writer: asyncio.StreamWriter, status: int, reason: str,
                      headers: Sequence[tuple[str, str]] = ()) -> None:
        self.rejected += 1
        head = [f"HTTP/1.1 {status} {reason}", *(f"{n}: {v}" for n, v in headers),
                "Content-Length: 0", "Connection: close"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()


class SocksBridge(HttpRelay):
    """An :class:`HttpRelay` whose connections go through the SOCKS5 proxy ``socks_url``
    (``socks5://[user:password@]host:port``; credentials are used, never logged)."""

    def __init__(self, socks_url: str, *, connect_timeout: float = 30.0) -> None:
        super().__init__(token=secrets.token_urlsafe(18), connect_timeout=connect_timeout)
        scheme = urlsplit(socks_url).scheme.lower()
        if scheme not in ("socks5", "socks5h"):
            raise ValueError(f"{redact(socks_url)} is not a socks5:// proxy URL")
        self.socks_url = socks_url
        self.name = redact(socks_url)

    @property
    def proxy_url(self) -> str:
        """What to put in ``request.meta["proxy"]`` (carries the bridge's token)."""
        return f"http://crawl:{self.token}@127.0.0.1:{self.port}"

    async def open(self, host: str, port: int
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        url = self.socks_url.replace("socks5h://", "socks5://", 1)
        try:
            proxy = Proxy.from_url(url, rdns=True)
            sock = await proxy.connect(dest_host=host, dest_port=port,
                                       timeout=self.connect_timeout)
        except ProxyTimeoutError:
            raise RelayRefused(f"SOCKS5 proxy {self.name} timed out") from None
        except ProxyError as exc:
            raise RelayRefused(f"SOCKS5 proxy {self.name} refused: {exc}") from None
        except (OSError, ValueError) as exc:  # ProxyConnectionError is an OSError
            raise RelayRefused(f"SOCKS5 proxy {self.name} unreachable: "
                               f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
                               ) from None
        return await asyncio.open_connection(sock=sock, limit=MAX_HEAD)


def _header(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b":")
    return name.strip(), value.strip()


def _destination(method: bytes, target: bytes) -> tuple[str, int, bytes | None] | None:
    """(host, port, origin-form path or None for a tunnel), or None: not a proxy request."""
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        return None
    if method == b"CONNECT":
        name, _, number = text.rpartition(":")
        name = name.strip("[]")
        return (name, int(number), None) if name and number.isdigit() else None
    parts = urlsplit(text)
    if parts.scheme != "http" or not parts.hostname:
        return None
    try:
        port = parts.port or 80
    except ValueError:
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, port, path.encode("ascii")


async def _relay_response_head(up_reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> bool:
    """Send the upstream response head on with ``Connection: close``; False if none came."""
    try:
        head = await up_reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [line for line in lines[1:]
                         if _header(line)[0].lower() not in (b"connection", b"keep-alive")]
    kept.append(b"Connection: close")
    writer.write(b"\r\n".join(kept) + b"\r\n\r\n")
    await writer.drain()
    return True


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
    """Relay both ways until the server side ends (or lingers after the client left)."""
    upstream = asyncio.ensure_future(_pipe(reader, up_writer))
    downstream = asyncio.ensure_future(_pipe(up_reader, writer))
    try:
        done, _ = await asyncio.wait({upstream, downstream},
                                     return_when=asyncio.FIRST_COMPLETED)
        if downstream not in done:
            await asyncio.wait({downstream}, timeout=DRAIN_TIMEOUT)
    finally:
        for task in (upstream, downstream):
            task.cancel()
