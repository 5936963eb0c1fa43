"""Run one spider step over an in-memory response, the way the crawl would.

Shared by :mod:`bench.parsers` and :mod:`bench.fuzz`: no sockets, no reactor
loop. A request the spider makes is answered from a table (URL substring →
status, body, headers); the answer for the step under test carries the case's
body. Exceptions that reach the spider's safety net (``MonitorSpider._guard``)
are captured from its log record, so a caller can tell a parser bug
(``TypeError``, ``RecursionError``…) from a page that is merely malformed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from spiders import install_reactor

install_reactor()

from scrapy.http import Headers, Request  # noqa: E402
from scrapy.responsetypes import responsetypes  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from monitor.errors import ParseError  # noqa: E402
from monitor.observation import Observation, WorkItem  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from spiders import (  # noqa: E402
    MastodonSpider,
    MonitorSpider,
    RednoteSpider,
    RssSpider,
    scrapy_settings,
)
from spiders.base import Job  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
Answer = tuple[int, bytes, dict[str, str]]
#: Exceptions a parse step may raise by design (the base class records MALFORMED).
EXPECTED = (ParseError, ValueError)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def spiders() -> dict[str, MonitorSpider]:
    """One in-memory spider per platform, with the monitor's Scrapy settings."""
    settings = dict(scrapy_settings(Settings.load(environ={})))
    out: dict[str, MonitorSpider] = {}
    for cls in (RssSpider, MastodonSpider, RednoteSpider):
        out[cls.platform] = cls.from_crawler(get_crawler(cls, settings_dict=settings), work=[])
    return out


class _Catch(logging.Handler):
    """Collects the exceptions the spiders' safety nets and entry guards logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.caught: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.caught.append(record.exc_info[1])


@contextmanager
def catching() -> Iterator[_Catch]:
    handler = _Catch()
    root = logging.getLogger("spiders")
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def run(spider: MonitorSpider, item: WorkItem,
        answer: Callable[[Request], Answer], max_requests: int = 8) -> list[Observation]:
    """Drive ``item`` through ``spider``, answering its requests in memory."""
    job = Job(item)
    spider._open.add(job)
    pending: list[Any] = list(spider._guard(job, None, lambda: spider._first(job)))
    out: list[Observation] = []
    requests = 0
    while pending:
        nxt = pending.pop(0)
        if isinstance(nxt, Observation):
            out.append(nxt)
            continue
        requests += 1
        if requests > max_requests:
            raise RuntimeError(f"{item.platform} {item.mode} made more than {max_requests} "
                               "requests for one work item")
        status, body, headers = answer(nxt)
        hdrs = Headers(headers)
        cls = responsetypes.from_args(headers=hdrs, url=nxt.url, body=body)
        response = cls(url=nxt.url, status=status, headers=hdrs, body=body, request=nxt)
        assert nxt.callback is not None
        pending.extend(nxt.callback(response))
    spider._open.discard(job)
    return out


def routes(table: dict[str, Answer]) -> Callable[[Request], Answer]:
    """Answer by the first key that is a substring of the URL; 404 otherwise."""
    def answer(request: Request) -> Answer:
        for key, value in table.items():
            if key in request.url:
                return value
        return (404, b"{}", {"Content-Type": "application/json"})
    return answer
