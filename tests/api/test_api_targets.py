"""GET /api/v1/targets, /targets/{id}, /accounts and /status: health, deletion rates
computed by hand, failing collectors and since when."""

from __future__ import annotations

from typing import Any

from analyst_world import XSS
from api_rows import add_event, add_observation, add_post, add_target, at
from fastapi.testclient import TestClient

from monitor.db import Database


def iso(minutes: float) -> str:
    return at(minutes).isoformat().replace("+00:00", "Z")


def test_targets_list_every_target_with_health(client: TestClient,
                                               shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        total = conn.execute("SELECT count(*) AS n FROM targets").fetchone()["n"]
    targets = client.get("/api/v1/targets").json()["targets"]
    assert len(targets) == total
    assert {t["state"] for t in targets} <= {"ok", "new", "failing", "attention", "inactive"}
    weibo = client.get("/api/v1/targets", params={"platform": "weibo"}).json()["targets"]
    assert weibo and {t["platform"] for t in weibo} == {"weibo"}
    r = client.get("/api/v1/targets", params={"platform": "myspace"})
    assert r.status_code == 422 and "known platforms" in r.json()["error"]


def test_a_failing_target_says_since_when_and_what_to_do(client: TestClient,
                                                         shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn, platform="rss", kind="feed", value="http://slow.example/feed",
                            group="failing", error_streak=3, last_outcome="timeout",
                            last_error="timed out after 30 s", last_ok_at=at(0),
                            last_checked_at=at(30))
        add_observation(conn, target, None, "ok", at(0), mode="listing")
        add_observation(conn, target, None, "timeout", at(10), at(30), repeats=3,
                        status=None, mode="listing")
    health = client.get(f"/api/v1/targets/{target}").json()["target"]
    assert health["state"] == "failing" and health["error_streak"] == 3
    assert "did not answer" in health["advice"]
    status = client.get("/api/v1/status").json()
    mine = [f for f in status["failing"] if f["group"] == "failing"]
    assert len(mine) == 1
    assert mine[0]["failing_since"] == iso(10) and mine[0]["last_ok_at"] == iso(0)
    assert mine[0]["error_streak"] == 3 and "did not answer" in mine[0]["advice"]
    assert status["by_state"]["failing"] >= 1 and status["targets"] >= 1


def test_a_target_with_its_posts_and_events(client: TestClient, shared_db: Database,
                                            world: Any) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn, value="detail")
        first = add_post(conn, target, first_seen=at(0))
        second = add_post(conn, target, first_seen=at(1))
        old = add_event(conn, first, "disappeared", at(2), cause="deleted_by_author")
        new = add_event(conn, second, "edited", at(3))
    body = client.get(f"/api/v1/targets/{target}").json()
    assert body["target"]["id"] == target and body["target"]["posts"] == 2
    assert [p["id"] for p in body["posts"]] == [second, first]  # newest first
    assert [e["id"] for e in body["events"]] == [new, old]
    hostile = client.get(f"/api/v1/targets/{world.hostile_target}").json()
    assert hostile["target"]["value"].endswith(XSS[1])
    r = client.get("/api/v1/targets/123456789")
    assert r.status_code == 404 and "/api/v1/targets" in r.json()["error"]


def test_accounts_deletion_rates_by_hand(client: TestClient, shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn, platform="mastodon", value="rates")
        posts = [add_post(conn, target, author="rate-author") for _ in range(4)]
        add_event(conn, posts[0], "disappeared", at(1), cause="deleted_by_author")
        add_event(conn, posts[0], "restored", at(2))
        add_event(conn, posts[0], "disappeared", at(3), cause="deleted_by_author")
        add_event(conn, posts[1], "disappeared", at(4), cause="removed_by_platform")
        add_event(conn, posts[2], "hidden", at(5), cause="hidden_from_feed")
        # The same handle on another platform is another account.
        other = add_target(conn, platform="weibo", value="rates")
        add_post(conn, other, author="rate-author", platform="weibo")
    rows = client.get("/api/v1/accounts", params={"author": "rate-author"}).json()["accounts"]
    assert rows == [
        {"platform": "mastodon", "author": "rate-author", "posts": 4, "disappeared": 2,
         "hidden": 1, "deletion_rate": 0.5, "last_event": iso(5)},
        {"platform": "weibo", "author": "rate-author", "posts": 1, "disappeared": 0,
         "hidden": 0, "deletion_rate": 0.0, "last_event": None},
    ]
    only = client.get("/api/v1/accounts", params={"author": "rate-author", "min_posts": 2,
                                                   "platform": "mastodon"}).json()
    assert [a["platform"] for a in only["accounts"]] == ["mastodon"]


def test_accounts_over_the_history(client: TestClient, world: Any) -> None:
    rows = client.get("/api/v1/accounts", params={"limit": 1000}).json()["accounts"]
    assert rows and all(0 <= a["deletion_rate"] <= 1 for a in rows)
    assert [a["disappeared"] for a in rows] == sorted((a["disappeared"] for a in rows),
                                                      reverse=True)
    assert XSS[1] in {a["author"] for a in rows}  # the hostile handle, as data
    assert client.get("/api/v1/accounts", params={"limit": 0}).status_code == 422
    r = client.get("/api/v1/accounts", params={"author": "a\x00"})
    assert r.status_code == 422 and "NUL" in r.json()["error"]


def test_these_need_a_token(anonymous: TestClient) -> None:
    for path in ("/api/v1/targets", "/api/v1/targets/1", "/api/v1/accounts",
                 "/api/v1/status"):
        r = anonymous.get(path)
        assert r.status_code == 401 and set(r.json()) == {"error"}, path
