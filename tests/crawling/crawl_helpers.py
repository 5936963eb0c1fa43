"""Helpers for the spider tests: fixture files, in-memory spiders, a driver.

A module of its own, not ``conftest``: every test folder has a ``conftest.py``, all
imported under that one name, so importing helpers from ``conftest`` gets whichever
folder's was loaded last.

The asyncio reactor is installed here, at import, before anything can import
``twisted.internet.reactor`` and install the default one: the same rule the
daemon follows at process start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from spiders import install_reactor

install_reactor()

from scrapy.http import Headers, Request, Response  # noqa: E402
from scrapy.responsetypes import responsetypes  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402
from twisted.python.failure import Failure  # noqa: E402

from monitor.observation import Observation, WorkItem  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from spiders import MonitorSpider, scrapy_settings  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: An answer for the driver: (status, body or fixture name, headers), or an
#: exception to deliver to the request's errback.
Answer = tuple[int, bytes | str, dict[str, str]] | BaseException


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make_response(request: Request, status: int = 200, body: bytes | str = b"",
                  headers: dict[str, str] | None = None, url: str | None = None) -> Response:
    """A Response of the class Scrapy's downloader would pick for these headers."""
    if isinstance(body, str):
        body = fixture(body) if (FIXTURES / body).is_file() else body.encode()
    hdrs = Headers(headers or {})
    final = url or request.url
    cls = responsetypes.from_args(headers=hdrs, url=final, body=body)
    return cls(url=final, status=status, headers=hdrs, body=body, request=request)


def make_spider(spidercls: type[MonitorSpider], **overrides: Any) -> MonitorSpider:
    settings = scrapy_settings(Settings.load(environ={}), **overrides)
    crawler = get_crawler(spidercls, settings_dict=dict(settings))
    return spidercls.from_crawler(crawler, work=[])


class Driver:
    """Feed a spider's requests with canned answers, in memory, and collect output."""

    def __init__(self, spider: MonitorSpider) -> None:
        self.spider = spider
        self.requests: list[Request] = []

    def run(self, item: WorkItem, answer: Callable[[Request], Answer]) -> list[Observation]:
        from spiders.base import Job

        job = Job(item)
        self.spider._open.add(job)
        pending = list(self.spider._guard(job, None, lambda: self.spider._first(job)))
        observations: list[Observation] = []
        while pending:
            out = pending.pop(0)
            if isinstance(out, Observation):
                observations.append(out)
                continue
            assert isinstance(out, Request), out
            self.requests.append(out)
            result = answer(out)
            if isinstance(result, BaseException):
                failure = Failure(result)
                failure.request = out  # type: ignore[attr-defined]
                assert out.errback is not None
                pending.extend(out.errback(failure))
            else:
                status, body, headers = result
                response = make_response(out, status, body, headers)
                assert out.callback is not None
                pending.extend(out.callback(response))
        assert job.done, f"{job!r} ended without an observation"
        assert len(observations) == 1, observations
        return observations


def routes(table: dict[str, Answer]) -> Callable[[Request], Answer]:
    """Answer by the first key that is a substring of the request URL."""
    def answer(request: Request) -> Answer:
        for key, value in table.items():
            if key in request.url:
                return value
        raise AssertionError(f"unexpected request {request.url}")
    return answer
