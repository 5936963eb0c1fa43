"""GET /api/v1/posts/{id}: versions with word diffs, the timeline as runs (computed by
hand on a hand-made post), events; hostile content as data; a missing post."""

from __future__ import annotations

from typing import Any

from analyst_world import XSS
from api_rows import add_event, add_observation, add_post, add_target, add_version, at
from fastapi.testclient import TestClient

from monitor.db import Database


def iso(minutes: float) -> str:
    return at(minutes).isoformat().replace("+00:00", "Z")


def test_a_post_with_versions_diffs_timeline_and_events(client: TestClient,
                                                        shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        target = add_target(conn, value="timeline")
        post = add_post(conn, target, author="tess")
        add_version(conn, post, "The quick brown fox", title="Fox", seen=at(0))
        add_version(conn, post, "The quick red fox", title="Fox", seen=at(5))
        add_observation(conn, target, post, "ok", at(0), at(10), repeats=3)
        add_observation(conn, target, post, "ok", at(12), mode="listing")
        add_observation(conn, target, post, "timeout", at(15), status=None)
        add_observation(conn, target, post, "not_found", at(20), at(30), repeats=4,
                        status=404, message="Page not found " + XSS[3])
        gone = add_event(conn, post, "disappeared", at(25), cause="deleted_by_author")
        add_observation(conn, target, post, "ok", at(40))
        back = add_event(conn, post, "restored", at(40))
        add_observation(conn, target, post, "gone", at(50), status=410)

    body = client.get(f"/api/v1/posts/{post}").json()
    assert body["post"]["id"] == post and body["post"]["author"] == "tess"
    assert body["post"]["target_id"] == target

    v1, v2 = body["versions"]
    assert (v1["number"], v1["text"], v1["diff"], v1["diff_text"]) == (
        1, "The quick brown fox", None, None)
    assert v2["number"] == 2 and v2["text"] == "The quick red fox"
    assert ["delete", " brown"] in v2["diff"]["word_diff"]
    assert ["insert", " red"] in v2["diff"]["word_diff"]
    assert "[-brown-]{+red+}" in v2["diff_text"]
    assert v2["diff"]["classes"]

    runs = [{k: r[k] for k in ("state", "from", "to", "count", "http_status", "message",
                                "confirmed_at")} for r in body["timeline"]]
    assert runs == [
        {"state": "visible", "from": iso(0), "to": iso(12), "count": 4, "http_status": 200,
         "message": None, "confirmed_at": None},
        {"state": "failed", "from": iso(15), "to": iso(15), "count": 1, "http_status": None,
         "message": None, "confirmed_at": None},
        {"state": "gone", "from": iso(20), "to": iso(30), "count": 4, "http_status": 404,
         "message": "Page not found " + XSS[3], "confirmed_at": iso(25)},
        {"state": "visible", "from": iso(40), "to": iso(40), "count": 1, "http_status": 200,
         "message": None, "confirmed_at": None},
        {"state": "missing", "from": iso(50), "to": iso(50), "count": 1, "http_status": 410,
         "message": None, "confirmed_at": None},
    ]
    assert body["timeline"][2]["outcomes"] == ["not_found"]
    assert [e["id"] for e in body["events"]] == [gone, back]  # oldest first
    assert body["events"][0]["evidence"]["observed"]["http_status"] == 404


def test_a_post_with_nothing_observed(client: TestClient, shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        post = add_post(conn, add_target(conn, value="quiet"))
    body = client.get(f"/api/v1/posts/{post}").json()
    assert (body["versions"], body["timeline"], body["events"]) == ([], [], [])


def test_the_hostile_post_comes_back_as_data(client: TestClient, world: Any) -> None:
    r = client.get(f"/api/v1/posts/{world.hostile_post}")
    assert "<" not in r.text  # escaped in the bytes
    body = r.json()
    assert body["post"]["author"] == XSS[1]
    assert body["post"]["target"].endswith(XSS[1])
    assert XSS[0] in body["versions"][-1]["text"] and body["versions"][-1]["title"] == XSS[2]
    assert any(run["state"] == "gone" for run in body["timeline"])


def test_a_missing_post_is_a_404(client: TestClient) -> None:
    r = client.get("/api/v1/posts/987654321")
    assert r.status_code == 404 and "post_id" in r.json()["error"]
    assert client.get("/api/v1/posts/0").status_code == 404
    assert client.get("/api/v1/posts/-1").status_code == 404
    assert client.get("/api/v1/posts/x%3Cscript%3E").status_code == 422


def test_a_post_needs_a_token(anonymous: TestClient, world: Any) -> None:
    r = anonymous.get(f"/api/v1/posts/{world.hostile_post}")
    assert r.status_code == 401 and set(r.json()) == {"error"}
