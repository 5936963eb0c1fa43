"""The web page platform against the local mock server: a page and a CSS selector."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mockserver import Canned, MockServer

from monitor import diff
from monitor.observation import Observation, Outcome, WorkItem
from monitor.platforms import post_ref
from monitor.settings import Settings
from spiders.crawl import crawl_blocking

HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(body: str, status: int = 200) -> Canned:
    html = f"<html><head><title>Notice</title></head><body>{body}</body></html>"
    return Canned(status, html.encode(), HTML)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def check(server: MockServer, path: str, selector: str = "main .article") -> Observation:
    value = f"{server.url(path)}#css={selector}"
    key, probe_url = post_ref("webpage", value, None)
    item = WorkItem(mode="probe", platform="webpage", target_key=key, url=probe_url,
                    post_key=key)
    got: list[Observation] = []
    settings = Settings.load(environ={}, file_values={"autothrottle": False})
    stats: dict[str, Any] = crawl_blocking({"web": [item]}, got.append, settings)
    assert stats["webpage"]["observations/count"] == 1
    (obs,) = got
    return obs


def test_the_watched_part_is_the_post_and_an_edit_changes_it(server: MockServer) -> None:
    server.route("/notice", page('<main><p class="article">First <b>version</b></p>'
                                 "<aside>ads 1</aside></main>"))
    first = check(server, "/notice")
    assert first.outcome is Outcome.OK, first.detail
    assert first.post is not None and first.post.title == "Notice"
    assert diff.normalise(first.post, "webpage").text == "First version"
    # The rest of the page changes: the watched part does not.
    server.route("/notice", page('<main><p class="article">First <b>version</b></p>'
                                 "<aside>ads 2</aside></main>"))
    same = check(server, "/notice")
    assert same.post is not None
    assert (diff.normalise(same.post, "webpage").content_hash
            == diff.normalise(first.post, "webpage").content_hash)
    server.route("/notice", page('<main><p class="article">Second version</p></main>'))
    edited = check(server, "/notice")
    assert edited.post is not None
    assert diff.normalise(edited.post, "webpage").text == "Second version"
    # The selector travels in the fragment, which is never sent.
    sent = [path for path, _ in server.requests if path.startswith("/notice")]
    assert sent == ["/notice"] * 3


def test_the_part_is_gone_when_the_selector_stops_matching(server: MockServer) -> None:
    server.route("/moved", page("<main><p>The article was removed.</p></main>"))
    obs = check(server, "/moved")
    assert obs.outcome is Outcome.UNAVAILABLE and obs.outcome.absent
    assert obs.signals.get("notice") == "not_found"
    assert "matches nothing" in (obs.detail or "")


@pytest.mark.parametrize(("status", "outcome"), [(404, Outcome.NOT_FOUND), (410, Outcome.GONE)])
def test_the_page_is_gone_when_it_answers_404_or_410(server: MockServer, status: int,
                                                     outcome: Outcome) -> None:
    server.route(f"/gone{status}", page("<main><p class='article'>x</p></main>", status))
    obs = check(server, f"/gone{status}")
    assert obs.outcome is outcome and obs.http_status == status


def test_a_probe_url_without_a_selector_is_malformed(server: MockServer) -> None:
    item = WorkItem(mode="probe", platform="webpage", target_key="k",
                    url=server.url("/notice"), post_key="k")
    got: list[Observation] = []
    crawl_blocking({"webpage": [item]}, got.append, Settings.load(environ={}))
    assert got[0].outcome is Outcome.MALFORMED
    assert "names no CSS selector" in (got[0].detail or "")
