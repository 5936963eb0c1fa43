"""Vantage points for tests: tiny forward proxies on 127.0.0.1 in front of the sandbox.

- :class:`CountryProxy`: an HTTP forward proxy (the monitor's own
  :class:`spiders.socksbridge.HttpRelay`, connecting directly) that adds
  ``X-Sandbox-Country: <country>`` to every request it forwards, so the sandbox
  answers as it would in that country. Optional Basic credentials.
- :class:`Socks5Proxy`: a minimal SOCKS5 server (RFC 1928, no-auth or RFC 1929
  user/password) that cannot add a header; it records the local port of each
  connection it opens, and :meth:`Socks5Proxy.locate` tells the sandbox which
  country a client port belongs to (``sandbox.locate``).

Both run on one background event loop thread, listen on ephemeral ports, can be
taken down and brought back on the same port (:meth:`down`, :meth:`up`: a vantage
point that fails), count what they forwarded, and connect only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

from spiders.sandbox._geo import COUNTRY_HEADER
from spiders.socksbridge import HttpRelay, RelayRefused, _splice

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="test-proxies", daemon=True).start()
        return _loop


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, _background()).result(timeout=10)


def _local_only(host: str) -> None:
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise RelayRefused(f"the test proxy only connects to 127.0.0.1, not {host}")


class _DirectRelay(HttpRelay):
    async def open(self, host: str, port: int
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        _local_only(host)
        try:
            return await asyncio.open_connection(host, port)
        except OSError as exc:
            raise RelayRefused(f"{host}:{port}: {exc.strerror}") from None


class _Proxy:
    """Up/down and bookkeeping shared by the test proxies."""

    port = 0

    def up(self) -> Self:
        """Listen (again, on the same port once it has one)."""
        self.port = _run(self._start())
        return self

    def down(self) -> None:
        """Stop listening and drop open connections: connections are refused."""
        _run(self._stop())

    async def _start(self) -> int:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


class CountryProxy(_Proxy):
    """An HTTP forward proxy that says which country its requests come from."""

    def __init__(self, country: str, *, user: str | None = None,
                 password: str | None = None, header: str = COUNTRY_HEADER) -> None:
        self.country = country
        self.user = user
        self.relay = _DirectRelay(token=password, add_headers=[(header, country)])

    @property
    def url(self) -> str:
        creds = f"{self.user}:{self.relay.token}@" if self.relay.token else ""
        return f"http://{creds}127.0.0.1:{self.port}"

    @property
    def forwarded(self) -> int:
        return self.relay.forwarded

    @property
    def rejected(self) -> int:
        return self.relay.rejected

    async def _start(self) -> int:
        return await self.relay.start()

    async def _stop(self) -> None:
        await self.relay.stop()


class Socks5Proxy(_Proxy):
    """A minimal SOCKS5 server (CONNECT only) that remembers its connections' ports."""

    def __init__(self, country: str, *, user: str | None = None,
                 password: str | None = None) -> None:
        self.country = country
        self.user = user
        self.password = password
        self.forwarded = 0
        self.refused_auth = 0
        #: Local ports of the connections it has open to the destination.
        self.ports: set[int] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        creds = f"{self.user}:{self.password}@" if self.user else ""
        return f"socks5://{creds}127.0.0.1:{self.port}"

    def locate(self, client: tuple[str, int]) -> str | None:
        """The country of a client of the sandbox, if it is one of our connections."""
        return self.country if client[1] in self.ports else None

    async def _start(self) -> int:
        if self._server is None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if server is not None:
            await server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5:
            return
        wanted = 2 if self.user else 0
        if wanted not in methods:
            writer.write(b"\x05\xff")
            return
        writer.write(bytes([5, wanted]))
        if wanted == 2:
            _, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            (plen,) = await reader.readexactly(1)
            password = await reader.readexactly(plen)
            ok = (user.decode(), password.decode()) == (self.user, self.password)
            writer.write(b"\x01" + (b"\x00" if ok else b"\x01"))
            if not ok:
                self.refused_auth += 1
                return
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
            return
        try:
            _local_only(host if host != "localhost" else "127.0.0.1")
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except (RelayRefused, OSError):
            writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        local_port = up_writer.get_extra_info("sockname")[1]
        self.ports.add(local_port)
        self.forwarded += 1
        try:
            writer.write(b"\x05\x00\x00\x01" + bytes(4) + struct.pack("!H", local_port))
            await writer.drain()
            await _splice(reader, writer, up_reader, up_writer)
        finally:
            up_writer.transport.abort()
            self.ports.discard(local_port)
