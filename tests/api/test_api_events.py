"""GET /api/v1/events and /api/v1/events/{id} over the analyst history: every filter
(checked against `takedown events`' own query), full-text search in English and Chinese,
cursor pages, limits, errors and hostile content."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from analyst_world import CHINESE, RLO, XSS
from api_rows import add_event, add_post, add_target, add_version, at
from fastapi.testclient import TestClient

from monitor.db import Database
from monitor.db import queries as q
from monitor.db.access import create_token, revoke_token


def all_pages(client: TestClient, params: dict[str, Any], limit: int = 7) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(1000):
        page = client.get("/api/v1/events", params={**params, "limit": limit,
                                                    **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["events"]) <= limit
        ids += [e["id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the pages never ended")


def expected(db: Database, f: q.EventFilter) -> list[int]:
    """What `takedown events` selects, newest first."""
    with db.transaction() as conn:
        rows = q.events(conn, f)
    return [r["id"] for r in sorted(rows, key=lambda r: (r["detected_at"], r["id"]),
                                    reverse=True)]


def test_pages_list_every_event_once_newest_first(client: TestClient,
                                                  shared_db: Database) -> None:
    ids = all_pages(client, {})
    assert len(ids) > 100
    assert ids == expected(shared_db, q.EventFilter())


def _world_values(db: Database) -> dict[str, Any]:
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT t.key, t.value, e.detected_at FROM events e JOIN targets t"
            " ON t.id = e.target_id ORDER BY e.id LIMIT 1 OFFSET 30").fetchone()
        causes = [r["cause"] for r in conn.execute(
            "SELECT DISTINCT cause FROM events WHERE cause IS NOT NULL ORDER BY 1")]
        # A group of its own (the history has one), and an event outside both groups
        # so that the group filter has something to leave out.
        group = "filters"
        if not conn.execute("SELECT 1 FROM targets WHERE group_name = %s",
                            (group,)).fetchone():
            add_event(conn, add_post(conn, add_target(conn, group=group)), "edited", at(3))
            add_event(conn, add_post(conn, add_target(conn, group="left-out")), "edited",
                      at(4))
    return {"key": row["key"], "value": row["value"], "middle": row["detected_at"],
            "causes": causes, "group": group}


@pytest.mark.parametrize("case", [
    "platform", "platforms", "kind", "kinds", "cause", "group", "target_key", "target_value",
    "since", "until", "since_until", "combined",
])
def test_each_filter_selects_what_takedown_events_selects(
        case: str, client: TestClient, shared_db: Database) -> None:
    v = _world_values(shared_db)
    middle = v["middle"].isoformat()
    cases: dict[str, tuple[dict[str, Any], q.EventFilter]] = {
        "platform": ({"platform": "weibo"}, q.EventFilter(platforms=["weibo"])),
        "platforms": ({"platform": ["reddit", "rss"]},
                      q.EventFilter(platforms=["reddit", "rss"])),
        "kind": ({"kind": "restored"}, q.EventFilter(kinds=["restored"])),
        "kinds": ({"kind": ["edited", "hidden"]}, q.EventFilter(kinds=["edited", "hidden"])),
        "cause": ({"cause": v["causes"][:2]}, q.EventFilter(causes=v["causes"][:2])),
        "group": ({"group": ["sandbox", v["group"]]},
                  q.EventFilter(groups=["sandbox", v["group"]])),
        "target_key": ({"target": v["key"]}, q.EventFilter(targets=[v["key"]])),
        "target_value": ({"target": v["value"]}, q.EventFilter(targets=[v["value"]])),
        "since": ({"since": middle}, q.EventFilter(since=v["middle"])),
        "until": ({"until": middle}, q.EventFilter(until=v["middle"])),
        "since_until": ({"since": middle, "until": (v["middle"] + timedelta(seconds=20))
                         .isoformat()},
                        q.EventFilter(since=v["middle"],
                                      until=v["middle"] + timedelta(seconds=20))),
        "combined": ({"platform": "mastodon", "kind": "disappeared", "group": "sandbox"},
                     q.EventFilter(platforms=["mastodon"], kinds=["disappeared"],
                                   groups=["sandbox"])),
    }
    params, f = cases[case]
    want = expected(shared_db, f)
    assert want, f"the history has no event for {case}: the case proves nothing"
    total = len(expected(shared_db, q.EventFilter()))
    assert len(want) < total or case == "since", f"{case} filters nothing out"
    assert all_pages(client, params) == want


def test_a_duration_counts_back_from_the_apps_clock(client: TestClient,
                                                   shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn, group="durations")
        post = add_post(conn, target)
        recent = add_event(conn, post, "disappeared", at(23 * 60 + 30), cause="deleted_by_author")
        older = add_event(conn, post, "restored", at(-60))
    # The app's clock reads 2031-01-02 00:00 (conftest.NOW); at(23h30) is 30 min before it.
    ids = [e["id"] for e in client.get("/api/v1/events", params={"since": "1h"}).json()
           ["events"]]
    assert ids == [recent]
    ids = [e["id"] for e in client.get("/api/v1/events", params={
        "since": "2d", "group": "durations"}).json()["events"]]
    assert ids == [recent, older]


@pytest.mark.parametrize(("params", "words"), [
    ({"platform": "mastodn"}, ["did you mean 'mastodon'", "weibo"]),
    ({"kind": "deleted"}, ["kind", "disappeared", "hidden", "edited", "restored"]),
    ({"cause": "censored"}, ["cause", "removed_by_platform", "policy"]),
    ({"since": "last tuesday"}, ["since", "ISO"]),
    ({"limit": 0}, ["limit"]),
    ({"limit": 501}, ["limit", "500"]),
    ({"limit": "many"}, ["limit"]),
    ({"q": "censor\x00ship"}, ["q", "NUL"]),
    ({"group": "sand\x00box"}, ["group", "NUL"]),
    ({"target": ["ok", "\x00"]}, ["target", "NUL"]),
])
def test_a_bad_filter_is_a_422_naming_what_is_allowed(
        client: TestClient, params: dict[str, Any], words: list[str]) -> None:
    r = client.get("/api/v1/events", params=params)
    assert r.status_code == 422
    assert set(r.json()) == {"error"}
    for word in words:
        assert word in r.json()["error"]


def test_limit_defaults_to_50_and_allows_500(client: TestClient) -> None:
    assert len(client.get("/api/v1/events").json()["events"]) == 50
    body = client.get("/api/v1/events", params={"limit": 500}).json()
    assert 100 < len(body["events"]) <= 500 and body["next_cursor"] is None


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not a cursor!", "xx", _cursor(b"garbage"), _cursor(b'["2030-01-01T00:00:00", 5]'),
    _cursor(b'["yesterday", 5]'), _cursor(b'["2030-01-01T00:00:00+00:00", "5"]'),
    _cursor(b'["2030-01-01T00:00:00+00:00", true]'), _cursor(b'{"a": 1}'),
    _cursor("[\"\u202e\", 1]".encode()),
])
def test_a_malformed_cursor_is_a_400(client: TestClient, cursor: str) -> None:
    r = client.get("/api/v1/events", params={"cursor": cursor})
    assert r.status_code == 400
    assert "next_cursor" in r.json()["error"]


def test_pages_neither_repeat_nor_skip_while_events_arrive(client: TestClient,
                                                           shared_db: Database) -> None:
    before = expected(shared_db, q.EventFilter())
    with shared_db.transaction() as conn:
        target = add_target(conn)
        post = add_post(conn, target)
    seen: list[int] = []
    cursor = None
    for n in range(100):
        params: dict[str, Any] = {"limit": 9}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/events", params=params).json()
        seen += [e["id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # Between two pages: a new event, and one at the very time of the page's last
        # row (a higher id: it sorts before that row, among those already read).
        last = body["events"][-1]
        with shared_db.transaction() as conn:
            add_event(conn, post, "edited", at(n))
            add_event(conn, post, "edited", datetime.fromisoformat(last["detected_at"]))
    assert len(seen) == len(set(seen)), "a page repeated an event"
    assert seen == before, "the pages skipped or added an event"


def test_full_text_finds_english_words_in_any_version(client: TestClient,
                                                      shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn)
        first = add_post(conn, target)
        add_version(conn, first, "The Mayor announced a Curfew downtown", title="Notice")
        add_version(conn, first, "Nothing to see here", seen=at(5))
        hit = add_event(conn, first, "edited", at(6))
        other = add_post(conn, target)
        add_version(conn, other, "The mayor opened a bakery")
        miss = add_event(conn, other, "disappeared", at(7), cause="deleted_by_author")

    def found(text: str) -> set[int]:
        r = client.get("/api/v1/events", params={"q": text, "limit": 500})
        assert r.status_code == 200, r.text
        return {e["id"] for e in r.json()["events"]}

    assert hit in found("curfew") and miss not in found("curfew")  # an earlier version
    assert {hit, miss} <= found("MAYOR")  # case does not matter
    assert found("mayor curfew") & {hit, miss} == {hit}  # every term must match
    assert found("notice") & {hit, miss} == {hit}  # the title
    assert found("bakery curfew") & {hit, miss} == set()
    assert found("   ") == set() and found("!!!") == set()


def test_full_text_finds_chinese_without_spaces(client: TestClient,
                                                shared_db: Database, world: Any
                                                ) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn, platform="weibo", value="新闻观察者")
        post = add_post(conn, target, platform="weibo")
        add_version(conn, post, "网友发起关于审查的讨论，随后被删除")
        hit = add_event(conn, post, "disappeared", at(1), cause="removed_by_platform")
        scattered = add_post(conn, target, platform="weibo")
        add_version(conn, scattered, "查看今天的审计报告")  # 审 and 查, not together
        miss = add_event(conn, scattered, "disappeared", at(2), cause="removed_by_platform")

    def found(text: str) -> set[int]:
        return {e["id"] for e in client.get("/api/v1/events",
                                            params={"q": text, "limit": 500}).json()["events"]}

    assert hit in found("审查") and miss not in found("审查")
    assert hit in found("关于审查的讨论")
    assert miss in found("审计") and hit not in found("审计")
    # The analyst history's edited post with Chinese, Arabic and emoji text.
    assert world.i18n_event in found(CHINESE[7:11])
    assert world.i18n_event in found("الرقابة")


def test_full_text_searches_the_platforms_words(client: TestClient, shared_db: Database,
                                                world: Any) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn, platform="weibo")
        post = add_post(conn, target, platform="weibo")
        add_version(conn, post, "一条普通的微博")
        hit = add_event(conn, post, "disappeared", at(1), cause="removed_by_platform",
                        message="此微博已被作者删除 (content violates community rules)")
    for text in ("已被作者删除", "violates community", "Community"):
        ids = {e["id"] for e in client.get("/api/v1/events", params={"q": text}).json()
               ["events"]}
        assert hit in ids, text
    # The history's event whose words are a script payload: found as text.
    ids = {e["id"] for e in client.get("/api/v1/events", params={"q": "click"}).json()
           ["events"]}
    assert world.hostile_words_event in ids


def test_search_combines_with_filters_and_pages(client: TestClient,
                                                shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn)
        post = add_post(conn, target)
        add_version(conn, post, "zebra crossing")
        ids = [add_event(conn, post, "edited", at(n)) for n in range(5)]
        add_event(conn, post, "disappeared", at(9), cause="deleted_by_author")
    got = all_pages(client, {"q": "zebra", "kind": "edited"}, limit=2)
    assert got == ids[::-1]


def test_one_event_and_a_missing_one(client: TestClient, world: Any) -> None:
    event_id = world.events["disappeared"][0]
    body = client.get(f"/api/v1/events/{event_id}").json()
    assert body["id"] == event_id and body["kind"] == "disappeared"
    assert body["evidence"]["observed"]
    r = client.get("/api/v1/events/999999999")
    assert r.status_code == 404 and "GET /api/v1/events" in r.json()["error"]
    assert client.get("/api/v1/events/abc").status_code == 422
    assert client.get(f"/api/v1/events/{2**70}").status_code in (404, 422)


def test_hostile_content_comes_back_as_data(client: TestClient, world: Any) -> None:
    r = client.get(f"/api/v1/events/{world.hostile_words_event}")
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    # Escaped in the bytes (no tag survives even if pasted into HTML), exact as values.
    assert "<" not in r.text and ">" not in r.text
    assert r.json()["evidence"]["observed"]["message"] == XSS[3] + XSS[4]
    body = client.get(f"/api/v1/events/{world.hostile_event}").json()
    assert XSS[0] in body["text"] and body["title"] == XSS[2] and body["author"] == XSS[1]
    assert body["target"].endswith(XSS[1])
    i18n = client.get(f"/api/v1/events/{world.i18n_event}").json()
    assert CHINESE in i18n["text"] and RLO in i18n["text"]


def test_a_token_is_required(anonymous: TestClient, shared_db: Database) -> None:
    r = anonymous.get("/api/v1/events")
    assert r.status_code == 401 and "Bearer" in r.json()["error"]
    r = anonymous.get("/api/v1/events", headers={"Authorization": "Bearer tdm_nope"})
    assert r.status_code == 401 and set(r.json()) == {"error"}
    with shared_db.transaction() as conn:
        token_id, secret = create_token(conn, "short-lived", "viewer")
    ok = anonymous.get("/api/v1/events", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200
    with shared_db.transaction() as conn:
        revoke_token(conn, token_id)
    gone = anonymous.get("/api/v1/events", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401


def test_cursor_is_opaque_text(client: TestClient) -> None:
    cursor = client.get("/api/v1/events", params={"limit": 3}).json()["next_cursor"]
    assert cursor and cursor.isascii() and "=" not in cursor
    at_, event_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert datetime.fromisoformat(at_).tzinfo is not None and isinstance(event_id, int)
