"""Telegram: keys, channel page walks, embed probes, notices, forwards and every block."""

from __future__ import annotations

from typing import Any

import pytest
from crawl_helpers import Answer, Driver, make_response, make_spider, routes
from scrapy.exceptions import DownloadTimeoutError
from scrapy.http import Request

from monitor.classify import classify_disappearance
from monitor.observation import Observation, Outcome, WorkItem
from monitor.platforms import PLATFORMS
from spiders.base import Job
from spiders.telegram import spider as tg
from spiders.telegram.answers import flood_wait
from spiders.telegram.parse import read_page
from spiders.telegram.platform import channel_name, post_ref, post_ref_of
from spiders.telegram.spider import TelegramSpider

BASE = "http://127.0.0.1:8765/telegram"
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture(autouse=True)
def _no_forwards() -> Any:
    tg.FORWARDS.clear()
    yield
    tg.FORWARDS.clear()


def page(name: str, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return (status, f"telegram/{name}", headers or HTML)


def listing(channel: str = "durov", base: str = BASE) -> WorkItem:
    return WorkItem(mode="listing", platform="telegram", target_key=f"telegram:channel:{channel}",
                    url=channel, base_url=base, row_id=1)


def probe(key: str = "durov/345", known: dict[str, Any] | None = None) -> WorkItem:
    return WorkItem(mode="probe", platform="telegram", target_key="telegram:channel:durov",
                    url=f"{BASE}/{key}?embed=1&mode=tme", base_url=BASE, post_key=key,
                    row_id=2, known=known or {})


def run(item: WorkItem, table: dict[str, Answer], **settings: Any) -> Observation:
    driver = Driver(make_spider(TelegramSpider, **settings))
    return driver.run(item, routes(table))[0]


def redirected(item: WorkItem, final: str, fixture_name: str) -> Observation:
    """The first request answered by ``fixture_name`` at ``final`` (a followed redirect)."""
    spider = make_spider(TelegramSpider)
    job = Job(item)
    spider._open.add(job)
    out = list(spider._guard(job, None, lambda: spider._first(job)))
    request = out[0]
    assert isinstance(request, Request)
    response = make_response(request, 200, f"telegram/{fixture_name}", HTML, url=final)
    assert request.callback is not None
    result = [o for o in request.callback(response) if isinstance(o, Observation)]
    assert len(result) == 1
    return result[0]


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://t.me/durov/345", "https://t.me/s/durov/345",
                                 "https://telegram.me/Durov/345", "http://127.0.0.1:1/telegram/DUROV/345"])
def test_every_spelling_of_a_post_is_one_key(url: str) -> None:
    assert post_ref(url, None)[0] == "durov/345"
    assert post_ref(url, BASE)[1] == f"{BASE}/durov/345?embed=1&mode=tme"


@pytest.mark.parametrize("value", ["@Durov", "durov", "https://t.me/s/durov", "t.me/durov",
                                   "https://telegram.me/DUROV/"])
def test_every_spelling_of_a_channel_is_one_target(value: str) -> None:
    assert channel_name(value) == "durov"
    assert PLATFORMS["telegram"].kinds["channel"].identity(value, None)[0] == "durov"


@pytest.mark.parametrize("value", ["https://t.me/joinchat/AAAA", "a b", "@ab", "https://t.me/",
                                   "https://t.me/s/", "x" * 40, "https://t.me/durov/abc"])
def test_a_bad_channel_says_what_to_write(value: str) -> None:
    with pytest.raises(ValueError, match="username"):
        PLATFORMS["telegram"].kinds["channel"].check(value, False)


@pytest.mark.parametrize("value", ["https://t.me/durov", "https://t.me/s/durov/0",
                                   "https://t.me/joinchat/12", "https://t.me/durov/" + "9" * 13])
def test_a_bad_post_url_says_what_to_write(value: str) -> None:
    assert post_ref_of(value) is None
    with pytest.raises(ValueError, match="t.me/<channel>/<id>"):
        PLATFORMS["telegram"].kinds["post"].check(value, False)


# --- channel pages -------------------------------------------------------------------------


def test_a_channel_page_lists_messages_newest_first_with_their_fields() -> None:
    obs = run(listing(), {"before=340": page("channel_oldest_page.html"),
                          "/s/durov": page("channel_page.html")})
    assert obs.outcome is Outcome.OK and obs.complete
    keys = [e.key for e in obs.entries or []]
    assert keys == ["durov/345", "durov/343", "durov/340", "durov/2", "durov/1"]
    latest = (obs.entries or [])[0]
    assert latest.extra["edited"] is True and latest.extra["channel"] == "Durov"
    assert latest.text.startswith("Hello <b>world</b>") and "forwarded" not in latest.text
    assert latest.links == ["https://example.org"]
    assert latest.counters == {"views": "1.2M"}
    assert latest.media == ["https://t.me/durov/345?single"]
    assert latest.url == f"{BASE}/Durov/345"
    assert latest.published_at is not None and latest.published_at.isoformat().startswith(
        "2026-05-01T10:00")
    # "Please open Telegram" is the preview's limit, not a restriction.
    unsupported = (obs.entries or [])[1]
    assert unsupported.extra["unsupported"].startswith("Please open Telegram")
    assert not unsupported.extra["edited"]
    # The copyright label is a tombstone with its notice, never an entry.
    assert [t[0] for t in obs.tombstones] == ["durov/342"]
    assert obs.tombstones[0][1]["notice"] == "removed_copyright"
    assert obs.signals["listing_end"] is True
    assert obs.signals["id_gaps"] == 337 + 3  # 3..339, and 341, 342 (a tombstone), 344


def test_a_walk_cut_by_max_pages_is_a_window() -> None:
    obs = run(listing(), {"/s/durov": page("channel_page.html")}, TELEGRAM_MAX_PAGES=1)
    assert obs.outcome is Outcome.OK and obs.signals["listing_end"] is False


@pytest.mark.parametrize("failure", [DownloadTimeoutError("slow"), page("flood_wait.html"),
                                     (503, "<html>down</html>", HTML)])
def test_a_later_page_that_fails_gives_a_partial_listing(failure: Answer) -> None:
    obs = run(listing(), {"before=340": failure, "/s/durov": page("channel_page.html")})
    assert obs.outcome is Outcome.OK and not obs.complete
    assert obs.signals["listing_end"] is False and len(obs.entries or []) == 3


def test_a_cursor_that_does_not_move_ends_the_walk() -> None:
    html = (b'<div class="tgme_channel_info"></div><a class="tme_messages_more" '
            b'data-before="999"></a><div class="tgme_widget_message" data-post="durov/5">'
            b'<div class="tgme_widget_message_text">x</div></div>')
    driver = Driver(make_spider(TelegramSpider))
    obs = driver.run(listing(), routes({"/s/durov": (200, html, HTML)}))[0]
    assert len(driver.requests) == 1 and obs.signals["listing_end"] is False


def test_an_empty_channel_vouches_for_nothing() -> None:
    html = b'<html><body><div class="tgme_channel_info"></div></body></html>'
    obs = run(listing(), {"/s/durov": (200, html, HTML)})
    assert obs.outcome is Outcome.OK and obs.entries == []
    assert obs.signals["listing_end"] is False


def test_one_bad_message_is_skipped_never_the_page() -> None:
    good = '<div class="tgme_widget_message" data-post="durov/{}"><div ' \
           'class="tgme_widget_message_text">ok {}</div></div>'
    html = ('<div class="tgme_channel_info"></div>' + good.format(1, 1)
            + '<div class="tgme_widget_message" data-post="durov/2"></div>'
            + '<div class="tgme_widget_message" data-post="durov/x' + "9" * 5000 + '"></div>'
            + '<div class="tgme_widget_message" data-post="other/3"><div '
              'class="tgme_widget_message_text">not ours</div></div>'
            + good.format(4, 4))
    obs = run(listing(), {"/s/durov": (200, html.encode(), HTML)})
    assert [e.key for e in obs.entries or []] == ["durov/4", "durov/1"]
    assert obs.signals["skipped_entries"] == 3
    assert obs.signals["skipped_keys"] == ["durov/2", "other/3"]


def test_hostile_html_is_read_in_bounded_time() -> None:
    html = "<div class='tgme_channel_info'>" + "<div>" * 20_000 + "&" * 100_000
    assert read_page(html, BASE, "durov").entries == []
    assert read_page("", BASE).is_preview is False
    huge = b"<html>" + b"x" * (5 * 1024 * 1024)
    assert run(listing(), {"/s/durov": (200, huge, HTML)}).outcome is Outcome.TOO_LARGE


@pytest.mark.parametrize("body", [b"", b"<html><body>nothing here</body></html>",
                                  b'{"ok": true}', b"\xff\xfe\x00garbage"])
def test_a_page_that_is_no_preview_is_malformed(body: bytes) -> None:
    obs = run(listing(), {"/s/durov": (200, body, HTML)})
    assert obs.outcome is Outcome.MALFORMED


# --- channel notices and the redirect ------------------------------------------------------


@pytest.mark.parametrize(("fixture_name", "notice", "cause", "detail"), [
    ("plain_tos.html", "removed_violation", "removed_by_platform", "policy"),
    ("plain_porn.html", "removed_violation", "removed_by_platform", "policy"),
    ("plain_copyright.html", "removed_copyright", "removed_by_platform", "copyright"),
    ("plain_local_laws.html", "geo_blocked", "geo_blocked", None),
])
def test_a_blocked_channel_says_why(fixture_name: str, notice: str, cause: str,
                                    detail: str | None) -> None:
    obs = redirected(listing("blockedchan"), f"{BASE}/blockedchan", fixture_name)
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == notice
    assert obs.message and "channel" in obs.message
    verdict = classify_disappearance("telegram", [{"outcome": obs.outcome.value,
                                                   "signals": obs.signals}])
    assert (verdict.cause, verdict.detail) == (cause, detail)


def test_the_redirect_without_a_notice_decides_nothing() -> None:
    obs = redirected(listing(), f"{BASE}/durov", "plain_no_preview.html")
    assert obs.outcome is Outcome.UNAVAILABLE
    assert obs.signals == {"fingerprint": "telegram.url.no_preview",
                           "notice": "content_unavailable"}
    verdict = classify_disappearance("telegram", [{"outcome": "unavailable",
                                                   "signals": obs.signals}])
    assert verdict.cause == "ambiguous" and "deleted_by_author" not in verdict.candidates


def test_the_plain_page_of_another_host_is_not_the_redirect() -> None:
    obs = redirected(listing(), "https://elsewhere.example/durov", "plain_no_preview.html")
    assert obs.outcome is Outcome.MALFORMED


# --- probes ------------------------------------------------------------------------------


def test_a_live_message_is_ok() -> None:
    obs = run(probe(), {"/durov/345?embed=1": page("embed_ok.html")})
    assert obs.outcome is Outcome.OK and obs.post is not None
    assert obs.post.key == "durov/345" and obs.post.text == "Hello <b>world</b>"


def test_post_not_found_is_ambiguous_between_the_admins_and_telegram() -> None:
    obs = run(probe(), {"/durov/345": page("embed_not_found.html")})
    assert obs.outcome is Outcome.NOT_FOUND and obs.signals["notice"] == "not_found"
    assert obs.signals["fingerprint"] == "telegram.text.post_not_found"
    verdict = classify_disappearance("telegram", [{"outcome": "not_found",
                                                   "signals": obs.signals}])
    assert verdict.cause == "ambiguous"
    assert sorted(verdict.candidates) == ["deleted_by_author", "removed_by_platform"]


def test_a_blocked_channel_s_message_says_the_channel_notice() -> None:
    obs = run(probe(), {"/durov/345": page("embed_channel_blocked.html")})
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == "removed_violation"


def test_a_message_withheld_in_a_country_is_geo_blocked() -> None:
    obs = run(probe("durov/342"), {"/durov/342": page("embed_copyright.html")})
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == "geo_blocked"


def test_an_embed_of_another_message_is_malformed() -> None:
    obs = run(probe("durov/999"), {"/durov/999": page("embed_ok.html")})
    assert obs.outcome is Outcome.MALFORMED


def test_a_probe_needs_a_post() -> None:
    item = WorkItem(mode="probe", platform="telegram", target_key="t", url="durov",
                    base_url=BASE)
    assert run(item, {}).outcome is Outcome.MALFORMED


# --- forwards ----------------------------------------------------------------------------


def test_a_forward_links_its_original_and_the_original_s_probe_shows_it() -> None:
    obs = run(listing(), {"/s/durov": page("channel_page.html")}, TELEGRAM_MAX_PAGES=1)
    forward = next(e for e in obs.entries or [] if e.key == "durov/340")
    assert forward.extra["forward_of"]["key"] == "telegram/123"
    assert forward.extra["forward_of"]["url"] == f"{BASE}/telegram/123"
    gone = run(probe("telegram/123"), {"/telegram/123": page("embed_not_found.html")})
    assert gone.signals["forwarded_in"] == [{"key": "durov/340",
                                             "url": f"{BASE}/Durov/340"}]


def test_the_original_s_entry_carries_its_forwards_in_extra() -> None:
    tg.remember_forward("durov/345", "other/9", f"{BASE}/other/9")
    obs = run(listing(), {"/s/durov": page("channel_page.html")}, TELEGRAM_MAX_PAGES=1)
    entry = next(e for e in obs.entries or [] if e.key == "durov/345")
    assert entry.extra["forwarded_in"] == [{"key": "other/9", "url": f"{BASE}/other/9"}]


def test_forwards_known_from_an_earlier_process_reach_the_evidence() -> None:
    known = {"forwarded_in": [{"key": "x/1", "url": "u"}, "junk", {"key": 5}]}
    obs = run(probe(known=known), {"/durov/345": page("embed_not_found.html")})
    assert obs.signals["forwarded_in"] == [{"key": "x/1", "url": "u"}]


def test_the_forward_registry_is_bounded() -> None:
    for i in range(tg.MAX_ORIGINALS + 5):
        tg.remember_forward(f"a/{i}", "b/1", "u")
    for i in range(tg.MAX_FORWARDS + 5):
        tg.remember_forward("a/last", f"b/{i}", "u")
    assert len(tg.FORWARDS) == tg.MAX_ORIGINALS and "a/0" not in tg.FORWARDS
    assert len(tg.FORWARDS["a/last"]) == tg.MAX_FORWARDS


# --- the collector, never the content ------------------------------------------------------


@pytest.mark.parametrize(("answer", "outcome", "fingerprint"), [
    (page("flood_wait.html"), Outcome.COLLECTOR_BLOCKED, "telegram.body.flood_wait"),
    (page("flood_wait_api.html"), Outcome.COLLECTOR_BLOCKED, "telegram.body.flood_wait"),
    ((429, "<html>slow down</html>", {**HTML, "Retry-After": "30"}), Outcome.RATE_LIMITED,
     "telegram.status.too_many_requests"),
])
def test_every_block_is_about_the_collector(answer: Answer, outcome: Outcome,
                                            fingerprint: str) -> None:
    for item in (listing(), probe()):
        obs = run(item, {"/": answer})
        assert obs.outcome is outcome and obs.outcome.transient
        assert "notice" not in obs.signals


def test_a_flood_wait_page_pauses_the_host() -> None:
    obs = run(probe(), {"/": page("flood_wait.html")})
    assert obs.signals["retry_after"] == 7
    assert flood_wait("Too Many Requests: retry after 99999999") is None
    assert flood_wait("no number") is None


def test_a_429_keeps_its_retry_after() -> None:
    obs = run(probe(), {"/": (429, "x", {**HTML, "Retry-After": "30"})})
    assert obs.signals["retry_after"] == 30


def test_a_message_quoting_a_flood_page_is_content() -> None:
    html = ('<div class="tgme_channel_info"></div><div class="tgme_widget_message" '
            'data-post="durov/5"><div class="tgme_widget_message_text">FLOOD_WAIT_5 and '
            "Post not found and This channel can't be displayed because it violated "
            "Telegram's Terms of Service.</div></div>")
    obs = run(listing(), {"/s/durov": (200, html.encode(), HTML)})
    assert obs.outcome is Outcome.OK and [e.key for e in obs.entries or []] == ["durov/5"]
    assert obs.tombstones == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(status: int) -> None:
    assert run(probe(), {"/": (status, "x", HTML)}).outcome is Outcome.SERVER_ERROR


def test_huge_fields_are_capped() -> None:
    text = "word " * 40_000
    html = ('<div class="tgme_channel_info"></div><div class="tgme_widget_message" '
            f'data-post="durov/7"><div class="tgme_widget_message_text">{text}</div>'
            f'<span class="tgme_widget_message_views">{"9" * 500}</span>'
            '<span class="tgme_widget_message_meta">edited<a class="tgme_widget_message_date">'
            f'<time datetime="{"2" * 500}"></time></a></span></div>')
    obs = run(listing(), {"/s/durov": (200, html.encode(), HTML)})
    [entry] = obs.entries or []
    assert len(entry.text) <= 64 * 1024 and len(str(entry.counters["views"])) <= 20
    assert entry.published_at is None and entry.extra["edited"] is True
    # No link to older messages: the walk reached the channel's first message.
    assert obs.signals["listing_end"] is True
