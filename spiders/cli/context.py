"""What every ``takedown`` command shares: the context object, logging, the worker
and the crawl loop.

:mod:`.app` (the command group) and :mod:`.demo` both import this module and never
each other. It is the composition root's toolbox: the core (``monitor``) is handed
``spiders.crawl.crawl`` here, so the core itself never imports the Scrapy side.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor import query
from monitor.db import Database
from monitor.events import Event
from monitor.settings import Settings
from monitor.signals import SignalManager

if TYPE_CHECKING:
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


def make_worker(c: Ctx, settings: Settings, db: Database, groups: list[str] | None = None,
                signals: SignalManager | None = None) -> Worker:
    """A :class:`~monitor.worker.Worker` that crawls with :func:`spiders.crawl.crawl`."""
    from monitor.worker import Worker
    from spiders.crawl import crawl, install_reactor

    install_reactor()
    return Worker(db, settings, crawl, groups=groups, signals=signals)


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
