"""X (Twitter), logged out: ids and keys, the syndication probe, the oEmbed confirmation,
every collector block and hostile answers."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest
from crawl_helpers import Answer, make_response, routes
from scrapy.exceptions import DownloadTimeoutError
from scrapy.http import Request

from monitor.classify import classify_disappearance
from monitor.observation import Outcome, WorkItem
from spiders.politeness import registry_for
from spiders.x.answers import MAX_RESET, read_syndication, withheld_countries
from spiders.x.platform import (
    BASE_URL,
    PLATFORM,
    check_account,
    check_post,
    post_identity,
    post_ref,
    status_id,
)
from spiders.x.spider import XSpider, syndication_token

BASE = "http://127.0.0.1:8765/x"
ID = "1900456789012345678"
JSON = {"Content-Type": "application/json; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def probe(post_id: str = ID, base: str = BASE) -> WorkItem:
    return WorkItem(mode="probe", platform="x", target_key=f"x:post:{post_id}",
                    url=f"{base}/cityreporter/status/{post_id}", base_url=base,
                    post_key=post_id, row_id=5)


def ok(name: str, status: int = 200) -> tuple[int, str, dict[str, str]]:
    return (status, f"x/{name}", HTML if name.endswith(".html") else JSON)


def x(syndication: Answer, oembed: Answer | None = None) -> Any:
    table: dict[str, Answer] = {"/tweet-result?": syndication}
    if oembed is not None:
        table["/oembed?"] = oembed
    return routes(table)


NOT_FOUND: Answer = (404, b"", JSON)
OEMBED_404: Answer = (404, b'{"error":"Not Found"}', JSON)


# --- ids and keys ------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    f"https://x.com/cityreporter/status/{ID}", f"https://twitter.com/cityreporter/status/{ID}",
    f"https://mobile.twitter.com/cityreporter/status/{ID}?s=20",
    f"https://x.com/i/web/status/{ID}", f"https://twitter.com/CityReporter/statuses/{ID}/",
    f"https://x.com/cityreporter/status/{ID}/photo/1", f"https://x.com/u/status/0{ID}#frag",
])
def test_every_spelling_of_a_post_is_one_key(url: str) -> None:
    assert check_post(url, False) == (url, None)
    assert post_identity(url, None) == (ID, None)
    key, probe_url = post_ref(url, None)
    assert key == ID
    assert probe_url == f"{BASE_URL}/tweet-result?id={ID}&lang=en"


def test_a_mirror_or_the_sandbox_implies_its_own_base() -> None:
    url = f"{BASE}/cityreporter/status/{ID}"
    assert check_post(url, False) == (url, BASE)
    assert post_identity(url, None) == (ID, BASE)
    assert post_ref(url, BASE)[1] == f"{BASE}/tweet-result?id={ID}&lang=en"


@pytest.mark.parametrize("url", [
    "https://x.com/cityreporter", "https://x.com/status/123", "https://x.com/u/status/abc",
    "https://x.com/u/status/", "https://x.com/u/status/000", "https://x.com/u/status/1" + "2" * 25,
    "https://x.com/u/status/١٢٣", "https://x.com/" + "a/" * 3000 + "status/1", "not a url",
])
def test_what_is_not_a_post_url_is_refused_with_what_to_write(url: str) -> None:
    with pytest.raises(ValueError, match="x.com/<user>/status|http"):
        check_post(url, False)
    assert status_id(url) is None


def test_accounts_are_refused_honestly_at_watchlist_check() -> None:
    with pytest.raises(ValueError, match="cannot be watched logged out") as exc:
        check_account("cityreporter", False)
    assert "post = " in str(exc.value)  # what to write instead
    assert PLATFORM.has_listing is False and "twitter" in PLATFORM.aliases
    with pytest.raises(ValueError, match="cannot be watched logged out"):
        check_account("https://x.com/cityreporter", False)
    with pytest.raises(ValueError, match="is not an X post URL"):
        check_account("https://x.com/cityreporter/status/abc", False)


def test_the_watchlist_refuses_an_account_target_and_takes_a_post() -> None:
    from monitor.watchlist import parse_watchlist

    good = parse_watchlist(f'[[groups.g.targets]]\nplatform = "twitter"\npost = '
                           f'"https://twitter.com/u/status/{ID}"\n')
    other = parse_watchlist(f'[[groups.g.targets]]\nplatform = "x"\npost = "https://x.com/i/web/status/{ID}"\n')
    assert good.targets[0].key == other.targets[0].key == f"x:post:{ID}"
    with pytest.raises(Exception, match="cannot be watched logged out"):
        parse_watchlist('[[groups.g.targets]]\nplatform = "x"\naccount = "cityreporter"\n')
    # A profile URL given as a post: the post check says what a post URL looks like.
    with pytest.raises(Exception, match="is not an X post URL"):
        parse_watchlist('[[groups.g.targets]]\nplatform = "x"\npost = "https://x.com/u"\n')


@pytest.mark.parametrize(("setting", "sent"), [("", None), ("4c2mmul6mnh", "4c2mmul6mnh"),
                                               ("  abc  ", "abc"), ("a&b=c", None),
                                               ("x" * 65, None)])
def test_the_token_parameter_comes_from_the_setting_only(driver_for: Any, setting: str,
                                                         sent: str | None) -> None:
    assert syndication_token(setting) == (sent or "")
    driver = driver_for(XSpider, X_SYNDICATION_TOKEN=setting)
    driver.run(probe(), x(ok("tweet.json")))
    url = driver.requests[0].url
    assert url.startswith(f"{BASE}/tweet-result?id={ID}")
    assert (f"&token={sent}" in url) if sent else ("token=" not in url)


# --- the post ------------------------------------------------------------------------


def test_a_served_post_is_read(driver_for: Any) -> None:
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x(ok("tweet.json")))
    assert obs.outcome is Outcome.OK and obs.post is not None
    post = obs.post
    assert post.key == ID and post.author == "cityreporter"
    assert post.text.startswith("Road closed") and post.links == ["https://example.org/report"]
    assert post.media == ["3_1900456700000000001"] and post.counters["favorite_count"] == 12
    assert post.published_at is not None and post.published_at.year == 2025
    assert post.url == f"{BASE}/cityreporter/status/{ID}"
    assert len(driver.requests) == 1  # a served post needs no second path


def test_a_listing_of_a_post_target_is_its_probe(driver_for: Any) -> None:
    item = probe()
    item.mode = "listing"
    [obs] = driver_for(XSpider).run(item, x(ok("tweet.json")))
    assert obs.outcome is Outcome.OK and obs.entries is not None and len(obs.entries) == 1


def test_the_probe_url_itself_is_read(driver_for: Any) -> None:
    item = probe()
    item.url, item.post_key = f"{BASE}/tweet-result?id={ID}&lang=en", None
    [obs] = driver_for(XSpider).run(item, x(ok("tweet.json")))
    assert obs.outcome is Outcome.OK


def test_an_item_without_a_post_id_is_malformed(driver_for: Any) -> None:
    item = probe()
    item.url, item.post_key = "https://x.com/cityreporter", "cityreporter"
    [obs] = driver_for(XSpider).run(item, x(ok("tweet.json")))
    assert obs.outcome is Outcome.MALFORMED and "not an X post" in (obs.detail or "")


# --- absences: confirmed by oEmbed -----------------------------------------------------

CONFIRMED = [
    ("tombstone_deleted.json", Outcome.UNAVAILABLE, "deleted_by_author", "deleted_by_author"),
    ("tombstone_deleted_tweet.json", Outcome.UNAVAILABLE, "deleted_by_author",
     "deleted_by_author"),
    ("tombstone_suspended.json", Outcome.UNAVAILABLE, "account_suspended", "account_suspended"),
    ("tombstone_account_gone.json", Outcome.UNAVAILABLE, "account_deleted", "account_deleted"),
    ("tombstone_violated.json", Outcome.UNAVAILABLE, "removed_violation", "removed_by_platform"),
    ("tombstone_violated_violence.json", Outcome.UNAVAILABLE, "removed_violation",
     "removed_by_platform"),
    ("tombstone_protected.json", Outcome.UNAVAILABLE, "private", "hidden_by_author"),
    ("tombstone_withheld.json", Outcome.UNAVAILABLE, "geo_blocked", "geo_blocked"),
    ("tombstone_withheld_law.json", Outcome.UNAVAILABLE, "geo_blocked", "geo_blocked"),
    ("tombstone_restricted.json", Outcome.UNAVAILABLE, "under_review", "restricted"),
    ("tombstone_age.json", Outcome.UNAVAILABLE, "age_restricted", "restricted"),
    ("tombstone_unavailable.json", Outcome.UNAVAILABLE, "content_unavailable", "ambiguous"),
    ("tombstone_page_missing.json", Outcome.NOT_FOUND, "not_found", "ambiguous"),
    ("unavailable.json", Outcome.UNAVAILABLE, "content_unavailable", "ambiguous"),
    ("unavailable_suspended.json", Outcome.UNAVAILABLE, "account_suspended",
     "account_suspended"),
    ("unavailable_protected.json", Outcome.UNAVAILABLE, "private", "hidden_by_author"),
    ("unavailable_nsfw.json", Outcome.UNAVAILABLE, "age_restricted", "restricted"),
]


@pytest.mark.parametrize(("name", "outcome", "notice", "cause"), CONFIRMED,
                         ids=[c[0] for c in CONFIRMED])
def test_an_absence_confirmed_by_oembed_decides_its_cause(driver_for: Any, name: str,
                                                          outcome: Outcome, notice: str,
                                                          cause: str) -> None:
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x(ok(name), OEMBED_404))
    assert obs.outcome is outcome and obs.signals["notice"] == notice
    assert obs.signals["oembed"] == "absent" and obs.signals["fingerprint"].startswith("x.")
    assert [f["name"] for f in obs.signals["followups"]] == ["oembed"]
    assert obs.http_status == 200 and obs.body_hash  # the syndication answer is the evidence
    assert "/oembed?url=" in driver.requests[1].url
    verdict = classify_disappearance("x", [{"outcome": obs.outcome.value,
                                            "signals": obs.signals, "message": obs.message}])
    assert verdict.cause == cause


def test_a_withheld_post_carries_its_countries() -> None:
    assert withheld_countries({}, "This Post from @a has been withheld in Germany in "
                              "response to a legal demand.") == ["Germany"]
    assert withheld_countries({"withheld_in_countries": ["DE", "TR", 3, None, "x" * 99]},
                              "") == ["DE", "TR"]
    assert withheld_countries({}, "withheld in response to nothing") == []
    assert withheld_countries({}, "has been withheld in " + "a" * 5000) == []


def test_the_withheld_country_is_in_the_evidence(driver_for: Any) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(ok("tombstone_withheld_law.json"), OEMBED_404))
    assert obs.signals["withheld_in_countries"] == ["Türkiye"]


def test_a_404_confirmed_by_oembed_is_not_found_by_whom_unknown(driver_for: Any) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(NOT_FOUND, OEMBED_404))
    assert obs.outcome is Outcome.NOT_FOUND and obs.signals["notice"] == "not_found"
    verdict = classify_disappearance("x", [{"outcome": "not_found", "signals": obs.signals}])
    assert verdict.cause == "ambiguous"
    assert sorted(verdict.candidates) == ["deleted_by_author", "removed_by_platform"]


def test_oembeds_not_authorized_says_more_than_unavailable(driver_for: Any) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(ok("tombstone_unavailable.json"),
                                               ok("oembed_not_authorized.json", 403)))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == "private"
    assert obs.signals["fingerprint"] == "x.oembed.not_authorized"


def test_a_specific_tombstone_is_not_overridden_by_oembed(driver_for: Any) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(ok("tombstone_violated.json"),
                                               ok("oembed_not_authorized.json", 403)))
    assert obs.signals["notice"] == "removed_violation"


# --- the embed's false tombstone, and an unconfirmed absence ----------------------------


@pytest.mark.parametrize("name", ["tombstone_deleted.json", "tombstone_unavailable.json",
                                  "unavailable.json"])
def test_a_tombstone_oembed_contradicts_decides_nothing(driver_for: Any, name: str) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(ok(name), ok("oembed.json")))
    assert obs.outcome is Outcome.MALFORMED and obs.outcome.transient
    assert "disagree" in (obs.detail or "") and obs.signals["oembed"] == "served"
    assert "notice" not in obs.signals and obs.signals["unconfirmed_notice"]


def test_a_404_oembed_contradicts_decides_nothing(driver_for: Any) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(NOT_FOUND, ok("oembed.json")))
    assert obs.outcome is Outcome.MALFORMED and "notice" not in obs.signals


@pytest.mark.parametrize("oembed", [
    DownloadTimeoutError("took too long"), (503, b"", HTML), (429, b"", JSON),
    ok("login_wall.html"), (200, b"{not json", JSON), (200, b'{"html": 5}', JSON),
    (403, b"", HTML), (400, b"", JSON),
], ids=["timeout", "503", "429", "login_wall", "bad_json", "wrong_type", "403", "400"])
def test_an_absence_oembed_cannot_confirm_stays_unconfirmed(driver_for: Any,
                                                            oembed: Answer) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(ok("tombstone_deleted.json"), oembed))
    assert obs.outcome is Outcome.MALFORMED and obs.outcome.transient
    assert obs.signals["followup_failed"] is True and "notice" not in obs.signals
    assert obs.signals["unconfirmed_notice"] == "deleted_by_author"


def test_the_public_interest_interstitial_is_no_absence(driver_for: Any) -> None:
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x(ok("tombstone_public_interest.json")))
    assert obs.outcome is Outcome.MALFORMED and "interstitial" in (obs.detail or "")
    assert len(driver.requests) == 1


def test_something_went_wrong_is_transient(driver_for: Any) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(ok("tombstone_something_wrong.json")))
    assert obs.outcome is Outcome.SERVER_ERROR


# --- collector blocks -----------------------------------------------------------------

BLOCKS = [
    (ok("login_wall.html"), "x.title.login_wall"),
    (ok("errors_bad_token.json"), "x.api.errors_envelope"),
    (ok("errors_bad_token.json", 400), "x.api.errors_envelope"),
    (ok("errors_guest_token.json", 403), "x.api.guest_token"),
    (ok("errors_code_only.json"), "x.api.errors_code"),
    ((403, b"<html><body>Forbidden</body></html>", HTML), "x.status.forbidden"),
]


@pytest.mark.parametrize(("answer", "rule"), BLOCKS,
                         ids=["login_wall", "bad_token", "bad_token_400", "guest_token",
                              "errors_code", "forbidden"])
def test_every_block_is_about_the_collector(driver_for: Any, answer: Answer,
                                            rule: str) -> None:
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x(answer))
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED and obs.outcome.blocked
    assert obs.signals["fingerprint"] == rule and "notice" not in obs.signals
    assert len(driver.requests) == 1  # a block is never confirmed, nor an absence


@pytest.mark.parametrize("final", ["https://x.com/i/flow/login?redirect_after_login=%2F",
                                   "https://twitter.com/login?redirect_after_login=%2F"])
def test_a_login_redirect_is_a_block(final: str) -> None:
    request = Request(f"{BASE}/tweet-result?id={ID}")
    response = make_response(request, 200, b"<html></html>", HTML, url=final)
    read = read_syndication(response)
    assert read.outcome is Outcome.COLLECTOR_BLOCKED
    assert read.signals["fingerprint"] in ("x.url.login_wall", "x.url.login_redirect")


def test_a_429_pauses_the_host_until_its_reset(driver_for: Any) -> None:
    reset = str(int(time.time()) + 120)
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x((429, "x/rate_limited.json",
                                   {**JSON, "x-rate-limit-remaining": "0",
                                    "x-rate-limit-reset": reset})))
    assert obs.outcome is Outcome.RATE_LIMITED and obs.signals["fingerprint"] == \
        "x.status.rate_limited"
    assert 100 <= obs.signals["retry_after"] <= 120
    assert registry_for(driver.spider.crawler).remaining("127.0.0.1:8765") > 100


@pytest.mark.parametrize("reset", ["nan", "-5", "1" * 30, "", "0"])
def test_a_hostile_reset_never_pauses_wildly(driver_for: Any, reset: str) -> None:
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x((429, b"", {**JSON, "x-rate-limit-reset": reset})))
    assert obs.outcome is Outcome.RATE_LIMITED
    assert obs.signals.get("retry_after", 0) <= MAX_RESET


def test_a_far_reset_is_capped(driver_for: Any) -> None:
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x((429, b"", {**JSON, "x-rate-limit-reset":
                                              str(int(time.time()) + 86_400)})))
    assert obs.signals["retry_after"] == int(MAX_RESET)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_transient(driver_for: Any, status: int) -> None:
    [obs] = driver_for(XSpider).run(probe(), x((status, b"oops", HTML)))
    assert obs.outcome is Outcome.SERVER_ERROR


def test_a_failed_download_is_its_outcome(driver_for: Any) -> None:
    [obs] = driver_for(XSpider).run(probe(), x(DownloadTimeoutError("slow")))
    assert obs.outcome is Outcome.TIMEOUT


# --- hostile answers ------------------------------------------------------------------

HOSTILE = [
    (200, b"{not json", JSON), (200, b"[1, 2, 3]", JSON), (200, b'"a string"', JSON),
    (200, b"[" * 100_000 + b"]" * 100_000, JSON), (200, b"", JSON),
    (200, b'{"a": "' + b"x" * (3 * 1024 * 1024) + b'"}', JSON),
    (200, json.dumps({"__typename": "Tweet", "id_str": "42", "text": "another post"}).encode(),
     JSON),
    (301, b"", JSON),
]


@pytest.mark.parametrize("answer", HOSTILE, ids=["bad_json", "array", "string", "deep",
                                                  "empty", "huge", "other_post", "redirect"])
def test_a_hostile_answer_is_malformed_never_absent(driver_for: Any, answer: Answer) -> None:
    driver = driver_for(XSpider)
    [obs] = driver.run(probe(), x(answer))
    assert obs.outcome is Outcome.MALFORMED
    assert len(driver.requests) == 1


def test_wrong_types_read_as_missing_fields(driver_for: Any) -> None:
    data = {"__typename": "Tweet", "id_str": ID, "text": ["not", "text"], "user": "someone",
            "mediaDetails": {"media_key": 1}, "entities": {"urls": [None, 3, {"expanded_url":
                                                                               7}]},
            "favorite_count": "many", "created_at": 12, "withheld_in_countries": "DE"}
    [obs] = driver_for(XSpider).run(probe(), x((200, json.dumps(data).encode(), JSON)))
    assert obs.outcome is Outcome.OK and obs.post is not None
    assert obs.post.text == "" and obs.post.author is None and obs.post.media == []
    assert obs.post.links == ["7"] and "favorite_count" not in obs.post.counters


def test_a_tombstone_with_odd_fields_is_still_confirmed(driver_for: Any) -> None:
    data = {"__typename": "TweetTombstone", "tombstone": {"text": ["x"]}}
    [obs] = driver_for(XSpider).run(probe(), x((200, json.dumps(data).encode(), JSON),
                                               OEMBED_404))
    assert obs.outcome is Outcome.UNAVAILABLE
    assert obs.signals["notice"] == "content_unavailable"


# --- the sandbox fake speaks what the spider reads ------------------------------------


def test_the_fake_serves_only_under_x_and_its_faults_are_blocks() -> None:
    from spiders.x.fake import FAKE

    assert FAKE.claims("/x/tweet-result") and FAKE.claims("/x/oembed")
    assert not FAKE.claims("/tweet-result") and not FAKE.claims("/status/1")
    request = Request(f"{BASE}/tweet-result?id={ID}")
    seen = set()
    for fault, pick in (("anti_bot", 0), ("anti_bot", 1), ("rate_limit", 0)):
        def choose(options: Sequence[int], pick: int = pick) -> int:
            return options[pick]
        shaped = FAKE.fault(fault, choose)
        assert shaped is not None
        response = make_response(request, shaped.status, shaped.body, dict(shaped.headers))
        read = read_syndication(response)
        assert read.outcome is (Outcome.RATE_LIMITED if fault == "rate_limit"
                                else Outcome.COLLECTOR_BLOCKED), fault
        seen.add(read.signals["fingerprint"])
    assert seen == {"x.title.login_wall", "x.api.guest_token", "x.status.rate_limited"}
    assert FAKE.fault("timeout", lambda options: options[0]) is None
