"""``takedown serve``: the HTTP API and the web interface under uvicorn; and
:func:`serve_in_background` / :func:`serve_until`, the same server as a task of
``takedown run``'s loop (``API_IN_RUN``).

The socket is bound here, before uvicorn starts, so a port already taken is a clear
error naming the address instead of uvicorn's bare exit. Uvicorn's own signal capture
re-raises SIGTERM after a graceful shutdown, which would kill the process with
status -15; :class:`_Server` shuts down gracefully and exits 0 instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from monitor.errors import ConfigError

if TYPE_CHECKING:
    from .context import Ctx

log = logging.getLogger(__name__)

#: Seconds a shutdown waits for requests in flight before closing them.
GRACE_S = 5


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` → (host, port)."""
    host, sep, port = address.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        sep = ""  # an unbracketed IPv6 address is ambiguous
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"API address {address!r} is not HOST:PORT. Write 127.0.0.1:8080 (this machine "
            "only), 0.0.0.0:8080 (every interface) or [::1]:8080 (IPv6), in --address or "
            "API_ADDRESS.")
    return host, int(port)


def bind(address: str) -> socket.socket:
    """A listening socket on ``address``; a :class:`ConfigError` saying what to do when
    the port is taken or the host is not this machine's."""
    host, port = parse_address(address)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot serve on {address}: {host!r} is not a known host name "
                          f"({exc.strerror}); use an address of this machine, such as "
                          "127.0.0.1:8080") from None
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(where)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"cannot serve on {address}: the port is already in use (another `takedown "
                "serve` or `takedown run` with API_IN_RUN?). Stop it, or choose another port "
                "with --address HOST:PORT or API_ADDRESS.") from None
        raise ConfigError(f"cannot serve on {address}: {exc.strerror}. Use a port above "
                          "1023 and an address of this machine.") from None
    sock.setblocking(False)
    return sock


class _Server:
    """A uvicorn server; ``signals``: stop gracefully on SIGINT/SIGTERM (the main
    thread's), else only when :meth:`stop` is called."""

    def __init__(self, app: Any, *, signals: bool) -> None:
        import uvicorn

        outer = self

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                if not signals or threading.current_thread() is not threading.main_thread():
                    yield
                    return
                previous = {s: signal.signal(s, outer._on_signal)
                            for s in (signal.SIGINT, signal.SIGTERM)}
                try:
                    yield
                finally:
                    for s, handler in previous.items():
                        signal.signal(s, handler)

        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="auto",
                                timeout_graceful_shutdown=GRACE_S, server_header=False)
        self.server = Server(config)

    def _on_signal(self, sig: int, frame: Any) -> None:
        if self.server.should_exit:  # a second Ctrl-C: do not wait for requests
            self.server.force_exit = True
        self.server.should_exit = True

    async def serve(self, sock: socket.socket) -> None:
        await self.server.serve(sockets=[sock])

    def stop(self) -> None:
        self.server.should_exit = True


@dataclass
class BackgroundServer:
    """What :func:`serve_in_background` returns: the task, and how to stop it."""

    task: asyncio.Task[None]
    server: _Server
    address: str

    async def stop(self) -> None:
        """Finish requests in flight (at most :data:`GRACE_S`), then close."""
        self.server.stop()
        await self.task


def serve_in_background(app: Any, address: str) -> BackgroundServer:
    """Serve ``app`` on ``address`` as a task of the running asyncio loop, until
    :meth:`BackgroundServer.stop`; signals stay the caller's. Raises
    :class:`~monitor.errors.ConfigError` at once if the address cannot be bound."""
    sock = bind(address)
    server = _Server(app, signals=False)
    task = asyncio.get_running_loop().create_task(server.serve(sock), name="takedown-api")
    log.info("serving the API on %s", address)
    return BackgroundServer(task, server, address)


async def serve_until(app: Any, address: str, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``address`` until ``stop`` is set (``takedown run`` with
    ``API_IN_RUN``: one more job beside the crawl and the dispatcher)."""
    handle = serve_in_background(app, address)
    try:
        await asyncio.wait({handle.task, asyncio.ensure_future(stop.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        await handle.stop()


@click.command()
@click.option("--address", metavar="HOST:PORT",
              help="Where to listen (default: the API_ADDRESS setting, 127.0.0.1:8080).")
@click.pass_obj
def serve(c: Ctx, address: str | None) -> None:
    """Serve the HTTP API (OpenAPI document at /api/v1/docs) and the web interface until
    interrupted (Ctrl-C or SIGTERM)."""
    from monitor.api import create_app

    settings = c.settings()
    where = address or settings["API_ADDRESS"]
    try:
        sock = bind(where)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with c.database(settings) as db:
        app = create_app(settings, db)
        server = _Server(app, signals=True)
        host, port = parse_address(where)
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"takedown serve: http://{shown}:{port}/ (API documentation at "
                   f"http://{shown}:{port}/api/v1/docs); Ctrl-C to stop")
        try:
            asyncio.run(server.serve(sock))
        finally:
            sock.close()
    click.echo("takedown serve: stopped")
