"""Item pipeline: hand each Observation to the caller's sink."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from monitor.errors import Aborted
from monitor.observation import Observation

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class SinkPipeline:
    """Deliver observations to ``spider.sink``; awaiting it is the backpressure.

    A sink that raises stops the crawl: fetching on while nothing can be
    recorded would only burn requests. The error is counted
    (``observations/sink_error``), kept as ``spider.failure`` and re-raised by
    :func:`spiders.crawl.crawl` once the crawl has closed.

    The counts (``observations/count``, ``observations/outcome/<outcome>``) are kept
    here and added to the crawl's stats when it closes: each ``inc_value`` goes
    through Scrapy's stats wrappers, two of them for every observation.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._stopping: asyncio.Task[None] | None = None
        self._outcomes: Counter[str] = Counter()
        self._sink_errors = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Observation):
            return item
        self._outcomes[item.outcome.value] += 1
        sink = getattr(self.crawler.spider, "sink", None)
        if sink is None:
            return item
        try:
            result = sink(item)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self._sink_errors += 1
            if isinstance(exc, Aborted):
                # The worker is stopping: expected, said once, and the work goes back.
                if self._stopping is None:
                    logger.info("Recording stopped; stopping the %s crawl", item.platform)
            else:
                logger.exception(
                    "Sink failed for %s %s %s (%s); stopping the crawl",
                    item.platform, item.mode, item.target_key, item.url,
                )
            spider = self.crawler.spider
            if spider is not None and getattr(spider, "failure", None) is None:
                spider.failure = exc  # type: ignore[attr-defined]
            if self._stopping is None:
                # Not awaited here: stopping waits for this very item to finish.
                self._stopping = asyncio.ensure_future(self.crawler.stop_async())
        return item

    def close_spider(self) -> None:
        stats = self.crawler.stats
        if stats is None:
            return
        for outcome, n in self._outcomes.items():
            stats.inc_value("observations/count", n)
            stats.inc_value(f"observations/outcome/{outcome}", n)
        if self._sink_errors:
            stats.inc_value("observations/sink_error", self._sink_errors)
        self._outcomes.clear()
        self._sink_errors = 0
