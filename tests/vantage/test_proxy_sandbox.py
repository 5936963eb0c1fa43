"""The sandbox's geo-blocking: what a request from a country sees (part D2).

Plain HTTP against the sandbox, naming the country the way the test proxies do
(``X-Sandbox-Country``) or by the client's source port (``Sandbox.locate``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from spiders.sandbox import Sandbox


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def get(url: str, country: str | None = None, method: str = "GET") -> tuple[int, Any, bytes]:
    headers = {"X-Sandbox-Country": country} if country else {}
    request = urllib.request.Request(url, headers=headers, method=method,
                                     data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def first(sb: Sandbox, platform: str) -> dict[str, Any]:
    return next(p for p in sb.truth()["posts"]
                if p["platform"] == platform and p["state"] == "live")


def test_a_withheld_article_is_451_in_that_country_only_and_leaves_its_feed_there(
        sb: Sandbox) -> None:
    post = first(sb, "rss")
    assert sb.withhold(post["url"], ["de"]) == ["DE"]
    status, headers, body = get(post["url"], "DE")
    assert status == 451
    assert 'rel="blocked-by"' in headers["Link"]
    assert b"withheld in DE" in body
    assert get(post["url"], "US")[0] == 200
    assert get(post["url"])[0] == 200  # no country: served as today
    slug = post["url"].rsplit("/", 1)[1]
    assert slug.encode() not in get(post["target"], "DE")[2]
    assert slug.encode() in get(post["target"], "US")[2]
    assert slug.encode() in get(post["target"])[2]
    [entry] = [p for p in sb.truth()["posts"] if p["url"] == post["url"]]
    assert entry["withheld_in"] == ["DE"]


def test_withholding_is_lifted_per_country_or_everywhere(sb: Sandbox) -> None:
    post = first(sb, "webpage")
    sb.withhold(post["url"], ["DE", "US", "FR"])
    assert sb.withhold(post["url"], ["US"], lift=True) == ["DE", "FR"]
    assert [get(post["url"], c)[0] for c in ("DE", "US", "FR")] == [451, 200, 451]
    assert sb.withhold(post["url"], [], lift=True) == []
    assert [get(post["url"], c)[0] for c in ("DE", "FR")] == [200, 200]
    assert "withheld_in" not in next(p for p in sb.truth()["posts"] if p["url"] == post["url"])


def test_a_platform_without_its_own_answer_serves_the_post_as_gone_there(
        sb: Sandbox) -> None:
    """Mastodon's fake has no geo page: a withheld status is simply not visible there."""
    post = first(sb, "mastodon")
    sb.withhold(post["url"], ["DE"])
    status_id = post["post_key"]
    api = f"{sb.base_url}/api/v1/statuses/{status_id}"
    assert get(api, "DE")[0] == 404
    assert get(api, "US")[0] == 200


def test_the_control_endpoint_withholds_and_refuses_bad_input(sb: Sandbox) -> None:
    post = first(sb, "webpage")
    control = f"{sb.base_url}/_sandbox/withhold?"
    query = urllib.parse.urlencode({"url": post["url"], "countries": "de,us"})
    status, _, body = get(control + query, method="POST")
    assert status == 200 and json.loads(body)["withheld_in"] == ["DE", "US"]
    assert get(post["url"], "US")[0] == 451
    lift = urllib.parse.urlencode({"url": post["url"], "countries": "US", "lift": "1"})
    assert json.loads(get(control + lift, method="POST")[2])["withheld_in"] == ["DE"]
    assert get(control + query)[0] == 405  # GET changes nothing
    bad = urllib.parse.urlencode({"url": post["url"], "countries": "Germany"})
    status, _, body = get(control + bad, method="POST")
    assert status == 400 and b"GERMANY" in body
    unknown = urllib.parse.urlencode({"url": f"{sb.base_url}/pages/nope", "countries": "DE"})
    assert get(control + unknown, method="POST")[0] == 400


@pytest.mark.parametrize("header", ["de", "DEU", "", "D", "<script>", "ÄÖ"])
def test_a_malformed_country_header_is_no_country(sb: Sandbox, header: str) -> None:
    post = first(sb, "webpage")
    sb.withhold(post["url"], ["DE"])
    expected = 451 if header == "de" else 200  # case aside, only a two-letter code counts
    request = urllib.request.Request(post["url"], headers={"X-Sandbox-Country": header})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == expected


def test_the_country_can_come_from_the_source_port(sb: Sandbox) -> None:
    post = first(sb, "webpage")
    sb.withhold(post["url"], ["KE"])
    sb.locate = lambda client: "KE"
    assert get(post["url"])[0] == 451
    assert get(post["url"], "US")[0] == 200  # a header, when sent, wins
    sb.locate = lambda client: None
    assert get(post["url"])[0] == 200
