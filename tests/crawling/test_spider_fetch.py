"""Fetch behaviour against a local mock server: real sockets, 127.0.0.1 only.

One crawl over a table of misbehaving endpoints, then the crawl runner's own
promises: repeatable in one process, on one loop, lazy with async work,
every spider at once, and UnknownPlatform before any request.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from crawl_helpers import fixture
from mockserver import Canned, MockServer, closed_port

from monitor.errors import UnknownPlatform
from monitor.observation import Observation, Outcome, WorkItem
from monitor.settings import Settings
from spiders.crawl import crawl, crawl_blocking, event_loop


def settings(**values: Any) -> Settings:
    # Autothrottle's 1 s start delay per host and the host back-off after
    # failures are politeness (tests/crawling/test_politeness.py), not behaviour
    # under test here: every endpoint below shares one host.
    values = {"autothrottle": False, "retry_backoff_base": 0.05, "retry_backoff_max": 0.2,
              **values}
    return Settings.load(environ={}, file_values={k.lower(): v for k, v in values.items()})


def probe(server: MockServer, path: str, key: str | None = None) -> WorkItem:
    return WorkItem(mode="probe", platform="rss", target_key=key or path,
                    url=server.url(path), post_key=key or path, row_id=len(path))


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


TABLE = [
    # (path, outcome, expected server hits on that path or None)
    ("/status?n=200", Outcome.OK, None),
    ("/status?n=404", Outcome.NOT_FOUND, None),
    ("/status?n=503", Outcome.SERVER_ERROR, None),  # after RETRY_TIMES retries
    ("/delay?s=3", Outcome.TIMEOUT, None),
    ("/drop", Outcome.CONNECTION_ERROR, None),
    ("/truncate", Outcome.TRUNCATED, None),
    ("/big?n=200000", Outcome.TOO_LARGE, None),
    ("/retry-after?s=1&key=short", Outcome.OK, None),
    ("/retry-after?s=600&key=long", Outcome.RATE_LIMITED, None),
    ("/private/page", Outcome.REFUSED, None),  # robots.txt says no
]


@pytest.fixture(scope="module")
def long_server() -> Iterator[MockServer]:
    """A host of its own for the long Retry-After: it pauses the whole host."""
    with MockServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def table_run(server: MockServer, long_server: MockServer) -> dict[str, Any]:
    got: list[Observation] = []
    items = [probe(long_server if "key=long" in path else server, path)
             for path, _, _ in TABLE]
    refused = WorkItem(mode="probe", platform="rss", target_key="refused",
                       url=f"http://127.0.0.1:{closed_port()}/x")
    started = time.monotonic()
    stats = crawl_blocking(
        {"rss": [*items, refused]}, got.append,
        settings(download_timeout=1, retry_times=1, max_body_bytes=50_000, retry_after_max=5),
    )
    return {"observations": {o.target_key: o for o in got}, "count": len(got),
            "stats": stats, "seconds": time.monotonic() - started}


@pytest.mark.parametrize(("path", "outcome", "_"), TABLE, ids=[t[0] for t in TABLE])
def test_fetch_outcome(table_run, path, outcome, _):
    obs = table_run["observations"][path]
    assert obs.outcome is outcome, obs.detail
    assert (obs.mode, obs.platform, obs.post_key) == ("probe", "rss", path)
    if outcome.transient and obs.http_status is None:
        assert obs.detail  # the exception, for the record


def test_every_item_has_one_observation(table_run):
    assert table_run["count"] == len(TABLE) + 1
    stats = table_run["stats"]["rss"]
    assert stats["observations/count"] == len(TABLE) + 1
    assert stats["finish_reason"] == "finished"
    # The pipeline counts each outcome and adds the counts to the stats at the close.
    seen = Counter(o.outcome.value for o in table_run["observations"].values())
    assert {k.rpartition("/")[2]: v for k, v in stats.items()
            if k.startswith("observations/outcome/")} == seen
    assert "observations/sink_error" not in stats


def test_connection_refused(table_run):
    assert table_run["observations"]["refused"].outcome is Outcome.CONNECTION_ERROR


def test_server_error_was_retried(table_run, server):
    assert server.hits["/status"] >= 4  # 200, 404, and 503 twice (RETRY_TIMES=1)
    assert table_run["observations"]["/status?n=503"].http_status == 503


def test_short_retry_after_is_honoured(table_run, server):
    assert server.httpd.keys["short"] == 2  # 429, then the retry after 1 s
    assert table_run["seconds"] >= 1.0


def test_long_retry_after_is_recorded_not_waited(table_run, long_server):
    obs = table_run["observations"]["/retry-after?s=600&key=long"]
    assert long_server.httpd.keys["long"] == 1
    assert obs.http_status == 429
    assert obs.signals["retry_after"] == 600
    assert table_run["seconds"] < 30


def test_robots_refusal_is_recorded(table_run, server):
    obs = table_run["observations"]["/private/page"]
    assert obs.detail == "forbidden by robots.txt"
    assert obs.signals["robots_txt"] == "disallowed"
    assert server.hits["/private/page"] == 0


def test_robots_off_fetches(server):
    got: list[Observation] = []
    crawl_blocking({"rss": [probe(server, "/private/other")]}, got.append,
                   settings(robotstxt_obey=False))
    assert got[0].outcome is Outcome.NOT_FOUND  # the mock has no such page
    assert server.hits["/private/other"] == 1


def test_user_agent_and_no_cookies_sent(server):
    got: list[Observation] = []
    ua = "TakedownMonitorTest/9 (+https://example.org/contact)"
    crawl_blocking({"rss": [probe(server, "/echo-ua", "ua")]}, got.append,
                   settings(user_agent=ua))
    assert got[0].outcome is Outcome.OK
    (headers,) = [h for p, h in server.requests if p == "/echo-ua"]
    assert headers["User-Agent"] == ua
    assert "Cookie" not in headers


def test_crawl_blocking_runs_twice_in_one_process(server):
    for _ in range(2):
        got: list[Observation] = []
        crawl_blocking({"rss": [probe(server, "/status?n=410", "again")]}, got.append,
                       settings())
        assert [o.outcome for o in got] == [Outcome.GONE]


def test_crawl_twice_on_one_loop_with_async_work_and_async_sink(server):
    got: list[Observation] = []

    async def sink(obs: Observation) -> None:
        await asyncio.sleep(0)
        got.append(obs)

    async def work(n: int) -> AsyncIterator[WorkItem]:
        for i in range(n):
            await asyncio.sleep(0)
            yield probe(server, f"/status?n=200&i={i}", f"a{i}")

    async def main() -> list[dict[str, Any]]:
        first = await crawl({"rss": work(3)}, sink, settings())
        second = await crawl({"feed": work(2)}, sink, settings())  # an alias
        return [first, second]

    first, second = event_loop().run_until_complete(main())
    assert len(got) == 5 and all(o.outcome is Outcome.OK for o in got)
    assert first["rss"]["observations/count"] == 3
    assert second["rss"]["observations/count"] == 2


def test_async_work_is_consumed_lazily(server):
    """The spider claims work only as observations leave: memory stays flat."""
    produced = delivered = 0
    worst = 0

    async def work() -> AsyncIterator[WorkItem]:
        nonlocal produced, worst
        for i in range(30):
            worst = max(worst, produced - delivered)
            produced += 1
            yield probe(server, f"/status?n=204&lazy={i}", f"lazy{i}")

    def sink(obs: Observation) -> None:
        nonlocal delivered
        delivered += 1

    crawl_blocking({"rss": work()}, sink, settings(), MONITOR_MAX_IN_FLIGHT=3)
    assert delivered == 30
    assert worst <= 3


def test_sink_error_stops_the_crawl_and_is_raised(server):
    calls = 0

    def sink(obs: Observation) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("database down")

    work = [probe(server, f"/status?n=200&sink={i}", f"s{i}") for i in range(50)]
    with pytest.raises(RuntimeError, match="database down"):
        crawl_blocking({"rss": work}, sink, settings(), MONITOR_MAX_IN_FLIGHT=2)
    assert 1 <= calls < 50


def test_work_iterator_error_is_raised_after_in_flight_items(server):
    got: list[Observation] = []

    async def work() -> AsyncIterator[WorkItem]:
        yield probe(server, "/status?n=200&w=1", "w1")
        raise ConnectionError("claiming work failed")

    with pytest.raises(ConnectionError, match="claiming work failed"):
        crawl_blocking({"rss": work()}, got.append, settings())
    assert [o.target_key for o in got] == ["w1"]


def test_crawl_on_another_loop_is_refused():
    with pytest.raises(RuntimeError, match="another asyncio loop"):
        asyncio.run(crawl({}, lambda o: None, settings()))


def test_unknown_platform_raises_before_crawling(server):
    before = sum(server.hits.values())
    with pytest.raises(UnknownPlatform, match="myspace"):
        crawl_blocking({"rss": [probe(server, "/status?n=200", "u")], "myspace": []},
                       lambda o: None, settings())
    assert sum(server.hits.values()) == before


def test_crawl_blocking_inside_a_running_loop_is_refused():
    async def main() -> None:
        crawl_blocking({}, lambda o: None, settings())

    with pytest.raises(RuntimeError, match="running event loop"):
        event_loop().run_until_complete(main())


def test_all_spiders_in_one_crawl(server):
    account = fixture("mastodon/account_normal.json")
    json_type = {"Content-Type": "application/json; charset=utf-8"}
    server.route("/api/v1/accounts/lookup", Canned(200, account, json_type))
    server.route("/api/v1/accounts/117020566092212359/statuses",
                 Canned(200, fixture("mastodon/statuses_page1.json"), json_type))
    server.route("/explore/66a1b2c3000000000d00e1f2",
                 Canned(302, b"", {"Location": "/404?source=/404/sec_x&error_code=300031"}))
    server.route("/404", Canned(200, fixture("rednote/unavailable_300031.html"),
                                {"Content-Type": "text/html; charset=utf-8"}))
    server.route("/feed.xml", Canned(200, fixture("rss/atom_tombstones.xml"),
                                     {"Content-Type": "application/atom+xml"}))
    work = {
        "rss": [WorkItem(mode="listing", platform="rss", target_key="f", url=server.url(
            "/feed.xml"))],
        "mastodon": [WorkItem(mode="listing", platform="mastodon", target_key="m",
                              url="alice", base_url=server.base)],
        "xhs": [WorkItem(mode="probe", platform="rednote", target_key="r",
                         url=server.url("/explore/66a1b2c3000000000d00e1f2?xsec_token=old"),
                         base_url=server.base, known={"xsec_token": "fresh"})],
    }
    got: dict[str, Observation] = {}
    stats = crawl_blocking(work, lambda o: got.__setitem__(o.platform, o), settings())
    assert set(stats) == {"rss", "mastodon", "rednote"}
    assert got["rss"].outcome is Outcome.OK and len(got["rss"].tombstones) == 2
    assert got["mastodon"].outcome is Outcome.OK and len(got["mastodon"].entries or []) == 2
    red = got["rednote"]
    assert red.outcome is Outcome.UNAVAILABLE
    assert red.signals == {"notice": "unavailable_generic", "error_code": "300031",
                           "fingerprint": "rednote.text.cannot_view"}
    assert red.final_url and red.final_url.endswith("error_code=300031")
    assert any("xsec_token=fresh" in p for p, _ in server.requests)


def test_the_pipeline_counts_a_failing_sink_and_adds_its_counts_at_the_close():
    """What the stats say of a crawl whose sink failed (the crawl itself re-raises the
    failure, so the stats are read here from the pipeline's crawler)."""
    from scrapy import Spider
    from scrapy.utils.test import get_crawler

    from spiders.pipelines import SinkPipeline

    crawler = get_crawler(Spider)
    crawler.stats.open_spider()
    stops: list[bool] = []

    async def stop() -> None:
        stops.append(True)

    crawler.stop_async = stop  # type: ignore[method-assign]
    crawler.spider = Spider(name="t")

    def sink(obs: Observation) -> None:
        if obs.outcome is Outcome.NOT_FOUND:
            raise RuntimeError("database down")

    crawler.spider.sink = sink  # type: ignore[attr-defined]
    pipeline = SinkPipeline(crawler)
    ok, gone = (Observation(mode="probe", platform="rss", target_key=k, url="http://h/x",
                            outcome=o) for k, o in (("a", Outcome.OK), ("b", Outcome.NOT_FOUND)))

    async def feed() -> None:
        for obs in (ok, ok, gone):
            await pipeline.process_item(obs)
        await asyncio.sleep(0)  # the stop it scheduled runs

    asyncio.run(feed())
    assert crawler.stats.get_value("observations/count") is None  # nothing until the close
    pipeline.close_spider()
    stats = crawler.stats.get_stats()
    assert stats["observations/count"] == 3
    assert stats["observations/outcome/ok"] == 2
    assert stats["observations/outcome/not_found"] == 1
    assert stats["observations/sink_error"] == 1
    assert stops == [True]  # stopped once
    assert isinstance(crawler.spider.failure, RuntimeError)  # type: ignore[attr-defined]
