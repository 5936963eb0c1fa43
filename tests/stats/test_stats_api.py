"""``/api/v1/stats`` over the analyst history (the demo scenario, made hostile): the
answers, their errors, and plots that stay inert with script payloads in names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from analyst_world import ARABIC, CHINESE, RLO, XSS
from fastapi.testclient import TestClient

from monitor.api import create_app
from monitor.db import Database
from monitor.db.access import create_token
from monitor.settings import Settings


@pytest.fixture
def client(analyst_db: Database) -> Iterator[TestClient]:
    with analyst_db.transaction() as conn:
        _, secret = create_token(conn, "stats-viewer", "viewer")
    with TestClient(create_app(Settings(), analyst_db), base_url="http://127.0.0.1") as c:
        c.headers["Authorization"] = f"Bearer {secret}"
        yield c


def _count(db: Database, query: str) -> int:
    with db.transaction() as conn:
        return int(conn.execute(query).fetchone()["n"])


def test_survival_by_platform(client: TestClient, analyst_db: Database,
                              analyst_world: Any) -> None:
    answer = client.get("/api/v1/stats/survival", params={"by": "platform"}).json()
    curves = answer["curves"]
    assert {c["key"] for c in curves} == set(analyst_world.platforms)
    assert sum(c["posts"] for c in curves) == _count(analyst_db,
                                                     "SELECT count(*) AS n FROM posts")
    removed = _count(analyst_db, "SELECT count(DISTINCT post_id) AS n FROM events"
                     " WHERE kind = 'disappeared'")
    # A removal past the grid's last time (a year) reads as censored.
    assert 0 < sum(c["removed"] for c in curves) <= removed
    for c in curves:
        s = [p["survival"] for p in c["points"]]
        assert s == sorted(s, reverse=True) and s[0] <= 1
        for p in c["points"]:
            assert 0 <= p["lower"] <= p["survival"] <= p["upper"] <= 1
            assert p["survival_earliest"] <= p["survival"]
        assert [h["label"] for h in c["headline"]] == ["10 min", "30 min", "1 h", "24 h"]


@pytest.mark.parametrize("by", ["all", "group", "account", "cause"])
def test_survival_every_breakdown(client: TestClient, by: str) -> None:
    response = client.get("/api/v1/stats/survival", params={"by": by, "top": 3})
    assert response.status_code == 200
    answer = response.json()
    assert answer["by"] == by and 0 < len(answer["curves"]) <= 3


def test_filters_narrow_the_answer(client: TestClient, analyst_world: Any) -> None:
    one = analyst_world.platforms[0]
    answer = client.get("/api/v1/stats/survival",
                        params={"by": "platform", "platform": one}).json()
    assert [c["key"] for c in answer["curves"]] == [one]
    future = client.get("/api/v1/stats/rates", params={"since": "2999-01-01"}).json()
    assert future["rows"] == []


def test_rates_count_the_events(client: TestClient, analyst_db: Database) -> None:
    answer = client.get("/api/v1/stats/rates", params={"by": "platform"}).json()
    for kind in ("disappeared", "hidden", "edited", "restored"):
        assert sum(r[kind] for r in answer["rows"]) == _count(
            analyst_db, f"SELECT count(*) AS n FROM events WHERE kind = '{kind}'")
    weekly = client.get("/api/v1/stats/rates", params={"by": "group", "period": "week"})
    assert weekly.status_code == 200
    assert all(r["period"] for r in weekly.json()["rows"])


def test_keywords_of_removed_posts(client: TestClient, analyst_db: Database) -> None:
    with analyst_db.transaction() as conn:
        # Chinese text in removed posts of accounts that also kept posts up.
        conn.execute(
            "UPDATE versions v SET content = content || jsonb_build_object('text', %s::text)"
            " FROM events e WHERE e.kind = 'disappeared' AND v.post_id = e.post_id",
            (f"{CHINESE} 审查 {XSS[0]}",))
    response = client.get("/api/v1/stats/keywords", params={"min_count": 2, "top": 500})
    assert response.status_code == 200
    assert "<" not in response.text  # the JSON escapes markup as \u003c
    answer = response.json()
    assert answer["posts"]["removed"] > 0 and answer["posts"]["surviving"] > 0
    terms = {t["term"]: t for t in answer["terms"]}
    assert "审查" in terms and terms["审查"]["z"] > 0 and terms["审查"]["surviving"] == 0
    assert "script" not in terms and "xss" not in terms  # script bodies are not text


@pytest.mark.parametrize("path, params, status", [
    ("/api/v1/stats/survival", {"by": "author"}, 422),
    ("/api/v1/stats/survival", {"since": "last tuesday"}, 422),
    ("/api/v1/stats/survival", {"top": 0}, 422),
    ("/api/v1/stats/rates", {"platform": "myspace"}, 422),
    ("/api/v1/stats/rates", {"period": "fortnight"}, 422),
    ("/api/v1/stats/keywords", {"limit": 10**9}, 422),
    ("/api/v1/stats/plots/pie.svg", {}, 422),
    ("/api/v1/stats/rates", {"account": "a\x00b"}, 422),
    ("/api/v1/stats/plots/causes.svg", {"group": "\x00"}, 422),
])
def test_bad_parameters_are_refused(client: TestClient, path: str, params: dict[str, Any],
                                    status: int) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")


def test_a_token_is_required(analyst_db: Database) -> None:
    with TestClient(create_app(Settings(), analyst_db), base_url="http://127.0.0.1") as c:
        for path in ("/api/v1/stats/survival", "/api/v1/stats/plots/survival.svg"):
            response = c.get(path)
            assert response.status_code == 401
            assert "error" in response.json()
        c.headers["Authorization"] = "Bearer tdm_nottoken_xxxxxxxxxxxxxxxxxxxxxxxx"
        assert c.get("/api/v1/stats/rates").status_code == 401


# --- plots -----------------------------------------------------------------------------

HOSTILE = [*XSS, f"{RLO} {ARABIC} $\\frac{{1}}{{0}}$ _hidden", CHINESE, "x" * 5000]


def _assert_inert(svg: str) -> None:
    root = ET.fromstring(svg.encode())  # parses as XML: nothing broke out of its text
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower()
        assert tag not in {"script", "foreignobject", "iframe", "a", "image", "use"} or (
            tag == "use" and all(v.startswith("#") for k, v in element.attrib.items()
                                 if k.endswith("href")))
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (tag, name)
            assert "javascript:" not in value.lower()
    # The labels are drawn as glyph paths and the comments holding their text dropped:
    # no fragment of a payload is left in the file at all.
    for fragment in ("script", "iframe", "onerror", "onload", "javascript", "__xss"):
        assert fragment not in svg.lower(), fragment
    assert root[0].tag == "{http://www.w3.org/2000/svg}title" and root[0].text


@pytest.mark.parametrize("name", ["survival", "deletions", "causes"])
def test_plots_are_inert_svg_with_hostile_names(client: TestClient, analyst_db: Database,
                                                name: str) -> None:
    with analyst_db.transaction() as conn:
        ids = [r["id"] for r in conn.execute("SELECT id FROM posts ORDER BY id LIMIT %s",
                                             (len(HOSTILE),))]
        for post, payload in zip(ids, HOSTILE, strict=True):
            conn.execute("UPDATE posts SET author = %s WHERE id = %s", (payload, post))
        conn.execute("UPDATE targets SET group_name = %s", (XSS[2],))
        conn.execute("UPDATE events SET group_name = %s, cause = %s WHERE id IN"
                     " (SELECT id FROM events WHERE kind = 'disappeared' LIMIT 3)",
                     (XSS[2], XSS[0]))
    for by in ("account", "group", "cause", "platform"):
        response = client.get(f"/api/v1/stats/plots/{name}.svg", params={"by": by})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        _assert_inert(response.text)


def test_plots_of_an_empty_window(client: TestClient) -> None:
    for name in ("survival", "deletions", "causes"):
        response = client.get(f"/api/v1/stats/plots/{name}.svg", params={"since": "2999-01-01"})
        assert response.status_code == 200
        _assert_inert(response.text)
