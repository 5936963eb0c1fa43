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
from conftest import fixture, routes

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
        from conftest import make_response

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
    from conftest import make_response

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
    assert entries[1].title == "夜景" and entries[1].extra["type"] == "video"


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
