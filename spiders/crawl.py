"""Run the spiders: one AsyncCrawlerRunner per call, on one long-lived reactor.

A Twisted reactor cannot be restarted, so the process installs Twisted's
asyncio reactor once (:func:`install_reactor`) on the asyncio loop it keeps
for its whole life, and every :func:`crawl` runs on that loop. The daemon
awaits :func:`crawl` from the same loop as its scheduler; scripts and tests
call :func:`crawl_blocking`, which drives that same loop until the crawl ends
(it never closes it, so it can be called again).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

# Scrapy's HTTP download handler (the handler of http and https), which Scrapy would
# load at a crawl's first request: loaded with this module, it is part of start-up,
# which monitor.heap.settle freezes and whose source lines it drops.
import scrapy.core.downloader.handlers.http11  # noqa: F401
from scrapy.crawler import AsyncCrawlerRunner
from scrapy.utils.misc import load_object

from monitor.errors import PlatformLoadError
from monitor.observation import Observation, WorkItem
from monitor.platforms import PLATFORMS, get_platform

from .base import MonitorSpider
from .settings import scrapy_settings

logger = logging.getLogger(__name__)

REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"



def spider_class(platform: str) -> type[MonitorSpider]:
    """The spider of a platform (name or alias), loaded from its declaration's dotted path."""
    declared = get_platform(platform)
    try:
        found = load_object(declared.spider)
    except (ImportError, AttributeError, NameError, ValueError) as exc:
        raise PlatformLoadError(f"{declared.name} (spider {declared.spider})",
                                f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, MonitorSpider)):
        raise PlatformLoadError(f"{declared.name} (spider {declared.spider})",
                                "it is not a spiders.base.MonitorSpider subclass")
    return found


class _Spiders(Mapping[str, type[MonitorSpider]]):
    """``SPIDERS``: platform name → spider class, for every installed platform."""

    def __getitem__(self, name: str) -> type[MonitorSpider]:
        if name not in PLATFORMS:
            raise KeyError(name)
        return spider_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(PLATFORMS)

    def __len__(self) -> int:
        return len(PLATFORMS)


SPIDERS: Mapping[str, type[MonitorSpider]] = _Spiders()

Work = Iterable[WorkItem] | AsyncIterable[WorkItem]
Sink = Callable[[Observation], Awaitable[None] | None]


def install_reactor() -> None:
    """Install the asyncio reactor on this thread's loop, once; later calls check it.

    Call it at process start, or from inside the running loop the process will
    keep (``asyncio.run(main())`` with this as main's first line works too).
    """
    from scrapy.utils.reactor import install_reactor as scrapy_install
    from scrapy.utils.reactor import is_asyncio_reactor_installed, is_reactor_installed

    if is_reactor_installed():
        if not is_asyncio_reactor_installed():
            raise RuntimeError(
                "a non-asyncio Twisted reactor is already installed; call "
                "spiders.install_reactor() before anything imports twisted.internet.reactor"
            )
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        from twisted.internet import asyncioreactor

        asyncioreactor.install(eventloop=loop)
    else:
        scrapy_install(REACTOR)


def event_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop every crawl of this process runs on (installs the reactor)."""
    install_reactor()
    from twisted.internet import reactor

    # AsyncioSelectorReactor keeps its loop here; there is no public getter.
    return reactor._asyncioEventloop  # type: ignore[attr-defined,no-any-return]


def _mark_reactor_running() -> None:
    """Fire the reactor's startup triggers when nobody called ``reactor.run()``.

    The asyncio loop is driven by asyncio here, so Twisted never ran its
    startup phase; its thread pool (DNS lookups) only starts in it.
    """
    from twisted.internet import reactor

    if not reactor.running and not getattr(reactor, "_started", False):
        # Nobody will stop this reactor, so nothing would stop its pool either:
        # non-daemon pool threads would keep the process alive at exit.
        pool = reactor.getThreadPool()  # type: ignore[attr-defined]
        pool.threadFactory = partial(threading.Thread, daemon=True)
        reactor.startRunning(installSignalHandlers=False)  # type: ignore[attr-defined]


#: Scrapy loggers that say "opened/closed/enabled…" at INFO on every crawl;
#: a daemon crawls every few seconds. Levels set by the application win.
_CHATTY_LOGGERS = ("scrapy.addons", "scrapy.core.engine", "scrapy.crawler", "scrapy.middleware",
                   "scrapy.extensions.logstats", "scrapy.statscollectors")


def _quiet_scrapy_logs() -> None:
    for name in _CHATTY_LOGGERS:
        log = logging.getLogger(name)
        if log.level == logging.NOTSET:
            log.setLevel(logging.WARNING)


async def crawl(work: Mapping[str, Work], sink: Sink, settings: Mapping[str, Any],
                **scrapy_overrides: Any) -> dict[str, Any]:
    """Run each platform's spider over its work, concurrently; return the stats.

    ``work`` maps platform name (aliases accepted) to that spider's work, a
    sync or async iterable consumed lazily. Every WorkItem yields exactly one
    Observation, passed to ``sink`` (awaited if it returns an awaitable).
    Returns ``{platform: scrapy stats}``; the stats carry
    ``observations/count`` and ``observations/outcome/<outcome>``. An exception
    raised by a work iterator or by ``sink`` stops that platform's crawl and is
    re-raised here once every crawl has closed.
    """
    spiders: dict[str, tuple[type[MonitorSpider], Work]] = {}
    for name, items in work.items():
        platform = get_platform(name).name
        if platform in spiders:
            raise ValueError(f"work for {platform!r} given twice (as {name!r})")
        spiders[platform] = (spider_class(platform), items)

    install_reactor()
    loop = asyncio.get_running_loop()
    if event_loop() is not loop:
        raise RuntimeError(
            "the Twisted reactor is bound to another asyncio loop; run every crawl on the "
            "loop it was installed on (spiders.event_loop()), e.g. with crawl_blocking()"
        )
    _mark_reactor_running()
    _quiet_scrapy_logs()

    runner = AsyncCrawlerRunner(scrapy_settings(settings, **scrapy_overrides))
    crawlers = {}
    tasks = []
    for platform, (spidercls, items) in spiders.items():
        crawler = runner.create_crawler(spidercls)
        crawlers[platform] = crawler
        tasks.append(runner.crawl(crawler, work=items, sink=sink))
    logger.debug("Crawling %s", ", ".join(spiders) or "nothing")
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for platform, result in zip(spiders, results, strict=True):
        if isinstance(result, BaseException):
            logger.error("The %s crawl failed: %s", platform, result, exc_info=result)
            raise result
    for crawler in crawlers.values():
        failure = getattr(crawler.spider, "failure", None)
        if failure is not None:
            # The work iterator or the sink failed; every platform has closed.
            raise failure
    return {platform: dict(crawler.stats.get_stats()) if crawler.stats else {}
            for platform, crawler in crawlers.items()}


def crawl_blocking(work: Mapping[str, Work], sink: Sink, settings: Mapping[str, Any],
                   **scrapy_overrides: Any) -> dict[str, Any]:
    """:func:`crawl` for code without a running loop; may be called again and again."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("crawl_blocking() called inside a running event loop; "
                           "use `await spiders.crawl(...)` there")
    loop = event_loop()
    if loop.is_closed():
        raise RuntimeError("the reactor's event loop was closed; a process gets one loop "
                           "for all its crawls (do not use asyncio.run around crawls)")
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(crawl(work, sink, settings, **scrapy_overrides))


__all__ = ["PLATFORMS", "SPIDERS", "crawl", "crawl_blocking", "event_loop", "install_reactor",
           "shutdown", "spider_class"]


def shutdown() -> None:
    """Stop the reactor's thread pool (DNS lookups), whose threads are not daemons.

    Call once when the process is done crawling, or the interpreter waits on
    them forever at exit.
    """
    from scrapy.utils.reactor import is_reactor_installed

    if not is_reactor_installed():
        return
    from twisted.internet import reactor

    pool = getattr(reactor, "threadpool", None)
    if pool is not None and pool.started:
        pool.stop()
