"""The tuned plain-Scrapy floor of ``bench.cycle``: fetch and parse, nothing else.

A plain ``scrapy.Spider`` requests every status URL it is given, reads each
answer as a Mastodon Status with the project's own parser
(``spiders.mastodon.spider.parse_status``: JSON, fields, the links of the post's
HTML) and yields it to a pipeline that only counts. Scrapy's defaults otherwise,
tuned as the monitor's crawl is: the same concurrency, ``CONCURRENT_ITEMS`` as
the project's, no robots.txt, no retries, no cookies, logging at WARNING, on the
same asyncio reactor. No claim, politeness, observation or database: what a check
cycle costs above this is the monitor's own cost.

Run as a child of ``bench.cycle`` (``--floor-child URLS_FILE``), so that its
imports and peak RSS are its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import AsyncCrawlerRunner
from scrapy.http import Response


class Count:
    """The item pipeline of the floor: counts, keeps nothing."""

    items = 0

    def process_item(self, item: Any) -> Any:
        Count.items += 1
        return item


class FloorSpider(Spider):
    name = "floor"

    def __init__(self, urls: list[str], base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.base = base
        self.failed = 0

    async def start(self) -> AsyncIterator[Any]:
        for url in self.urls:
            yield Request(url, dont_filter=True, errback=self.lost)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        from spiders.mastodon.spider import parse_status

        if response.status != 200:
            self.failed += 1
            return
        yield parse_status(json.loads(response.body), self.base)

    def lost(self, failure: Any) -> None:
        self.failed += 1


def floor_settings(concurrency: int, concurrent_items: int) -> dict[str, Any]:
    return {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "CONCURRENT_ITEMS": concurrent_items,
        "ROBOTSTXT_OBEY": False,
        "RETRY_ENABLED": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "LOGSTATS_INTERVAL": 0.0,
        "ITEM_PIPELINES": {f"{__name__}.Count": 100},
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }


def run(urls: list[str], base: str, concurrency: int, concurrent_items: int) -> dict[str, Any]:
    """Crawl ``urls`` once on this process's reactor; returns counts (timing is the caller's)."""
    from spiders.crawl import _mark_reactor_running, event_loop

    loop = event_loop()
    asyncio.set_event_loop(loop)

    async def go() -> FloorSpider:
        _mark_reactor_running()
        runner = AsyncCrawlerRunner(floor_settings(concurrency, concurrent_items))
        crawler = runner.create_crawler(FloorSpider)
        await runner.crawl(crawler, urls=urls, base=base)
        assert isinstance(crawler.spider, FloorSpider)
        return crawler.spider

    spider = loop.run_until_complete(go())
    return {"items": Count.items, "failed": spider.failed}
