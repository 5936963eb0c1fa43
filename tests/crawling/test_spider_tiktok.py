"""TikTok: keys, oEmbed then the video page, profiles, and every collector block."""

from __future__ import annotations

import json
from typing import Any

import pytest
from crawl_helpers import Answer, fixture, make_response, routes
from scrapy.exceptions import DownloadTimeoutError

from monitor.classify import classify_disappearance
from monitor.observation import Outcome, WorkItem
from spiders.base import Job
from spiders.tiktok.parse import HydrationError, hydration, item_post, oembed_post, when
from spiders.tiktok.platform import PLATFORM, account_user, post_ref, video_ref
from spiders.tiktok.spider import TikTokSpider

BASE = "http://127.0.0.1:8765/tiktok"
VID = "6718335390845095173"
JSON = {"Content-Type": "application/json; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
PAGE = f"{BASE}/@scout2015/video/{VID}"


def ok(name: str, status: int = 200) -> tuple[int, str, dict[str, str]]:
    return (status, f"tiktok/{name}", JSON if name.endswith(".json") else HTML)


def probe(url: str = PAGE) -> WorkItem:
    return WorkItem(mode="probe", platform="tiktok", target_key="tiktok:account:scout2015",
                    url=url, base_url=BASE, post_key=VID, row_id=5)


def listing(value: str = "scout2015") -> WorkItem:
    return WorkItem(mode="listing", platform="tiktok", target_key=f"tiktok:account:{value}",
                    url=value, base_url=BASE, row_id=2)


def page_after_oembed_error(page: Answer) -> Any:
    return routes({"/oembed?": ok("oembed_error.json", 400), "/video/": page})


def verdict(obs: Any) -> Any:
    return classify_disappearance("tiktok", [{"outcome": obs.outcome.value,
                                              "signals": obs.signals, "at": "t"}])


# --- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    f"https://www.tiktok.com/@scout2015/video/{VID}",
    f"https://www.tiktok.com/@Scout2015/video/{VID}?is_from_webapp=1&sender_device=pc",
    f"https://www.tiktok.com/embed/v2/{VID}", f"https://www.tiktok.com/embed/{VID}",
    f"https://m.tiktok.com/v/{VID}".replace("/v/", "/video/"),
    f"http://127.0.0.1:8000/mirror/tiktok/@scout2015/video/{VID}/",
])
def test_every_spelling_of_a_video_is_one_key(url: str) -> None:
    kind = PLATFORM.kinds["post"]
    assert kind.check(url, False)[0] == url.strip()
    assert kind.identity(url, None)[0] == VID
    key, probe_url = post_ref(url, "http://127.0.0.1:8000/mirror/tiktok")
    assert key == VID and probe_url.startswith("http://127.0.0.1:8000/mirror/tiktok/@")
    assert probe_url.endswith(f"/video/{VID}")


def test_a_short_link_is_refused_with_what_to_write() -> None:
    with pytest.raises(ValueError, match="short link.*copy the address"):
        PLATFORM.kinds["post"].check("https://vm.tiktok.com/ZMabc123/", False)
    with pytest.raises(ValueError):
        post_ref("https://vm.tiktok.com/ZMabc123/", None)


@pytest.mark.parametrize("bad", [
    "https://www.tiktok.com/@scout2015", "https://www.tiktok.com/@u/video/",
    "https://www.tiktok.com/@u/video/12ab", "https://www.tiktok.com/@u/video/" + "9" * 400,
    "https://www.tiktok.com/@u/photo/123", "not a url", "https://www.tiktok.com/tag/123"])
def test_a_non_video_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        PLATFORM.kinds["post"].check(bad, False)


def test_accounts_are_unique_ids_however_written() -> None:
    account = PLATFORM.kinds["account"]
    for value in ("scout2015", "@Scout2015", " @scout2015 ", "https://www.tiktok.com/@scout2015",
                  "https://www.tiktok.com/@scout2015/?lang=en"):
        assert account.check(value, False)[0] == "scout2015"
        assert account.identity(value, None)[0] == "scout2015"
    for bad in ("a", "no spaces", "x" * 25, "https://www.tiktok.com/scout2015", "@bad/slash",
                "https://vm.tiktok.com/@ZMabc"):
        with pytest.raises(ValueError):
            account.check(bad, False)
    assert account_user(f"https://www.tiktok.com/@u/video/{VID}") is None
    assert video_ref(f"https://www.tiktok.com/@scout2015/video/{VID}") == (VID, "scout2015")


# --- probes: oEmbed first --------------------------------------------------------------


def test_oembed_with_html_naming_the_video_is_served(driver_for) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), routes({"/oembed?": ok("oembed_ok.json")}))
    assert [r.url for r in driver.requests] == [
        f"{BASE}/oembed?url=http%3A%2F%2F127.0.0.1%3A8765%2Ftiktok%2F%40scout2015%2Fvideo%2F{VID}"]
    assert obs.outcome is Outcome.OK and obs.post is not None
    assert obs.post.key == VID and obs.post.author == "scout2015"
    assert obs.post.text.startswith("Scramble up ur name")
    assert obs.signals["oembed_status"] == 200


@pytest.mark.parametrize("answer", [ok("oembed_error.json", 400), ok("oembed_error.json", 404),
                                    ok("oembed_no_html.json"), (200, "not json {", JSON)])
def test_an_oembed_failure_alone_is_no_verdict_the_page_decides(driver_for, answer) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), routes({"/oembed?": answer, "/video/": ok("video_ok.html")}))
    assert [r.url for r in driver.requests][-1] == PAGE
    # The page serves it (embedding may be off): served, not gone.
    assert obs.outcome is Outcome.OK and obs.post is not None and obs.post.key == VID
    assert obs.post.counters["playCount"] == 1200000
    assert obs.post.published_at is not None and obs.post.published_at.year == 2019


def test_oembed_html_for_another_video_is_not_this_one(driver_for) -> None:
    other = json.loads(fixture("tiktok/oembed_ok.json"))
    other["html"] = other["html"].replace(VID, "1" * 19)
    assert oembed_post(other, VID, BASE) is None
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), routes({"/oembed?": (200, json.dumps(other), JSON),
                                         "/video/": ok("video_private_10216.html")}))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == "private"


@pytest.mark.parametrize(("answer", "outcome"), [
    ((429, "", {"Retry-After": "120"}), Outcome.RATE_LIMITED),
    ((503, "", {}), Outcome.SERVER_ERROR),
    (DownloadTimeoutError("took too long"), Outcome.TIMEOUT),
])
def test_a_transient_oembed_answer_ends_the_check(driver_for, answer, outcome) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), routes({"/oembed?": answer}))
    assert obs.outcome is outcome and len(driver.requests) == 1
    if outcome is Outcome.RATE_LIMITED:
        assert obs.signals["retry_after"] == 120


def test_tiktok_oembed_off_reads_the_page_straight(driver_for) -> None:
    driver = driver_for(TikTokSpider, TIKTOK_OEMBED=False)
    (obs,) = driver.run(probe(), routes({"/video/": ok("video_ok.html")}))
    assert [r.url for r in driver.requests] == [PAGE] and obs.outcome is Outcome.OK


# --- the video page's words ------------------------------------------------------------


@pytest.mark.parametrize(("name", "outcome", "notice", "fingerprint", "cause"), [
    ("video_private_10216.html", Outcome.UNAVAILABLE, "private",
     "tiktok.code.private_post_10216", "hidden_by_author"),
    ("video_private_account_10222.html", Outcome.UNAVAILABLE, "private",
     "tiktok.code.private_account_10222", "hidden_by_author"),
    ("video_classified.html", Outcome.UNAVAILABLE, "age_restricted",
     "tiktok.item.content_classified", "restricted"),
    ("video_violation.html", Outcome.UNAVAILABLE, "removed_violation",
     "tiktok.text.removed_violation", "removed_by_platform"),
    ("video_region.html", Outcome.UNAVAILABLE, "geo_blocked", "tiktok.text.region",
     "geo_blocked"),
    ("video_deleted.html", Outcome.UNAVAILABLE, "deleted",
     "tiktok.text.video_unavailable_deleted", "ambiguous"),
    ("video_unknown_100004.html", Outcome.UNAVAILABLE, "content_unavailable",
     "tiktok.code.unknown_100004", "ambiguous"),
    ("video_not_available.html", Outcome.NOT_FOUND, "not_found",
     "tiktok.text.video_currently_unavailable", "ambiguous"),
])
def test_each_page_signal_decides_its_cause(driver_for, name, outcome, notice, fingerprint,
                                            cause) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), page_after_oembed_error(ok(name)))
    assert (obs.outcome, obs.signals["notice"], obs.signals["fingerprint"]) == (
        outcome, notice, fingerprint)
    assert obs.signals["oembed_status"] == 400 and obs.final_url == PAGE
    assert verdict(obs).cause == cause


def test_a_bare_other_code_is_deleted_or_removed(driver_for) -> None:
    html = fixture("tiktok/video_not_available.html").replace(
        b"Video currently unavailable", b"Nothing here")
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), page_after_oembed_error((200, html, HTML)))
    assert obs.outcome is Outcome.NOT_FOUND
    assert obs.signals["fingerprint"] == "tiktok.code.not_available"
    assert obs.signals["error_code"] == "10217"
    v = verdict(obs)
    assert v.cause == "ambiguous" and v.candidates == ["deleted_by_author", "removed_by_platform"]


def test_a_caption_never_speaks_for_the_platform(driver_for) -> None:
    """A served video whose caption says "not available in your region" is served."""
    html = fixture("tiktok/video_ok.html").replace(
        b"Scramble up ur name", b"This video is not available in your region. Scramble")
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), page_after_oembed_error((200, html, HTML)))
    assert obs.outcome is Outcome.OK


# --- collector blocks: never a verdict -------------------------------------------------


@pytest.mark.parametrize(("answer", "fingerprint"), [
    (ok("video_blocked_10204.html"), "tiktok.code.ip_blocked_10204"),
    (ok("captcha.html"), "tiktok.title.security_check"),
    (ok("no_hydration.html"), "tiktok.page.no_hydration"),
    (ok("video_empty_shell.html"), "tiktok.page.no_hydration"),
    (ok("video_ok.html", 403), "tiktok.status.forbidden_403"),
    ((200, "", HTML), "tiktok.page.no_hydration"),
])
def test_every_block_is_collector_blocked_never_geo(driver_for, answer, fingerprint) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), page_after_oembed_error(answer))
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED, obs
    assert obs.signals["fingerprint"] == fingerprint
    assert "notice" not in obs.signals and obs.outcome.transient and not obs.outcome.absent


def test_a_login_wall_redirect_is_a_block(driver_for) -> None:
    spider = driver_for(TikTokSpider).spider
    job = Job(probe())
    (request,) = list(spider.start_job(job))
    oembed = make_response(request, 200, "tiktok/no_hydration.html", HTML)
    (page_request,) = list(request.callback(oembed))  # HTML, not oEmbed JSON: read the page
    assert page_request.url == PAGE
    page = make_response(page_request, 200, "tiktok/video_ok.html", HTML,
                         url=f"{BASE}/login?redirect_url=x")
    (obs,) = list(page_request.callback(page))
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED
    assert obs.signals["fingerprint"] == "tiktok.url.login_wall"


@pytest.mark.parametrize(("answer", "outcome"), [
    (ok("video_private_10216.html", 404), Outcome.UNAVAILABLE),  # the words decide
    (ok("video_ok.html", 404), Outcome.MALFORMED),  # an item with a 404: contradictory
    (ok("no_hydration.html", 404), Outcome.COLLECTOR_BLOCKED),
    (ok("video_region.html", 410), Outcome.UNAVAILABLE),
])
def test_a_non_2xx_page_is_read_for_its_words_only(driver_for, answer, outcome) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), page_after_oembed_error(answer))
    assert obs.outcome is outcome


@pytest.mark.parametrize("body", [
    fixture("tiktok/video_bad_json.html"),
    b'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">[1, 2]</script>',
    b'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">'
    + b"[" * 100_000 + b"]" * 100_000 + b"</script>",
    b'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{"a": "'
    + b"x" * (3 * 1024 * 1024) + b'"}</script>',
    b'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__"',
])
def test_hostile_hydration_is_malformed_not_a_verdict(driver_for, body: bytes) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), page_after_oembed_error((200, body, HTML)))
    assert obs.outcome is Outcome.MALFORMED and obs.outcome.transient


def test_wrong_types_in_the_item_read_as_absent() -> None:
    assert item_post({"id": 12.5}, BASE) is None
    assert item_post({"id": "x" * 30}, BASE) is None
    post = item_post({"id": VID, "desc": ["list"], "author": "str", "stats": {"playCount": "9"},
                      "createTime": "9" * 50}, BASE)
    assert post is not None and post.text == "" and post.author is None
    assert post.counters == {"playCount": 9} and post.published_at is None
    assert when("1564142110") is not None and when(-5) is None and when(True) is None
    with pytest.raises(HydrationError):
        hydration('<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">"just a string"</script>')
    assert hydration("<html>no script</html>") is None


def test_a_page_item_for_another_video_is_malformed(driver_for) -> None:
    html = fixture("tiktok/video_ok.html").replace(VID.encode(), b"1" * 19)
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(), page_after_oembed_error((200, html, HTML)))
    assert obs.outcome is Outcome.MALFORMED


def test_a_post_target_s_listing_is_its_video(driver_for) -> None:
    driver = driver_for(TikTokSpider)
    item = WorkItem(mode="listing", platform="tiktok", target_key=f"tiktok:post:{VID}",
                    url=f"https://www.tiktok.com/embed/v2/{VID}", base_url=BASE)
    (obs,) = driver.run(item, routes({"/oembed?": ok("oembed_ok.json")}))
    assert obs.outcome is Outcome.OK and [e.key for e in obs.entries or []] == [VID]
    assert f"%2F%40%2Fvideo%2F{VID}" in driver.requests[0].url  # no author known: /@/video/


# --- profiles (account listings) -------------------------------------------------------


def test_a_profile_without_an_item_list_reads_the_account_only(driver_for) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(listing("@Scout2015"), routes({"/@scout2015": ok("profile_ok.html")}))
    assert [r.url for r in driver.requests] == [f"{BASE}/@scout2015"]
    assert obs.outcome is Outcome.OK and obs.entries == []
    assert obs.signals["item_list"] == "absent" and obs.signals["account_state"] == "normal"


def test_a_profile_item_list_is_a_window_and_bad_items_are_skipped(driver_for) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(listing(), routes({"/@scout2015": ok("profile_items.html")}))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == [VID, "6718335390845095174"]
    assert obs.signals["skipped_entries"] == 2 and "item_list" not in obs.signals
    assert not obs.signals.get("listing_end")
    assert obs.entries and obs.entries[0].url == PAGE
    driver = driver_for(TikTokSpider, TIKTOK_MAX_ITEMS=1)
    (obs,) = driver.run(listing(), routes({"/@scout2015": ok("profile_items.html")}))
    assert [e.key for e in obs.entries or []] == [VID] and obs.signals["skipped_entries"] == 2


def test_a_pinned_video_does_not_stretch_the_window(driver_for) -> None:
    html = fixture("tiktok/profile_items.html").replace(
        b'"isContentClassified": false}', b'"isContentClassified": false, "isPinnedItem": true}',
        1)
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(listing(), routes({"/@scout2015": (200, html, HTML)}))
    first, second = obs.entries or []
    assert first.extra["pinned"] and first.published_at is None
    assert second.published_at is not None and "pinned" not in second.extra


@pytest.mark.parametrize(("name", "outcome", "fingerprint", "cause"), [
    ("profile_private.html", Outcome.UNAVAILABLE, "tiktok.user.private_account",
     "hidden_by_author"),
    ("profile_private_10222.html", Outcome.UNAVAILABLE, "tiktok.user_code.private_10222",
     "hidden_by_author"),
    ("profile_gone.html", Outcome.NOT_FOUND, "tiktok.user_code.account_gone", "ambiguous"),
])
def test_the_account_s_state_is_read(driver_for, name, outcome, fingerprint, cause) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(listing(), routes({"/@scout2015": ok(name)}))
    assert obs.outcome is outcome and obs.signals["fingerprint"] == fingerprint
    v = verdict(obs)
    assert v.cause == cause
    if cause == "ambiguous":
        assert sorted(v.candidates) == ["account_deleted", "account_suspended"]


@pytest.mark.parametrize(("answer", "outcome"), [
    (ok("profile_blocked_10204.html"), Outcome.COLLECTOR_BLOCKED),
    (ok("captcha.html"), Outcome.COLLECTOR_BLOCKED),
    (ok("no_hydration.html"), Outcome.COLLECTOR_BLOCKED),
    (ok("profile_ok.html", 403), Outcome.COLLECTOR_BLOCKED),
    (ok("video_ok.html"), Outcome.COLLECTOR_BLOCKED),  # no user-detail at all
    ((429, "", {"Retry-After": "30"}), Outcome.RATE_LIMITED),
    ((502, "", {}), Outcome.SERVER_ERROR),
    (ok("profile_other_user.html"), Outcome.MALFORMED),
    (ok("profile_ok.html", 404), Outcome.MALFORMED),
    (ConnectionRefusedError("refused"), Outcome.CONNECTION_ERROR),
])
def test_a_profile_that_says_nothing_about_the_account_is_transient(driver_for, answer,
                                                                   outcome) -> None:
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(listing(), routes({"/@scout2015": answer}))
    assert obs.outcome is outcome and obs.outcome.transient
    assert "notice" not in obs.signals and obs.entries is None


# --- the sandbox fake, in process: it serves what the spider reads ------------------


def _fake_world(state: str, withheld: str | None = None) -> tuple[Any, Any]:
    from spiders.sandbox.fake import Account, Post, World
    from spiders.tiktok.fake import FAKE

    world = World(1, {"tiktok": FAKE}, clock=lambda: 1_700_000_000.0)
    world.add_owner("tiktok", "creator1", Account("tiktok", "creator1", "1", "Creator", "", 0.0,
                                                  10, 1))
    post = world.publish(Post("tiktok", VID, "creator1", "creator1", "", ["A walk."], None, [],
                              counters={"plays": 5, "likes": 1}), 0)
    post.state = state
    if withheld:
        world.withhold(post, {withheld})

    def answer(request: Any) -> Answer:
        from urllib.parse import parse_qsl, urlsplit

        parts = urlsplit(request.url)
        world.viewer = withheld
        try:
            found = FAKE.handle(world, "http://127.0.0.1:8765", parts.path,
                                dict(parse_qsl(parts.query)), {})
        finally:
            world.viewer = None
        assert found is not None, request.url
        return (found.status, found.body, dict(found.headers))
    return world, answer


@pytest.mark.parametrize(("state", "withheld", "outcome", "cause"), [
    ("live", None, Outcome.OK, None),
    ("deleted", None, Outcome.NOT_FOUND, "ambiguous"),
    ("removed_violation", None, Outcome.UNAVAILABLE, "removed_by_platform"),
    ("private", None, Outcome.UNAVAILABLE, "hidden_by_author"),
    ("age_restricted", None, Outcome.UNAVAILABLE, "restricted"),
    ("live", "DE", Outcome.UNAVAILABLE, "geo_blocked"),
])
def test_the_fake_serves_what_the_spider_reads(driver_for, state, withheld, outcome,
                                               cause) -> None:
    _, answer = _fake_world(state, withheld)
    driver = driver_for(TikTokSpider)
    (obs,) = driver.run(probe(f"{BASE}/@creator1/video/{VID}"), answer)
    assert obs.outcome is outcome
    if cause:
        assert verdict(obs).cause == cause
    else:
        assert obs.post is not None and obs.post.text == "A walk." and len(driver.requests) == 1
    (listed,) = driver_for(TikTokSpider).run(listing("creator1"), answer)
    assert listed.outcome is Outcome.OK
    assert [e.key for e in listed.entries or []] == ([VID] if outcome is Outcome.OK else [])
