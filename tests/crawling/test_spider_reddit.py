"""Reddit: both access paths against recorded shapes (tests/fixtures/reddit/), in memory.

The OAuth path (token, listings, /api/info batches, every removal word), the feed path
(Atom listings and the conservative per-post reading), the collector blocks of both,
rate-limit headers, path-prefixed base URLs and hostile input.
"""

from __future__ import annotations

import json
import pprint
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from crawl_helpers import FIXTURES, Answer, make_response, make_spider, routes
from scrapy.http import Request

from monitor.classify import ACCOUNT_STATES, NOTICES, classify_disappearance
from monitor.observation import BLOCKED, Observation, Outcome, WorkItem
from monitor.observation import NOTICES as NOTICE_TEXTS
from monitor.platform import MATCH_TYPES, scope_problem
from monitor.platforms import PLATFORMS
from monitor.settings import Settings
from spiders.base import Job
from spiders.politeness import HostRegistry
from spiders.reddit import things
from spiders.reddit.oauth import TOKENS, Client, client_from
from spiders.reddit.spider import RedditSpider
from spiders.reddit.words import WORDS

WEB = "http://127.0.0.1:8765/mirror/reddit"  # a base_url under a path prefix
API = "http://127.0.0.1:8765/oauth"
TOKEN = "http://127.0.0.1:8765/api/v1/access_token"
JSON = {"Content-Type": "application/json; charset=UTF-8"}
ATOM = {"Content-Type": "application/atom+xml; charset=UTF-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
CREDS = {"reddit_client_id": "app-id", "reddit_client_secret": "s3cr3t-value",
         "reddit_api_url": API, "reddit_token_url": TOKEN}


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    TOKENS.clear()
    yield
    TOKENS.clear()


def spider(creds: bool = True, **overrides: Any) -> RedditSpider:
    settings = Settings.load(CREDS if creds else {}, environ={})
    made = make_spider(RedditSpider, MONITOR_SETTINGS=settings, **overrides)
    assert isinstance(made, RedditSpider)
    return made


def listing(value: str, **known: Any) -> WorkItem:
    return WorkItem(mode="listing", platform="reddit", target_key=f"reddit:{value}", url=value,
                    base_url=WEB, row_id=1, known=dict(known))


def probe(fullname: str, **known: Any) -> WorkItem:
    link = str(known.get("link_id", fullname)).removeprefix("t3_")
    url = f"{WEB}/comments/{link}/"
    return WorkItem(mode="probe", platform="reddit", target_key="reddit:r/example", url=url,
                    base_url=WEB, post_key=fullname, row_id=7, known=dict(known))


def ok(name: str, headers: dict[str, str] | None = None) -> Answer:
    return (200, f"reddit/{name}", headers or (ATOM if name.endswith(".atom") else JSON))


TOKEN_OK: Answer = (200, "reddit/token.json", JSON)


class Run:
    """Drive one spider: single jobs or a batch, answering from a table; every
    request is kept for the test to read."""

    def __init__(self, made: RedditSpider) -> None:
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
            if isinstance(body, str) and not body.startswith("reddit/"):
                body = body.encode()  # inline, not a fixture's name
            response = make_response(item, status, body, headers,
                                     url=headers.get("X-Final-Url"))
            pending.extend(item.callback(response))
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
        assert all(j.done for j in jobs)
        assert len(got) == len(items), got
        return {o.post_key or "": o for o in got}


# --- the words ------------------------------------------------------------------------


@pytest.mark.parametrize("rule", WORDS, ids=[r.name for r in WORDS])
def test_every_rule_is_a_well_formed_fingerprint(rule):
    assert re.fullmatch(r"reddit(\.[a-z0-9_]+)+", rule.name)
    assert rule.outcome in {o.value for o in Outcome}
    assert rule.notice is None or (rule.notice in NOTICES and rule.notice in NOTICE_TEXTS)
    assert rule.match in MATCH_TYPES and scope_problem(rule.scope) is None
    assert rule.account_state is None or rule.account_state in ACCOUNT_STATES
    assert rule.notice or rule.account_state or rule.outcome != "unavailable"
    assert rule.source and "reddit.md" in rule.source
    if Outcome(rule.outcome) in BLOCKED:
        assert rule.notice is None
    assert PLATFORMS["reddit"].words == WORDS
    assert len({r.name for r in WORDS}) == len(WORDS)


#: /api/info item → (outcome, notice, rule) and the cause the core then decides.
INFO_CASES = {
    "t3_1kh35wk": ("ok", None, None, None),
    "t3_5dec01": ("unavailable", "deleted_by_author", "reddit.category.deleted",
                  ("deleted_by_author", None)),
    "t3_5dec70": ("unavailable", "removed_by_moderator", "reddit.category.moderator",
                  ("removed_by_moderator", None)),
    "t3_aut0f1": ("unavailable", "removed_by_moderator", "reddit.category.automod_filtered",
                  ("removed_by_moderator", None)),
    "t3_spam01": ("unavailable", "removed_spam", "reddit.category.reddit",
                  ("removed_by_platform", "spam")),
    "t3_aeo001": ("unavailable", "removed_violation", "reddit.category.anti_evil_ops",
                  ("removed_by_platform", "policy")),
    "t3_cops01": ("unavailable", "removed_violation", "reddit.category.community_ops",
                  ("removed_by_platform", "policy")),
    "t3_legal1": ("unavailable", "removed_legal", "reddit.category.legal_operations",
                  ("removed_by_platform", "legal")),
    "t3_copy01": ("unavailable", "removed_copyright", "reddit.category.copyright_takedown",
                  ("removed_by_platform", "copyright")),
    "t3_odd001": ("unavailable", "removed_violation", "reddit.category.content_takedown",
                  ("removed_by_platform", "policy")),
    "t3_newcat": ("unavailable", "deleted", "reddit.category.other", ("ambiguous", None)),
    "t3_old001": ("unavailable", "removed_by_moderator", "reddit.text.removed",
                  ("removed_by_moderator", None)),
    "t3_link01": ("unavailable", "deleted", "reddit.flag.not_indexable", ("ambiguous", None)),
    "t1_d7ltv31": ("unavailable", "removed_by_moderator", "reddit.text.removed",
                   ("removed_by_moderator", None)),
    "t1_d7ltvl0": ("unavailable", "deleted_by_author", "reddit.text.deleted",
                   ("deleted_by_author", None)),
    # The account is gone, the text stays: not a removal.
    "t1_d7ltv08": ("ok", None, None, None),
    "t1_d7lok01": ("ok", None, None, None),
}


def test_each_api_info_item_says_its_own_removal_and_the_core_reads_its_cause():
    got = Run(spider()).batch([probe(k) for k in INFO_CASES], routes({
        "access_token": TOKEN_OK, "/oauth/api/info": ok("info.json")}))
    assert len(got) == len(INFO_CASES)
    for key, (outcome, notice, rule, cause) in INFO_CASES.items():
        obs = got[key]
        assert obs.outcome.value == outcome, key
        assert obs.signals.get("notice") == notice, key
        assert obs.signals.get("fingerprint") == rule, key
        assert obs.signals["batch_size"] == len(INFO_CASES)
        if outcome == "ok":
            assert obs.post is not None and obs.post.key == key
            continue
        verdict = classify_disappearance("reddit", [{"outcome": obs.outcome.value,
                                                     "signals": obs.signals, "at": None}])
        assert (verdict.cause, verdict.detail) == cause, key
        if cause[0] == "ambiguous":
            assert verdict.candidates == ["deleted_by_author", "removed_by_moderator"]


def test_a_post_removed_by_a_moderator_then_deleted_keeps_who_removed_it():
    """Reveddit's USER_DELETED_BUT_FIRST_REMOVED_BY: the removal seen first decides."""
    first = {"outcome": "unavailable", "at": None,
             "signals": {"notice": "removed_by_moderator"}}
    later = {"outcome": "unavailable", "at": None, "signals": {"notice": "deleted_by_author"}}
    verdict = classify_disappearance("reddit", [first, later])
    assert verdict.cause == "removed_by_moderator"


# --- OAuth: token and listings -----------------------------------------------------------


def test_subreddit_listing_fetches_a_token_then_reads_new():
    run = Run(spider())
    obs = run.one(listing("r/example"), routes({
        "access_token": TOKEN_OK, "/oauth/r/example/new": ok("new.json")}))
    token, new = run.requests
    assert token.method == "POST" and token.url == TOKEN
    assert token.body == b"grant_type=client_credentials"
    assert token.headers[b"Authorization"].startswith(b"Basic ")
    assert new.url == f"{API}/r/example/new?limit=100&raw_json=1"
    assert new.headers[b"Authorization"] == b"bearer eyJhbGciOi.sandbox.token"
    assert obs.outcome is Outcome.OK
    # The removed post still in the answer is left out: its probe decides.
    assert [e.key for e in obs.entries] == ["t3_1kh35wk", "t3_1kh30aa"]
    assert obs.signals["removed_in_listing"] == ["t3_1kh2zzz"]
    assert obs.signals["listing_end"] is False
    first, link = obs.entries
    assert first.published_at == datetime.fromtimestamp(1789293480, UTC)
    assert first.url == f"{WEB}/r/example/comments/1kh35wk/test_title/"
    assert first.probe_url == f"{WEB}/comments/1kh35wk/"
    assert first.text == "Testing **markdown** body" and first.author == "alice"
    assert link.text == "" and link.links == ["https://example.org/story"]
    assert link.updated_at == datetime.fromtimestamp(1789291000.5, UTC)
    assert first.counters == {"score": 12, "num_comments": 3}
    # A second listing reuses the token.
    run.one(listing("r/example"), routes({"/oauth/r/example/new": ok("new.json")}))
    assert [r.url for r in run.requests[2:]] == [new.url]


def test_an_expired_token_is_renewed_once_on_401():
    run = Run(spider())
    answers = iter([(401, "reddit/unauthorized.json", JSON), ok("new.json")])
    obs = run.one(listing("r/example"), routes({
        "access_token": TOKEN_OK, "/oauth/r/example/new": lambda: next(answers)}
        ) if False else lambda r: TOKEN_OK if "access_token" in r.url else next(answers))
    assert obs.outcome is Outcome.OK
    assert [r.url.split("?")[0] for r in run.requests] == [TOKEN, f"{API}/r/example/new",
                                                           TOKEN, f"{API}/r/example/new"]


def test_a_401_after_renewal_is_auth_required_never_absence():
    run = Run(spider())
    obs = run.one(listing("r/example"), routes({
        "access_token": TOKEN_OK, "/oauth/": (401, "reddit/unauthorized.json", JSON)}))
    assert obs.outcome is Outcome.AUTH_REQUIRED and obs.outcome.transient
    assert len(run.requests) == 4


def test_a_401_on_the_feed_path_never_sends_the_token_to_the_feeds():
    run = Run(spider())
    obs = run.one(listing("r/example", access="feeds"), routes({
        "/new/.rss": (401, "Unauthorized", {"Content-Type": "text/plain"})}))
    assert obs.outcome is Outcome.AUTH_REQUIRED
    assert len(run.requests) == 1 and b"Authorization" not in run.requests[0].headers


def test_a_refused_client_says_what_to_check():
    obs = Run(spider()).one(listing("r/example"), routes({
        "access_token": (401, '{"message": "Unauthorized", "error": 401}', JSON)}))
    assert obs.outcome is Outcome.AUTH_REQUIRED
    assert "REDDIT_CLIENT_ID" in (obs.detail or "") and "s3cr3t" not in (obs.detail or "")


def test_thread_listing_reads_post_and_comment_tree_and_excuses_more():
    run = Run(spider())
    obs = run.one(listing(f"{WEB}/r/example/comments/1kh35wk/test_title/"), routes({
        "access_token": TOKEN_OK, "/oauth/comments/1kh35wk": ok("thread.json")}))
    assert run.requests[-1].url == f"{API}/comments/1kh35wk?limit=500&raw_json=1"
    assert [e.key for e in obs.entries] == ["t3_1kh35wk", "t1_c1aaaa", "t1_c1bbbb"]
    comment = obs.entries[1]
    assert comment.extra["link_id"] == "t3_1kh35wk"
    assert comment.probe_url == f"{WEB}/comments/1kh35wk/_/c1aaaa/"
    # The removed comment is left out; the two behind "more" may not be called missing.
    assert obs.signals["removed_in_listing"] == ["t1_c1cccc"]
    assert obs.signals["skipped_keys"] == ["t1_c1dddd", "t1_c1eeee"]
    assert obs.signals["skipped_entries"] == 2


def test_user_listing_reads_about_submitted_and_comments_in_one_window():
    run = Run(spider())
    obs = run.one(listing("u/alice"), routes({
        "access_token": TOKEN_OK, "/user/alice/about": ok("about_normal.json"),
        "/user/alice/submitted": ok("user_submitted.json"),
        "/user/alice/comments": ok("user_comments.json")}))
    assert [r.url.split("?")[0] for r in run.requests[1:]] == [
        f"{API}/user/alice/about", f"{API}/user/alice/submitted", f"{API}/user/alice/comments"]
    assert obs.signals["account_state"] == "normal"
    # The comments reach back less far: the older submission lies outside the window
    # both listings vouch for, so it is not listed (it cannot become missing).
    assert sorted(e.key for e in obs.entries) == ["t1_u1com1", "t1_u1com2", "t3_u1post"]


def test_a_suspended_account_is_an_account_state_not_a_list_of_deletions():
    obs = Run(spider()).one(listing("u/someone"), routes({
        "access_token": TOKEN_OK, "/user/someone/about": ok("about_suspended.json")}))
    assert obs.outcome is Outcome.OK and obs.entries == []
    assert obs.signals["account_state"] == "suspended"
    assert obs.signals["fingerprint"] == "reddit.account.suspended"


def test_an_unknown_account_is_not_found():
    obs = Run(spider()).one(listing("u/gone"), routes({
        "access_token": TOKEN_OK, "/user/gone/about": (404, '{"message": "Not Found"}', JSON)}))
    assert obs.outcome is Outcome.NOT_FOUND


@pytest.mark.parametrize(("answer", "outcome", "code"), [
    ((403, "reddit/subreddit_private.json", JSON), Outcome.FORBIDDEN, "private"),
    ((404, "reddit/subreddit_banned.json", JSON), Outcome.NOT_FOUND, "banned"),
    ((403, '{"message": "Forbidden"}', JSON), Outcome.COLLECTOR_BLOCKED, None),
], ids=["private", "banned", "403-without-reason"])
def test_a_403_is_a_subreddit_state_only_with_its_json_reason(answer, outcome, code):
    obs = Run(spider()).one(listing("r/example"), routes({
        "access_token": TOKEN_OK, "/oauth/r/example/new": answer}))
    assert obs.outcome is outcome
    assert obs.signals.get("error_code") == code


# --- collector blocks ---------------------------------------------------------------------


BLOCKS = {
    "pardner": ((403, "reddit/pardner.html", {**HTML, "Server": "snooserv"}),
                Outcome.COLLECTOR_BLOCKED, "reddit.block.pardner"),
    "network_security": ((403, "reddit/network_security.html", HTML),
                         Outcome.COLLECTOR_BLOCKED, "reddit.block.network_security"),
    "app_shell": ((403, "reddit/app_shell_403.html", HTML), Outcome.COLLECTOR_BLOCKED,
                  "reddit.block.html_answer"),
    "html_200": ((200, "reddit/app_shell_403.html", HTML), Outcome.COLLECTOR_BLOCKED,
                 "reddit.block.html_answer"),
    "login_redirect": ((200, "reddit/login_lor2.html", {
        **HTML, "X-Final-Url": "http://127.0.0.1:8765/login/?reason=lor2"}),
        Outcome.COLLECTOR_BLOCKED, "reddit.block.login_redirect"),
    "too_many": ((429, "reddit/too_many_requests.html", {
        **HTML, "x-ratelimit-remaining": "0", "x-ratelimit-reset": "42"}),
        Outcome.RATE_LIMITED, "reddit.block.too_many_requests"),
}


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("path", ["oauth", "feeds"])
def test_blocks_are_never_content(name, path):
    answer, outcome, rule = BLOCKS[name]
    item = listing("r/example", access=path)
    obs = Run(spider()).one(item, lambda r: TOKEN_OK if "access_token" in r.url else answer)
    assert obs.outcome is outcome and obs.outcome.transient and not obs.outcome.absent
    assert obs.signals["fingerprint"] == rule
    assert not obs.entries and "notice" not in obs.signals
    if name == "too_many":
        assert obs.signals["retry_after"] == 42
    # A probe meets the same words the same way.
    got = Run(spider()).one(probe("t3_1kh35wk", access=path),
                            lambda r: TOKEN_OK if "access_token" in r.url else answer)
    assert got.outcome is outcome and got.post is None


def test_a_blocked_batch_ends_every_probe_transient():
    got = Run(spider()).batch([probe("t3_a1"), probe("t3_b2")], routes({
        "access_token": TOKEN_OK, "/api/info": BLOCKS["pardner"][0]}))
    assert {o.outcome for o in got.values()} == {Outcome.COLLECTOR_BLOCKED}


def test_a_post_quoting_the_pardner_page_is_still_read():
    body = json.dumps({"kind": "Listing", "data": {"after": None, "children": [
        {"kind": "t3", "data": {"id": "q1", "title": "whoa there, pardner!",
                                "selftext": "whoa there, pardner! blocked by network security",
                                "author": "x", "created_utc": 1789293480}}]}})
    obs = Run(spider()).one(listing("r/example"), routes({
        "access_token": TOKEN_OK, "/new": (200, body, JSON)}))
    assert obs.outcome is Outcome.OK and [e.key for e in obs.entries] == ["t3_q1"]


def test_ratelimit_remaining_zero_pauses_the_host_until_reset():
    hosts = HostRegistry(clock=lambda: 1000.0)
    run = Run(spider(MONITOR_HOSTS=hosts))
    run.one(listing("r/example"), routes({
        "access_token": TOKEN_OK,
        "/new": (200, "reddit/new.json", {**JSON, "x-ratelimit-remaining": "0.0",
                                          "x-ratelimit-reset": "37"})}))
    assert hosts.remaining("127.0.0.1:8765") == pytest.approx(37.0)
    quiet = HostRegistry(clock=lambda: 1000.0)
    Run(spider(MONITOR_HOSTS=quiet)).one(listing("r/example"), routes({
        "access_token": TOKEN_OK,
        "/new": (200, "reddit/new.json", {**JSON, "x-ratelimit-remaining": "99",
                                          "x-ratelimit-reset": "37"})}))
    assert quiet.remaining("127.0.0.1:8765") == 0


# --- OAuth probes ---------------------------------------------------------------------------


def test_probes_are_batched_100_fullnames_per_api_info_request():
    keys = [f"t3_p{i:03d}" for i in range(150)]
    answer = json.dumps({"kind": "Listing", "data": {"children": [
        {"kind": "t3", "data": {"id": k[3:], "title": k, "selftext": "x", "author": "a",
                                "created_utc": 1789293480}} for k in keys]}})
    run = Run(spider())
    got: dict[str, Observation] = {}
    for part in (keys[:100], keys[100:]):
        got.update(run.batch([probe(k) for k in part], routes({
            "access_token": TOKEN_OK, "/api/info": (200, answer, JSON)})))
    info = [r for r in run.requests if "/api/info" in r.url]
    assert len(info) == 2 and len([r for r in run.requests if "access_token" in r.url]) == 1
    assert info[0].url.startswith(f"{API}/api/info?id=t3_p000%2Ct3_p001")
    assert info[0].url.endswith("&raw_json=1")
    assert all(got[k].outcome is Outcome.OK for k in keys)


def test_a_post_the_batch_leaves_out_is_probed_alone_and_only_that_decides():
    one = json.dumps({"kind": "Listing", "data": {"children": [
        {"kind": "t3", "data": {"id": "keep1", "title": "t", "selftext": "x", "author": "a"}}]}})
    empty = json.dumps({"kind": "Listing", "data": {"children": []}})

    def answer(request: Request) -> Answer:
        if "access_token" in request.url:
            return TOKEN_OK
        return (200, one if "%2C" in request.url else empty, JSON)
    run = Run(spider())
    got = run.batch([probe("t3_keep1"), probe("t3_gone1")], answer)
    assert got["t3_keep1"].outcome is Outcome.OK
    assert got["t3_gone1"].outcome is Outcome.NOT_FOUND
    assert "batch_size" not in got["t3_gone1"].signals
    assert run.requests[-1].url == f"{API}/api/info?id=t3_gone1&raw_json=1"


def test_an_expired_token_in_a_batch_is_renewed_once():
    answers = iter([(401, "reddit/unauthorized.json", JSON), ok("info.json")])
    run = Run(spider())
    got = run.batch([probe("t3_1kh35wk"), probe("t3_5dec70")],
                    lambda r: TOKEN_OK if "access_token" in r.url else next(answers))
    assert got["t3_1kh35wk"].outcome is Outcome.OK
    assert got["t3_5dec70"].signals["notice"] == "removed_by_moderator"
    assert len([r for r in run.requests if "access_token" in r.url]) == 2


def test_a_hostile_batch_answer_never_concludes_another_post():
    hostile = json.dumps({"kind": "Listing", "data": {"children": [
        {"kind": "t3", "data": {"id": "other", "removed_by_category": "moderator"}},
        {"kind": "t3", "data": {"id": "mine1", "created_utc": 1e300, "edited": "yes",
                                "title": ["x"], "selftext": {"a": 1}, "author": None,
                                "permalink": "//evil.example/x", "url": "file:///etc/passwd"}},
        {"kind": "t3", "data": "not an object"}, "junk", None, 7]}})
    got = Run(spider()).batch([probe("t3_mine1")], routes({
        "access_token": TOKEN_OK, "/api/info": (200, hostile, JSON)}))
    post = got["t3_mine1"].post
    assert got["t3_mine1"].outcome is Outcome.OK and post is not None
    assert post.published_at is None and post.updated_at is None and post.title is None
    assert post.url == f"{WEB}/comments/mine1/" and post.links == []


def test_hostile_listings_skip_one_entry_never_the_listing():
    children = [{"kind": "t3", "data": {"id": "ok1", "title": "t", "created_utc": 1789293480}},
                {"kind": "t3", "data": {"id": "bad id!", "name": "t3_bad"}},
                {"kind": "t1", "data": {"id": "c1", "link_id": None, "name": "t1_c1"}},
                {"kind": "more", "data": {"count": 5000, "children": ["a"] * 3}}]
    # A reply chain 100 deep (as deep as the JSON parser allows): walked without recursion.
    deep = ""
    for i in reversed(range(100)):
        replies = f', "replies": {{"kind": "Listing", "data": {{"children": [{deep}]}}}}' \
            if deep else ""
        deep = f'{{"kind": "t1", "data": {{"id": "d{i}", "link_id": "t3_ok1"{replies}}}}}'
    body = ('[' + json.dumps({"kind": "Listing", "data": {"children": children}})
            + ', {"kind": "Listing", "data": {"children": [' + deep + ']}}]')
    obs = Run(spider()).one(listing(f"{WEB}/comments/ok1/"), routes({
        "access_token": TOKEN_OK, "/comments/ok1": (200, body, JSON)}))
    assert obs.outcome is Outcome.OK
    assert obs.entries[0].key == "t3_ok1" and len(obs.entries) <= things.MAX_THINGS
    # The unknown "more" count and the skipped things: this listing vouches for no absence.
    assert obs.signals["skipped_entries"] > len(obs.signals["skipped_keys"])
    assert "t3_bad" in obs.signals["skipped_keys"] and "t1_c1" in obs.signals["skipped_keys"]


@pytest.mark.parametrize("count", [10**40, 1e308], ids=["10e40", "1e308"])
def test_a_hostile_more_count_is_bounded_and_still_vouches_for_no_absence(count):
    # Found by bench.fuzz (seed 1): a "more" stub's count of 1e308 made the listing's
    # skipped_entries a 309-digit number.
    thread = json.loads(FIXTURES.joinpath("reddit/thread.json").read_text())
    thread[1]["data"]["children"][-1]["data"]["count"] = count
    obs = Run(spider()).one(listing(f"{WEB}/r/example/comments/1kh35wk/t/"), routes({
        "access_token": TOKEN_OK, "/oauth/comments/1kh35wk": (200, json.dumps(thread), JSON)}))
    assert obs.outcome is Outcome.OK and len(obs.entries) == 3
    assert len(obs.signals["skipped_keys"]) < obs.signals["skipped_entries"] <= things.MAX_MORE


@pytest.mark.parametrize("body", ['{"kind": "Listing"', "[" * 100_000, '"a string"',
                                  '{"kind": "t2"}'], ids=["cut", "deep", "string", "wrong"])
def test_unreadable_answers_are_malformed_never_absent(body):
    obs = Run(spider()).one(listing("r/example"), routes({
        "access_token": TOKEN_OK, "/new": (200, body, JSON)}))
    assert obs.outcome is Outcome.MALFORMED


# --- the feed path ---------------------------------------------------------------------


def test_without_credentials_a_subreddit_is_read_from_its_atom_feed():
    run = Run(spider(creds=False))
    obs = run.one(listing("r/example"), routes({"/r/example/new/.rss": ok("feed_new.atom")}))
    assert [r.url for r in run.requests] == [f"{WEB}/r/example/new/.rss?limit=100"]
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries] == ["t3_1kh35wk", "t3_1kh30aa"]
    post, link = obs.entries
    assert post.text == '<div class="md"><p>Testing <strong>markdown</strong> body</p></div>'
    assert "submitted by" not in post.text and post.author == "alice"
    assert post.published_at == datetime(2026, 9, 13, 9, 58, tzinfo=UTC)
    assert post.probe_url == f"{WEB}/comments/1kh35wk/"
    assert link.text == "" and link.author == "bob"


def test_access_oauth_without_a_client_is_a_configuration_problem():
    obs = Run(spider(creds=False)).one(listing("r/example", access="oauth"), routes({}))
    assert obs.outcome is Outcome.AUTH_REQUIRED and "REDDIT_CLIENT_ID" in (obs.detail or "")


def test_access_feeds_wins_over_a_configured_client():
    run = Run(spider())
    run.one(listing("u/alice", access="feeds"), routes({"/user/alice/.rss": ok(
        "feed_new.atom")}))
    assert [r.url for r in run.requests] == [f"{WEB}/user/alice/.rss?limit=100"]


@pytest.mark.parametrize(("name", "key", "outcome"), [
    ("feed_thread.atom", "t3_1kh35wk", Outcome.OK),
    ("feed_thread.atom", "t1_c1aaaa", Outcome.OK),
    ("feed_thread_removed.atom", "t3_1kh35wk", Outcome.UNAVAILABLE),
    ("feed_empty.atom", "t3_1kh35wk", Outcome.NOT_FOUND),
    # A comment outside its thread feed's window is not gone: undecided, transient.
    ("feed_thread_removed.atom", "t1_c1aaaa", Outcome.MALFORMED),
])
def test_a_feed_probe_reads_the_posts_own_feed_conservatively(name, key, outcome):
    run = Run(spider(creds=False))
    known = {"link_id": "t3_1kh35wk"} if key.startswith("t1_") else {}
    obs = run.one(probe(key, **known), routes({"/comments/1kh35wk/.rss": ok(name)}))
    assert [r.url for r in run.requests] == [f"{WEB}/comments/1kh35wk/.rss"]
    assert obs.outcome is outcome
    if outcome is Outcome.UNAVAILABLE:
        assert obs.signals["notice"] == "deleted"
        verdict = classify_disappearance("reddit", [{"outcome": "unavailable",
                                                     "signals": obs.signals, "at": None}])
        assert verdict.cause == "ambiguous"
        assert verdict.candidates == ["deleted_by_author", "removed_by_moderator"]
    if outcome is Outcome.OK:
        assert obs.post is not None and obs.post.key == key


def test_feed_probes_are_not_batched():
    run = Run(spider(creds=False))
    got = run.batch([probe("t3_1kh35wk"), probe("t3_abc")], routes({
        "/comments/1kh35wk/.rss": ok("feed_thread.atom"),
        "/comments/abc/.rss": ok("feed_empty.atom")}))
    assert got["t3_1kh35wk"].outcome is Outcome.OK and got["t3_abc"].outcome is Outcome.NOT_FOUND
    assert len(run.requests) == 2


@pytest.mark.parametrize("body", [b"<feed", b"<rss version='2.0'><channel/></rss>"],
                         ids=["cut", "rss"])
def test_a_feed_that_is_not_reddits_atom_is_malformed(body):
    obs = Run(spider(creds=False)).one(listing("r/example"), routes({
        "/new/.rss": (200, body, ATOM)}))
    assert obs.outcome is Outcome.MALFORMED


def test_entities_are_never_expanded_and_odd_ids_are_skipped():
    body = (b"<!DOCTYPE x [<!ENTITY a 'SECRET'>]><feed xmlns='http://www.w3.org/2005/Atom'>"
            b"<entry><id>t3_ok1</id><title>&a;</title></entry>"
            b"<entry><id>https://elsewhere/1</id><title>x</title></entry></feed>")
    obs = Run(spider(creds=False)).one(listing("r/example"), routes({
        "/new/.rss": (200, body, ATOM)}))
    assert obs.outcome is Outcome.OK and [e.key for e in obs.entries] == ["t3_ok1"]
    assert "SECRET" not in (obs.entries[0].title or "")
    assert obs.signals["skipped_entries"] == 1


def test_md_part_is_linear_on_hostile_content():
    from spiders.reddit.feeds import md_part

    assert md_part("<!-- SC_OFF -->" * 50_000) == "<!-- SC_OFF -->" * 49_999
    assert md_part("no markers") == ""


# --- secrets and settings -------------------------------------------------------------


def test_secrets_never_reach_a_repr_or_scrapys_settings_log():
    settings = Settings.load({**CREDS, "reddit_username": "bot", "reddit_password": "pw-XYZ"},
                             environ={})
    client = client_from(settings)
    assert isinstance(client, Client)
    assert client.grant == {"grant_type": "password", "username": "bot", "password": "pw-XYZ"}
    made = spider()
    shown = repr(settings) + repr(client) + pprint.pformat(made.settings.copy_to_dict())
    assert "s3cr3t-value" not in shown and "pw-XYZ" not in shown
    assert client_from(Settings.load({}, environ={})) is None
    installed = Client("app-id")
    assert installed.grant["grant_type"].endswith("/grants/installed_client")


def test_reddit_settings_are_validated():
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match="REDDIT_USERNAME and REDDIT_PASSWORD go together"):
        Settings.load({"reddit_client_id": "x", "reddit_username": "bot"}, environ={})
    with pytest.raises(ConfigError, match="not an http"):
        Settings.load({"reddit_api_url": "oauth.reddit.com"}, environ={})
    got = Settings.load({"reddit_api_url": "http://127.0.0.1:9/prefix/"}, environ={})
    assert got.REDDIT_API_URL == "http://127.0.0.1:9/prefix"


# --- the declaration --------------------------------------------------------------------


def test_targets_and_post_refs():
    from spiders.reddit.platform import check_access, check_thread, listing_of, post_ref

    reddit = PLATFORMS["reddit"]
    assert reddit.kind("subreddit").check("/r/Example/", False) == ("r/Example",
                                                                     "https://www.reddit.com")
    assert reddit.kind("subreddit").identity("r/Example", None)[0] == "example"
    assert reddit.kind("account").check("u/Bob_1", True) == ("u/Bob_1", None)
    assert listing_of("r/Example") == ("subreddit", "Example")
    assert listing_of("u/bob") == ("account", "bob")
    assert post_ref("https://old.example/r/x/comments/1KH35WK/t/", f"{WEB}/") == (
        "t3_1kh35wk", f"{WEB}/comments/1kh35wk/")
    assert check_thread("https://www.reddit.com/r/x/comments/1kh35wk/t/", True)[1] is None
    with pytest.raises(ValueError, match="r/example"):
        reddit.kind("subreddit").check("not a sub!", False)
    with pytest.raises(ValueError, match="thread URL"):
        check_thread("https://www.reddit.com/r/x/", False)
    with pytest.raises(ValueError, match="access"):
        check_access("sometimes")


def test_a_hostile_permalink_never_climbs_out_of_a_prefixed_base() -> None:
    """A thing's permalink is content: joined under the base's path, ``..`` stays
    under the mirror's prefix."""
    from spiders.reddit.things import read_thing

    web = "http://127.0.0.1:8765/mirror/reddit"
    thing = read_thing({"kind": "t3", "data": {
        "name": "t3_abc", "id": "abc", "title": "t", "selftext": "x", "author": "a",
        "subreddit": "s", "created_utc": 1.0,
        "permalink": "/../../../admin/r/s/comments/abc/"}}, web)
    # as a server resolves it: no dot segment left to climb above the prefix
    assert thing.post.url.startswith(web + "/") and "/.." not in thing.post.url, thing.post.url
