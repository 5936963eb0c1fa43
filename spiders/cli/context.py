"""What every ``takedown`` command shares: the context object, logging, the worker
and the crawl loop.

:mod:`.app` (the command group) and :mod:`.demo` both import this module and never
each other. It is the composition root's toolbox: the core (``monitor``) is handed
``spiders.crawl.crawl`` here, so the core itself never imports the Scrapy side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor import query
from monitor.db import Database
from monitor.events import Event
from monitor.settings import Settings
from monitor.signals import SignalManager

if TYPE_CHECKING:
    from alerts.config import AlertConfig
    from monitor.watchlist_reload import Reloader
    from monitor.worker import Worker


def default_watchlist() -> Path:
    env = os.environ.get("TAKEDOWN_WATCHLIST")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("takedown-monitor", appauthor=False)) / \
        "watchlist.toml"


class Ctx:
    """The ``takedown`` context object: where the watchlist is, how loud to be."""

    def __init__(self, watchlist: Path, verbose: int) -> None:
        self.watchlist_path = watchlist
        self.verbose = verbose

    def watchlist(self) -> Any:
        from monitor.watchlist import load_watchlist

        return load_watchlist(self.watchlist_path)

    def watchlist_bytes(self) -> bytes:
        """The watchlist file's bytes (empty when it cannot be read: reading it for
        real says why)."""
        try:
            return self.watchlist_path.read_bytes()
        except OSError:
            return b""

    def checked(self) -> tuple[Any, AlertConfig | None]:
        """The watchlist and its ``[alerts]`` config (None without channels), checked
        together: a bad setting, a bad target and a bad channel are one error."""
        from alerts.config import load_file

        watchlist, alerts = load_file(self.watchlist_path)
        return watchlist, (alerts if alerts.channels else None)

    def settings(self) -> Settings:
        """Settings from the watchlist's [settings] (if the file exists) and the environment."""
        if self.watchlist_path.exists():
            return self.watchlist().settings()  # type: ignore[no-any-return]
        return Settings.load()

    def database(self, settings: Settings | None = None) -> Database:
        return Database.open(settings or self.settings())


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Libraries speak up only when asked (-v): a skipped tick or a truncated body is
    # routine here, and each becomes an observation with its outcome anyway.
    for noisy in ("scrapy", "twisted", "apscheduler", "psycopg.pool", "pgserver", "filelock"):
        logging.getLogger(noisy).setLevel(logging.ERROR if verbose == 0 else
                                          max(level, logging.INFO))


@contextlib.contextmanager
def worker_for(settings: Settings, db: Database, groups: list[str] | None = None,
               signals: SignalManager | None = None) -> Iterator[Worker]:
    """A :class:`~monitor.worker.Worker` that crawls with :func:`spiders.crawl.crawl`,
    closed at the end: however the command ends, the worker gives up its seat
    in ``workers`` and its lock connection (README, "After a crash")."""
    from monitor.worker import Worker
    from spiders.crawl import crawl, install_reactor

    install_reactor()
    worker = Worker(db, settings, crawl, groups=groups, signals=signals)
    try:
        yield worker
    finally:
        worker.close()


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does, while the block runs: a
    command stopped by a service manager or ``timeout`` unwinds and cleans up (its
    worker leaves) instead of dying where it stands."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread (an embedding caller): nothing to map
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_call(callback: Any) -> Iterator[None]:
    """SIGINT and SIGTERM call ``callback`` on the running loop inside the block (a
    command stops its own work cleanly); after it, both raise KeyboardInterrupt again,
    as :func:`sigterm_interrupts` has them."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, callback)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.default_int_handler)


def watchlist_targets(c: Ctx, db: Database, wl: Any = None) -> list[Any]:
    """The watchlist's targets, after storing which of its groups need review before
    their events are published (read by the public view, feeds and public channels)."""
    from monitor.db import access

    wl = wl or c.watchlist()
    with db.transaction() as conn:
        access.sync_review_groups(conn, {name: bool(group.get("review"))
                                         for name, group in wl.groups.items()})
    return list(wl.targets)


def watchlist_reloader(c: Ctx, db: Database, worker: Worker) -> Reloader:
    """The daemon's reload: the watchlist's targets (as :func:`watchlist_targets`),
    or None when the file's bytes, the default interval and the worker's groups are
    those last synced (nothing parsed, nothing written)."""
    from monitor.watchlist import parse_watchlist
    from monitor.watchlist_reload import Reloader

    path = c.watchlist_path
    return Reloader(path, lambda text: watchlist_targets(c, db, parse_watchlist(text, str(path))),
                    salt=f"{worker.settings['DEFAULT_INTERVAL']}|{worker.groups}")


def run_on_crawl_loop(coro: Any) -> Any:
    """Run ``coro`` on the process's one crawl loop (a Twisted reactor cannot restart)."""
    from spiders.crawl import event_loop, shutdown

    loop = event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        shutdown()


def print_events(events: Sequence[Event]) -> None:
    """Receiver of ``batch_committed``: one line per event, as it is recorded."""
    for e in events:
        click.echo(query.format_live_event(e))
