"""Item pipeline: hand each Observation to the caller's sink."""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from monitor.observation import Observation

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class SinkPipeline:
    """Deliver observations to ``spider.sink``; awaiting it is the backpressure.

    A sink that raises loses that one observation (it is logged with its
    target and counted as ``observations/sink_error``); the crawl goes on.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Observation):
            return item
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("observations/count")
        stats.inc_value(f"observations/outcome/{item.outcome.value}")
        sink = getattr(self.crawler.spider, "sink", None)
        if sink is None:
            return item
        try:
            result = sink(item)
            if inspect.isawaitable(result):
                await result
        except Exception:
            stats.inc_value("observations/sink_error")
            logger.exception(
                "Sink failed for %s %s %s (%s)",
                item.platform, item.mode, item.target_key, item.url,
            )
        return item
