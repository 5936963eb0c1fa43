"""Downloader middlewares of the monitor's crawls."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as _ScrapyRobotsTxt
from scrapy.exceptions import NotConfigured
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from .responses import parse_retry_after

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

#: Statuses whose Retry-After we honour (RFC 9110 defines it for 503 and 429).
RETRY_AFTER_STATUSES = frozenset({429, 503})


class RetryAfterMiddleware:
    """Wait out a short ``Retry-After`` before retrying; give up on a long one.

    Settings: ``RETRY_AFTER_MAX`` (seconds; longer waits are not honoured in
    place: the response goes to the spider, which records RATE_LIMITED with
    ``signals["retry_after"]`` so the scheduler can postpone the check).
    Responses without the header are left to Scrapy's RetryMiddleware.
    """

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_wait = crawler.settings.getfloat("RETRY_AFTER_MAX", 120.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status not in RETRY_AFTER_STATUSES or request.meta.get("dont_retry"):
            return response
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait is None:
            return response
        # Either way RetryMiddleware must not retry this one again at once.
        request.meta["dont_retry"] = True
        if wait > self.max_wait:
            logger.info(
                "Retry-After %.0fs on %s exceeds RETRY_AFTER_MAX %.0fs; recording it",
                wait, request.url, self.max_wait,
            )
            return response
        assert self.crawler.spider is not None
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=f"{response.status} Retry-After {wait:g}s",
            logger=logger,
            give_up_log_level="INFO",
        )
        if retry is None:
            return response
        retry.meta.pop("dont_retry", None)
        logger.debug("Waiting %.1fs (Retry-After) before retrying %s", wait, request.url)
        # Sleeping here holds only this request; the loop and other hosts go on.
        await asyncio.sleep(wait)
        return retry


class RobotsTxtMiddleware(_ScrapyRobotsTxt):
    """Scrapy's RobotsTxtMiddleware, fixed for three or more concurrent waiters.

    In Scrapy 2.19 requests that wait for a host's robots.txt share one
    Deferred through ``Deferred.asFuture``, whose callback returns None; so
    the third waiter onwards is handed ``None`` ("no robots.txt") and is let
    through a Disallow. Once the Deferred has fired, ``_parsers`` holds the
    real answer, so read it from there.
    """

    async def robot_parser(self, request: Request) -> RobotParser | None:
        parser = await super().robot_parser(request)
        if parser is None:
            current = self._parsers.get(urlparse_cached(request).netloc)
            if not isinstance(current, Deferred):
                return current
        return parser
