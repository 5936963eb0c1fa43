"""Politeness as the README promises it: per-host pauses and back-off that outlive
a crawl, robots.txt fetched once per host, quiet logs for unreachable hosts.

Real sockets on loopback only: 127.0.0.1, 127.0.0.2 and 127.0.0.3 are three
hosts (Linux routes all of 127/8 to the loopback interface). Timings are scaled
down (Retry-After: 3 s, back-off from 0.5 s) so the slow test stays short.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from mockserver import MockServer, closed_port
from scrapy.http import Headers, Response

from monitor.observation import Observation, Outcome, WorkItem
from monitor.settings import Settings
from spiders import crawl_blocking
from spiders.politeness import HostRegistry, robots_ttl


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**values: Any) -> Settings:
    values = {"autothrottle": False, **values}
    return Settings.load(environ={}, file_values={k.lower(): v for k, v in values.items()})


# --- the registry: back-off and pauses (injected clock, seeded jitter) ------------

def test_backoff_doubles_per_failure_with_bounded_jitter_and_a_cap():
    clock = FakeClock()
    hosts = HostRegistry(clock=clock, rng=random.Random(4))
    pauses = [hosts.failed("h", Outcome.SERVER_ERROR, base=2.0, cap=60.0) for _ in range(8)]
    for n, pause in enumerate(pauses):
        floor = min(60.0, 2.0 * 2 ** n)
        assert floor <= pause <= min(60.0, floor * 1.5), (n, pause)
    assert pauses[-1] == 60.0
    assert hosts.remaining("h") == pytest.approx(max(pauses))
    assert hosts.remaining("other") == 0.0  # other hosts go on
    clock.now += 61
    assert hosts.remaining("h") == 0.0


def test_success_ends_the_streak_but_not_a_pause():
    clock = FakeClock()
    hosts = HostRegistry(clock=clock, rng=random.Random(1))
    for _ in range(5):
        hosts.failed("h", Outcome.SERVER_ERROR, base=1.0, cap=1000.0)
    hosts.pause("h", 30.0)  # a Retry-After
    hosts.succeeded("h")
    assert hosts.state("h").failures == 0
    assert hosts.remaining("h") >= 16.0  # the pause stands
    assert 1.0 <= hosts.failed("h", Outcome.SERVER_ERROR, base=1.0, cap=1000.0) <= 1.5



def test_any_paused_holds_until_the_latest_pause_of_any_host_ends():
    """PoliteScheduler skips reading each request's host while no host is paused:
    any_paused() must stay true while even one host's pause runs."""
    clock = FakeClock()
    hosts = HostRegistry(clock=clock, rng=random.Random(2))
    assert not hosts.any_paused()
    hosts.pause("a", 30.0)
    hosts.pause("b", 5.0)  # shorter, later: a's pause still runs after b's ends
    clock.now += 10
    assert hosts.remaining("b") == 0.0
    assert hosts.any_paused()
    clock.now += 20
    assert hosts.remaining("a") == 0.0
    assert not hosts.any_paused()
    wait = hosts.failed("b", Outcome.RATE_LIMITED, base=2.0, cap=60.0)
    assert hosts.any_paused()
    clock.now += wait
    assert not hosts.any_paused()

# --- robots.txt caching headers -------------------------------------------------------

def _robots_response(**headers: str) -> Response:
    return Response("http://h/robots.txt", status=200, headers=Headers(headers), body=b"")


@pytest.mark.parametrize(("headers", "ttl"), [
    ({}, 86400.0),
    ({"Cache-Control": "public, max-age=600"}, 600.0),
    ({"Cache-Control": "max-age=999999"}, 86400.0),  # never beyond the cap (RFC 9309)
    ({"Cache-Control": "no-store"}, 0.0),
    ({"Cache-Control": "max-age=bogus"}, 86400.0),
    ({"Expires": "Sat, 01 Aug 2026 13:00:00 GMT", "Date": "Sat, 01 Aug 2026 12:00:00 GMT"},
     3600.0),
    ({"Expires": "0"}, 0.0),  # invalid Expires: already stale
])
def test_robots_ttl(headers, ttl):
    assert robots_ttl(_robots_response(**headers), 86400.0) == ttl


# --- robots.txt is fetched once per host across crawls ---------------------------------

@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def _probe(url: str, key: str) -> WorkItem:
    return WorkItem(mode="probe", platform="rss", target_key=key, url=url, post_key=key)


def test_robots_txt_is_cached_across_crawls_and_refetched_when_stale(server):
    clock = FakeClock()
    hosts = HostRegistry(clock=clock)
    for n in range(4):
        got: list[Observation] = []
        crawl_blocking({"rss": [_probe(server.url(f"/status?n=200&i={n}"), f"k{n}"),
                                _probe(server.url("/private/x"), f"p{n}")]},
                       got.append, settings(robotstxt_cache="100s"), MONITOR_HOSTS=hosts)
        by_key = {o.target_key: o.outcome for o in got}
        assert by_key == {f"k{n}": Outcome.OK, f"p{n}": Outcome.REFUSED}  # still obeyed
    assert server.hits["/robots.txt"] == 1  # the old code: once per crawl (4)
    clock.now += 101  # past ROBOTSTXT_CACHE
    crawl_blocking({"rss": [_probe(server.url("/status?n=200"), "late")]}, lambda o: None,
                   settings(robotstxt_cache="100s"), MONITOR_HOSTS=hosts)
    assert server.hits["/robots.txt"] == 2


# --- unreachable hosts: one line, no traceback ------------------------------------

def test_unreachable_host_logs_one_line_per_target_and_no_traceback(caplog):
    port = closed_port()
    items = [_probe(f"http://127.0.0.1:{port}/feed{i}", f"t{i}") for i in range(2)]
    got: list[Observation] = []
    with caplog.at_level(logging.DEBUG):
        crawl_blocking({"rss": items}, got.append,
                       settings(retry_times=1, retry_backoff_base="0.05s"),
                       MONITOR_HOSTS=HostRegistry())
    assert sorted(o.outcome for o in got) == [Outcome.CONNECTION_ERROR] * 2
    tracebacks = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
    loud = [r for r in caplog.records if r.levelno >= logging.INFO
            and str(port) in r.getMessage()]
    assert len(loud) == 2, [r.getMessage() for r in loud]  # one per target
    assert {r.levelno for r in loud} == {logging.INFO}
    assert all(any(f"t{i}" in r.getMessage() for r in loud) for i in range(2))


# --- the required test: 429 Retry-After and 503 forever, over repeated cycles ------------

class _Recorder(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str, status: int, headers: dict[str, str]) -> None:
        super().__init__((host, 0), _Answer)
        self.status, self.headers = status, headers
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up hang up on us


class _Answer(BaseHTTPRequestHandler):
    server: _Recorder
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        status, headers = self.server.status, self.server.headers
        if self.path == "/robots.txt":
            status, headers = 200, {}
        else:
            with self.server.lock:
                self.server.arrivals.append(time.monotonic())
        body = f"status {status}".encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(host: str, status: int, **headers: str) -> _Recorder:
    try:
        srv = _Recorder(host, status, headers)
    except OSError as exc:  # pragma: no cover - 127.0.0.2 is loopback on Linux
        pytest.fail(f"cannot listen on {host} ({exc}); this test needs 127/8 on loopback")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _bursts(arrivals: list[float], gap: float = 0.3) -> list[list[float]]:
    """Arrivals grouped into bursts: requests sent together before any answer."""
    out: list[list[float]] = []
    for t in sorted(arrivals):
        if out and t - out[-1][-1] < gap:
            out[-1].append(t)
        else:
            out.append([t])
    return out


PER_HOST = 2
GLOBAL = 2
RETRY_AFTER = 3.0
BASE, CAP = 0.5, 4.0


@pytest.fixture(scope="module")
def hostile_run() -> Iterator[dict[str, Any]]:
    limited = _serve("127.0.0.1", 429, **{"Retry-After": str(int(RETRY_AFTER))})
    failing = _serve("127.0.0.2", 503)
    healthy = _serve("127.0.0.3", 200)
    hosts = HostRegistry()
    conf = settings(retry_times=1, retry_after_max="5s", retry_backoff_base=f"{BASE}s",
                    retry_backoff_max=f"{CAP}s", concurrent_requests=GLOBAL,
                    concurrent_requests_per_host=PER_HOST, download_timeout="5s")

    def url(srv: _Recorder, path: str) -> str:
        host, port = srv.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    done: dict[str, list[float]] = {"limited": [], "failing": [], "healthy": []}
    cycles: list[tuple[float, float]] = []
    started = time.monotonic()
    for cycle in range(2):
        work = []
        for name, srv, n in (("limited", limited, 2), ("failing", failing, 2),
                             ("healthy", healthy, 6)):
            work += [_probe(url(srv, f"/{cycle}/{i}"), f"{name}/{cycle}/{i}") for i in range(n)]

        def sink(obs: Observation) -> None:
            done[obs.target_key.split("/")[0]].append(time.monotonic())

        t0 = time.monotonic()
        # The spider's own window of work items in flight (2 × CONCURRENT_REQUESTS)
        # is widened: here the point is the downloader's CONCURRENT_REQUESTS.
        crawl_blocking({"rss": work}, sink, conf, MONITOR_HOSTS=hosts, MONITOR_MAX_IN_FLIGHT=64)
        cycles.append((t0, time.monotonic()))
    yield {"limited": limited.arrivals, "failing": failing.arrivals, "done": done,
           "cycles": cycles, "seconds": time.monotonic() - started}
    for srv in (limited, failing, healthy):
        srv.shutdown()
        srv.server_close()


@pytest.mark.slow
def test_retry_after_pauses_the_whole_host(hostile_run):
    """After a 429 with Retry-After: 3, nothing goes to that host for 3 s (the old
    code sent every other request at once, each retry sleeping on its own)."""
    bursts = _bursts(hostile_run["limited"])
    assert len(bursts) >= 3
    assert all(len(b) <= PER_HOST for b in bursts), [len(b) for b in bursts]
    gaps = [b[0] - a[-1] for a, b in zip(bursts, bursts[1:], strict=False)]
    assert min(gaps) >= RETRY_AFTER - 0.1, gaps
    per_minute = len(hostile_run["limited"]) / hostile_run["seconds"] * 60
    assert per_minute <= (60 / RETRY_AFTER + 1) * PER_HOST


@pytest.mark.slow
def test_a_host_failing_forever_backs_off_exponentially_across_cycles(hostile_run):
    """503 forever: the gaps grow from RETRY_BACKOFF_BASE and reach the cap; the
    back-off carries over from one crawl (cycle) to the next."""
    bursts = _bursts(hostile_run["failing"])
    assert all(len(b) <= PER_HOST for b in bursts), [len(b) for b in bursts]
    gaps = [b[0] - a[-1] for a, b in zip(bursts, bursts[1:], strict=False)]
    assert len(gaps) >= 3, gaps
    for i, g in enumerate(gaps):
        assert g >= min(CAP, BASE * 2 ** i) - 0.1, (i, gaps)
    # Later cycles do not start over from the base delay.
    second = hostile_run["cycles"][1][0]
    later = [b[0] - prev[-1] for prev, b in zip(bursts, bursts[1:], strict=False)
             if b[0] > second]
    assert later and min(later) >= CAP - 0.1, gaps
    per_minute = len(hostile_run["failing"]) / hostile_run["seconds"] * 60
    assert per_minute <= (60 / CAP + len(gaps)) * PER_HOST


@pytest.mark.slow
def test_paused_hosts_do_not_starve_the_others(hostile_run):
    """CONCURRENT_REQUESTS is 2: requests parked for paused hosts hold none of it, so
    the healthy host's work is done long before a cycle's paused work (the old
    code slept through Retry-After inside the downloader, holding both)."""
    for start, end in hostile_run["cycles"]:
        healthy = [t for t in hostile_run["done"]["healthy"] if start <= t <= end]
        assert len(healthy) == 6
        assert max(healthy) - start < 1.5, (max(healthy) - start, end - start)
        assert end - start >= RETRY_AFTER  # the paused host's work really waited
