"""The Bluesky spider in memory: author feeds, batched getPosts, the single probe's
AppView → getProfile → PLC → PDS chain, labels, every collector block, rate limits,
and hostile answers. Fixtures: tests/fixtures/bluesky (real shapes, trimmed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from crawl_helpers import Answer, fixture, make_response, make_spider
from scrapy.http import Request

from monitor.observation import Observation, Outcome, WorkItem
from monitor.platforms import PLATFORMS
from spiders.base import Job
from spiders.bluesky.checks import pds_endpoint
from spiders.bluesky.spider import BlueskySpider
from spiders.bluesky.words import MOD_LABELER
from spiders.politeness import HostRegistry, host_key, registry_for

ALICE = "did:plc:alice2345abcdefghijklmno"
THIRD = "did:plc:thirdparty2345abcdefghij"
URI = f"at://{ALICE}/app.bsky.feed.post/3l2abc"
URI2 = f"at://{ALICE}/app.bsky.feed.post/3l2abd"
BASE = "https://sandbox.test/bluesky"
JSON = {"Content-Type": "application/json; charset=utf-8"}
HTML = {"Content-Type": "text/html"}


def spider(**settings: Any) -> BlueskySpider:
    settings = {"MONITOR_HOSTS": HostRegistry(), "BLUESKY_PUBLIC_URL": f"{BASE}/public",
                "BLUESKY_APPVIEW_URL": f"{BASE}/appview", "BLUESKY_PLC_URL": f"{BASE}/plc",
                **settings}
    made = make_spider(BlueskySpider, **settings)
    assert isinstance(made, BlueskySpider)
    return made


def listing(value: str = "alice.bsky.social") -> WorkItem:
    return WorkItem(mode="listing", platform="bluesky", target_key=f"bluesky:{value}",
                    url=value, base_url=BASE, row_id=1)


def probe(key: str = URI) -> WorkItem:
    return WorkItem(mode="probe", platform="bluesky", target_key="bluesky:alice.bsky.social",
                    url=key, base_url=BASE, post_key=key, row_id=7)


def ok(name: str, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return (status, f"bluesky/{name}", headers or (HTML if name.endswith(".html") else JSON))


class Run:
    """Drive the spider: one job or a batch, answering from a route table."""

    def __init__(self, made: BlueskySpider) -> None:
        self.spider = made
        self.requests: list[Request] = []

    def _drain(self, pending: list[Any], answer: Callable[[Request], Answer]
               ) -> list[Observation]:
        out: list[Observation] = []
        while pending:
            item = pending.pop(0)
            if isinstance(item, Observation):
                out.append(item)
                continue
            self.requests.append(item)
            result = answer(item)
            assert not isinstance(result, BaseException)
            status, body, headers = result
            if isinstance(body, str) and not body.startswith("bluesky/"):
                body = body.encode()
            pending.extend(item.callback(make_response(item, status, body, headers)))
        return out

    def one(self, item: WorkItem, answer: Callable[[Request], Answer]) -> Observation:
        job = Job(item)
        got = self._drain(list(self.spider._guard(job, None, lambda: self.spider._first(job))),
                          answer)
        assert len(got) == 1 and job.done, got
        return got[0]

    def batch(self, items: list[WorkItem], answer: Callable[[Request], Answer]
              ) -> dict[str, Observation]:
        jobs = [Job(i) for i in items]
        got = self._drain(list(self.spider._send_batch(jobs)), answer)
        assert all(j.done for j in jobs) and len(got) == len(items), got
        return {o.post_key or "": o for o in got}


def routes(table: dict[str, Answer]) -> Callable[[Request], Answer]:
    def answer(request: Request) -> Answer:
        for key, value in table.items():
            if key in request.url:
                return value
        raise AssertionError(f"unexpected request {request.url}")
    return answer


# --- the declaration ---------------------------------------------------------------


def test_spellings_of_one_account_and_one_post_are_one_key() -> None:
    account, post = PLATFORMS["bluesky"].kind("account"), PLATFORMS["bluesky"].kind("post")
    assert {account.identity(v, None)[0] for v in (
        "alice.bsky.social", "@Alice.bsky.social", "https://bsky.app/profile/alice.bsky.social",
    )} == {"alice.bsky.social"}
    assert account.identity(f"https://bsky.app/profile/{ALICE}", None)[0] == ALICE
    assert {post.identity(v, None)[0] for v in (
        URI, f"https://bsky.app/profile/{ALICE}/post/3l2abc")} == {URI}
    assert post.post_ref is not None
    assert post.post_ref(f"https://bsky.app/profile/{ALICE}/post/3l2abc", BASE)[0] == URI


@pytest.mark.parametrize("bad", ["not a handle!", "https://example.org/profile/x",
                                 "did:plc:short", "x" * 300])
def test_a_wrong_account_says_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="handle"):
        PLATFORMS["bluesky"].kind("account").check(bad, False)


@pytest.mark.parametrize("bad", ["at://alice.bsky.social/app.bsky.feed.like/3l2",
                                 "https://bsky.app/profile/alice.bsky.social",
                                 "https://bsky.app/profile/a/post/"])
def test_a_wrong_post_says_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="at://"):
        PLATFORMS["bluesky"].kind("post").check(bad, False)


# --- listings ----------------------------------------------------------------------


def test_an_author_feed_is_walked_by_cursor_on_the_cached_host() -> None:
    run = Run(spider())
    obs = run.one(listing(), routes({"cursor=": ok("author_feed_last.json"),
                                     "getAuthorFeed": ok("author_feed.json"),
                                     "getPosts": ok("get_posts_feed.json")}))
    assert obs.outcome is Outcome.OK and obs.complete
    assert [e.key for e in obs.entries or []] == [URI, URI2,
                                                  f"at://{ALICE}/app.bsky.feed.post/3l2abe"]
    assert all("/bluesky/public/xrpc/" in r.url for r in run.requests[:2])
    assert "/bluesky/appview/xrpc/app.bsky.feed.getPosts" in run.requests[2].url
    assert obs.signals["skipped_entries"] == 2  # a bad record and a junk item; not the repost
    assert obs.signals["listing_end"] is True
    first = (obs.entries or [])[0]
    assert first.text == "hello world" and first.author == ALICE
    assert first.links == ["https://example.org/a"] and first.counters["likeCount"] == 5
    assert first.url == f"https://bsky.app/profile/{ALICE}/post/3l2abc"
    assert (obs.entries or [])[1].extra["labels"][0]["value"] == "!warn"
    assert run.requests[0].headers.get("atproto-accept-labelers", b"").startswith(
        MOD_LABELER.encode())


def test_an_entry_the_uncached_appview_omits_is_not_listed() -> None:
    """The cached host still lists a post the uncached AppView no longer serves (a
    stale cache): it is left out of the listing, so the core probes it."""
    fresh = json.dumps({"posts": [json.loads(fixture("bluesky/get_posts_feed.json"))[
        "posts"][0]]})
    obs = Run(spider()).one(listing(), routes({"cursor=": ok("author_feed_last.json"),
                                               "getAuthorFeed": ok("author_feed.json"),
                                               "getPosts": (200, fresh, JSON)}))
    assert obs.outcome is Outcome.OK and [e.key for e in obs.entries or []] == [URI]
    assert obs.signals["unconfirmed_keys"] == [URI2, f"at://{ALICE}/app.bsky.feed.post/3l2abe"]


def test_labels_of_a_listing_come_from_the_uncached_appview() -> None:
    obs = Run(spider()).one(listing(), routes({"cursor=": ok("author_feed_last.json"),
                                               "getAuthorFeed": ok("author_feed.json"),
                                               "getPosts": ok("get_posts.json")}))
    first = (obs.entries or [])[0]
    assert [lab["value"] for lab in first.extra["labels"]] == ["!hide"]  # not the cache's []


@pytest.mark.parametrize("answer", [(503, "down", {}), ok("html_403.html", 403),
                                    (200, "{oops", JSON)])
def test_a_listing_that_cannot_be_confirmed_is_transient(answer: Answer) -> None:
    obs = Run(spider()).one(listing(), routes({"cursor=": ok("author_feed_last.json"),
                                               "getAuthorFeed": ok("author_feed.json"),
                                               "getPosts": answer}))
    assert obs.outcome.transient and obs.entries is None


def test_a_walk_stops_at_max_pages_and_says_so() -> None:
    obs = Run(spider(BLUESKY_MAX_PAGES=1)).one(listing(), routes({
        "getAuthorFeed": ok("author_feed.json"), "getPosts": ok("get_posts_feed.json")}))
    assert obs.outcome is Outcome.OK and obs.signals["listing_end"] is False


def test_a_failed_second_page_keeps_the_first_flagged_incomplete() -> None:
    obs = Run(spider()).one(listing(), routes({"cursor=": (502, "bad gateway", {}),
                                               "getAuthorFeed": ok("author_feed.json"),
                                               "getPosts": ok("get_posts_feed.json")}))
    assert obs.outcome is Outcome.OK and not obs.complete and len(obs.entries or []) == 2


@pytest.mark.parametrize(("profile", "outcome", "notice", "state"), [
    ("profile_takedown.json", Outcome.UNAVAILABLE, "account_suspended", "suspended"),
    ("profile_deactivated.json", Outcome.UNAVAILABLE, "account_deactivated", None),
    ("profile_not_found.json", Outcome.NOT_FOUND, "not_found", None),
])
def test_a_missing_feed_asks_get_profile_why(profile: str, outcome: Outcome, notice: str,
                                             state: str | None) -> None:
    run = Run(spider())
    obs = run.one(listing(), routes({"getAuthorFeed": ok("profile_not_found.json", 400),
                                     "appview/xrpc/app.bsky.actor.getProfile": ok(profile, 400)}))
    assert obs.outcome is outcome and obs.signals["notice"] == notice
    assert obs.signals.get("account_state") == state
    assert obs.signals["followups"][0]["name"] == "profile"


# --- collector blocks and rate limits ------------------------------------------------

BLOCKS = [
    (ok("admin_rules.json", 403), Outcome.COLLECTOR_BLOCKED,
     "bluesky.text.forbidden_by_admin_rules"),
    (ok("html_403.html", 403), Outcome.COLLECTOR_BLOCKED, "bluesky.title.html_403"),
    ((403, "Request forbidden by administrative rules.", {"Content-Type": "text/plain"}),
     Outcome.COLLECTOR_BLOCKED, "bluesky.text.forbidden_by_admin_rules"),
    (ok("auth_missing.json", 401), Outcome.COLLECTOR_BLOCKED, "bluesky.code.auth_missing"),
    (ok("rate_limited.json", 429), Outcome.RATE_LIMITED, "bluesky.status.rate_limited_429"),
    (ok("rate_limited.json", 400), Outcome.RATE_LIMITED, "bluesky.code.rate_limit_exceeded"),
]


@pytest.mark.parametrize(("answer", "outcome", "fingerprint"), BLOCKS,
                         ids=[b[2] + str(i) for i, b in enumerate(BLOCKS)])
def test_every_block_is_about_the_collector_everywhere(answer: Answer, outcome: Outcome,
                                                       fingerprint: str) -> None:
    for item in (listing(), probe()):
        obs = Run(spider()).one(item, routes({"xrpc": answer}))
        assert obs.outcome is outcome and obs.signals["fingerprint"] == fingerprint
        assert "notice" not in obs.signals
    got = Run(spider()).batch([probe(URI), probe(URI2)], routes({"getPosts": answer}))
    assert {o.outcome for o in got.values()} == {outcome}


@pytest.mark.parametrize("answer", [(500, "oops", {}), (200, "<html>hi</html>", HTML),
                                    (200, "{not json", JSON), (200, "[1, 2]", JSON),
                                    ok("unknown_error.json", 400)])
def test_unreadable_answers_are_transient_never_absence(answer: Answer) -> None:
    for item in (listing(), probe()):
        obs = Run(spider()).one(item, routes({"xrpc": answer}))
        assert obs.outcome.transient, obs


def test_a_429_pauses_the_host_until_its_reset() -> None:
    run = Run(spider())
    headers = {**JSON, "ratelimit-limit": "3000", "ratelimit-remaining": "0",
               "ratelimit-reset": "120", "ratelimit-policy": "3000;w=300"}
    obs = run.one(probe(), routes({"getPostThread": ok("rate_limited.json", 429, headers)}))
    assert obs.outcome is Outcome.RATE_LIMITED and obs.signals["retry_after"] == 120
    hosts = registry_for(run.spider.crawler)
    assert 100 < hosts.remaining(host_key(run.requests[0])) <= 120


def test_a_used_up_window_pauses_the_host_even_on_a_good_answer() -> None:
    run = Run(spider())
    headers = {**JSON, "ratelimit-remaining": "0", "ratelimit-reset": "9999999999"}
    obs = run.one(probe(), routes({"getPostThread": ok("thread.json", 200, headers)}))
    assert obs.outcome is Outcome.OK
    hosts = registry_for(run.spider.crawler)
    assert 590 < hosts.remaining(host_key(run.requests[0])) <= 600  # capped


def test_a_window_with_room_left_pauses_nothing() -> None:
    run = Run(spider())
    headers = {**JSON, "ratelimit-remaining": "2999", "ratelimit-reset": "9999999999"}
    run.one(probe(), routes({"getPostThread": ok("thread.json", 200, headers)}))
    assert registry_for(run.spider.crawler).remaining(host_key(run.requests[0])) == 0


# --- probes ----------------------------------------------------------------------------


def test_probes_are_batched_on_the_uncached_appview_with_labels() -> None:
    run = Run(spider(BLUESKY_LABELERS=[THIRD, "https://labeler.example"]))
    got = run.batch([probe(URI), probe(URI2)], routes({"getPosts": ok("get_posts.json")}))
    assert len(run.requests) == 1 and "/bluesky/appview/xrpc/app.bsky.feed.getPosts" in \
        run.requests[0].url
    assert run.requests[0].url.count("uris=") == 2
    obs = got[URI]
    assert obs.outcome is Outcome.OK and obs.signals["batch_size"] == 2
    assert obs.post is not None
    labels = {(lab["labeler"], lab["value"]): lab for lab in obs.post.extra["labels"]}
    # the author's self-label and an unlisted labeler's label are not moderation
    assert set(labels) == {(MOD_LABELER, "!hide"), (THIRD, "spam")}
    assert labels[(MOD_LABELER, "!hide")]["platform"] is True
    assert labels[(THIRD, "spam")]["retracted_at"] == "2026-08-02T13:00:00.000Z"
    assert labels[(THIRD, "spam")]["platform"] is False


def test_a_post_the_batch_leaves_out_is_probed_alone_and_only_that_decides() -> None:
    left_out = f"at://{ALICE}/app.bsky.feed.post/3l2zzz"
    run = Run(spider())
    got = run.batch([probe(URI), probe(left_out)], routes({
        "getPosts": ok("get_posts.json"), "getPostThread": ok("thread_not_found.json", 400),
        "getProfile": ok("profile_not_found.json", 400), "/plc/": ok("plc_doc.json"),
        "getRepoStatus": ok("repo_status_active.json"),
        "getRecord": ok("record_not_found.json", 400)}))
    assert got[URI].outcome is Outcome.OK
    gone = got[left_out]
    assert gone.outcome is Outcome.UNAVAILABLE and gone.signals["notice"] == "deleted_by_author"
    assert "batch_size" not in gone.signals


def test_a_hostile_batch_answer_never_concludes_another_post() -> None:
    hostile = json.dumps({"posts": [None, 5, {"uri": URI2, "record": {"text": "not mine"}},
                                    {"uri": "at://x" * 500}, {"uri": URI, "record": []}]})
    got = Run(spider()).batch([probe(URI)], routes({
        "getPosts": (200, hostile, JSON), "getPostThread": ok("thread.json")}))
    assert got[URI].outcome is Outcome.OK and "batch_size" not in got[URI].signals


CHAIN = {"getPostThread": ok("thread_not_found.json", 400),
         "getProfile": ok("profile_not_found.json", 400), "/plc/": ok("plc_doc.json"),
         "getRepoStatus": ok("repo_status_active.json"), "getRecord": ok("record.json")}


@pytest.mark.parametrize(("change", "outcome", "notice", "fingerprint"), [
    ({}, Outcome.UNAVAILABLE, "removed_by_platform", "bluesky.pds.record_still_served"),
    ({"getRecord": ok("record_not_found.json", 400)}, Outcome.UNAVAILABLE, "deleted_by_author",
     "bluesky.pds.record_not_found"),
    ({"getProfile": ok("profile_takedown.json", 400)}, Outcome.UNAVAILABLE,
     "account_suspended", "bluesky.code.account_takedown"),
    ({"getProfile": ok("profile_deactivated.json", 400)}, Outcome.UNAVAILABLE,
     "account_deactivated", "bluesky.code.account_deactivated"),
    ({"getRepoStatus": ok("repo_status_takendown.json")}, Outcome.UNAVAILABLE,
     "account_suspended", "bluesky.repo.takendown"),
    ({"getRepoStatus": ok("repo_status_suspended.json")}, Outcome.UNAVAILABLE,
     "account_suspended", "bluesky.repo.suspended"),
    ({"getRepoStatus": ok("repo_status_deactivated.json")}, Outcome.UNAVAILABLE,
     "account_deactivated", "bluesky.repo.deactivated"),
    ({"getRepoStatus": ok("repo_status_deleted.json")}, Outcome.UNAVAILABLE,
     "account_deleted", "bluesky.repo.deleted"),
    ({"getRepoStatus": ok("repo_takendown.json", 400)}, Outcome.UNAVAILABLE,
     "account_suspended", "bluesky.pds.repo_takendown"),
    ({"/plc/": (410, "bluesky/plc_tombstoned.txt", {"Content-Type": "text/plain"})},
     Outcome.UNAVAILABLE, "account_deleted", "bluesky.plc.did_tombstoned"),
])
def test_the_pds_and_the_account_decide_who_removed_a_post(
        change: dict[str, Answer], outcome: Outcome, notice: str, fingerprint: str) -> None:
    run = Run(spider())
    obs = run.one(probe(), routes({**CHAIN, **change}))
    assert obs.outcome is outcome and obs.signals["notice"] == notice
    assert obs.signals["fingerprint"] == fingerprint
    assert "followup_failed" not in obs.signals
    assert "/bluesky/appview/" in run.requests[0].url  # never the cache


FAILURES: list[Answer] = [(503, "down", {}), ok("rate_limited.json", 429), (200, "{}", JSON),
                          ok("html_403.html", 403), (200, "[]", JSON)]


@pytest.mark.parametrize(("failing", "answer"), [
    (step, answer) for step in ("getProfile", "/plc/", "getRepoStatus", "getRecord")
    for answer in FAILURES if not (step == "getProfile" and answer[0] == 200)])
def test_a_failed_second_signal_leaves_the_probe_undecided(failing: str,
                                                           answer: Answer) -> None:
    """(A profile that answers 200 is no failure: the chain goes on to the PDS.)"""
    obs = Run(spider()).one(probe(), routes({failing: answer, **{
        k: v for k, v in CHAIN.items() if k != failing}}))
    assert obs.outcome is Outcome.NOT_FOUND and obs.signals.get("followup_failed") is True
    assert obs.signals["notice"] == "not_found"


def test_a_blocked_thread_is_not_an_answer_about_the_post() -> None:
    obs = Run(spider()).one(probe(), routes({"getPostThread": ok("thread_blocked.json")}))
    assert obs.outcome is Outcome.MALFORMED


def test_a_handle_post_url_is_resolved_to_its_did_first() -> None:
    run = Run(spider())
    key = "at://alice.bsky.social/app.bsky.feed.post/3l2abc"
    obs = run.one(probe(key), routes({"resolveHandle": ok("resolve_handle.json"),
                                      "getPostThread": ok("thread.json")}))
    assert obs.outcome is Outcome.OK and obs.signals["resolved_did"] == ALICE
    assert "uri=at%3A%2F%2Fdid%3Aplc%3Aalice" in run.requests[1].url


def test_a_handle_that_does_not_resolve_says_nothing_about_the_post() -> None:
    obs = Run(spider()).one(probe("at://gone.bsky.social/app.bsky.feed.post/3l2abc"), routes(
        {"resolveHandle": ok("handle_not_found.json", 400)}))
    assert obs.outcome.transient


def test_pds_endpoint_reads_only_a_real_service() -> None:
    assert pds_endpoint({"service": [{"id": "#atproto_pds",
                                      "serviceEndpoint": "https://pds.example/"}]}) \
        == "https://pds.example"
    for doc in (None, [], {"service": "x"}, {"service": [{"id": "#atproto_pds",
                                                          "serviceEndpoint": "file:///etc"}]}):
        assert pds_endpoint(doc) is None


def test_a_huge_feed_is_capped_and_bad_entries_skipped() -> None:
    item = {"post": {"uri": URI, "cid": "c", "author": {"did": ALICE},
                     "record": {"text": "x" * 200_000, "createdAt": 5}}}
    body = json.dumps({"feed": [item] + ["junk"] * 5000})
    confirm = json.dumps({"posts": [item["post"]]})
    obs = Run(spider()).one(listing(), routes({"getAuthorFeed": (200, body, JSON),
                                               "getPosts": (200, confirm, JSON)}))
    assert obs.outcome is Outcome.OK and len(obs.entries or []) == 1
    assert len((obs.entries or [])[0].text) == 100_000
    assert (obs.entries or [])[0].published_at is None
    assert obs.signals["skipped_entries"] == 99


def test_a_mirror_base_url_serves_every_host_under_it_and_settings_win() -> None:
    run = Run(spider(BLUESKY_PUBLIC_URL="", BLUESKY_APPVIEW_URL="", BLUESKY_PLC_URL=""))
    mirror = "http://127.0.0.1:9/mirror/bluesky"
    item = WorkItem(mode="probe", platform="bluesky", target_key="bluesky:x", url=URI,
                    base_url=mirror, post_key=URI, row_id=7)
    run.one(item, routes({"getPostThread": ok("thread_not_found.json", 400),
                          "getProfile": ok("profile_takedown.json", 400)}))
    assert [r.url.split("/xrpc/")[0] for r in run.requests] == [f"{mirror}/appview"] * 2
    made = spider(BLUESKY_PUBLIC_URL="", BLUESKY_APPVIEW_URL="", BLUESKY_PLC_URL="")
    job = Job(WorkItem(mode="listing", platform="bluesky", target_key="bluesky:x",
                       url="alice.bsky.social", base_url=None))
    assert (made.public_url(job), made.appview_url(job), made.plc_url(job)) == (
        "https://public.api.bsky.app", "https://api.bsky.app", "https://plc.directory")
    assert spider().appview_url(job) == f"{BASE}/appview"


FEED = {"cursor=": ok("author_feed_last.json"), "getAuthorFeed": ok("author_feed.json"),
        "getPosts": ok("get_posts_feed.json")}


def test_a_labeler_given_by_url_is_asked_with_query_labels() -> None:
    run = Run(spider(BLUESKY_LABELERS=["https://labeler.example/"]))
    obs = run.one(listing(), routes({"labeler.example": ok("query_labels.json"), **FEED}))
    asked = [r.url for r in run.requests if "queryLabels" in r.url]
    assert len(asked) == 1 and asked[0].startswith(
        "https://labeler.example/xrpc/com.atproto.label.queryLabels?uriPatterns=")
    assert asked[0].count("uriPatterns=") == 3
    first = (obs.entries or [])[0]
    got = {(lab["labeler"], lab["value"]): lab for lab in first.extra["labels"]}
    lab = "did:plc:labelerurl2345abcdefghij"
    assert set(got) == {(lab, "misleading"), (lab, "rude")}  # not the self-label
    assert got[(lab, "rude")]["retracted_at"] == "2026-08-02T12:30:00.000Z"
    assert got[(lab, "misleading")]["platform"] is False
    assert (obs.entries or [])[2].extra["labels"] == []  # another post's labels: not its


@pytest.mark.parametrize("answer", [(503, "down", {}), (200, "{bad", JSON),
                                    ok("html_403.html", 403)])
def test_a_failing_labeler_is_left_out_of_the_reading(answer: Answer) -> None:
    obs = Run(spider(BLUESKY_LABELERS=["https://labeler.example"])).one(
        listing(), routes({"labeler.example": answer, **FEED}))
    assert obs.outcome is Outcome.OK and len(obs.entries or []) == 3
    assert obs.signals["labelers_failed"] == ["https://labeler.example"]
    assert "fingerprint" not in obs.signals  # the labeler's answer is not the listing's


def test_a_view_with_ten_thousand_labels_is_capped() -> None:
    from spiders.bluesky.parse import labels
    raw = [{"src": MOD_LABELER, "uri": URI, "val": f"v{i}", "cts": "2026-08-02T11:00:00Z"}
           for i in range(10_000)] + [{"src": MOD_LABELER, "val": ["x"]}, None]
    got = labels(raw, URI, ALICE, [])
    assert 0 < len(got) <= 100 and all(lab["labeler"] == MOD_LABELER for lab in got)


def thread(key: str = URI) -> WorkItem:
    return WorkItem(mode="listing", platform="bluesky", target_key=f"bluesky:thread:{key}",
                    url=key, base_url=BASE, row_id=3)


def test_a_thread_lists_its_post_and_replies_from_the_uncached_appview() -> None:
    run = Run(spider())
    obs = run.one(thread(), routes({"getPostThread": ok("thread_replies.json")}))
    bob = "at://did:plc:bob234567abcdefghijklmno/app.bsky.feed.post/"
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == [URI, f"{bob}3r1", f"{bob}3r2", f"{bob}3r3"]
    assert obs.signals["skipped_entries"] == 2
    assert obs.signals["skipped_keys"] == [f"{bob}3r9", f"{bob}3r8"]
    assert "/bluesky/appview/" in run.requests[0].url and "depth=6" in run.requests[0].url


def test_a_thread_whose_post_is_gone_asks_who_removed_it() -> None:
    obs = Run(spider()).one(thread(), routes(CHAIN))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == "removed_by_platform"


def test_a_hostile_thread_is_capped() -> None:
    node: dict[str, Any] = {"post": json.loads(fixture("bluesky/thread.json"))["thread"]["post"]}
    replies = [{"post": {**node["post"], "uri": f"at://{ALICE}/app.bsky.feed.post/r{i}"},
                "replies": ["junk"] * 3} for i in range(1000)]
    body = json.dumps({"thread": {**node, "replies": replies}})
    obs = Run(spider()).one(thread(), routes({"getPostThread": (200, body, JSON)}))
    assert obs.outcome is Outcome.OK and len(obs.entries or []) == 200
    assert PLATFORMS["bluesky"].kind("thread").check(URI, False)[0] == URI
