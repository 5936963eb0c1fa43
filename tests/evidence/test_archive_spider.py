"""A real crawl against a local server: a probe's observation carries the raw exchange
(request, response headers, body) the archive keeps; none without a response, none
with ARCHIVE off."""

from __future__ import annotations

from typing import Any

from spiders import install_reactor

install_reactor()  # before anything imports twisted's default reactor

from archive_helpers import HOSTILE_BODY, http_server  # noqa: E402

from monitor.archive import build, read_exchanges  # noqa: E402
from monitor.observation import Observation, Outcome, WorkItem  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from spiders.crawl import crawl_blocking  # noqa: E402

ANSWERS = {
    "/gone": (451, [(b"Content-Type", b"text/html"), (b"X-Reason", "法院命令".encode()),
                    (b"X-Latin", b"caf\xe9"), (b"X-Twice", b"1"), (b"X-Twice", b"2")],
              HOSTILE_BODY),
    "/here": (200, [(b"Content-Type", b"text/html")], b"<html><p>still here</p></html>"),
}


def _settings(**values: Any) -> Settings:
    return Settings.load(environ={}, file_values={
        "autothrottle": False, "robotstxt_obey": False, "retry_times": 0,
        "download_timeout": 2, **values})


def _probe(url: str, key: str) -> WorkItem:
    return WorkItem(mode="probe", platform="rss", target_key=key, url=url, post_key=key,
                    row_id=1)


def _crawl(items: list[WorkItem], **settings: Any) -> dict[str, Observation]:
    got: list[Observation] = []
    crawl_blocking({"rss": items}, got.append, _settings(**settings))
    return {o.target_key: o for o in got}


def test_a_probes_observation_carries_its_capture() -> None:
    with http_server(ANSWERS) as base:
        seen = _crawl([_probe(base + "/gone", "gone"), _probe(base + "/here", "here"),
                       _probe("http://127.0.0.1:9/closed", "closed")])
    gone = seen["gone"]
    assert gone.outcome is Outcome.LEGAL
    c = gone.capture
    assert c is not None
    assert (c.method, c.url, c.status, c.body) == ("GET", base + "/gone", 451, HOSTILE_BODY)
    assert c.fetched_at == gone.observed_at and c.vantage == gone.vantage
    headers = list(c.response_headers)
    assert ("X-Reason", "法院命令") in headers  # UTF-8 decoded
    assert ("X-Latin", "café") in headers  # not UTF-8: Latin-1, byte for byte
    assert [v for k, v in headers if k == "X-Twice"] == ["1", "2"]
    assert any(k == "User-Agent" for k, _ in c.request_headers)  # as sent
    # it round-trips through the archive with its hash equal to the observation's
    [ex] = read_exchanges(build(c, [1]))
    assert ex.payload_sha256 == gone.body_hash and ex.digests_ok
    assert seen["here"].capture is not None and seen["here"].capture.status == 200
    # no response, no capture: memory stays bounded by the responses
    assert seen["closed"].outcome is Outcome.CONNECTION_ERROR
    assert seen["closed"].capture is None


def test_archive_off_keeps_no_capture() -> None:
    with http_server(ANSWERS) as base:
        seen = _crawl([_probe(base + "/gone", "gone")], archive=False)
    assert seen["gone"].outcome is Outcome.LEGAL
    assert seen["gone"].capture is None
