"""YouTube: ids, the uploads feed (a window), feed 404s and the channel page, oEmbed then
the watch page's playabilityStatus words, and every collector block."""

from __future__ import annotations

from typing import Any

import pytest
from crawl_helpers import Answer, fixture, routes
from scrapy.exceptions import DownloadTimeoutError

from monitor.classify import classify_disappearance
from monitor.observation import Outcome, WorkItem
from spiders.youtube.feed import parse_feed
from spiders.youtube.platform import PLATFORM, post_ref
from spiders.youtube.spider import YoutubeSpider
from spiders.youtube.watch import playability, player_response, read_playability

BASE = "http://127.0.0.1:8765/youtube"
CID = "UC_x5XG1OV2P6uZZ5FSM9Ttw"
VID = "CBzLIKfWpdg"
XML = {"Content-Type": "text/xml; charset=UTF-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json"}


def page(name: str, status: int = 200) -> tuple[int, str, dict[str, str]]:
    kind = XML if name.endswith(".xml") else JSON if name.endswith(".json") else HTML
    return (status, f"youtube/{name}", kind)


def channel() -> WorkItem:
    return WorkItem(mode="listing", platform="youtube", target_key=f"youtube:channel:{CID}",
                    url=CID, base_url=BASE, row_id=3)


def probe(vid: str = VID) -> WorkItem:
    return WorkItem(mode="probe", platform="youtube", target_key=f"youtube:channel:{CID}",
                    url=f"{BASE}/watch?v={vid}", base_url=BASE, post_key=vid, row_id=11)


def video_target() -> WorkItem:
    return WorkItem(mode="listing", platform="youtube", target_key=f"youtube:post:{VID}",
                    url=f"https://youtu.be/{VID}", base_url=BASE, row_id=4)


def run(driver_for: Any, item: WorkItem, table: dict[str, Answer], **settings: Any) -> Any:
    driver = driver_for(YoutubeSpider, YOUTUBE_BLOCK_PAUSE=0, **settings)
    (obs,) = driver.run(item, routes(table))
    return obs, [r.url for r in driver.requests]


# --- ids and URLs ---------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    f"https://www.youtube.com/watch?v={VID}", f"https://www.youtube.com/watch?feature=share&v={VID}",
    f"https://youtu.be/{VID}", f"https://www.youtube.com/shorts/{VID}",
    f"https://www.youtube.com/embed/{VID}", f"https://m.youtube.com/live/{VID}",
    f"http://127.0.0.1:8000/mirror/youtube/watch?v={VID}",
])
def test_every_spelling_of_a_video_is_one_key(url: str) -> None:
    kind = PLATFORM.kinds["post"]
    assert kind.identity(url, None)[0] == VID
    assert kind.check(url, False)[0].endswith(f"watch?v={VID}")
    assert post_ref(url, "http://127.0.0.1:8000/mirror/youtube") == (
        VID, f"http://127.0.0.1:8000/mirror/youtube/watch?v={VID}")


@pytest.mark.parametrize("bad", [
    "https://www.youtube.com/watch?v=short", f"https://www.youtube.com/watch?v={VID}x",
    f"https://www.youtube.com/watch?v={VID}&v={VID}", "https://youtu.be/",
    "https://www.youtube.com/channel/" + CID, "https://example.org/" + "a/" * 2000, "not a url",
])
def test_a_non_video_url_is_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(ValueError, match="video"):
        PLATFORM.kinds["post"].check(bad, False)


def test_channels_are_uc_ids_however_written_and_handles_are_refused() -> None:
    kind = PLATFORM.kinds["channel"]
    for value in (CID, f"https://www.youtube.com/channel/{CID}", f" {CID} ",
                  f"https://www.youtube.com/feeds/videos.xml?channel_id={CID}"):
        assert kind.check(value, False)[0] == CID
        assert kind.identity(value, None)[0] == CID
    with pytest.raises(ValueError, match="by its id"):
        kind.check("@GoogleDevelopers", False)
    with pytest.raises(ValueError, match="by its id"):
        kind.check("https://www.youtube.com/@GoogleDevelopers", False)
    with pytest.raises(ValueError, match="UC<22"):
        kind.check("UCshort", False)


# --- the uploads feed -----------------------------------------------------------------


def test_the_feed_lists_uploads_with_title_and_description_and_counters(driver_for) -> None:
    obs, urls = run(driver_for, channel(), {"feeds/videos.xml": page("feed_ok.xml")})
    assert urls == [f"{BASE}/feeds/videos.xml?channel_id={CID}"]
    assert obs.outcome is Outcome.OK and obs.mode == "listing"
    first, short = obs.entries
    assert first.key == VID and first.url == f"{BASE}/watch?v={VID}"
    assert first.title == "Gemma & friends: 1B downloads <live>"
    assert first.text == "What we shipped.\nLinks below."
    assert first.counters == {"views": 34567, "ratings": 1200}
    assert first.published_at is not None and first.published_at.year == 2026
    # ``updated`` moves without visible changes: never an edit marker.
    assert first.updated_at is None and first.extra["updated_raw"].startswith("2026-09-05")
    assert short.key == "dQw4w9WgXcQ" and short.title == "Shorts: a #short clip"
    # Two uploads where the window holds 15: the feed reached the oldest one.
    assert obs.signals["listing_end"] is True


def test_a_full_window_does_not_vouch_for_older_uploads(driver_for) -> None:
    obs, _ = run(driver_for, channel(), {"feeds/videos.xml": page("feed_ok.xml")},
                 YOUTUBE_FEED_WINDOW=2)
    assert obs.signals["listing_end"] is False


def test_another_channel_s_feed_decides_nothing(driver_for) -> None:
    body = fixture("youtube/feed_ok.xml").replace(b"<yt:channelId>_x5XG1OV2P6uZZ5FSM9Ttw<",
                                                  b"<yt:channelId>_y5XG1OV2P6uZZ5FSM9Ttw<")
    obs, _ = run(driver_for, channel(), {"feeds/videos.xml": (200, body, XML)})
    assert obs.outcome is Outcome.MALFORMED and obs.entries is None


def test_one_bad_entry_is_skipped_never_the_feed() -> None:
    feed = parse_feed(fixture("youtube/feed_bad_entries.xml"), BASE)
    keys = [e.key for e in feed.entries]
    # A huge view count is no counter; the entry stays.
    assert keys == ["BBBBBBBBBBB", "CCCCCCCCCCC"]
    assert feed.entries[0].counters == {"ratings": 1200}
    assert feed.skipped == 2 and feed.skipped_keys == ["AAAAAAAAAAA"]
    assert feed.signals() == {"skipped_entries": 2, "skipped_keys": ["AAAAAAAAAAA"]}


@pytest.mark.parametrize("body", [b"", b"<html><body>hi</body></html>", b"<feed><entry>",
                                  b"<rss><channel></channel></rss>", b"\xff\xfe<<<"])
def test_a_body_that_is_no_feed_is_malformed(driver_for, body: bytes) -> None:
    obs, _ = run(driver_for, channel(), {"feeds/videos.xml": (200, body, XML)})
    assert obs.outcome is Outcome.MALFORMED and obs.entries is None


def test_entities_are_not_expanded_and_an_anonymous_empty_feed_vouches_for_nothing(
        driver_for) -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b'<feed xmlns="http://www.w3.org/2005/Atom">&a;</feed>')
    obs, _ = run(driver_for, channel(), {"feeds/videos.xml": (200, body, XML)})
    assert obs.outcome is Outcome.OK and obs.entries == []
    assert obs.signals["listing_end"] is False


def test_an_empty_feed_of_a_named_channel_vouches_for_every_upload(driver_for) -> None:
    body = fixture("youtube/feed_ok.xml").split(b" <entry>")[0] + b"</feed>"
    obs, _ = run(driver_for, channel(), {"feeds/videos.xml": (200, body, XML)})
    assert obs.outcome is Outcome.OK and obs.entries == []
    assert obs.signals["listing_end"] is True


def test_a_feed_404_is_held_while_the_channel_page_says_nothing_about_the_account(
        driver_for) -> None:
    obs, urls = run(driver_for, channel(), {"feeds/videos.xml": page("error_404.html", 404),
                                            f"channel/{CID}": page("channel_ok.html")})
    assert urls[-1] == f"{BASE}/channel/{CID}"
    # The listing's own answer reaches the collector health as a listing not_found...
    assert obs.outcome is Outcome.NOT_FOUND and obs.mode == "listing"
    assert obs.http_status == 404 and obs.message == "Error 404 (Not Found)!!1"
    assert obs.signals["fingerprint"] == "youtube.text.google_error_page"
    # ...and no account state or notice: the channel page is served.
    assert "account_state" not in obs.signals and "notice" not in obs.signals
    assert "channel page is served" in (obs.detail or "")
    assert obs.signals["followups"][0]["name"] == "channel"


def test_a_feed_404_and_a_terminated_channel_page_is_the_account(driver_for) -> None:
    obs, _ = run(driver_for, channel(), {"feeds/videos.xml": page("error_404.html", 404),
                                         f"channel/{CID}": page("channel_terminated.html")})
    assert obs.outcome is Outcome.UNAVAILABLE
    assert obs.signals["notice"] == "account_suspended"
    assert obs.signals["account_state"] == "suspended"
    assert obs.signals["fingerprint"] == "youtube.text.channel_terminated"
    assert obs.http_status == 404  # the evidence is the feed's answer plus the page's words
    verdict = classify_disappearance("youtube", [{"outcome": "unavailable",
                                                  "signals": obs.signals}])
    assert verdict.cause == "account_suspended"


@pytest.mark.parametrize("answer", [page("bot_check_page.html"), page("error_500.html", 503),
                                    DownloadTimeoutError("took too long")])
def test_a_feed_404_whose_channel_check_fails_sets_no_account_state(driver_for,
                                                                    answer: Answer) -> None:
    obs, _ = run(driver_for, channel(), {"feeds/videos.xml": page("error_404.html", 404),
                                         f"channel/{CID}": answer})
    assert obs.outcome is Outcome.NOT_FOUND
    assert obs.signals["followup_failed"] is True and "account_state" not in obs.signals


@pytest.mark.parametrize(("status", "outcome"), [(500, Outcome.SERVER_ERROR),
                                                (429, Outcome.RATE_LIMITED),
                                                (403, Outcome.MALFORMED),
                                                (410, Outcome.MALFORMED)])
def test_any_other_feed_failure_is_transient_and_asks_nothing_more(driver_for, status: int,
                                                                   outcome: Outcome) -> None:
    obs, urls = run(driver_for, channel(), {"feeds/videos.xml": page("error_500.html", status)})
    assert obs.outcome is outcome and obs.outcome.transient and obs.mode == "listing"
    assert len(urls) == 1 and "account_state" not in obs.signals


# --- blocks -----------------------------------------------------------------------------


CONSENT = (302, b"", {"Location": "https://consent.youtube.com/m?continue=https%3A%2F%2F"
                                  "www.youtube.com%2Ffeeds&gl=DE"})


@pytest.mark.parametrize(("item", "answer", "fingerprint"), [
    (channel(), CONSENT, "youtube.redirect.consent_wall"),
    (channel(), page("bot_check_page.html"), "youtube.text.bot_check"),
    (channel(), page("bot_check_page.html", 404), "youtube.text.bot_check"),
    (probe(), CONSENT, "youtube.redirect.consent_wall"),
    (video_target(), page("watch_bot_check.html"), "youtube.text.bot_check"),
    (video_target(), page("watch_captcha.html"), "youtube.code.captcha"),
    (video_target(), page("watch_content_unavailable_curly.html"), "youtube.text.session_limit"),
    (video_target(), page("watch_content_unavailable_straight.html"),
     "youtube.text.session_limit"),
    (video_target(), page("bot_check_page.html"), "youtube.text.bot_check"),
])
def test_every_collector_block_is_collector_blocked(driver_for, item: WorkItem, answer: Answer,
                                                    fingerprint: str) -> None:
    obs, _ = run(driver_for, item, {"": answer})
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED, obs
    assert obs.signals["fingerprint"] == fingerprint
    assert "notice" not in obs.signals and not obs.outcome.absent


def test_both_apostrophes_of_content_isnt_available_are_blocks_and_not_removals() -> None:
    curly = fixture("youtube/watch_content_unavailable_curly.html").decode()
    assert "isn\u2019t" in curly
    straight = fixture("youtube/watch_content_unavailable_straight.html").decode()
    assert "isn't available, try again later" in straight
    anymore = fixture("youtube/watch_not_available_anymore.html").decode()
    assert "isn\u2019t available anymore" in anymore


def test_a_session_limit_backs_the_host_off_up_to_the_cap(driver_for) -> None:
    """Each session limit in a row doubles the host's pause from RETRY_BACKOFF_BASE, up
    to YOUTUBE_BLOCK_PAUSE: the back-off every failing host gets, never a fixed mute."""
    from spiders.politeness import HostRegistry

    registry = HostRegistry()
    waits = []
    for _ in range(5):
        driver = driver_for(YoutubeSpider, YOUTUBE_BLOCK_PAUSE=600, RETRY_BACKOFF_BASE=100,
                            MONITOR_HOSTS=registry)
        (obs,) = driver.run(video_target(),
                            routes({"": page("watch_content_unavailable_curly.html")}))
        assert obs.outcome is Outcome.COLLECTOR_BLOCKED
        waits.append(registry.state("127.0.0.1:8765").not_before - registry.clock())
        registry.state("127.0.0.1:8765").not_before = 0.0  # let the next one through
    assert 90 < waits[0] <= 150  # 100 s, times the jitter
    assert waits[1] > waits[0] and waits[-1] <= 600 and waits[-1] > 500


def test_a_rate_limit_is_rate_limited(driver_for) -> None:
    obs, _ = run(driver_for, probe(), {"oembed": (429, b"", {"Retry-After": "30"})})
    assert obs.outcome is Outcome.RATE_LIMITED and obs.signals["retry_after"] == 30


# --- probes: oEmbed first, the watch page decides -------------------------------------------


def test_oembed_ok_is_visible_without_the_watch_page(driver_for) -> None:
    obs, urls = run(driver_for, probe(), {"oembed": page("oembed_ok.json")})
    assert urls == [f"{BASE}/oembed?url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3D{VID}"
                    "&format=json"]
    assert obs.outcome is Outcome.OK and obs.signals["author"] == "Google for Developers"
    assert obs.post is None  # oEmbed has no description: it vouches only that it is served


@pytest.mark.parametrize("oembed", [(401, b"Unauthorized", HTML), (404, b"Not Found", HTML),
                                    (200, b"Forbidden", HTML), (200, b'{"title": "x"}', JSON),
                                    (500, b"", HTML), DownloadTimeoutError("slow")])
def test_any_oembed_failure_is_read_on_the_watch_page(driver_for, oembed: Answer) -> None:
    obs, urls = run(driver_for, probe(), {"oembed": oembed, "watch": page("watch_ok.html")})
    assert urls[-1] == f"{BASE}/watch?v={VID}"
    assert obs.outcome is Outcome.OK  # never concluded from oEmbed alone


CAUSES = [
    ("watch_removed_by_uploader.html", "unavailable", "deleted_by_author", "deleted_by_author",
     None),
    ("watch_policy.html", "unavailable", "removed_violation", "removed_by_platform", "policy"),
    ("watch_terms.html", "unavailable", "removed_violation", "removed_by_platform", "policy"),
    ("watch_copyright_claim.html", "unavailable", "removed_copyright", "removed_by_platform",
     "copyright"),
    ("watch_copyright_block.html", "unavailable", "removed_copyright", "removed_by_platform",
     "copyright"),
    ("watch_geo_copyright.html", "unavailable", "geo_blocked", "geo_blocked", None),
    ("watch_geo_uploader.html", "unavailable", "geo_blocked", "geo_blocked", None),
    ("watch_private.html", "unavailable", "private", "hidden_by_author", None),
    ("watch_private_short.html", "unavailable", "private", "hidden_by_author", None),
    ("watch_account_terminated.html", "unavailable", "account_suspended", "account_suspended",
     None),
    ("watch_account_closed.html", "unavailable", "account_deleted", "account_deleted", None),
    ("watch_age_gate.html", "unavailable", "age_restricted", "restricted", None),
    ("watch_age_check_status.html", "unavailable", "age_restricted", "restricted", None),
    ("watch_does_not_exist.html", "not_found", "not_found", "ambiguous", None),
    ("watch_not_available_anymore.html", "unavailable", "deleted", "ambiguous", None),
]


@pytest.mark.parametrize(("name", "outcome", "notice", "cause", "detail"), CAUSES,
                         ids=[c[0] for c in CAUSES])
def test_the_watch_page_words_decide_the_cause(driver_for, name: str, outcome: str,
                                               notice: str, cause: str,
                                               detail: str | None) -> None:
    obs, _ = run(driver_for, probe(), {"oembed": (404, b"Not Found", HTML), "watch": page(name)})
    assert obs.outcome.value == outcome
    assert obs.signals["notice"] == notice and obs.signals["oembed_status"] == 404
    assert obs.signals["fingerprint"].startswith("youtube.")
    verdict = classify_disappearance("youtube", [
        {"outcome": obs.outcome.value, "signals": obs.signals, "message": obs.message}])
    assert (verdict.cause, verdict.detail) == (cause, detail)


def test_the_policy_and_the_claimant_are_evidence(driver_for) -> None:
    obs, _ = run(driver_for, probe(), {"oembed": (404, b"", HTML),
                                       "watch": page("watch_policy.html")})
    assert obs.signals["policy"] == "hate speech"
    obs, _ = run(driver_for, probe(), {"oembed": (404, b"", HTML),
                                       "watch": page("watch_copyright_claim.html")})
    assert obs.signals["claimant"] == "Sony Music Entertainment"
    obs, _ = run(driver_for, probe(), {"oembed": (404, b"", HTML),
                                       "watch": page("watch_copyright_block.html")})
    assert obs.signals["claimant"] == "SME"


def test_a_live_stream_offline_is_served(driver_for) -> None:
    obs, _ = run(driver_for, probe(), {"oembed": (401, b"", HTML),
                                       "watch": page("watch_live_offline.html")})
    assert obs.outcome is Outcome.OK


@pytest.mark.parametrize(("answer", "outcome"), [
    (page("watch_unknown_reason.html"), Outcome.MALFORMED),
    ((200, b"<html><body>no player</body></html>", HTML), Outcome.MALFORMED),
    ((200, b"<script>var ytInitialPlayerResponse = {\"a\": [[[[</script>", HTML),
     Outcome.MALFORMED),
    ((200, b"<script>var ytInitialPlayerResponse = [1, 2];</script>", HTML), Outcome.MALFORMED),
    ((404, b"", HTML), Outcome.MALFORMED),
    ((503, b"", HTML), Outcome.SERVER_ERROR),
])
def test_an_unreadable_or_unknown_watch_page_decides_nothing(driver_for, answer: Answer,
                                                             outcome: Outcome) -> None:
    obs, _ = run(driver_for, probe(), {"oembed": (404, b"", HTML), "watch": answer})
    assert obs.outcome is outcome and obs.outcome.transient
    assert "notice" not in obs.signals


def test_hostile_player_values_are_read_tolerantly() -> None:
    deep = b"<script>var ytInitialPlayerResponse = " + b"[" * 100_000 + b"</script>"
    assert player_response(deep.decode()) is None
    weird = ('<script>var ytInitialPlayerResponse = {"playabilityStatus": {"status": 5, '
             '"reason": ["x"], "errorScreen": {"playerErrorMessageRenderer": '
             '{"subreason": {"runs": "nope"}}}}};</script>')
    read = playability(player_response(weird) or {})
    assert read.status == "5" and read.texts == [] and read.renderers == [
        "playerErrorMessageRenderer"]
    assert read_playability(read) is None  # nothing known: the spider says malformed


def test_a_post_target_reads_the_watch_page_as_its_content(driver_for) -> None:
    obs, urls = run(driver_for, video_target(), {"watch": page("watch_ok.html")})
    assert urls == [f"{BASE}/watch?v={VID}"]
    assert obs.outcome is Outcome.OK and obs.entries == [obs.post]
    assert obs.post.key == VID and obs.post.title == "Gemma & friends: 1B downloads <live>"
    assert obs.post.text == "What we shipped.\nLinks below."
    assert obs.post.counters == {"views": 34567}
    assert obs.post.published_at is not None


def test_a_work_item_that_is_no_channel_or_video_is_malformed(driver_for) -> None:
    item = WorkItem(mode="probe", platform="youtube", target_key="youtube:post:x",
                    url="https://www.youtube.com/@someone", base_url=BASE, post_key="x")
    obs, urls = run(driver_for, item, {})
    assert obs.outcome is Outcome.MALFORMED and urls == []
