"""RedNote: the state literal, every unavailable variant, anti-bot and API envelopes."""

from __future__ import annotations

import json
import random
import re
import tracemalloc
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from crawl_helpers import fixture, make_response, routes

from monitor.errors import ParseError
from monitor.observation import NOTICES, SIGNALS, Outcome, WorkItem, body_hash
from spiders import RednoteSpider
from spiders.rednote.spider import note_from_state, with_token
from spiders.rednote.state import initial_state, js_literal_to_json, undefined_to_null

BASE = "http://127.0.0.1:8766"
NOTE = "66a1b2c3000000000d00e1f2"
PAGE = f"{BASE}/explore/{NOTE}?xsec_token=ABoldToken%3D&xsec_source=pc_feed"
HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json; charset=utf-8"}


def probe(url: str = PAGE, **known: str) -> WorkItem:
    return WorkItem(mode="probe", platform="rednote", target_key=f"rednote:{NOTE}", url=url,
                    base_url=BASE, post_key=NOTE, row_id=5, known=dict(known))


def page(name: str) -> tuple[int, str, dict[str, str]]:
    return (200, f"rednote/{name}", HTML)


# --- the state literal -----------------------------------------------------------


def test_undefined_replaced_only_outside_strings():
    value = js_literal_to_json('{"a":undefined,"b":[undefined,1],"c":"x:undefined [undefined",'
                               '"d":"say \\"undefined\\"","e":{"f":undefined}}')
    assert value == {"a": None, "b": [None, 1], "c": "x:undefined [undefined",
                     "d": 'say "undefined"', "e": {"f": None}}


# The reference: tokenise every string literal (possessive, so linear) and rewrite
# only between them. Right, but a Python object per string: 170 ms on 1 MB of "".
_REF_STRING = re.compile(r'("[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z))', re.S)
_UNDEFINED = object()
_TRICKY = ["undefined", '"', "\\", '\\"', "x", " ", "[undefined]", '"undefined"', "\n"]


def _reference(literal: str) -> Any:
    parts = _REF_STRING.split(literal)
    parts[::2] = [part.replace("undefined", "null") for part in parts[::2]]
    try:
        return json.JSONDecoder().raw_decode("".join(parts).lstrip())[0]
    except ValueError as exc:
        return f"error: {exc}"


def _random_state(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([_UNDEFINED, _UNDEFINED, None, 1,
                           "".join(rng.choices(_TRICKY, k=rng.randrange(4)))])
    if roll < 0.65:
        return [_random_state(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {"".join(rng.choices(_TRICKY, k=rng.randrange(3))): _random_state(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def _as_js(value: Any) -> str:
    """A state as a page serves it: ``undefined`` bare, strings JSON-escaped."""
    if value is _UNDEFINED:
        return "undefined"
    if isinstance(value, list):
        return "[" + ",".join(_as_js(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _as_js(v) for k, v in value.items()) + "}"
    return json.dumps(value)


def _as_read(value: Any) -> Any:
    if value is _UNDEFINED:
        return None
    if isinstance(value, list):
        return [_as_read(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_read(v) for k, v in value.items()}
    return value


@pytest.fixture(params=["split", "runs", "no-mark"])
def rewrite_path(request, monkeypatch):
    """Each of the rewrite's three ways: split at quotes, jumps between the
    ``undefined``s, and jumps on a page that holds every masking character."""
    import spiders.rednote.state as rednote

    if request.param == "split":
        monkeypatch.setattr(rednote, "_QUOTES_PER_UNDEFINED", 10**9)
    elif request.param == "runs":
        monkeypatch.setattr(rednote, "_QUOTES_PER_UNDEFINED", -1)
    else:
        monkeypatch.setattr(rednote, "_MARKS", "")
    return request.param


@pytest.mark.parametrize("seed", range(3))
def test_undefined_becomes_null_and_strings_never_change(seed, rewrite_path):
    rng = random.Random(seed)
    for _ in range(500):
        state = _random_state(rng)
        assert js_literal_to_json(_as_js(state)) == _as_read(state), _as_js(state)


@pytest.mark.parametrize("seed", range(3))
def test_undefined_rewrite_reads_any_text_as_a_string_tokeniser_does(seed, rewrite_path):
    # Noise, mostly not JSON: the value, or the parser's error, is the reference's.
    rng = random.Random(seed)
    pieces = [*_TRICKY, "undefine", "d", ",", "[", "]", ":", "{", "}", "1"]
    for _ in range(2_000):
        literal = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 30)))
        try:
            got: Any = js_literal_to_json(literal)
        except ParseError as exc:
            got = f"error: {str(exc).split(': ', 1)[1]}"
        assert got == _reference(literal), literal


def test_a_page_holding_a_masking_character_keeps_it(monkeypatch):
    import spiders.rednote.state as rednote

    monkeypatch.setattr(rednote, "_MARKS", "\ue000\ue001")
    literal = '["\ue0001\ue0002 \\\\", undefined, "\\"undefined"]'
    assert js_literal_to_json(literal) == ["\ue0001\ue0002 \\", None, '"undefined']


@pytest.mark.parametrize("literal", [
    '"' * 1_000_000 + "undefined",
    "[undefined" + ',""' * 333_333 + "]",
    '["\\\\",' * 200_000 + "undefined]",
])
def test_undefined_rewrite_makes_no_object_per_string(literal):
    # The cost was a Python object per string literal (a 1 MB state of "" froze
    # the reactor for 170 ms); what the rewrite allocates must not grow with the
    # number of strings, only with the text: a few copies of it at most.
    tracemalloc.start()
    try:
        undefined_to_null(literal)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(literal) + 100_000


def test_malformed_literal_raises_parse_error():
    with pytest.raises(ParseError, match="not a parseable literal"):
        js_literal_to_json('{"a": function(){}}')


def test_note_page_parses():
    state = initial_state(fixture("rednote/note_page.html").decode())
    assert state is not None
    post = note_from_state(state, NOTE, BASE, "ABoldToken=")
    assert post is not None
    assert post.key == NOTE
    assert post.url == f"{BASE}/explore/{NOTE}"  # no token in the permalink
    assert post.title == "周末去哪儿"
    assert post.text.startswith("第一次来… 别把 \"a:undefined\" 当成 [undefined]")
    assert post.author == "daisy"
    assert post.published_at == datetime.fromtimestamp(1721900000, UTC)
    assert post.updated_at == datetime.fromtimestamp(1721950000, UTC)
    # stable media ids, never the signed URLs
    assert post.media == ["1040g00830abcdef0123456789", "1040g00830fedcba9876543210"]
    assert all("?" not in m and "sign" not in m for m in post.media)
    assert post.counters == {"likedCount": "1.2万", "collectedCount": "3456",  # as served
                             "commentCount": "210", "shareCount": "88"}
    assert post.extra["xsec_token"] == "ABtokenFromState="
    assert post.extra["user_id"] == "5c315a550000000006031475"
    assert post.extra["last_update_time"] == 1721950000000
    assert post.extra["ip_location"] == "上海"
    assert post.extra["type"] == "normal"
    assert post.extra["tags"] == ["城市漫步"]


def test_with_token_replaces_only_the_token():
    url = with_token(PAGE, "ABnew=")
    query = parse_qs(urlsplit(url).query)
    assert query == {"xsec_token": ["ABnew="], "xsec_source": ["pc_feed"]}
    assert with_token(PAGE, None) == PAGE
    bare = with_token(f"{BASE}/explore/{NOTE}", "T")
    assert parse_qs(urlsplit(bare).query) == {"xsec_token": ["T"], "xsec_source": ["pc_feed"]}


# --- spider: the served note -------------------------------------------------------


def test_probe_ok(driver_for):
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(probe(), routes({NOTE: page("note_page.html")}))
    assert obs.outcome is Outcome.OK
    assert obs.post is not None and obs.post.key == NOTE
    assert obs.body_hash == body_hash(fixture("rednote/note_page.html"))
    assert (obs.mode, obs.post_key, obs.row_id, obs.platform) == ("probe", NOTE, 5, "rednote")
    assert obs.entries is None
    assert "xsec_token=ABoldToken" in driver.requests[0].url


def test_probe_uses_known_token(driver_for):
    driver = driver_for(RednoteSpider)
    driver.run(probe(xsec_token="ABfresh="), routes({NOTE: page("note_page.html")}))
    query = parse_qs(urlsplit(driver.requests[0].url).query)
    assert query["xsec_token"] == ["ABfresh="]
    assert query["xsec_source"] == ["pc_feed"]


def test_post_target_listing_is_a_probe_with_one_entry(driver_for):
    item = probe()
    item.mode = "listing"
    (obs,) = driver_for(RednoteSpider).run(item, routes({NOTE: page("note_page.html")}))
    assert obs.outcome is Outcome.OK
    assert obs.entries is not None and [e.key for e in obs.entries] == [NOTE]


def test_invalid_utf8_page_still_parses(driver_for):
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: page("invalid_utf8.html")}))
    assert obs.outcome is Outcome.OK
    assert obs.post is not None and "\ufffd" in obs.post.text


def test_api_ok_envelope(driver_for):
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (200, "rednote/api_ok.json",
                                                                   JSON)}))
    assert obs.outcome is Outcome.OK
    assert obs.post is not None and obs.post.title == "周末去哪儿"
    assert obs.post.media == ["1040g00830abcdef0123456789"]
    assert obs.post.counters == {"liked_count": "12"}


# --- spider: unavailable, ambiguous and transient -------------------------------------

REDIRECT_300031 = f"{BASE}/404?source=/404/sec_yJwItGEJabc&error_code=300031"
REDIRECT_NOTE = f"{BASE}/404?source=note&noteId={NOTE}&errorCode=-510001"

CASES = [
    # (fixture, final url, outcome, notice, error_code, message contains)
    ("unavailable_300031.html", REDIRECT_300031, Outcome.UNAVAILABLE, "unavailable_generic",
     "300031", "当前笔记暂时无法浏览"),
    ("page_gone.html", None, Outcome.UNAVAILABLE, "unavailable_generic", None,
     "你访问的页面不见了"),
    ("deleted.html", None, Outcome.UNAVAILABLE, "deleted", None, "该笔记已被删除"),
    ("deleted_short.html", None, Outcome.UNAVAILABLE, "deleted", None, "笔记已删除"),
    ("removed_violation.html", REDIRECT_300031, Outcome.UNAVAILABLE, "removed_violation",
     "300031", "该内容因违规已被删除"),
    ("violation_hidden.html", None, Outcome.UNAVAILABLE, "removed_violation", None,
     "因违规无法查看"),
    ("private.html", None, Outcome.UNAVAILABLE, "private", None, "私密笔记"),
    ("private_setting.html", None, Outcome.UNAVAILABLE, "private", None, "因用户设置"),
    ("under_review.html", REDIRECT_NOTE, Outcome.UNAVAILABLE, "under_review", "-510001",
     "笔记状态异常"),
    ("content_unavailable.html", None, Outcome.UNAVAILABLE, "content_unavailable", None,
     "当前内容无法展示"),
    ("not_found.html", None, Outcome.UNAVAILABLE, "not_found", None, "笔记不存在"),
    ("expired.html", None, Outcome.UNAVAILABLE, "not_found", None, "已失效"),
    ("account_deleted.html", None, Outcome.UNAVAILABLE, "account_deleted", None, "该用户已注销"),
    ("anti_bot.html", None, Outcome.ANTI_BOT, None, None, "安全验证"),
    ("too_frequent.html", None, Outcome.ANTI_BOT, None, None, "访问频繁"),
    ("ip_risk.html", None, Outcome.ANTI_BOT, None, None, "IP存在风险"),
    ("login_wall.html", None, Outcome.AUTH_REQUIRED, None, None, "请打开小红书App扫码查看"),
]


@pytest.mark.parametrize(("name", "final", "outcome", "notice", "code", "message"), CASES,
                         ids=[c[0] for c in CASES])
def test_unavailable_pages(driver_for, name, final, outcome, notice, code, message):
    def answer(request):
        return page(name)

    driver = driver_for(RednoteSpider)
    if final:
        # The real page is reached by a redirect; the final URL carries the code.

        spider = driver.spider
        (request,) = list(spider._first(_job(spider, probe())))
        response = make_response(request, 200, f"rednote/{name}", HTML, url=final)
        (obs,) = list(request.callback(response))
    else:
        (obs,) = driver.run(probe(), answer)
    assert obs.outcome is outcome
    assert obs.signals.get("notice") == notice
    assert obs.signals.get("error_code") == code
    assert obs.message and message in obs.message
    assert obs.post is None
    assert set(obs.signals) <= set(SIGNALS)
    if notice:
        assert notice in NOTICES
    fingerprint = obs.signals.get("fingerprint")
    assert fingerprint is not None and fingerprint.startswith("rednote.text.")


def _job(spider, item):
    from spiders.base import Job

    job = Job(item)
    spider._open.add(job)
    return job


def test_bare_404_redirect_without_text_is_generic(driver_for):

    spider = driver_for(RednoteSpider).spider
    (request,) = list(spider._first(_job(spider, probe())))
    response = make_response(request, 200, b"<html><body></body></html>", HTML,
                             url=f"{BASE}/explore?source=404")
    (obs,) = list(request.callback(response))
    assert obs.outcome is Outcome.UNAVAILABLE
    assert obs.signals["notice"] == "unavailable_generic"
    assert obs.final_url == f"{BASE}/explore?source=404"


@pytest.mark.parametrize(
    ("name", "outcome", "notice", "code", "message"),
    [
        ("api_510000.json", Outcome.UNAVAILABLE, "not_found", "-510000", "笔记不存在"),
        ("api_510001_abnormal.json", Outcome.UNAVAILABLE, "under_review", "-510001",
         "笔记状态异常，请稍后查看"),
        ("api_510001_hidden.json", Outcome.UNAVAILABLE, "content_unavailable", "-510001",
         "当前内容无法展示"),
        ("api_300012.json", Outcome.COLLECTOR_BLOCKED, None, "300012", "网络连接异常"),
        ("api_300011.json", Outcome.COLLECTOR_BLOCKED, None, "300011", None),
        ("api_300015.json", Outcome.ANTI_BOT, None, "300015", "浏览器异常"),
        ("api_minus100.json", Outcome.TOKEN_EXPIRED, None, "-100", "登录已过期"),
        ("api_empty_items.json", Outcome.MALFORMED, None, "0", "成功"),
    ],
)
def test_api_envelopes(driver_for, name, outcome, notice, code, message):
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (200, f"rednote/{name}",
                                                                   JSON)}))
    assert obs.outcome is outcome
    assert obs.signals.get("notice") == notice
    assert obs.signals.get("error_code") == code
    if message:
        assert obs.message and message in obs.message
    if outcome is Outcome.MALFORMED:
        assert obs.detail
    else:  # the words decided: the rule's name is the evidence
        assert obs.signals["fingerprint"].startswith("rednote.")
    if code in ("300012", "300011"):  # blocks of the collector, never about the note
        assert obs.outcome.blocked and obs.outcome.transient and not obs.outcome.absent
        assert obs.signals["fingerprint"] in ("rednote.code.ip_block",
                                              "rednote.code.account_security")


@pytest.mark.parametrize("status", [461, 471])
def test_captcha_statuses_block_the_collector(driver_for, status):
    headers = {**HTML, "Verifytype": "102", "Verifyuuid": "b2d7e1c0-uuid"}
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (status, "", headers)}))
    assert obs.outcome is Outcome.COLLECTOR_BLOCKED
    assert obs.http_status == status
    assert obs.signals["verify_type"] == "102" and obs.signals["verify_uuid"] == "b2d7e1c0-uuid"
    assert obs.signals["fingerprint"] == f"rednote.status.captcha_{status}"


def test_a_403_is_anti_bot_and_names_its_fingerprint(driver_for):
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (403, "", HTML)}))
    assert obs.outcome is Outcome.ANTI_BOT
    assert obs.signals["fingerprint"] == "rednote.status.forbidden"


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome"),
    [
        (403, "", HTML, Outcome.ANTI_BOT),
        (503, "rss/challenge_403.html", {**HTML, "cf-mitigated": "challenge"}, Outcome.ANTI_BOT),
        (429, "", {"Retry-After": "30"}, Outcome.RATE_LIMITED),
        (500, "", {}, Outcome.SERVER_ERROR),
        (404, "<html><body></body></html>", HTML, Outcome.NOT_FOUND),
        (404, "rednote/deleted.html", HTML, Outcome.UNAVAILABLE),
        (200, "rednote/malformed_state.html", HTML, Outcome.MALFORMED),
        (200, "rednote/no_state.html", HTML, Outcome.MALFORMED),
        (200, "{\"code\": ", JSON, Outcome.MALFORMED),
        (200, "[1]", JSON, Outcome.MALFORMED),
    ],
)
def test_transport_and_malformed(driver_for, status, body, headers, outcome):
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (status, body, headers)}))
    assert obs.outcome is outcome
    assert obs.http_status == status
    if outcome is Outcome.MALFORMED:
        assert obs.detail
    if status == 429:
        assert obs.signals["retry_after"] == 30


def test_malformed_state_detail_names_the_parser_error(driver_for):
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: page("malformed_state.html")}))
    assert "__INITIAL_STATE__" in (obs.detail or "")


def test_state_without_this_note_is_generic(driver_for):
    other = "66a0000000000000000000aa"
    (obs,) = driver_for(RednoteSpider).run(
        probe(url=f"{BASE}/explore/{other}"), routes({other: page("note_page.html")}))
    assert obs.outcome is Outcome.UNAVAILABLE
    assert obs.signals["notice"] == "unavailable_generic"


# --- account listing (profile page) --------------------------------------------------

USER = "5c315a550000000006031475"


def account() -> WorkItem:
    return WorkItem(mode="listing", platform="rednote", target_key=f"rednote:{USER}", url=USER,
                    base_url=BASE, row_id=2)


def test_profile_listing(driver_for):
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(account(), routes({f"/user/profile/{USER}": page("profile.html")}))
    assert driver.requests[0].url == f"{BASE}/user/profile/{USER}"
    assert obs.outcome is Outcome.OK
    entries = obs.entries or []
    assert [e.key for e in entries] == [NOTE, "66a0000000000000000000aa"]
    assert entries[0].extra["xsec_token"] == "ABprofileToken1="
    assert entries[0].url == f"{BASE}/explore/{NOTE}"
    assert entries[0].counters == {"likedCount": "1.2万"}
    # A card's title is kept aside: a card is never diffed against the note page.
    assert entries[1].title is None and entries[1].text == ""
    assert entries[1].extra["display_title"] == "夜景" and entries[1].extra["type"] == "video"
    assert entries[0].extra["content_source"] == "card"
    # Fewer cards than a page and no noteQueries: the listing is complete.
    assert obs.signals == {"listing_end": True}
    # No card time: the id's first 8 hex digits (0x66a1b2c3 = 2024-07-25).
    assert entries[0].published_at == datetime.fromtimestamp(0x66a1b2c3, UTC)


@pytest.mark.parametrize(
    ("name", "outcome", "notice"),
    [("account_deleted.html", Outcome.UNAVAILABLE, "account_deleted"),
     ("anti_bot.html", Outcome.ANTI_BOT, None),
     ("malformed_state.html", Outcome.MALFORMED, None)],
)
def test_profile_unavailable(driver_for, name, outcome, notice):
    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: page(name)}))
    assert obs.outcome is outcome
    assert obs.signals.get("notice") == notice


# --- hostile pages ------------------------------------------------------------------

_MARK = "<script>window.__INITIAL_STATE__="
_NOTE_STATE = ('{"note":{"noteDetailMap":{"' + NOTE + '":{"note":{"noteId":"' + NOTE +
               '","title":"t","desc":"d","x":undefined}}}}}')


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # The old regex backtracked cubically over a whitespace run that no
        # </script> follows: 3,000 spaces took 14 s, 100,000 never ended.
        (_MARK + "{}" + " " * 100_000 + "x", {}),
        (_MARK + " " * 100_000, ParseError),
        (_MARK + _NOTE_STATE + " " * 100_000 + ";</script>", "note"),
        (_MARK + "\t\n " * 30_000 + _NOTE_STATE + "</SCRIPT>", "note"),
        # Quotes and escapes that a search for strings rescans from every quote.
        (_MARK + '{"a":undefined,"b":"' + '\\"' * 50_000, ParseError),
        (_MARK + '"' * 100_000 + "undefined", ParseError),
        ("window.__INITIAL_STATE__ " * 20_000, None),
        (_MARK + "[" * 100_000 + "]" * 100_000 + "</script>", ParseError),
        (_MARK + "undefined " * 20_000, ParseError),
        ("<script>" * 50_000 + _MARK + "{}</script>", {}),
    ],
    ids=["spaces-no-script-end", "only-spaces", "spaces-then-end", "spaces-before",
         "escaped-quotes", "many-quotes", "markers-without-assignment", "deep-nesting",
         "many-undefined", "many-script-tags"],
)
def test_hostile_state_literals_parse_or_fail_as_malformed(html, expected):
    if expected is ParseError:
        with pytest.raises(ParseError, match="__INITIAL_STATE__"):
            initial_state(html)
        return
    state = initial_state(html)
    if expected == "note":
        assert state is not None
        post = note_from_state(state, NOTE, BASE)
        assert post is not None and post.key == NOTE and post.text == "d"
    else:
        assert state == expected


def test_hostile_page_is_malformed_through_the_spider(driver_for):
    body = (_MARK + "{" + " " * 100_000 + "<p>").encode()
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (200, body, HTML)}))
    assert obs.outcome is Outcome.MALFORMED
    assert "__INITIAL_STATE__" in (obs.detail or "")


def test_odd_note_fields_read_as_absent(driver_for):
    note = {"noteId": NOTE, "title": ["x"], "desc": {"a": 1}, "user": "daisy",
            "interactInfo": None, "imageList": [None, "x", {"urlDefault": "http://[x"},
                                                {"fileId": "f1"}],
            "video": {"media": "m"}, "tagList": {"a": 1}, "time": "soon"}
    state = {"note": {"noteDetailMap": {NOTE: {"note": note}}}}
    html = _MARK + json.dumps(state) + "</script>"
    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (200, html.encode(), HTML)}))
    assert obs.outcome is Outcome.OK
    assert obs.post is not None
    assert (obs.post.title, obs.post.text, obs.post.author) == (None, "", None)
    assert obs.post.media == ["f1"]
    assert obs.post.counters == {} and obs.post.published_at is None


def test_profile_skips_and_counts_unreadable_cards(driver_for):
    good = {"id": NOTE, "noteCard": {"displayTitle": "ok", "user": "not an object"}}
    cards = [None, good, {"noteCard": {}}, "card", {"id": "66a0000000000000000000aa"}]
    html = _MARK + json.dumps({"user": {"notes": [cards]}}) + "</script>"
    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: (200, html.encode(), HTML)}))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == [NOTE, "66a0000000000000000000aa"]
    assert obs.signals["skipped_entries"] == 3
    assert obs.signals["skipped_keys"] == []


def test_profile_cards_past_the_cap_are_counted_as_skipped_without_keys(driver_for):
    cards = [{"id": f"{i:024x}", "noteCard": {"displayTitle": "t"}} for i in range(600)]
    html = _MARK + json.dumps({"user": {"notes": [cards]}}) + "</script>"
    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: (200, html.encode(), HTML)}))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == [c["id"] for c in cards[:500]]
    assert obs.signals == {"skipped_entries": 100, "skipped_keys": []}


# --- account listing: profile page, then user_posted (issue 9) -------------------------

POSTED = "/api/sns/web/v1/user_posted"
API = {"Content-Type": "application/json; charset=utf-8"}


def api(name: str, status: int = 200) -> tuple[int, str, dict[str, str]]:
    return (status, f"rednote/{name}", API)


def account_at(base: str = BASE) -> WorkItem:
    return WorkItem(mode="listing", platform="rednote", target_key=f"rednote:{USER}", url=USER,
                    base_url=base, row_id=2)


def test_profile_with_more_notes_pages_through_user_posted(driver_for):
    driver = driver_for(RednoteSpider)
    answers = {"cursor=669f10000000000000000001": api("user_posted_page1.json"),
               "cursor=669f00000000000000000003": api("user_posted_last.json"),
               f"/user/profile/{USER}": page("profile_more.html")}
    (obs,) = driver.run(account(), routes(answers))
    urls = [r.url for r in driver.requests]
    assert urls[0] == f"{BASE}/user/profile/{USER}"
    assert all(u.startswith(f"{BASE}{POSTED}?num=30&") and f"user_id={USER}" in u
               for u in urls[1:]) and len(urls) == 3
    assert obs.outcome is Outcome.OK
    entries = obs.entries or []
    # The profile's cards, then the API's, each note once (669f1… is on both).
    assert [e.key for e in entries] == [NOTE, "669f10000000000000000001",
                                        "669f00000000000000000003", "669e00000000000000000004"]
    tokens = [e.extra["xsec_token"] for e in entries]
    assert tokens == ["ABprofileToken1=", "ABprofileToken2=", "ABapiToken3=", "ABapiToken4="]
    assert obs.signals == {"listing_end": True}
    api_card = entries[2]
    assert api_card.extra["display_title"] == "夜景" and api_card.extra["type"] == "video"
    assert api_card.counters == {"liked_count": "1.1万"} and api_card.author == "daisy"
    assert api_card.published_at == datetime.fromtimestamp(0x669f0000, UTC)
    assert api_card.url == f"{BASE}/explore/669f00000000000000000003"


@pytest.mark.parametrize(
    "answer",
    [api("api_300015.json"), api("api_300012.json"), api("api_510000.json"),
     api("api_minus100.json"), page("login_wall.html"), (461, b"", {"Verifytype": "102"}),
     (200, b'{"code":0,"data":{"notes":"junk"}}', API), (200, b"{" * 50_000, API),
     (503, b"", {}), TimeoutError("user_posted timed out")],
    ids=["sign-300015", "ip-300012", "gone-510000", "session-100", "html", "captcha-461",
         "junk-notes", "deep-json", "503", "timeout"],
)
def test_a_failed_user_posted_page_ends_the_walk_without_listing_end(driver_for, answer):
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(account(), routes({POSTED: answer,
                                           f"/user/profile/{USER}": page("profile_more.html")}))
    # The profile's notes are the listing; nothing is said about the notes past them.
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == [NOTE, "669f10000000000000000001"]
    assert "listing_end" not in obs.signals and "account_state" not in obs.signals
    assert obs.detail
    assert obs.http_status == 200 and obs.final_url == f"{BASE}/user/profile/{USER}"


@pytest.mark.parametrize(
    "profile",
    [page("login_wall.html"), page("anti_bot.html"), page("malformed_state.html"),
     (461, b"", {"Verifytype": "102", "Verifyuuid": "u"}), (200, b"<html>no state</html>", HTML)],
    ids=["login-wall", "anti-bot", "malformed", "captcha-461", "no-state"],
)
def test_a_blocked_profile_falls_back_to_user_posted(driver_for, profile):
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(account(), routes({POSTED: api("user_posted_last.json"),
                                           f"/user/profile/{USER}": profile}))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == ["669e00000000000000000004"]
    assert obs.signals == {"listing_end": True}
    assert obs.final_url and POSTED in obs.final_url


@pytest.mark.parametrize(
    ("profile", "outcome"),
    [(page("login_wall.html"), Outcome.AUTH_REQUIRED), (page("anti_bot.html"), Outcome.ANTI_BOT),
     ((461, b"", {"Verifytype": "102"}), Outcome.COLLECTOR_BLOCKED),
     (page("ip_risk.html"), Outcome.ANTI_BOT)],
    ids=["login-wall", "anti-bot", "captcha-461", "ip-risk"],
)
def test_a_blocked_profile_and_api_is_a_collector_block_never_an_account_state(
        driver_for, profile, outcome):
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(account(), routes({POSTED: api("api_300015.json"),
                                           f"/user/profile/{USER}": profile}))
    assert obs.outcome is outcome and obs.outcome.blocked
    assert "account_state" not in obs.signals and "notice" not in obs.signals
    assert obs.final_url == f"{BASE}/user/profile/{USER}"
    assert "user_posted answered code 300015" in (obs.detail or "")


@pytest.mark.parametrize(
    ("name", "state", "notice", "words"),
    [("account_deleted.html", "deleted", "account_deleted", "该用户已注销"),
     ("profile_no_user.html", "deleted", "account_deleted", "用户不存在"),
     ("profile_banned.html", "suspended", "account_suspended", "该账号已被封禁")],
)
def test_profile_words_give_the_account_state(driver_for, name, state, notice, words):
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(account(), routes({USER: page(name)}))
    assert len(driver.requests) == 1  # an account's own words: no fallback
    assert obs.outcome is Outcome.UNAVAILABLE
    assert obs.signals["account_state"] == state and obs.signals["notice"] == notice
    assert obs.signals["fingerprint"].startswith("rednote.profile.")
    assert obs.message and words in obs.message
    assert set(obs.signals) <= set(SIGNALS)


def test_a_banned_profile_makes_its_notes_account_suspended(driver_for):
    """The listing's words decide the cause of its notes' disappearance, over the
    generic page their probes get (and over the bare ``suspended`` flag)."""
    from monitor.classify import classify_disappearance

    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: page("profile_banned.html")}))
    context = {"listing_outcome": obs.outcome.value, **obs.signals}
    generic = {"outcome": "unavailable", "at": "2026-08-01T12:00:00+00:00",
               "signals": {"notice": "unavailable_generic", "error_code": "300031"}}
    verdict = classify_disappearance("rednote", [generic, generic], context)
    assert (verdict.cause, verdict.candidates) == ("account_suspended", [])
    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: page("account_deleted.html")}))
    verdict = classify_disappearance("rednote", [generic, generic],
                                     {"listing_outcome": obs.outcome.value, **obs.signals})
    assert verdict.cause == "account_deleted"


@pytest.mark.parametrize(
    ("note_id", "expected"),
    [("66a1b2c3000000000d00e1f2", datetime.fromtimestamp(0x66a1b2c3, UTC)),
     ("5c315a550000000006031475", datetime.fromtimestamp(0x5c315a55, UTC)),
     ("00000001000000000d00e1f2", None),  # 1970: before RedNote
     ("7fffffff000000000d00e1f2", None),  # 2038: after now
     ("ffffffff000000000d00e1f2", None),
     ("66a1b2c3", None), ("zz a1b2c3000000000d00e1f", None), ("６６a1b2c3000000000d00e1f2", None)],
)
def test_a_note_ids_time_is_read_only_when_plausible(note_id, expected):
    from spiders.rednote.listing import id_time

    assert id_time(note_id, datetime(2026, 11, 30, tzinfo=UTC)) == expected


def test_a_card_time_wins_over_the_id():
    from spiders.rednote.listing import card_entry

    card = {"note_id": "66a1b2c3000000000d00e1f2", "time": 1721900000000}
    entry = card_entry(card, BASE, datetime(2026, 11, 30, tzinfo=UTC))
    assert entry.published_at == datetime.fromtimestamp(1721900000, UTC)


MIRROR = "http://127.0.0.1:8766/mirror/xhs"


def test_every_url_keeps_a_base_url_path_prefix(driver_for):
    driver = driver_for(RednoteSpider)
    answers = {f"{MIRROR}{POSTED}": api("user_posted_last.json"),
               f"{MIRROR}/user/profile/{USER}": page("profile_more.html")}
    (obs,) = driver.run(account_at(MIRROR), routes(answers))
    assert [r.url.split("?")[0] for r in driver.requests] == [
        f"{MIRROR}/user/profile/{USER}", f"{MIRROR}{POSTED}"]
    assert obs.outcome is Outcome.OK
    assert all((e.url or "").startswith(f"{MIRROR}/explore/") for e in obs.entries or [])
    # A note under the mirror: probed under it, with the listing's token.
    url = f"{MIRROR}/explore/{NOTE}?xsec_token=ABold&xsec_source=pc_feed"
    item = WorkItem(mode="probe", platform="rednote", target_key=f"rednote:{USER}", url=url,
                    base_url=MIRROR, post_key=NOTE, row_id=5, known={"xsec_token": "ABnew"})
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(item, routes({NOTE: page("note_page.html")}))
    request = driver.requests[0].url
    assert request.startswith(f"{MIRROR}/explore/{NOTE}?xsec_token=ABnew")
    assert obs.outcome is Outcome.OK and obs.post is not None
    assert obs.post.url == f"{MIRROR}/explore/{NOTE}"
    # A bare note id under the mirror.
    item = WorkItem(mode="probe", platform="rednote", target_key="rednote:x", url=NOTE,
                    base_url=MIRROR, post_key=NOTE, row_id=5)
    driver = driver_for(RednoteSpider)
    driver.run(item, routes({NOTE: page("note_page.html")}))
    assert driver.requests[0].url.startswith(f"{MIRROR}/explore/{NOTE}")


def test_note_id_is_read_under_a_path_prefix():
    from spiders.rednote.platform import note_id, note_ref

    assert note_id(f"{MIRROR}/explore/{NOTE}?xsec_token=x") == NOTE
    assert note_id(f"{MIRROR}/discovery/item/{NOTE}/") == NOTE
    assert note_id(f"{MIRROR}/explore/{NOTE}/comments") is None
    assert note_ref(f"{MIRROR}/explore/{NOTE}", MIRROR)[0] == NOTE


# --- hostile listings ----------------------------------------------------------------


def test_a_profile_of_ten_thousand_cards_keeps_the_cap_and_counts_the_rest(driver_for):
    cards = [{"id": f"66a1{i:020x}", "xsecToken": f"t{i}", "noteCard": {"displayTitle": "t"}}
             for i in range(10_000)]
    state = {"user": {"notes": [cards], "noteQueries": [{"hasMore": False}]}}
    html = _MARK + json.dumps(state) + "</script>"
    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: (200, html.encode(), HTML)}))
    assert obs.outcome is Outcome.OK
    assert len(obs.entries or []) == 500
    # Cards past the cap were not read: the listing vouches for no absence.
    assert obs.signals["skipped_entries"] == 9_500 and obs.signals["skipped_keys"] == []


def test_junk_cards_never_stop_the_others(driver_for):
    huge = "长" * 1_000_000
    nested: Any = []
    for _ in range(500):
        nested = [nested]
    cards = [
        {"id": NOTE, "xsecToken": "ABgood=", "noteCard": {"displayTitle": huge,
                                                          "user": {"nickname": huge}}},
        {"id": {"$gt": ""}, "noteCard": nested},
        {"id": "x" * 100_000},
        nested, 7, None, True,
        {"id": "66a0000000000000000000aa", "xsecToken": ["list"], "noteCard": {
            "interactInfo": {"likedCount": {"a": 1}, "commentCount": "3"}, "time": "soon",
            "user": ["not", "an", "object"]}},
    ]
    state = {"user": {"notes": [cards, "junk"], "noteQueries": "junk"}}
    html = _MARK + json.dumps(state) + "</script>"
    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: (200, html.encode(), HTML)}))
    assert obs.outcome is Outcome.OK
    entries = obs.entries or []
    assert [e.key for e in entries] == [NOTE, "66a0000000000000000000aa"]
    assert entries[0].extra["xsec_token"] == "ABgood="
    assert entries[1].extra["xsec_token"] is None and entries[1].counters == {"commentCount": "3"}
    assert obs.signals["skipped_entries"] == 6
    assert "listing_end" not in obs.signals or obs.signals["skipped_entries"]


def test_a_user_posted_page_of_junk_notes_keeps_the_good_ones(driver_for):
    notes = [None, {"note_id": 12}, {"note_id": ""}, {"display_title": "no id"},
             {"note_id": "669e00000000000000000004", "xsec_token": "ABt=", "user": "x"}]
    body = json.dumps({"code": 0, "data": {"notes": notes, "has_more": False}}).encode()
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(account(), routes({POSTED: (200, body, API),
                                           f"/user/profile/{USER}": page("login_wall.html")}))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == ["12", "669e00000000000000000004"]
    assert obs.signals["skipped_entries"] == 3


# --- edits: lastUpdateTime marks one; ipLocation and counters drift ---------------------


def _note_obs(driver_for, html: str, minute: float) -> Any:
    from test_lifecycle import at

    (obs,) = driver_for(RednoteSpider).run(probe(), routes({NOTE: (200, html.encode(), HTML)}))
    assert obs.outcome is Outcome.OK
    obs.observed_at = at(minute)
    obs.target_key = f"rednote:{USER}"
    return obs


def test_ip_location_and_counters_drift_but_a_new_desc_is_one_edit(driver_for):
    from test_lifecycle import World, at

    html = fixture("rednote/note_page.html").decode()
    world = World(platform="rednote")
    profile = _MARK + json.dumps({"user": {"notes": [[{
        "id": NOTE, "xsecToken": "ABcard=", "noteCard": {"displayTitle": "周末去哪儿",
                                                         "interactInfo": {"likedCount": "9"}}}]],
        "noteQueries": [{"hasMore": False}]}}) + "</script>"
    (listing,) = driver_for(RednoteSpider).run(account(), routes({USER: (200,
                                                                        profile.encode(), HTML)}))
    listing.observed_at = at(0)
    assert world.feed(listing) == []  # the card: its own source, never a note version
    assert world.feed(_note_obs(driver_for, html, 1)) == []  # the baseline
    versions = world.version_count(NOTE)
    drifted = (html.replace('"ipLocation":"上海"', '"ipLocation":"广东"')
               .replace('"likedCount":"1.2万"', '"likedCount":"1.3万"'))
    assert drifted != html
    obs = _note_obs(driver_for, drifted, 2)
    assert obs.post.extra["ip_location"] == "广东"
    assert world.feed(obs) == [] and world.version_count(NOTE) == versions
    moved = profile.replace('"9"', '"12"')  # the card's counter moves too
    (again,) = driver_for(RednoteSpider).run(account(), routes({USER: (200, moved.encode(),
                                                                      HTML)}))
    again.observed_at = at(3)
    assert world.feed(again) == [] and world.version_count(NOTE) == versions
    edited = (drifted.replace('"lastUpdateTime":1721950000000', '"lastUpdateTime":1722950000000')
              .replace('"desc":"第一次来', '"desc":"改过了：第一次来'))
    obs = _note_obs(driver_for, edited, 4)
    assert obs.post.updated_at == datetime.fromtimestamp(1722950000, UTC)
    events = world.feed(obs)
    assert [e.kind for e in events] == ["edited"]
    assert world.version_count(NOTE) == versions + 1
    assert events[0].edit is not None and "改过了" in events[0].edit["rendered"]


# --- the sandbox fake: tokens that expire, accounts, the API ---------------------------


def _fake_world(notes: int = 3, **user: Any) -> tuple[Any, Any, list[Any]]:
    from spiders.rednote.fake import FAKE, new_note, new_user
    from spiders.sandbox.fake import Planner

    planner = Planner(3, "test", {"rednote": FAKE})
    owner = new_user(planner, **user)
    specs = [planner.initial(new_note(planner, owner.user_id)) for _ in range(notes)]
    planner.begin_tick()
    posts = [planner.world.post("rednote", s.key) for s in specs]
    return planner, owner, posts


def _get(planner: Any, path: str, **query: str) -> Any:
    from spiders.rednote.fake import FAKE

    return FAKE.handle(planner.world, BASE, path, query, {})


def _listed_tokens(planner: Any, owner: Any) -> dict[str, str]:
    response = _get(planner, f"/user/profile/{owner.user_id}")
    state = initial_state(response.body.decode())
    assert state is not None
    return {card["id"]: card["xsecToken"] for card in state["user"]["notes"][0]}


def _is_generic(response: Any) -> bool:
    return response.status in (301, 302) and "error_code=300031" in response.header("Location")


def test_fake_listing_tokens_expire_after_their_ttl():
    planner, owner, posts = _fake_world(token_ttl=120.0)
    tokens = _listed_tokens(planner, owner)
    note = posts[0]
    assert set(tokens) == {p.key for p in posts}
    assert _get(planner, f"/explore/{note.key}", xsec_token=tokens[note.key]).status == 200
    for bad in ("", "ABunknown", tokens[posts[1].key]):  # missing, unknown, another note's
        assert _is_generic(_get(planner, f"/explore/{note.key}", xsec_token=bad))
    planner.now += 119
    assert _get(planner, f"/explore/{note.key}", xsec_token=tokens[note.key]).status == 200
    planner.now += 1
    assert _is_generic(_get(planner, f"/explore/{note.key}", xsec_token=tokens[note.key]))
    # The next listing hands out a fresh one.
    fresh = _listed_tokens(planner, owner)[note.key]
    assert fresh != tokens[note.key]
    assert _get(planner, f"/explore/{note.key}", xsec_token=fresh).status == 200


def test_fake_lone_url_token_expires_too():
    planner, owner, posts = _fake_world(token_ttl=100.0)  # the world is 60 s old
    note = posts[0]
    planner.now += 39
    assert _get(planner, f"/explore/{note.key}", xsec_token=note.token).status == 200
    planner.now += 1
    assert _is_generic(_get(planner, f"/explore/{note.key}", xsec_token=note.token))


@pytest.mark.parametrize(
    ("action", "code", "words", "notice"),
    [("delete_by_author", "-510000", "该笔记已被删除", "deleted"),
     ("remove_by_platform", "-510000", "该内容因违规已被删除", "removed_violation"),
     ("make_private", "-510001", "私密笔记", "private"),
     ("put_under_review", "-510001", "笔记状态异常", "under_review")],
)
def test_fake_removed_note_with_a_valid_token_says_why(driver_for, action, code, words,
                                                       notice):
    planner, owner, posts = _fake_world()
    note = posts[0]
    token = _listed_tokens(planner, owner)[note.key]
    planner.world.apply_post_action(note, action)
    # A stale token still gets the generic page, whatever the state.
    assert _is_generic(_get(planner, f"/explore/{note.key}", xsec_token="ABstale"))
    answer = _get(planner, f"/explore/{note.key}", xsec_token=token)
    location = answer.header("Location")
    assert f"errorCode={code}" in location
    query = dict(parse_qs(urlsplit(location).query))
    page = _get(planner, "/404", **{k: v[0] for k, v in query.items()})
    # Read by the spider as the note page's final answer.

    spider = driver_for(RednoteSpider).spider
    (request,) = list(spider._first(_job(spider, probe(url=f"{BASE}/explore/{note.key}"))))
    response = make_response(request, 200, page.body, HTML, url=location)
    (obs,) = list(request.callback(response))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["notice"] == notice
    assert words in (obs.message or "")


@pytest.mark.parametrize(("action", "state"), [("suspend_account", "suspended"),
                                                ("delete_account", "deleted")])
def test_fake_account_actions_show_on_the_profile_and_hide_the_notes(driver_for, action,
                                                                     state):
    planner, owner, posts = _fake_world()
    token = _listed_tokens(planner, owner)[posts[0].key]
    planner.world.apply_account_action("rednote", owner.user_id, action)
    page = _get(planner, f"/user/profile/{owner.user_id}")
    (obs,) = driver_for(RednoteSpider).run(
        WorkItem(mode="listing", platform="rednote", target_key="rednote:u",
                 url=owner.user_id, base_url=BASE, row_id=2),
        routes({owner.user_id: (page.status, page.body, HTML)}))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["account_state"] == state
    assert _is_generic(_get(planner, f"/explore/{posts[0].key}", xsec_token=token))
    assert not planner.world.visible(posts[0])
    from spiders.rednote.fake import FAKE

    assert FAKE.describe(planner.world, posts[0]) == f"account_{state}"


def test_fake_user_posted_pages_with_fresh_tokens(driver_for):
    planner, owner, posts = _fake_world(notes=35)
    first = json.loads(_get(planner, POSTED, user_id=owner.user_id, num="30", cursor="").body)
    assert first["code"] == 0 and first["data"]["has_more"] is True
    cursor = first["data"]["cursor"]
    second = json.loads(_get(planner, POSTED, user_id=owner.user_id, cursor=cursor).body)
    assert second["data"]["has_more"] is False
    keys = [n["note_id"] for n in first["data"]["notes"] + second["data"]["notes"]]
    assert sorted(keys) == sorted(p.key for p in posts) and len(keys) == 35
    note = first["data"]["notes"][0]
    assert _get(planner, f"/explore/{note['note_id']}", xsec_token=note["xsec_token"]).status \
        == 200
    # The spider walks the fake's profile page, then its API, to the end.
    def answer(request):
        path = urlsplit(request.url).path
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        found = _get(planner, path, **query)
        return (found.status, found.body, dict(found.headers))

    (obs,) = driver_for(RednoteSpider).run(
        WorkItem(mode="listing", platform="rednote", target_key="rednote:u",
                 url=owner.user_id, base_url=BASE, row_id=2), answer)
    assert obs.outcome is Outcome.OK and obs.signals == {"listing_end": True}
    assert sorted(e.key for e in obs.entries or []) == sorted(p.key for p in posts)
    assert all(e.published_at is not None for e in obs.entries or [])
    unknown = json.loads(_get(planner, POSTED, user_id="5c315a550000000006031475").body)
    assert unknown["code"] == -510000


def test_fake_watches_accounts_and_a_few_lone_notes():
    from spiders.rednote.fake import FAKE
    from spiders.sandbox import Sandbox
    from spiders.sandbox import fake as fake_module

    saved = fake_module._fakes
    fake_module._fakes = {"rednote": FAKE}
    try:
        sb = Sandbox(scenario="demo")
        targets = FAKE.watch_targets(sb.base_url, sb.plan)
        script = sb.plan.script()
        random_sb = Sandbox(scenario="random", seed=5, notes=12, ticks=12, token_ttl=30)
    finally:
        fake_module._fakes = saved
    accounts = [t for t in targets if "account" in t]
    lone = [t for t in targets if "post" in t]
    assert len(accounts) == 4 and len(lone) == 2
    assert all("xsec_token=" in t["post"] for t in lone)
    actions = {row.get("action") for row in script}
    assert {"suspend_account", "delete_account", "remove_by_platform", "restore"} <= actions
    # The note published at tick 3 is removed at tick 5: found through the listing only.
    published = {row["publish"] for row in script if row.get("tick") == 3 and "publish" in row}
    assert any(row.get("post") in published and row["action"] == "remove_by_platform"
               for row in script if "action" in row)
    # The random part: accounts only, with the knob's ttl.
    users = random_sb.plan.owners_of("rednote")
    assert users and all(u.token_ttl == 30 and not u.alone for u in users)
    assert all("account" in t for t in FAKE.watch_targets(random_sb.base_url, random_sb.plan))


@pytest.mark.parametrize("name", ["unavailable_300031.html", "page_gone.html", "deleted.html",
                                  "removed_violation.html"])
def test_a_note_notice_on_a_profile_is_no_absence(driver_for, name):
    """Only the account's own words make a profile absent: a note's notice there (the
    generic 300031 page a logged-out visitor may get) is transient."""
    driver = driver_for(RednoteSpider)
    (obs,) = driver.run(account(), routes({POSTED: api("api_300015.json"),
                                           f"/user/profile/{USER}": page(name)}))
    assert obs.outcome is Outcome.MALFORMED and obs.outcome.transient
    assert "account_state" not in obs.signals and "notice" not in obs.signals
    assert "note notice" in (obs.detail or "")
    # The API, asked instead, can still give the listing.
    (obs,) = driver_for(RednoteSpider).run(account(), routes({
        POSTED: api("user_posted_last.json"), f"/user/profile/{USER}": page(name)}))
    assert obs.outcome is Outcome.OK and len(obs.entries or []) == 1


def test_a_banned_profile_with_a_broken_state_still_says_banned(driver_for):
    html = fixture("rednote/profile_banned.html").decode().replace('"user":{', '"user":{{{')
    (obs,) = driver_for(RednoteSpider).run(account(), routes({USER: (200, html.encode(), HTML)}))
    assert obs.outcome is Outcome.UNAVAILABLE and obs.signals["account_state"] == "suspended"


def test_fake_token_book_sweeps_expired_tokens():
    from spiders.rednote.fake._tokens import TokenBook

    book = TokenBook()
    first = book.mint("a", now=0.0, ttl=10.0)
    for i in range(TokenBook.SWEEP_AT + 10):
        book.mint(f"n{i}", now=20.0, ttl=100.0)
    assert not book.valid("a", first, 5.0)  # swept: unknown now, even before its expiry
    assert len(book.tokens) <= TokenBook.SWEEP_AT + 10


def test_a_card_id_with_a_lone_surrogate_is_still_an_entry():
    """A hostile id (fuzzing found one) must not make the URL join raise."""
    from spiders.rednote.listing import read_cards

    listing = read_cards([{"id": "\ud800x"}, {"id": NOTE}], BASE, datetime(2026, 1, 1, tzinfo=UTC))
    assert [e.key for e in listing.entries] == ["\ud800x", NOTE]
    assert listing.entries[0].url == f"{BASE}/explore/%ED%A0%80x"
