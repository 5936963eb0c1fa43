"""MonitorDownloader: a host's concurrency and pauses hold with a download delay of 0.

Scrapy 2.19's downloader, without a delay, sends every queued request of a slot at
once (a request counts as transferring only when its task runs) and ignores a
pause held in ``slot.lastseen``. The monitor's downloader keeps both, so the crawl
needs no per-request timer. In memory first (the slot's queue, no sockets), then a
real crawl against the local mock server that counts requests in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Coroutine
from typing import Any

import pytest
from crawl_helpers import make_spider
from mockserver import Canned, MockServer
from scrapy.core.downloader import Downloader, Slot
from scrapy.http import Request
from twisted.internet.defer import Deferred

from monitor.observation import Observation, WorkItem
from spiders import RssSpider, crawl_blocking, scrapy_settings
from spiders import downloader as module
from spiders.downloader import MonitorDownloader


def build(cls: type[Downloader]) -> Downloader:
    spider = make_spider(RssSpider, CONCURRENT_REQUESTS=16, CONCURRENT_REQUESTS_PER_DOMAIN=2)
    return cls(spider.crawler)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Request]:
    """Downloads the queue starts, recorded instead of run."""
    out: list[Request] = []

    def schedule(coro: Coroutine[Any, Any, Any]) -> None:
        frame = coro.cr_frame
        assert frame is not None
        out.append(frame.f_locals["request"])
        coro.close()

    monkeypatch.setattr(module, "_schedule_coro", schedule)
    monkeypatch.setattr("scrapy.core.downloader._schedule_coro", schedule)
    return out


def queued(slot: Slot, n: int) -> list[Request]:
    requests = [Request(f"http://h.example/{i}") for i in range(n)]
    for r in requests:
        slot.queue.append((r, Deferred()))
    return requests


def test_a_slot_without_delay_starts_no_more_than_its_concurrency(started: list[Request]) -> None:
    slot = Slot(concurrency=2, delay=0.0, jitter=0.0)
    requests = queued(slot, 5)
    build(MonitorDownloader)._process_queue(slot)
    assert started == requests[:2]
    assert slot.transferring == set(requests[:2]) and len(slot.queue) == 3
    build(MonitorDownloader)._process_queue(slot)  # a second call while both run
    assert len(started) == 2


def test_scrapys_own_downloader_would_start_them_all(started: list[Request]) -> None:
    # What MonitorDownloader is for: if Scrapy fixes this, the subclass can go.
    slot = Slot(concurrency=2, delay=0.0, jitter=0.0)
    queued(slot, 5)
    build(Downloader)._process_queue(slot)
    assert len(started) == 5


def test_a_finished_download_lets_the_next_one_start(started: list[Request]) -> None:
    slot = Slot(concurrency=2, delay=0.0, jitter=0.0)
    requests = queued(slot, 3)
    dl = build(MonitorDownloader)
    dl._process_queue(slot)
    slot.transferring.discard(requests[0])  # as Downloader._download does when done
    dl._process_queue(slot)
    assert started == requests


def test_a_paused_host_waits_without_a_delay(started: list[Request],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(module, "call_later", lambda wait, *_a: waits.append(wait) or object())
    slot = Slot(concurrency=2, delay=0.0, jitter=0.0)
    queued(slot, 2)
    slot.lastseen = time.monotonic() + 30  # what spiders.politeness sets for a pause
    build(MonitorDownloader)._process_queue(slot)
    assert started == [] and len(waits) == 1 and 29 < waits[0] <= 30
    assert slot.latercall is not None


def test_a_delay_still_sends_one_request_per_delay(started: list[Request],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(module, "call_later", lambda wait, *_a: waits.append(wait) or object())
    slot = Slot(concurrency=4, delay=2.0, jitter=0.0)
    queued(slot, 3)
    build(MonitorDownloader)._process_queue(slot)
    assert len(started) == 1 and waits == [pytest.approx(2.0, abs=0.1)]


def test_the_monitors_crawls_use_it_with_the_delay_they_are_given() -> None:
    from monitor.settings import Settings

    s = scrapy_settings(Settings.load({"download_delay": 0}, environ={}))
    assert s["DOWNLOADER"] == "spiders.downloader.MonitorDownloader"
    assert s.getfloat("DOWNLOAD_DELAY") == 0.0


def test_a_real_crawl_keeps_two_requests_in_flight_per_host() -> None:
    """Twelve probes of one host, CONCURRENT_REQUESTS 16, per host 2, no delay."""
    lock = threading.Lock()
    now = [0]
    peak = [0]

    def slow(_path: str) -> Canned:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.05)  # holds the request open so that others would overlap
        with lock:
            now[0] -= 1
        return Canned(404, b"gone", {"Content-Type": "text/plain"})

    with MockServer() as server:
        server.route("/slow", slow)
        items = [WorkItem(mode="probe", platform="rss", target_key=f"k{i}",
                          url=server.url(f"/slow?i={i}"), post_key=f"p{i}", row_id=i)
                 for i in range(12)]
        got: list[Observation] = []
        crawl_blocking({"rss": items}, got.append,
                       {"robotstxt_obey": False, "autothrottle": False, "download_delay": 0,
                        "concurrent_requests": 16, "concurrent_requests_per_host": 2,
                        "retry_times": 0})
    assert [o.outcome.value for o in got] == ["not_found"] * 12
    assert peak[0] == 2  # Scrapy's own downloader reaches 10 here
