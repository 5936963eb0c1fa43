"""Downloader middlewares of the monitor's crawls."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as _ScrapyRobotsTxt
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from .politeness import DAY, registry_for, robots_ttl
from .responses import outcome_for_failure, parse_retry_after

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

#: Statuses whose Retry-After we honour (RFC 9110 defines it for 503 and 429).
RETRY_AFTER_STATUSES = frozenset({429, 503})


class RetryAfterMiddleware:
    """Retry after a short ``Retry-After``; give up on a long one.

    Settings: ``RETRY_AFTER_MAX`` (seconds; longer waits are not honoured in
    place: the response goes to the spider, which records RATE_LIMITED with
    ``signals["retry_after"]`` so the scheduler can postpone the check).
    The wait itself is a pause of the whole host, set by
    :class:`spiders.politeness.HostPolitenessMiddleware`: the retry goes back
    to the scheduler, which holds it (and every other request to that host)
    until the pause ends. Responses without the header are left to Scrapy's
    RetryMiddleware.
    """

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_wait = crawler.settings.getfloat("RETRY_AFTER_MAX", 120.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Request | Response:
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
            give_up_log_level="DEBUG",
        )
        if retry is None:
            return response
        retry.meta.pop("dont_retry", None)
        logger.debug("Retrying %s once its host's %.1fs pause (Retry-After) ends",
                     request.url, wait)
        return retry


class RobotsTxtMiddleware(_ScrapyRobotsTxt):
    """Scrapy's RobotsTxtMiddleware with a process-wide cache and quiet failures.

    - Each host's robots.txt is fetched once and reused by later crawls while
      its ``Cache-Control``/``Expires`` allow, at most ROBOTSTXT_CACHE seconds
      (see :class:`spiders.politeness.HostRegistry`).
    - A robots.txt that cannot be fetched (DNS failure, refused connection,
      timeout, TLS error) is one DEBUG line, not a traceback: the page request
      that follows fails the same way and is recorded as an observation. The
      page is then fetched as if robots.txt allowed it, as in Scrapy.
    - In Scrapy 2.19 requests that wait for a host's robots.txt share one
      Deferred through ``Deferred.asFuture``, whose callback returns None; so
      the third waiter onwards is handed ``None`` ("no robots.txt") and is let
      through a Disallow. Once the Deferred has fired, ``_parsers`` holds the
      real answer, so it is read from there.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.hosts = registry_for(crawler)
        self.ttl = crawler.settings.getfloat("ROBOTSTXT_CACHE", DAY)

    async def robot_parser(self, request: Request) -> RobotParser | None:
        url = urlparse_cached(request)
        netloc = url.netloc
        origin = f"{url.scheme}://{netloc}"
        if netloc not in self._parsers:
            fresh, cached = self.hosts.robots(origin)
            if fresh:
                self._parsers[netloc] = cached
                return cached
            await self._fetch_robots(request, origin, netloc)
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            await maybe_deferred_to_future(parser)
            parser = self._parsers[netloc]
        return None if isinstance(parser, Deferred) else parser

    async def _fetch_robots(self, request: Request, origin: str, netloc: str) -> None:
        self._parsers[netloc] = Deferred()
        robotsreq = Request(f"{origin}/robots.txt", priority=self.DOWNLOAD_PRIORITY,
                            meta={"dont_obey_robotstxt": True}, callback=NO_CALLBACK)
        assert self.crawler.engine is not None
        try:
            response = await self.crawler.engine.download_async(robotsreq)
            await self._parse_robots(response, netloc, request)
        except Exception as exc:
            if not isinstance(exc, IgnoreRequest):
                outcome, detail = outcome_for_failure(exc)
                logger.debug("robots.txt of %s not read (%s: %s); its pages are fetched "
                             "as if it allowed them", origin, outcome.value, detail)
            self._robots_error(exc, netloc)
        else:
            parser = self._parsers[netloc]
            if not isinstance(parser, Deferred):
                self.hosts.store_robots(origin, parser, robots_ttl(response, self.ttl))
        assert self._stats is not None
        self._stats.inc_value("robotstxt/request_count")
