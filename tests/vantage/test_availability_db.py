"""Per-country availability over real PostgreSQL: observations recorded from two
countries through the Recorder, read back as measurements, in ``takedown history`` and
in the exports."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from availability_world import BERLIN, PARIS, SETTINGS, T0, TwoCountries, entry, read_back
from click.testing import CliRunner
from fastapi.testclient import TestClient

from monitor.api import create_app
from monitor.api.auth import install
from monitor.db import Database
from monitor.db.access import create_token
from monitor.db.availability import for_post
from monitor.db.queries import EventFilter
from monitor.exports import TABLES, research_bytes, table_bytes
from monitor.observation import Outcome
from spiders.cli import cli

FORMATS = ["csv", "jsonl", "parquet"]


@pytest.fixture
def world(db: Database) -> TwoCountries:
    """p1: served in Germany, withheld in France by HTTP 451 (twice, then a timeout);
    p2: not found from both countries, hours after it was last served."""
    w = TwoCountries(db)
    p1, p2 = entry("p1", "first post"), entry("p2", "second post")
    w.listing(T0, [p1, p2])
    w.probe("p1", T0 + timedelta(minutes=10), Outcome.OK, BERLIN, 200, post=p1)
    for minutes in (10, 12):
        w.probe("p1", T0 + timedelta(minutes=minutes), Outcome.LEGAL, PARIS, 451,
                fingerprint="mastodon.status.451")
    w.probe("p1", T0 + timedelta(minutes=15), Outcome.TIMEOUT, PARIS)
    for vantage in (PARIS, BERLIN):
        w.probe("p2", T0 + timedelta(hours=3), Outcome.NOT_FOUND, vantage, 404)
    return w


def _plain(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["country"], r["vantage"], r["mode"], r["measurement"], r["outcome"],
             r["http_status"], r["fingerprint"], r["repeats"], r["ok_elsewhere"])
            for r in records]


def test_a_post_seen_from_two_countries_is_a_matrix(db: Database, world: TwoCountries) -> None:
    with db.transaction() as conn:
        p1 = for_post(conn, world.post_id("p1"))
        p2 = for_post(conn, world.post_id("p2"))
        evidence_only = for_post(conn, world.post_id("p1"), failures=False)
    assert _plain(p1) == [
        ("DE", "berlin", "listing", "ok", "ok", 200, None, 1, []),
        ("DE", "berlin", "probe", "ok", "ok", 200, None, 1, []),
        # the unchanged re-check extended the run; the rule that confirmed is carried
        ("FR", "paris", "probe", "confirmed", "legal", 451, "mastodon.status.451", 2, ["DE"]),
        # the timeout is a failed measurement, not an anomaly, and never compared
        ("FR", "paris", "probe", "failure", "timeout", None, None, 1, []),
    ]
    assert p1[2]["first_at"] == T0 + timedelta(minutes=10)
    assert p1[2]["last_at"] == T0 + timedelta(minutes=12)
    assert all(r["post_id"] == world.post_id("p1") and r["observation_id"] for r in p1)
    assert [r["measurement"] for r in evidence_only] == ["ok", "ok", "confirmed"]
    # Not found everywhere, three hours after the last success: anomalies, no contrast.
    assert [(r["country"], r["measurement"], r["ok_elsewhere"]) for r in p2[1:]] == [
        ("FR", "anomaly", []), ("DE", "anomaly", [])]


def test_an_unknown_post_has_no_measurements(db: Database, world: TwoCountries) -> None:
    with db.transaction() as conn:
        assert for_post(conn, 10**9) == []


def test_history_shows_the_countries(db_url: str, world: TwoCountries, tmp_path: Path) -> None:
    env = {"TAKEDOWN_DATABASE_URL": db_url, "TAKEDOWN_WATCHLIST": str(tmp_path / "none.toml")}
    result = CliRunner().invoke(cli, ["history", "p1"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    section = out[out.index("Availability by country"):out.index("\nEvents (")]
    assert "  from 2026-08-01 12:00:00, one column per hour" in section
    lines = section.splitlines()
    assert any(line.startswith("  DE  .") and "ok ×2" in line and "berlin" in line
               for line in lines)
    assert any(line.startswith("  FR  C") and "confirmed ×2" in line and "failure ×1" in line
               for line in lines)
    assert "fingerprint mastodon.status.451" in section
    assert "(served in DE at about the same time)" in section


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_availability_export_in_each_format(db: Database, world: TwoCountries,
                                                fmt: str) -> None:
    # chunk=1: every post straddles chunks, and still its runs are compared together.
    data = b"".join(table_bytes(db, "availability", fmt, EventFilter(), chunk=1))
    columns, rows = read_back(data, fmt)
    assert columns == TABLES["availability"].names
    assert len(rows) == 7
    confirmed = [r for r in rows if r["measurement"] == "confirmed"]
    assert len(confirmed) == 1
    row = confirmed[0]
    assert (row["country"], row["vantage"], row["post_key"], row["fingerprint"]) == \
        ("FR", "paris", "p1", "mastodon.status.451")
    elsewhere = row["ok_elsewhere"]
    assert (json.loads(elsewhere) if fmt == "csv" else elsewhere) == ["DE"]
    assert int(row["http_status"]) == 451 and int(row["repeats"]) == 2
    assert {r["measurement"] for r in rows} == {"ok", "confirmed", "failure", "anomaly"}


def test_the_export_takes_the_filters(db: Database, world: TwoCountries) -> None:
    def rows(f: EventFilter) -> list[dict[str, Any]]:
        return read_back(b"".join(table_bytes(db, "availability", "jsonl", f)), "jsonl")[1]

    assert rows(EventFilter(platforms=["rss"])) == []
    late = rows(EventFilter(since=T0 + timedelta(hours=1)))
    assert [(r["post_key"], r["country"]) for r in late] == [("p2", "FR"), ("p2", "DE")]
    assert len(rows(EventFilter(limit=2))) == 2


def test_the_research_export_hides_names(db: Database, world: TwoCountries) -> None:
    data = b"".join(research_bytes(db, SETTINGS, "availability", "jsonl", EventFilter()))
    text = data.decode()
    for secret in ("p1", "p2", "berlin", "paris", "alice", "ex.social"):
        assert secret not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 7 and "vantage" not in rows[0]
    assert {r["country"] for r in rows} == {"DE", "FR"}
    assert len({r["post"] for r in rows}) == 2


def test_viewers_download_it_and_the_cli_writes_it(db: Database, db_url: str,
                                                  world: TwoCountries, tmp_path: Path) -> None:
    app = create_app(SETTINGS, db)
    if not any(k is not None and k.__name__ == "ApiError" for k in app.exception_handlers):
        install(app)
    with db.transaction() as conn:
        _, secret = create_token(conn, "availability-viewer", "viewer")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        response = client.get("/api/v1/exports/availability.jsonl",
                              params={"platform": "mastodon"})
        assert response.status_code == 200, response.text
        assert len(read_back(response.content, "jsonl")[1]) == 7
        research = client.get("/api/v1/exports/research.csv", params={"table": "availability"})
        assert research.status_code == 200 and "paris" not in research.text
    out = tmp_path / "availability.parquet"
    env = {"TAKEDOWN_DATABASE_URL": db_url, "TAKEDOWN_WATCHLIST": str(tmp_path / "none.toml")}
    result = CliRunner().invoke(cli, ["export", "availability", "--format", "parquet",
                                      "-o", str(out)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(read_back(out.read_bytes(), "parquet")[1]) == 7


def test_the_post_page_shows_availability(db: Database, world: TwoCountries) -> None:
    app = create_app(SETTINGS, db)
    if not any(k is not None and k.__name__ == "ApiError" for k in app.exception_handlers):
        install(app)
    with db.transaction() as conn:
        _, secret = create_token(conn, "availability-page", "viewer")
        # A hostile vantage name (it comes from the watchlist) is shown as text.
        conn.execute("UPDATE observations SET vantage = '<script>alert(1)</script>' "
                     "WHERE vantage = 'paris'")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        html = client.get(f"/posts/{world.post_id('p1')}").text
    section = html[html.index('id="availability-h"'):html.index('id="versions-h"')]
    assert section.count('<tr class="measurement-') == 4
    assert '<tr class="measurement-confirmed"><td>FR</td>' in section
    assert "<code>mastodon.status.451</code>" in section and "<td>DE</td>" in section
    assert "<script>" not in section and "&lt;script&gt;" in section


def test_hostile_countries_and_paused_collectors_prove_nothing(db: Database,
                                                               world: TwoCountries) -> None:
    """A country that is no code is unknown; an absence while the collector was paused
    for that vantage point is a failed measurement, not an anomaly."""
    at = T0 + timedelta(hours=5)
    world.probe("p2", at, Outcome.NOT_FOUND, ("odd", "'; DROP TABLE posts;--\x00"), 404)
    world.probe("p2", at, Outcome.NOT_FOUND, PARIS, 404, collector_paused=True)
    with db.transaction() as conn:
        late = [r for r in for_post(conn, world.post_id("p2")) if r["first_at"] == at]
        count = conn.execute("SELECT count(*) AS n FROM posts").fetchone()
    assert count is not None and count["n"] == 2
    assert [(r["country"], r["vantage"], r["measurement"]) for r in late] == [
        ("??", "odd", "anomaly"), ("FR", "paris", "failure")]
