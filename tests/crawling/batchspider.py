"""A test-only spider for a Reddit ``/api/info``-shaped batch endpoint, and a crawl runner.

Probe work: ``post_key`` is the fullname (``t3_abc``), ``url`` the single-post
path ``{base}/by_id/t3_abc.json``, ``base_url`` the server. Listing work
fetches its ``url`` and concludes OK with no entries. Test hooks in a child's
data: ``"boom": true`` raises from the batch step (a parser bug), ``"forget":
true`` takes the job and never concludes it (a spider bug), ``"unreadable":
true`` is an item the spider cannot read.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from scrapy.crawler import AsyncCrawlerRunner
from scrapy.http import Response

from monitor.errors import ParseError
from monitor.observation import Observation, Outcome, PostContent, WorkItem
from monitor.settings import Settings
from spiders import fields as f
from spiders.base import Batch, Job, MonitorSpider, Output
from spiders.crawl import crawl_blocking, event_loop
from spiders.responses import json_body
from spiders.settings import scrapy_settings


def parse_post(data: Any) -> PostContent:
    """One ``t3`` child's data as PostContent; ParseError when it is not one."""
    if not isinstance(data, dict) or data.get("unreadable"):
        raise ParseError("not a submission")
    name = f.text(data.get("name"))
    if not name:
        raise ParseError("a submission without a fullname")
    if data.get("boom"):
        raise RuntimeError("a parser bug")
    return PostContent(key=name, title=f.text(data.get("title")),
                       text=f.text(data.get("selftext")) or "",
                       author=f.text(data.get("author")))


def children(response: Response) -> list[Any]:
    listing = json_body(response)
    if not isinstance(listing, dict) or listing.get("kind") != "Listing":
        raise ParseError("not a Listing")
    return [c for c in f.items(f.obj(listing.get("data")).get("children"))]


class InfoSpider(MonitorSpider):
    name = "infotest"
    platform = "infotest"
    probe_batch = 100

    def start_job(self, job: Job) -> Output:
        step = self.parse_listing if job.item.mode == "listing" else self.parse_single
        yield self.request(job, job.item.url, step)

    def parse_listing(self, response: Response, job: Job) -> Output:
        yield self.conclude(job, Outcome.OK, response, entries=[])

    def parse_single(self, response: Response, job: Job) -> Output:
        outcome = self.status_outcome(response)
        if outcome is not None:
            yield self.conclude(job, outcome, response)
            return
        (child,) = children(response)
        yield self.conclude(job, Outcome.OK, response, post=parse_post(child.get("data")))

    def start_batch(self, batch: Batch) -> Output:
        base = (batch.jobs[0].item.base_url or "").rstrip("/")
        yield self.batch_request(batch, f"{base}/api/info?id={','.join(batch.keys)}",
                                 self.parse_info)

    def parse_info(self, response: Response, batch: Batch) -> Output:
        unusable = self.unusable_batch(response, batch)
        if unusable is not None:
            yield from unusable
            return
        for child in children(response):
            data = f.obj(child.get("data")) if isinstance(child, dict) else {}
            job = batch.take(data.get("name"))
            if job is None:  # not asked, or answered already
                continue
            if data.get("forget"):
                continue
            try:
                post = parse_post(data)
            except ParseError:
                batch.alone(job)
                continue
            yield self.conclude_item(batch, job, Outcome.OK, response, child, post=post)


def settings(**values: Any) -> Settings:
    values = {"autothrottle": False, "retry_times": 0, "retry_backoff_base": 0.05,
              "retry_backoff_max": 0.2, **values}
    return Settings.load(environ={}, file_values=values)


def run_crawl(spidercls: type[MonitorSpider],
              work: Iterable[WorkItem] | AsyncIterable[WorkItem],
              sink: Any = None, config: Settings | None = None,
              **overrides: Any) -> tuple[list[Observation], dict[str, Any]]:
    """Crawl ``work`` with a spider that is no registered platform; observations, stats."""
    got: list[Observation] = []
    config = config or settings()
    # An empty crawl installs the reactor and starts it, as every crawl does.
    crawl_blocking({}, got.append, config)

    async def deliver(obs: Observation) -> None:
        got.append(obs)
        if sink is not None:
            result = sink(obs)
            if result is not None:
                await result

    async def main() -> Any:
        runner = AsyncCrawlerRunner(scrapy_settings(config, **overrides))
        crawler = runner.create_crawler(spidercls)
        await runner.crawl(crawler, work=work, sink=deliver)
        return crawler

    crawler = event_loop().run_until_complete(main())
    if crawler.spider.failure is not None:
        raise crawler.spider.failure
    return got, dict(crawler.stats.get_stats())
