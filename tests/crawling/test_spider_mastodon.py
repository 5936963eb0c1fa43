"""Mastodon: timeline walks and status probes against recorded response shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from crawl_helpers import Driver, fixture, make_response, make_spider, routes
from scrapy.exceptions import DownloadTimeoutError

from monitor.observation import Outcome, WorkItem, body_hash
from spiders import MastodonSpider
from spiders.mastodon.spider import account_state, parse_status

BASE = "http://127.0.0.1:8765"
JSON = {"Content-Type": "application/json; charset=utf-8"}
STATUS_ID = "117020586180926938"
ACCOUNT_ID = "117020566092212359"
PAGE2 = f"{BASE}/api/v1/accounts/{ACCOUNT_ID}/statuses?limit=40&max_id=117020586180926939"
LINK = {**JSON, "Link": f'<{PAGE2}>; rel="next", <{BASE}/api/v1/accounts/{ACCOUNT_ID}/'
                        'statuses?min_id=117020586180926940>; rel="prev"'}


def listing(acct: str = "alice") -> WorkItem:
    return WorkItem(mode="listing", platform="mastodon", target_key="mastodon:alice", url=acct,
                    base_url=BASE, row_id=3)


def probe(**known: str) -> WorkItem:
    return WorkItem(mode="probe", platform="mastodon", target_key="mastodon:alice",
                    url=f"{BASE}/api/v1/statuses/{STATUS_ID}", base_url=BASE,
                    post_key=STATUS_ID, row_id=11, known=dict(known))


def ok(name: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    return (200, f"mastodon/{name}", headers or JSON)


# --- pure parsing --------------------------------------------------------------


def test_parse_status_fields():
    post = parse_status(json.loads(fixture("mastodon/status.json")), BASE)
    assert post.key == STATUS_ID
    assert post.url == f"https://example.social/@alice/{STATUS_ID}"
    assert post.probe_url == f"{BASE}/api/v1/statuses/{STATUS_ID}"
    assert post.author == "alice"
    assert post.published_at == datetime(2026, 8, 1, 13, 54, 0, 505000, tzinfo=UTC)
    assert post.updated_at is None
    assert post.media == ["117020586100000001"]
    assert post.links == ["https://example.social/tags/editors", "https://blog.example.org/why"]
    assert post.counters == {"favourites_count": 5, "reblogs_count": 2, "replies_count": 1}
    assert post.extra == {
        "account_id": ACCOUNT_ID, "username": "alice", "edited_at": None, "spoiler_text": "",
        "sensitive": False, "visibility": "public",
        "uri": f"https://example.social/users/alice/statuses/{STATUS_ID}",
    }


def test_parse_edited_status_keeps_quote_state():
    post = parse_status(json.loads(fixture("mastodon/status_edited.json")), BASE)
    assert post.updated_at == datetime(2026, 8, 2, 9, 12, 44, 120000, tzinfo=UTC)
    assert post.extra["edited_at"] == "2026-08-02T09:12:44.120Z"
    assert post.extra["quote_state"] == "deleted"


@pytest.mark.parametrize(
    ("name", "state"),
    [("account_normal.json", "normal"), ("account_suspended.json", "suspended"),
     ("account_limited.json", "limited")],
)
def test_account_state(name, state):
    assert account_state(json.loads(fixture(f"mastodon/{name}"))) == state


# --- listing ---------------------------------------------------------------------


def test_listing_walks_two_pages(driver_for):
    driver = driver_for(MastodonSpider)
    (obs,) = driver.run(listing(), routes({
        "lookup?acct=alice": ok("account_normal.json"),
        "max_id=": ok("statuses_page2.json"),
        "/statuses?limit=40&exclude_reblogs=true": ok("statuses_page1.json", LINK),
    }))
    assert [r.url for r in driver.requests] == [
        f"{BASE}/api/v1/accounts/lookup?acct=alice",
        f"{BASE}/api/v1/accounts/{ACCOUNT_ID}/statuses?limit=40&exclude_reblogs=true",
        PAGE2,
    ]
    assert obs.outcome is Outcome.OK and obs.complete
    assert [e.key for e in obs.entries or []] == [
        "117020586180926940", "117020586180926939", STATUS_ID]
    # Page 2 has no next link: the walk reached the account's oldest post.
    assert obs.signals == {"account_state": "normal", "listing_end": True}
    # The first statuses page is the evidence.
    assert obs.http_status == 200
    assert obs.body_hash == body_hash(fixture("mastodon/statuses_page1.json"))
    assert obs.final_url == driver.requests[1].url
    second = (obs.entries or [])[1]
    assert second.extra["spoiler_text"] == "politics" and second.media == ["9001"]
    assert second.links == ["https://example.org/a"]


def test_listing_respects_max_pages(driver_for):
    driver = driver_for(MastodonSpider, MASTODON_MAX_PAGES=1)
    (obs,) = driver.run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "/statuses": ok("statuses_page1.json", LINK),
    }))
    assert len(driver.requests) == 2
    assert obs.outcome is Outcome.OK and obs.complete and len(obs.entries or []) == 2
    assert obs.signals["listing_end"] is False  # older pages exist beyond the walk


def test_listing_second_page_failure_keeps_first_page(driver_for):
    (obs,) = driver_for(MastodonSpider).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "max_id=": DownloadTimeoutError("took too long"),
        "/statuses": ok("statuses_page1.json", LINK),
    }))
    assert obs.outcome is Outcome.OK
    assert obs.complete is False and "page 2" in (obs.detail or "")
    assert len(obs.entries or []) == 2


def test_listing_second_page_malformed_keeps_first_page(driver_for):
    (obs,) = driver_for(MastodonSpider).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "max_id=": (200, "{not json", JSON),
        "/statuses": ok("statuses_page1.json", LINK),
    }))
    assert obs.outcome is Outcome.OK and obs.complete is False


def test_listing_suspended_account_empty_list(driver_for):
    (obs,) = driver_for(MastodonSpider).run(listing("stigatle@quitter.no"), routes({
        "lookup": ok("account_suspended.json"),
        "/statuses": ok("statuses_empty.json"),
    }))
    assert obs.outcome is Outcome.OK
    assert obs.entries == []
    assert obs.signals["account_state"] == "suspended"


def test_listing_limited_account(driver_for):
    (obs,) = driver_for(MastodonSpider).run(listing("bob"), routes({
        "lookup": ok("account_limited.json"),
        "/statuses": ok("statuses_empty.json"),
    }))
    assert obs.signals["account_state"] == "limited"


@pytest.mark.parametrize("body", ["mastodon/not_found_record.json", "mastodon/not_found_new.json"])
def test_listing_unknown_account(driver_for, body):
    (obs,) = driver_for(MastodonSpider).run(listing(), routes({"lookup": (404, body, JSON)}))
    assert obs.outcome is Outcome.NOT_FOUND
    assert obs.message in ("Record not found", "Not Found")
    assert "account_state" not in obs.signals  # unknown: nothing was observed


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (401, "mastodon/unauthorized.json", Outcome.AUTH_REQUIRED),
        (429, "mastodon/rate_limited.json", Outcome.RATE_LIMITED),
        (503, "", Outcome.SERVER_ERROR),
        (200, "{not json", Outcome.MALFORMED),
        (200, "[1, 2]", Outcome.MALFORMED),
    ],
)
def test_listing_lookup_failures(driver_for, status, body, outcome):
    (obs,) = driver_for(MastodonSpider).run(listing(), routes({"lookup": (status, body, JSON)}))
    assert obs.outcome is outcome
    if status == 401:
        assert obs.message == "This API requires an authenticated user"


def test_listing_statuses_page_one_failure(driver_for):
    (obs,) = driver_for(MastodonSpider).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "/statuses": (502, "", {}),
    }))
    assert obs.outcome is Outcome.SERVER_ERROR
    assert obs.signals["account_state"] == "normal"


def test_listing_without_base_url_uses_account_host():

    driver = Driver(make_spider(MastodonSpider))
    item = WorkItem(mode="listing", platform="mastodon", target_key="k", url="@bob@example.social")
    (obs,) = driver.run(item, routes({"lookup": (404, "mastodon/not_found_new.json", JSON)}))
    assert driver.requests[0].url == "https://example.social/api/v1/accounts/lookup?acct=bob%40example.social"
    assert obs.outcome is Outcome.NOT_FOUND


def test_listing_without_any_base_is_malformed(driver_for):
    item = WorkItem(mode="listing", platform="mastodon", target_key="k", url="bob")
    (obs,) = driver_for(MastodonSpider).run(item, routes({}))
    assert obs.outcome is Outcome.MALFORMED and "base_url" in (obs.detail or "")


# --- probe -----------------------------------------------------------------------


def test_probe_ok(driver_for):
    driver = driver_for(MastodonSpider)
    (obs,) = driver.run(probe(), routes({f"/statuses/{STATUS_ID}": ok("status.json")}))
    assert obs.outcome is Outcome.OK
    assert obs.post is not None and obs.post.key == STATUS_ID
    assert (obs.mode, obs.post_key, obs.row_id) == ("probe", STATUS_ID, 11)
    assert len(driver.requests) == 1  # not edited: no history fetch


@pytest.mark.parametrize(
    ("history", "editor_is_author", "sensitive"),
    [("history_by_author.json", True, False), ("history_by_moderator.json", False, True)],
)
def test_probe_new_edit_reads_history(driver_for, history, editor_is_author, sensitive):
    driver = driver_for(MastodonSpider)
    (obs,) = driver.run(probe(edited_at="2026-08-01T00:00:00Z"), routes({
        "/history": ok(history),
        f"/statuses/{STATUS_ID}": ok("status_edited.json"),
    }))
    assert obs.outcome is Outcome.OK
    assert obs.signals["editor_is_author"] is editor_is_author
    assert obs.signals["sensitive"] is sensitive
    assert obs.body_hash == body_hash(fixture("mastodon/status_edited.json"))


def test_probe_known_edit_skips_history(driver_for):
    driver = driver_for(MastodonSpider)
    (obs,) = driver.run(probe(edited_at="2026-08-02T09:12:44.120Z"),
                        routes({f"/statuses/{STATUS_ID}": ok("status_edited.json")}))
    assert len(driver.requests) == 1 and "editor_is_author" not in obs.signals


def test_probe_history_failure_still_ok(driver_for):
    (obs,) = driver_for(MastodonSpider).run(probe(), routes({
        "/history": (500, "", {}),
        f"/statuses/{STATUS_ID}": ok("status_edited.json"),
    }))
    assert obs.outcome is Outcome.OK and "editor_is_author" not in obs.signals
    assert "history" in (obs.detail or "")
    assert obs.signals["followup_failed"] is True
    assert obs.post is not None and obs.post.key == STATUS_ID  # the main answer stands
    assert obs.body_hash == body_hash(fixture("mastodon/status_edited.json"))


@pytest.mark.parametrize("body", ["mastodon/not_found_record.json", "mastodon/not_found_new.json"])
def test_probe_404_without_known_account(driver_for, body):
    driver = driver_for(MastodonSpider)
    (obs,) = driver.run(probe(), routes({f"/statuses/{STATUS_ID}": (404, body, JSON)}))
    assert obs.outcome is Outcome.NOT_FOUND
    assert obs.message == json.loads(fixture(body))["error"]
    assert len(driver.requests) == 1 and "account_state" not in obs.signals


@pytest.mark.parametrize(
    ("account", "profile_status", "state", "requests"),
    [
        (ok("account_normal.json"), None, "normal", 2),
        (ok("account_limited.json"), None, "limited", 2),
        (ok("account_suspended.json"), 403, "suspended_temporary", 3),
        (ok("account_suspended.json"), 410, "suspended_permanent", 3),
        (ok("account_suspended.json"), 200, "suspended", 3),
        ((404, "mastodon/not_found_record.json", JSON), None, "deleted", 2),
    ],
)
def test_probe_404_reads_account_and_profile(driver_for, account, profile_status, state,
                                             requests):
    driver = driver_for(MastodonSpider)
    (obs,) = driver.run(probe(account_id=ACCOUNT_ID, username="alice"), routes({
        f"/statuses/{STATUS_ID}": (404, "mastodon/not_found_new.json", JSON),
        f"/api/v1/accounts/{ACCOUNT_ID}": account,
        "/@alice": (profile_status or 200, "<html></html>", {"Content-Type": "text/html"}),
    }))
    assert obs.outcome is Outcome.NOT_FOUND and obs.message == "Not Found"
    assert obs.signals["account_state"] == state
    assert len(driver.requests) == requests
    # Every follow-up is listed, none failed.
    assert [e["name"] for e in obs.signals["followups"]] == ["account", "profile"][:requests - 1]
    assert not any(e.get("failed") for e in obs.signals["followups"])
    assert "followup_failed" not in obs.signals
    # The words-table rule that set the account state is named.
    fingerprints = {"deleted": "mastodon.account.gone",
                    "suspended_temporary": "mastodon.profile.suspended_403",
                    "suspended_permanent": "mastodon.profile.gone_410"}
    assert obs.signals.get("fingerprint") == fingerprints.get(state)
    # The status probe's answer is the evidence, not the follow-ups'.
    assert obs.http_status == 404
    assert obs.body_hash == body_hash(fixture("mastodon/not_found_new.json"))
    assert obs.final_url == f"{BASE}/api/v1/statuses/{STATUS_ID}"


def test_probe_404_account_check_fails(driver_for):
    (obs,) = driver_for(MastodonSpider).run(probe(account_id=ACCOUNT_ID), routes({
        f"/statuses/{STATUS_ID}": (404, "mastodon/not_found_record.json", JSON),
        f"/accounts/{ACCOUNT_ID}": DownloadTimeoutError("slow"),
    }))
    assert obs.outcome is Outcome.NOT_FOUND
    assert "account_state" not in obs.signals and "slow" in (obs.detail or "")
    assert obs.signals["followup_failed"] is True  # incomplete: decide on a later probe
    assert obs.signals["followups"] == [
        {"name": "account", "url": f"{BASE}/api/v1/accounts/{ACCOUNT_ID}",
         "outcome": "timeout", "failed": True}]
    # The status probe's answer stays the evidence.
    assert obs.http_status == 404
    assert obs.body_hash == body_hash(fixture("mastodon/not_found_record.json"))


def test_probe_404_account_check_server_error(driver_for):
    (obs,) = driver_for(MastodonSpider).run(probe(account_id=ACCOUNT_ID), routes({
        f"/statuses/{STATUS_ID}": (404, "mastodon/not_found_record.json", JSON),
        f"/accounts/{ACCOUNT_ID}": (502, "", {}),
    }))
    assert obs.outcome is Outcome.NOT_FOUND and obs.http_status == 404
    assert obs.signals == {"followup_failed": True, "followups": [
        {"name": "account", "url": f"{BASE}/api/v1/accounts/{ACCOUNT_ID}", "status": 502,
         "outcome": "server_error", "failed": True}]}
    assert obs.detail == "account check: HTTP 502"


@pytest.mark.parametrize(
    ("profile", "failed"),
    [((403, "rss/challenge_403.html", {"Content-Type": "text/html", "cf-mitigated": "challenge"}),
      True),
     ((503, "", {}), True),
     (DownloadTimeoutError("slow"), True)],
)
def test_probe_404_profile_check_fails(driver_for, profile, failed):
    (obs,) = driver_for(MastodonSpider).run(probe(account_id=ACCOUNT_ID, username="alice"),
                                            routes({
        f"/statuses/{STATUS_ID}": (404, "mastodon/not_found_new.json", JSON),
        f"/api/v1/accounts/{ACCOUNT_ID}": ok("account_suspended.json"),
        "/@alice": profile,
    }))
    assert obs.outcome is Outcome.NOT_FOUND
    assert obs.signals["account_state"] == "suspended"  # not upgraded on a failed check
    assert obs.signals.get("followup_failed") is failed
    account, profile_entry = obs.signals["followups"]
    assert account == {"name": "account", "url": f"{BASE}/api/v1/accounts/{ACCOUNT_ID}",
                       "status": 200}
    assert profile_entry["name"] == "profile" and profile_entry["failed"] is True
    assert profile_entry["url"] == f"{BASE}/@alice"
    assert profile_entry["outcome"] in ("anti_bot", "server_error", "timeout")


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome"),
    [
        (401, "mastodon/unauthorized.json", JSON, Outcome.AUTH_REQUIRED),
        (429, "mastodon/rate_limited.json", {**JSON, "Retry-After": "300"}, Outcome.RATE_LIMITED),
        (500, "", {}, Outcome.SERVER_ERROR),
        (503, "", {}, Outcome.SERVER_ERROR),
        (410, "", {}, Outcome.GONE),
        (200, "{truncated", JSON, Outcome.MALFORMED),
        (200, '{"error": "weird"}', JSON, Outcome.MALFORMED),
    ],
)
def test_probe_other_outcomes(driver_for, status, body, headers, outcome):
    (obs,) = driver_for(MastodonSpider).run(probe(account_id=ACCOUNT_ID),
                                            routes({"/statuses/": (status, body, headers)}))
    assert obs.outcome is outcome
    if status == 401:
        assert obs.message == "This API requires an authenticated user"
    if status == 429:
        assert obs.signals["retry_after"] == 300


def test_probe_from_web_permalink(driver_for):
    driver = driver_for(MastodonSpider)
    item = probe()
    item.url = f"https://example.social/@alice/{STATUS_ID}"
    item.base_url = None
    driver.run(item, routes({STATUS_ID: ok("status.json")}))
    assert driver.requests[0].url == f"https://example.social/api/v1/statuses/{STATUS_ID}"


# --- hostile statuses: one bad entry never blinds the timeline --------------------


def _page_with(*odd: object) -> bytes:
    """The first fixture page with ``odd`` statuses inserted between its two."""
    page = json.loads(fixture("mastodon/statuses_page1.json"))
    return json.dumps([page[0], *odd, page[1]]).encode()


def _status(**fields: object) -> dict[str, object]:
    status = json.loads(fixture("mastodon/status.json"))
    status.update(fields)
    return status


@pytest.mark.parametrize(
    ("odd", "skipped_keys"),
    [
        ([None], []),
        (["a string"], []),
        ([{"content": "no id"}], []),
        ([{"id": {"nested": 1}, "content": "id is an object"}], []),
        ([17, [], {"id": ""}], []),
    ],
    ids=["null", "string", "no-id", "object-id", "several"],
)
def test_unreadable_status_is_skipped_and_counted(driver_for, odd, skipped_keys):
    (obs,) = driver_for(MastodonSpider, MASTODON_MAX_PAGES=1).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "/statuses": (200, _page_with(*odd), JSON),
    }))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == ["117020586180926940", "117020586180926939"]
    assert obs.signals["skipped_entries"] == len(odd)
    assert obs.signals["skipped_keys"] == skipped_keys


def test_odd_fields_are_read_tolerantly_in_a_listing(driver_for):
    odd = _status(id="42", media_attachments=[None, "x", {"id": None}, {"id": 7}],
                  favourites_count="12", reblogs_count="many", replies_count=None,
                  account="alice@example.social", content=["<p>x</p>"], url={"x": 1},
                  edited_at=5, quote="q", created_at=12345,
                  spoiler_text=None, sensitive="yes")
    (obs,) = driver_for(MastodonSpider, MASTODON_MAX_PAGES=1).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "/statuses": (200, _page_with(odd), JSON),
    }))
    assert obs.outcome is Outcome.OK and "skipped_entries" not in obs.signals
    post = (obs.entries or [])[1]
    assert post.key == "42"
    assert post.media == ["7"]
    assert post.counters == {"favourites_count": 12, "replies_count": 0}
    assert (post.author, post.text, post.url, post.published_at) == (None, "", None, None)
    assert post.extra["account_id"] is None and post.extra["edited_at"] is None
    assert post.extra["sensitive"] is False


def test_broken_link_in_content_keeps_the_status():
    status = _status(content='<p><a href="http://[x">bad</a> <a href="/tags/ok">ok</a></p>')
    post = parse_status(status, BASE)
    assert post.links == ["http://[x", "/tags/ok"]


def test_status_id_is_quoted_into_the_probe_url():
    post = parse_status(_status(id="../../admin"), BASE)
    assert post.probe_url == f"{BASE}/api/v1/statuses/..%2F..%2Fadmin"


def test_skips_add_up_across_pages(driver_for):
    (obs,) = driver_for(MastodonSpider).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "max_id=": (200, json.dumps([None, {"id": "9", "account": 1, "reblog": None,
                                            "content": 3}]).encode(), JSON),
        "/statuses": (200, _page_with(None), LINK),
    }))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == ["117020586180926940", "117020586180926939",
                                                  "9"]
    assert obs.signals["skipped_entries"] == 2


def test_an_entry_that_fails_for_any_reason_is_skipped_with_its_key(driver_for, monkeypatch):
    import spiders.mastodon.spider as mastodon

    def links(html: str) -> list[str]:
        if "boom" in html:
            raise RuntimeError("a parser bug")
        return []

    monkeypatch.setattr(mastodon, "html_links", links)
    (obs,) = driver_for(MastodonSpider, MASTODON_MAX_PAGES=1).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "/statuses": (200, _page_with(_status(id="77", content="boom")), JSON),
    }))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == ["117020586180926940", "117020586180926939"]
    assert obs.signals["skipped_entries"] == 1
    assert obs.signals["skipped_keys"] == ["77"]


def test_link_header_of_many_angle_brackets_is_read_in_linear_time():
    from scrapy.http import Request

    from spiders.mastodon.spider import next_link

    # "<([^>]+)>" rescanned the rest of the header from every "<": quadratic,
    # minutes for 200,000 of them, on the reactor loop.
    value = "<" * 200_000 + f'<{PAGE2}>; rel="next"'
    response = make_response(Request(BASE), 200, b"[]", {"Link": value})
    assert next_link(response) == PAGE2


def test_statuses_past_the_cap_are_counted_as_skipped_without_keys(driver_for):
    # Boosts are no entries, so they do not count towards the cap either.
    page = [_status(id=str(i), reblog={"id": "x"} if i % 7 == 0 else None)
            for i in range(700)]
    own = [s["id"] for s in page if not s["reblog"]]
    (obs,) = driver_for(MastodonSpider, MASTODON_MAX_PAGES=1).run(listing(), routes({
        "lookup": ok("account_normal.json"),
        "/statuses": (200, json.dumps(page).encode(), JSON),
    }))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == own[:500]
    # No keys: by the lifecycle's rule this listing then vouches for no absence.
    assert obs.signals["skipped_entries"] == len(own) - 500 == 100
    assert obs.signals["skipped_keys"] == []


def test_max_pages_is_the_spiders_own_setting_and_a_crawl_may_override_it():
    from spiders.settings import scrapy_settings

    assert "MASTODON_MAX_PAGES" not in scrapy_settings({})
    assert make_spider(MastodonSpider).settings.getint("MASTODON_MAX_PAGES") == 2
    spider = make_spider(MastodonSpider, MASTODON_MAX_PAGES=5)
    assert spider.settings.getint("MASTODON_MAX_PAGES") == 5


# --- second signals through the base's follow-up helper ----------------------------


def test_mastodon_declares_its_second_signals():
    assert MastodonSpider.second_signals == ("account", "profile", "history")


@pytest.mark.parametrize(
    ("account", "detail"),
    [((403, "<html>forbidden</html>", {"Content-Type": "text/html"}), "account check: HTTP 403"),
     ((200, "[1, 2]", JSON), "account check: HTTP 200"),
     ((200, "{not json", JSON), "account check: JSONDecodeError: Expecting property name "
                                "enclosed in double quotes: line 1 column 2 (char 1)")],
    ids=["403", "not-an-account", "not-json"],
)
def test_probe_404_unusable_account_answer_is_a_failed_follow_up(driver_for, account, detail):
    (obs,) = driver_for(MastodonSpider).run(probe(account_id=ACCOUNT_ID, username="alice"),
                                            routes({
        f"/statuses/{STATUS_ID}": (404, "mastodon/not_found_new.json", JSON),
        f"/api/v1/accounts/{ACCOUNT_ID}": account,
    }))
    assert obs.outcome is Outcome.NOT_FOUND and obs.http_status == 404
    assert "account_state" not in obs.signals
    assert obs.signals["followup_failed"] is True and obs.detail == detail
    (entry,) = obs.signals["followups"]
    assert entry["name"] == "account" and entry["status"] == account[0]
    assert entry["failed"] is True


@pytest.mark.parametrize("body", ['{"error": "odd"}', "{truncated"])
def test_probe_history_that_is_not_a_history_is_a_failed_follow_up(driver_for, body):
    (obs,) = driver_for(MastodonSpider).run(probe(), routes({
        "/history": (200, body, JSON),
        f"/statuses/{STATUS_ID}": ok("status_edited.json"),
    }))
    assert obs.outcome is Outcome.OK and obs.post is not None
    assert obs.signals["followup_failed"] is True
    assert obs.signals["followups"] == [
        {"name": "history", "url": f"{BASE}/api/v1/statuses/{STATUS_ID}/history",
         "status": 200, "failed": True}]


def test_probe_history_ok_is_listed_as_a_follow_up(driver_for):
    (obs,) = driver_for(MastodonSpider).run(probe(), routes({
        "/history": ok("history_by_author.json"),
        f"/statuses/{STATUS_ID}": ok("status_edited.json"),
    }))
    assert obs.signals["followups"] == [
        {"name": "history", "url": f"{BASE}/api/v1/statuses/{STATUS_ID}/history",
         "status": 200}]
    assert "followup_failed" not in obs.signals and obs.detail is None


def test_follow_up_must_be_declared_and_held():
    from spiders.base import Job

    spider = make_spider(MastodonSpider)
    job = Job(probe())
    with pytest.raises(RuntimeError, match="hold"):
        spider.follow_up(job, f"{BASE}/x", spider.parse_account, "account")
    spider.hold(job, Outcome.NOT_FOUND)
    with pytest.raises(ValueError, match="does not declare the second signal 'pds'"):
        spider.follow_up(job, f"{BASE}/x", spider.parse_account, "pds")


def test_failed_follow_up_in_a_real_crawl_still_gives_one_observation():
    from mockserver import Canned, MockServer

    from monitor.observation import Observation
    from monitor.settings import Settings
    from spiders.crawl import crawl_blocking

    with MockServer() as server:
        server.route(f"/api/v1/statuses/{STATUS_ID}",
                     Canned(404, fixture("mastodon/not_found_new.json"), JSON))
        server.route(f"/api/v1/accounts/{ACCOUNT_ID}", Canned(503, b"down", {}))
        item = WorkItem(mode="probe", platform="mastodon", target_key="mastodon:alice",
                        url=server.url(f"/api/v1/statuses/{STATUS_ID}"), base_url=server.base,
                        post_key=STATUS_ID, row_id=11, known={"account_id": ACCOUNT_ID})
        got: list[Observation] = []
        settings = Settings.load(environ={}, file_values={
            "autothrottle": False, "retry_times": 0, "retry_backoff_base": 0.05,
            "retry_backoff_max": 0.2})
        crawl_blocking({"mastodon": [item]}, got.append, settings)
    (obs,) = got
    assert obs.outcome is Outcome.NOT_FOUND and obs.http_status == 404
    assert obs.final_url == server.url(f"/api/v1/statuses/{STATUS_ID}")
    assert obs.signals["followup_failed"] is True
    assert obs.signals["followups"] == [
        {"name": "account", "url": server.url(f"/api/v1/accounts/{ACCOUNT_ID}"),
         "status": 503, "outcome": "server_error", "failed": True}]
    assert server.hits[f"/api/v1/accounts/{ACCOUNT_ID}"] == 1
