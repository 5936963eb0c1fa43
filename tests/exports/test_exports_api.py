"""The export routes: streamed downloads, their names, their filters, their access
rules and their audit trail."""

from __future__ import annotations

import re
from typing import Any

import pytest
from export_helpers import Make, read_back

from monitor.db import Database
from monitor.db import access as access_store
from monitor.exports import TABLES, research_table

FORMATS = ["csv", "jsonl", "parquet"]
FILENAME = re.compile(
    r'^attachment; filename="takedown-[a-z-]+-\d{8}T\d{6}Z\.(csv|jsonl|parquet)"$')


def _count(db: Database, table: str) -> int:
    with db.transaction() as conn:
        return int(conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"])  # noqa: S608


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["events", "posts", "versions"])
def test_viewer_downloads_each_export(make_client: Make, analyst_db: Database, name: str,
                                      fmt: str) -> None:
    with make_client("viewer").stream("GET", f"/api/v1/exports/{name}.{fmt}") as response:
        assert response.status_code == 200
        assert FILENAME.match(response.headers["content-disposition"])
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-length" not in response.headers  # streamed, not buffered
        data = response.read()
    columns, rows = read_back(data, fmt)
    assert columns == TABLES[name].names
    assert len(rows) == _count(analyst_db, name)


def test_filters_reach_the_export(make_client: Make, analyst_db: Database) -> None:
    client = make_client("viewer")
    response = client.get("/api/v1/exports/events.jsonl",
                          params=[("platform", "weibo"), ("platform", "reddit"),
                                  ("kind", "disappeared"), ("since", "2000-01-01T00:00:00Z")])
    assert response.status_code == 200
    _, rows = read_back(response.content, "jsonl")
    assert rows and {r["platform"] for r in rows} <= {"weibo", "reddit"}
    assert {r["kind"] for r in rows} == {"disappeared"}
    _, rows = read_back(client.get("/api/v1/exports/events.csv",
                                   params={"limit": 3}).content, "csv")
    assert len(rows) == 3
    # A group with nothing is an empty file, not an error (hostile value, echoed nowhere).
    response = client.get("/api/v1/exports/events.csv", params={"group": "<script>x</script>"})
    assert response.status_code == 200 and response.text.count("\n") == 1
    assert "script" not in response.headers["content-disposition"]


@pytest.mark.parametrize("params, status, says", [
    ({"kind": "exploded"}, 400, "disappeared"),
    ({"cause": "aliens"}, 400, "deleted_by_author"),
    ({"platform": "mastodn"}, 400, "mastodon"),
    ({"since": "2026-01-01T00:00:00"}, 400, "time zone"),
    ({"since": "yesterday"}, 422, None),
    ({"limit": -1}, 422, None),
    ({"group": "a\x00b"}, 400, "NUL"),
    ({"target": "\x00"}, 400, "NUL"),
])
def test_bad_filters_are_refused_with_advice(make_client: Make, params: dict[str, Any],
                                             status: int, says: str | None) -> None:
    response = make_client("viewer").get("/api/v1/exports/events.csv", params=params)
    assert response.status_code == status
    if says:
        assert says in response.json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/exports/events.xlsx", "/api/v1/exports/targets.csv",
                                  "/api/v1/exports/research.xml"])
def test_unknown_exports_and_formats(make_client: Make, path: str) -> None:
    assert make_client("viewer").get(path).status_code in (404, 422)


@pytest.mark.parametrize("path", ["/api/v1/exports/events.csv",
                                  "/api/v1/exports/research.parquet",
                                  "/api/v1/feeds/events.atom"])
def test_exports_need_a_token(make_client: Make, path: str) -> None:
    response = make_client().get(path)
    assert response.status_code == 401
    assert "token" in response.json()["error"]


def test_a_revoked_token_gets_nothing(make_client: Make, analyst_db: Database) -> None:
    client = make_client("viewer")
    assert client.get("/api/v1/exports/events.csv").status_code == 200
    with analyst_db.transaction() as conn:
        access_store.revoke_token(conn, "export-viewer-0")
    assert client.get("/api/v1/exports/events.csv").status_code == 401


def _audit(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return access_store.audit_rows(conn, action="export")


def test_each_export_is_audited(make_client: Make, analyst_db: Database) -> None:
    client = make_client("viewer")
    client.get("/api/v1/exports/events.csv", params={"platform": "weibo", "kind": "edited"})
    client.get("/api/v1/exports/research.jsonl", params={"table": "posts", "with_text": "true"})
    research, events = _audit(analyst_db)
    assert events["subject"] == "exports/events.csv" and events["actor"] == "export-viewer-0"
    assert events["role"] == "viewer"
    assert events["detail"]["platforms"] == ["weibo"] and events["detail"]["kinds"] == ["edited"]
    assert research["subject"] == "exports/research.jsonl"
    assert research["detail"]["table"] == "posts" and research["detail"]["with_text"] is True
    # A refused request exports nothing and records nothing.
    make_client().get("/api/v1/exports/events.csv")
    client.get("/api/v1/exports/events.csv", params={"kind": "exploded"})
    assert len(_audit(analyst_db)) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_research_export_over_http(make_client: Make, fmt: str) -> None:
    client = make_client("viewer", PSEUDONYM_SECRET="k")
    response = client.get(f"/api/v1/exports/research.{fmt}")
    assert response.status_code == 200
    assert "research-events" in response.headers["content-disposition"]
    columns, rows = read_back(response.content, fmt)
    assert columns == research_table("events", b"k").names and rows
    columns, _ = read_back(client.get(f"/api/v1/exports/research.{fmt}",
                                      params={"table": "posts", "with_text": "1"}).content, fmt)
    assert columns == research_table("posts", b"k", with_text=True).names
    assert client.get(f"/api/v1/exports/research.{fmt}",
                      params={"table": "targets"}).status_code == 422


def test_the_routes_are_in_the_openapi_document(make_client: Make) -> None:
    paths = make_client().app.openapi()["paths"]  # type: ignore[attr-defined]
    for path in ("/api/v1/exports/{export}.{fmt}", "/api/v1/exports/research.{fmt}",
                 "/api/v1/feeds/events.atom", "/public/feeds/events.atom"):
        assert path in paths
