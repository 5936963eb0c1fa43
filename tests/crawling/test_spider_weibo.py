"""Weibo: ids, the visitor session, timeline walks, post probes and every block."""

from __future__ import annotations

from typing import Any

import pytest
from crawl_helpers import Answer, fixture, routes
from scrapy.exceptions import DownloadTimeoutError
from scrapy.http import HtmlResponse, Request

from monitor.classify import classify_disappearance
from monitor.observation import Outcome, WorkItem
from spiders.weibo.answers import read_answer, render_data
from spiders.weibo.ids import bid_to_mid, mid_to_bid, to_mid
from spiders.weibo.platform import PLATFORM, post_mid, post_ref
from spiders.weibo.spider import WeiboSpider
from spiders.weibo.visitor import SESSIONS, WARMED

BASE = "http://127.0.0.1:8765"
UID = "1221171697"
MID = "4414052358656728"
JSON = {"Content-Type": "application/json; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
VISITOR = {"Content-Type": "application/javascript",
           "Set-Cookie": "SUB=_2AkMQvisitorSUB; Path=/; Domain=.weibo.cn; HttpOnly"}


@pytest.fixture(autouse=True)
def _no_visitor_session() -> Any:
    """Each test starts without the process's visitor cookie, and leaves none."""
    SESSIONS.clear()
    WARMED.clear()
    yield
    SESSIONS.clear()
    WARMED.clear()


def ok(name: str, status: int = 200) -> tuple[int, str, dict[str, str]]:
    return (status, f"weibo/{name}", HTML if name.endswith(".html") else JSON)


def weibo(table: dict[str, Answer], base: str = BASE) -> Any:
    """The warm-up and the visitor cookie, then ``table`` (see conftest.routes)."""
    rest = routes(table)

    def answer(request: Request) -> Answer:
        if request.url == base + "/":
            return (200, "<html><title>微博</title></html>", HTML)
        if request.url.endswith("/visitor/genvisitor2"):
            return (200, fixture("weibo/genvisitor2.txt"), VISITOR)
        return rest(request)
    return answer


def listing(base: str = BASE) -> WorkItem:
    return WorkItem(mode="listing", platform="weibo", target_key=f"weibo:account:{UID}",
                    url=UID, base_url=base, row_id=3)


def probe(mid: str = MID, base: str = BASE, **known: Any) -> WorkItem:
    return WorkItem(mode="probe", platform="weibo", target_key=f"weibo:account:{UID}",
                    url=f"{base}/statuses/show?id={mid}", base_url=base, post_key=mid,
                    row_id=11, known=dict(known))


# --- ids and URLs ----------------------------------------------------------------


@pytest.mark.parametrize(("mid", "bid"), [("4414052358656728", "I5Tz5Ak0E"),
                                          ("4405996207851235", "I2vZiwWsP")])
def test_mid_and_bid_are_one_post(mid: str, bid: str) -> None:
    assert mid_to_bid(mid) == bid and bid_to_mid(bid) == mid
    assert to_mid(mid) == to_mid(bid) == mid


@pytest.mark.parametrize("url", [
    "https://m.weibo.cn/status/4414052358656728", "https://m.weibo.cn/status/I5Tz5Ak0E",
    "https://m.weibo.cn/status/I5Tz5Ak0E?mblogid=I5Tz5Ak0E", "https://m.weibo.cn/detail/4414052358656728",
    "https://weibo.com/1221171697/I5Tz5Ak0E", "http://127.0.0.1:8000/mirror/weibo/status/I5Tz5Ak0E",
])
def test_every_spelling_of_a_post_url_is_one_key(url: str) -> None:
    kind = PLATFORM.kinds["post"]
    assert kind.identity(url, None)[0] == MID
    assert post_ref(url, "http://127.0.0.1:8000/mirror/weibo") == (
        MID, f"http://127.0.0.1:8000/mirror/weibo/statuses/show?id={MID}")


@pytest.mark.parametrize("bad", ["https://m.weibo.cn/u/1221171697", "https://m.weibo.cn/status/",
                                 "https://m.weibo.cn/status/" + "9" * 400, "not a url"])
def test_a_non_post_url_is_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(ValueError):
        PLATFORM.kinds["post"].check(bad, False)
    assert post_mid(bad) is None


def test_accounts_are_uids_however_written() -> None:
    account = PLATFORM.kinds["account"]
    for value in (UID, f"https://m.weibo.cn/u/{UID}", f"https://weibo.com/{UID}",
                  f"https://m.weibo.cn/profile/{UID}"):
        assert account.check(value, False)[0] == UID
    with pytest.raises(ValueError, match="numeric uid"):
        account.check("兔主席", False)


# --- the visitor session and blocks ---------------------------------------------------


def test_the_visitor_flow_warms_up_then_sends_cookie_and_referer(driver_for) -> None:
    driver = driver_for(WeiboSpider)
    (obs,) = driver.run(probe(), weibo({"statuses/show": ok("show_ok.json")}))
    urls = [r.url for r in driver.requests]
    assert urls == [f"{BASE}/", f"{BASE}/visitor/genvisitor2", f"{BASE}/statuses/show?id={MID}"]
    api = driver.requests[-1]
    assert api.headers[b"Cookie"] == b"SUB=_2AkMQvisitorSUB"
    assert api.headers[b"Referer"] == f"{BASE}/".encode()
    assert obs.outcome is Outcome.OK and obs.post is not None and obs.post.key == MID
    # The cookie is kept: a second item, even in the next crawl, goes straight to the API.
    driver = driver_for(WeiboSpider)
    driver.run(probe(), weibo({"statuses/show": ok("show_ok.json")}))
    assert [r.url for r in driver.requests] == [f"{BASE}/statuses/show?id={MID}"]
    # Until it is older than WEIBO_VISITOR_TTL: then a new cookie is asked for (the
    # session was warmed up once already).
    driver = driver_for(WeiboSpider, WEIBO_VISITOR_TTL=0)
    driver.run(probe(), weibo({"statuses/show": ok("show_ok.json")}))
    assert [r.url for r in driver.requests] == [f"{BASE}/visitor/genvisitor2",
                                                f"{BASE}/statuses/show?id={MID}"]


def test_a_cookie_from_the_jsonp_body_alone_is_used(driver_for) -> None:
    driver = driver_for(WeiboSpider)

    def answer(request: Request) -> Answer:
        if request.url.endswith("genvisitor2"):
            return (200, fixture("weibo/genvisitor2.txt"), {"Content-Type": "text/javascript"})
        if request.url == f"{BASE}/":
            return (200, "", HTML)
        return ok("show_ok.json")
    driver.run(probe(), answer)
    assert driver.requests[-1].headers[b"Cookie"].startswith(b"SUB=_2AkMQvisitorSUB; SUBP=")


def test_no_visitor_cookie_is_a_collector_block(driver_for) -> None:
    def answer(request: Request) -> Answer:
        if request.url.endswith("genvisitor2"):
            return (200, '{"msg":"fail","retcode":50111}', JSON)
        return (200, "", HTML)
    driver = driver_for(WeiboSpider)
    (obs,) = driver.run(probe(), answer)
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED and "notice" not in obs.signals
    # Asked twice before giving up; the post is never fetched without a cookie.
    assert [r.url for r in driver.requests].count(f"{BASE}/visitor/genvisitor2") == 2
    assert not any("statuses/show" in r.url for r in driver.requests)


@pytest.mark.parametrize(("answer", "fingerprint"), [
    ((432, b"", {}), "weibo.status.no_cookie_432"),
    ((418, b"", {}), "weibo.status.teapot_418"),
    (ok("login_required.json"), "weibo.api.login_required"),
    (ok("captcha.json"), "weibo.api.verify_url"),
    (ok("visitor_system.html"), "weibo.title.visitor_system"),
    ((200, b"<html><body>\xe7\xb3\xbb\xe7\xbb\x9f\xe7\xb9\x81\xe5\xbf\x99</body></html>", HTML),
     None),  # a non-JSON body from the JSON API
])
@pytest.mark.parametrize("mode", ["probe", "listing"])
def test_every_block_is_about_the_collector(driver_for, answer: Answer, fingerprint: str | None,
                                            mode: str) -> None:
    driver = driver_for(WeiboSpider)
    item = probe() if mode == "probe" else listing()
    (obs,) = driver.run(item, weibo({"statuses/show": answer, "getIndex": answer}))
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED, obs
    assert obs.outcome.transient and not obs.outcome.absent
    assert "notice" not in obs.signals and not obs.entries
    assert obs.signals.get("fingerprint") == fingerprint
    # A refused session's cookie is forgotten (the next item asks for a new one); a
    # rate limit, a captcha or an odd body keeps it.
    refused = fingerprint in ("weibo.status.no_cookie_432", "weibo.api.login_required",
                              "weibo.title.visitor_system")
    assert (SESSIONS == {}) is refused


def test_the_visitor_redirect_is_a_block() -> None:
    # As RedirectMiddleware hands it over: the final URL is the visitor system's.
    request = Request(f"{BASE}/statuses/show?id={MID}")
    response = HtmlResponse("https://passport.weibo.com/visitor/visitor?entry=miniblog",
                            body=b"<html></html>", request=request)
    answer = read_answer(response)
    assert answer.outcome is Outcome.COLLECTOR_BLOCKED
    assert answer.signals["fingerprint"] == "weibo.url.visitor_system"


# --- timeline -------------------------------------------------------------------------


def test_the_timeline_walk(driver_for) -> None:
    driver = driver_for(WeiboSpider)
    (obs,) = driver.run(listing(), weibo({
        "since_id=": ok("timeline_page2.json"),
        "statuses/extend?id=4414042000000007": ok("extend.json"),
        "containerid=1076031221171697": ok("timeline_page1.json"),
    }))
    api = [r.url for r in driver.requests[2:]]
    assert api == [
        f"{BASE}/api/container/getIndex?type=uid&value={UID}&containerid=107603{UID}",
        f"{BASE}/api/container/getIndex?type=uid&value={UID}&containerid=107603{UID}"
        "&since_id=4414041000000008",
        f"{BASE}/statuses/extend?id=4414042000000007",
    ]
    assert obs.outcome is Outcome.OK and obs.complete
    entries = {e.key: e for e in obs.entries or []}
    assert list(entries) == [
        "4413000000000001", MID, "4414047003058833", "4414046000000001", "4414045000000002",
        "4414044000000004", "4414043000000006", "4414042000000007", "4414041000000008",
        "4414040000000000", "4414030000000009"]
    # Pinned posts and repost originals carry no date: they must not stretch the window.
    assert entries["4413000000000001"].published_at is None
    assert entries["4413000000000001"].extra["pinned"] is True
    original = entries["4414040000000000"]
    assert original.published_at is None and original.extra["listed_via"] == "repost"
    assert original.author == "新闻观察"
    assert entries["4414046000000001"].extra["repost_of"] == "4414040000000000"
    assert entries[MID].published_at is not None and entries[MID].published_at.year == 2019
    assert entries[MID].counters["reposts_count"] == "100万+"
    assert entries[MID].media == ["0069XBb1ly1g6r8k2", "0069XBb1ly1g6r8k3"]
    edited = entries["4414047003058833"]
    assert edited.extra["edit_count"] == 2 and edited.extra["edited"] is True
    assert edited.updated_at is not None
    assert "完整的正文" in entries["4414042000000007"].text  # the full text, not the cut
    # Odd fields read as absent; a card with no post at all is skipped, and as its
    # key is unknown the listing vouches for no absence (the core's rule).
    assert entries["4414041000000008"].published_at is None
    assert entries["4414041000000008"].text == ""
    assert obs.signals["skipped_entries"] == 1 and obs.signals["skipped_keys"] == []
    assert obs.signals["listing_end"] is True
    stubs = {key: (signals, words) for key, signals, words in obs.tombstones}
    assert stubs["4405996207851235"][0]["tombstone_by"] == "state:7"
    assert stubs["4405996207851235"][1].startswith("抱歉，此微博已被作者删除")
    assert stubs["4405990000000003"][0]["tombstone_by"] == "state:8"
    # An unknown stub makes its post suspect but names no one.
    assert "tombstone_by" not in stubs["4405980000000005"][0]


def test_a_long_post_whose_full_text_fails_is_skipped_not_truncated(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider, WEIBO_MAX_PAGES=1).run(listing(), weibo({
        "statuses/extend": DownloadTimeoutError("slow"),
        "getIndex": ok("timeline_page1.json"),
    }))
    keys = [e.key for e in obs.entries or []]
    assert "4414042000000007" not in keys
    assert "4414042000000007" in obs.signals["skipped_keys"]
    assert obs.signals["listing_end"] is False  # page 2 not walked


@pytest.mark.parametrize("prefix", ["/mirror/weibo", "/mirror/weibo/"])
def test_a_base_url_with_a_path_keeps_it_for_every_request(driver_for, prefix: str) -> None:
    base = BASE + prefix.rstrip("/")
    driver = driver_for(WeiboSpider, WEIBO_MAX_PAGES=1)
    (obs,) = driver.run(listing(BASE + prefix), weibo({
        "statuses/extend": ok("extend.json"), "getIndex": ok("timeline_page1.json")}, base))
    assert obs.outcome is Outcome.OK
    assert all(r.url.startswith(base + "/") for r in driver.requests), driver.requests
    assert all(e.url and e.url.startswith(base + "/status/") for e in obs.entries or [])
    driver.requests.clear()
    (obs,) = driver.run(probe(base=base), weibo({
        "detail/": ok("detail_gone.html"), "statuses/show": ok("show_20112.json")}, base))
    assert all(r.url.startswith(base + "/") for r in driver.requests), driver.requests


def test_a_later_page_failing_keeps_the_first(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(listing(), weibo({
        "since_id=": (432, b"", {}),
        "statuses/extend": ok("extend.json"),
        "getIndex": ok("timeline_page1.json"),
    }))
    assert obs.outcome is Outcome.OK and obs.complete is False
    assert obs.signals["listing_end"] is False and len(obs.entries or []) == 10


def test_an_empty_timeline_without_a_stub_is_a_block(driver_for) -> None:
    driver = driver_for(WeiboSpider)
    (obs,) = driver.run(listing(), weibo({
        "containerid=100505": ok("profile_normal.json"),
        "containerid=107603": ok("timeline_empty.json")}))
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED
    assert obs.signals["fingerprint"] == "weibo.timeline.empty"
    assert obs.signals["followups"][0]["name"] == "profile"
    assert "notice" not in obs.signals


def test_an_empty_timeline_whose_profile_is_blocked_stays_a_block(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(listing(), weibo({
        "containerid=100505": (432, b"", {}),
        "containerid=107603": ok("timeline_empty.json")}))
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED and "notice" not in obs.signals


@pytest.mark.parametrize(("table", "notice"), [
    ({"containerid=107603": ok("timeline_banned.json")}, "account_suspended"),
    ({"containerid=100505": ok("profile_banned.json"),
      "containerid=107603": ok("timeline_empty.json")}, "account_suspended"),
    ({"containerid=100505": ok("profile_closed.json"),
      "containerid=107603": ok("timeline_empty.json")}, "account_deleted"),
])
def test_an_account_stub_makes_the_empty_timeline_an_account_state(driver_for, table, notice):
    (obs,) = driver_for(WeiboSpider).run(listing(), weibo(table))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == notice
    assert obs.signals["account_state"] == {"account_suspended": "suspended",
                                            "account_deleted": "deleted"}[notice]
    assert "该账号因" in (obs.message or "")
    # What the core makes of it for a post that went with the account.
    ctx = {"listing_outcome": obs.outcome.value, **obs.signals}
    probe_20101 = {"outcome": "not_found", "signals": {"notice": "not_found"}, "at": "t"}
    verdict = classify_disappearance("weibo", [probe_20101, probe_20101], ctx)
    assert verdict.cause == notice


# --- probes ---------------------------------------------------------------------------


def test_a_long_post_probe_reads_the_full_text(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(probe("4414042000000007"), weibo({
        "statuses/extend": ok("extend.json"), "statuses/show": ok("show_long.json")}))
    assert obs.outcome is Outcome.OK and obs.post is not None
    assert "完整的正文" in obs.post.text and obs.signals["followups"][0]["name"] == "extend"


def test_a_long_post_probe_without_its_full_text_is_transient(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(probe("4414042000000007"), weibo({
        "statuses/extend": (432, b"", {}), "statuses/show": ok("show_long.json")}))
    assert obs.outcome is Outcome.TRUNCATED and obs.outcome.transient and obs.post is None


def test_a_repost_original_probe_has_no_date(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(probe(listed_via="repost"), weibo({
        "statuses/show": ok("show_ok.json")}))
    assert obs.post is not None and obs.post.published_at is None


@pytest.mark.parametrize(("show", "detail", "outcome", "notice", "cause"), [
    ("show_20101.json", "detail_gone.html", Outcome.NOT_FOUND, "not_found", "ambiguous"),
    ("show_20112.json", "detail_private.html", Outcome.UNAVAILABLE, "private",
     "hidden_by_author"),
    ("show_20112.json", "detail_gone.html", Outcome.UNAVAILABLE, "removed_by_platform",
     "removed_by_platform"),
    ("show_20101.json", "detail_banned.html", Outcome.UNAVAILABLE, "account_suspended",
     "account_suspended"),
])
def test_an_errno_is_read_with_the_detail_page(driver_for, show, detail, outcome, notice,
                                               cause) -> None:
    driver = driver_for(WeiboSpider)
    (obs,) = driver.run(probe(), weibo({"detail/": ok(detail), "statuses/show": ok(show)}))
    assert driver.requests[-1].url == f"{BASE}/detail/{MID}"
    assert obs.outcome is outcome and obs.signals["notice"] == notice
    assert obs.signals["followups"][0]["name"] == "detail"
    assert not obs.signals.get("followup_failed")
    probes = [{"outcome": obs.outcome.value, "signals": obs.signals, "at": "t"}] * 2
    verdict = classify_disappearance("weibo", probes, {})
    assert verdict.cause == cause
    if cause == "ambiguous":
        assert verdict.candidates == ["deleted_by_author", "removed_by_platform"]


def test_a_failed_detail_page_leaves_the_probe_incomplete(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(probe(), weibo({
        "detail/": DownloadTimeoutError("slow"), "statuses/show": ok("show_20112.json")}))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["followup_failed"] is True
    assert obs.signals["notice"] == "content_unavailable"


def test_a_detail_page_that_serves_the_post_overrules_the_errno(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(probe(), weibo({
        "detail/": ok("detail_ok.html"), "statuses/show": ok("show_20101.json")}))
    assert obs.outcome is Outcome.MALFORMED and obs.outcome.transient


def test_an_unknown_errno_decides_nothing(driver_for) -> None:
    (obs,) = driver_for(WeiboSpider).run(probe(), weibo({
        "statuses/show": ok("show_unknown_errno.json")}))
    assert obs.outcome is Outcome.MALFORMED and "20003" in (obs.detail or "")


@pytest.mark.parametrize(("by", "words", "cause"), [
    ("state:7", "抱歉，此微博已被作者删除。查看帮助：网页链接", "deleted_by_author"),
    ("state:8", "该微博因被多人投诉，根据《微博社区公约》，已被删除。", "removed_by_platform"),
    ("weibo", "抱歉，作者已设置仅展示半年内微博，此微博已不可见。", "hidden_by_author"),
])
def test_a_stub_decides_the_cause_of_a_20101(by: str, words: str, cause: str) -> None:
    probe_20101 = {"outcome": "not_found", "signals": {"notice": "not_found",
                                                       "error_code": "20101"}, "at": "t"}
    verdict = classify_disappearance("weibo", [probe_20101, probe_20101], {
        "tombstone_by": by, "tombstone_comment": words, "author": "新闻观察"})
    assert verdict.cause == cause


# --- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"[" * 100_000, b'{"ok":1,"data":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"ok":1,"data":{"cards":"x","cardlistInfo":[]}}',
    b'{"ok":1,"data":{"cards":[{"card_type":9,"mblog":{"mid":"1' + b"1" * 10_000 + b'"}}]}}',
    b'{"ok":"1","data":{"cards":[null,1,"x",{"card_type":"9","mblog":[]}]}}',
])
def test_hostile_timelines_never_raise_or_list_garbage(driver_for, body: bytes) -> None:
    (obs,) = driver_for(WeiboSpider).run(listing(), weibo({"getIndex": (200, body, JSON)}))
    assert obs.outcome is Outcome.OK or obs.outcome.transient
    assert not obs.entries and not obs.tombstones


def test_render_data_is_bounded_on_hostile_pages() -> None:
    assert render_data("var $render_data = " + "[" * 200_000) is None
    assert render_data("$render_data" * 10_000) is None
    page = fixture("weibo/detail_ok.html").decode()
    found = render_data(page)
    assert found is not None and found["status"]["mid"] == MID


def test_a_post_target_lists_its_one_post(driver_for) -> None:
    item = WorkItem(mode="listing", platform="weibo", target_key=f"weibo:post:{MID}",
                    url="https://m.weibo.cn/status/I5Tz5Ak0E", base_url=BASE, row_id=4)
    driver = driver_for(WeiboSpider)
    (obs,) = driver.run(item, weibo({"statuses/show": ok("show_ok.json")}))
    assert driver.requests[-1].url == f"{BASE}/statuses/show?id={MID}"
    assert obs.outcome is Outcome.OK and [e.key for e in obs.entries or []] == [MID]


def test_a_hostile_bid_never_climbs_out_of_a_prefixed_base() -> None:
    """A post's URLs are joined under the base's path (monitor.platform.join_base), so
    an id the content wrote with ``..`` stays under the mirror's prefix."""
    from spiders.weibo.parse import parse_mblog

    base = "http://127.0.0.1:8765/mirror/weibo"
    post = parse_mblog({"id": "4414052358656728", "mid": "4414052358656728",
                        "bid": "../../../admin", "text": "x", "user": {"screen_name": "a"}},
                       base)
    for url in (post.url, post.probe_url or ""):
        # as a server resolves it: no dot segment left to climb above the prefix
        assert url.startswith(base + "/") and "/.." not in url, url
