"""Spider steps :mod:`bench._spiderrun` does not drive: the spiders of the platforms
added after it (Weibo, Reddit with its OAuth client) and a batch probe (Reddit's
``/api/info``), answered in memory like :func:`bench._spiderrun.run`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.observation import Observation, WorkItem
from monitor.settings import Settings

from . import _spiderrun as sr
from ._spiderrun import MonitorSpider


def fuzz_spiders(reddit_base: str) -> dict[str, MonitorSpider]:
    """Weibo, and Reddit with an approved OAuth client (its API and token endpoint
    under ``reddit_base``)."""
    from scrapy.utils.test import get_crawler

    from spiders.reddit.spider import RedditSpider
    from spiders.settings import scrapy_settings
    from spiders.weibo.spider import WeiboSpider

    settings = Settings.load({"reddit_client_id": "fuzz-app", "reddit_client_secret": "fuzz",
                              "reddit_api_url": f"{reddit_base}/oauth",
                              "reddit_token_url": f"{reddit_base}/api/v1/access_token"},
                             environ={})
    out: dict[str, MonitorSpider] = {}
    for cls in (WeiboSpider, RedditSpider):
        crawler = get_crawler(cls, settings_dict=dict(scrapy_settings(settings)))
        out[cls.platform] = cls.from_crawler(crawler, work=[])
    return out


def run_batch(spider: MonitorSpider, items: list[WorkItem],
              answer: Callable[[Any], sr.Answer], max_requests: int = 40) -> list[Observation]:
    """Drive ``items`` through ``spider`` as one batch probe, answering in memory."""
    from scrapy.http import Headers
    from scrapy.responsetypes import responsetypes

    from spiders.base import Job

    jobs = [Job(item) for item in items]
    spider._open.update(jobs)
    pending: list[Any] = list(spider._send_batch(jobs))
    out: list[Observation] = []
    requests = 0
    while pending:
        nxt = pending.pop(0)
        if isinstance(nxt, Observation):
            out.append(nxt)
            continue
        requests += 1
        if requests > max_requests:
            raise RuntimeError(f"a batch of {len(items)} made more than {max_requests} requests")
        status, body, headers = answer(nxt)
        hdrs = Headers(headers)
        cls = responsetypes.from_args(headers=hdrs, url=nxt.url, body=body)
        response = cls(url=nxt.url, status=status, headers=hdrs, body=body, request=nxt)
        pending.extend(nxt.callback(response))
    spider._open.difference_update(jobs)
    return out
