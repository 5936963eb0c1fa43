"""The review queue over the real analyst history: published_clause, the API and the
CLI, and the audit rows every decision leaves."""

from __future__ import annotations

from typing import Any

import pytest
from access_helpers import TESTER, Make, review_groups
from analyst_world import ARABIC
from click.testing import CliRunner
from psycopg import sql

from monitor.db import Database
from monitor.db.access import (
    AccessError,
    UnknownEvent,
    audit_rows,
    decide,
    decisions,
    pending,
    published_clause,
)
from spiders.cli.access import review_group
from spiders.cli.context import Ctx


def _published(db: Database) -> set[int]:
    with db.transaction() as conn:
        return {r["id"] for r in conn.execute(sql.SQL(
            "SELECT e.id FROM events e WHERE {}").format(published_clause("e")))}


def _all(db: Database, group: str | None = None) -> set[int]:
    with db.transaction() as conn:
        return {r["id"] for r in conn.execute(
            "SELECT id FROM events WHERE %s::text IS NULL OR group_name = %s", (group, group))}


def _split_group(db: Database, world: Any) -> tuple[set[int], set[int]]:
    """Move half of the sandbox's events into a second group 'watched' (reviewed);
    returns (watched ids, the rest)."""
    ids = sorted(_all(db))
    watched = set(ids[::2])
    with db.transaction() as conn:
        conn.execute("UPDATE events SET group_name = 'watched' WHERE id = ANY(%s)",
                     (sorted(watched),))
    return watched, set(ids) - watched


def test_published_clause_follows_groups_and_decisions(analyst_db: Database,
                                                       analyst_world: Any) -> None:
    db = analyst_db
    everything = _all(db)
    assert len(everything) > 50
    assert _published(db) == everything  # no group needs review yet
    watched, rest = _split_group(db, analyst_world)
    review_groups(db, watched=True, sandbox=False)
    assert _published(db) == rest
    a, b, c = sorted(watched)[:3]
    with db.transaction() as conn:
        decide(conn, TESTER, a, "approved")
        decide(conn, TESTER, b, "rejected", "names a private person")
        decide(conn, TESTER, c, "note", "checking with the desk")
    assert _published(db) == rest | {a}
    # A later decision replaces an earlier one; the history keeps both.
    with db.transaction() as conn:
        decide(conn, TESTER, a, "rejected", "second thoughts")
        decide(conn, TESTER, b, "approved")
        assert [h["decision"] for h in decisions(conn, a)["history"]] == ["approved",
                                                                         "rejected"]
        assert decisions(conn, a)["state"] == "rejected"
        assert decisions(conn, c)["state"] == "pending"
        assert decisions(conn, min(rest))["state"] == "unreviewed"
        queue = [r["id"] for r in pending(conn, limit=1000)]
    assert _published(db) == rest | {b}
    assert a not in queue and b not in queue and c in queue
    assert set(queue) == watched - {a, b}
    # Turning review off publishes the whole group again.
    review_groups(db, watched=False)
    assert _published(db) == everything


def test_pending_queue_is_oldest_first_with_notes(analyst_db: Database,
                                                  analyst_world: Any) -> None:
    review_groups(analyst_db, sandbox=True)
    with analyst_db.transaction() as conn:
        first = pending(conn, limit=500)
        assert len(first) == len(_all(analyst_db))
        keys = [(r["detected_at"], r["id"]) for r in first]
        assert keys == sorted(keys)
        decide(conn, TESTER, first[0]["id"], "note", "<script>alert(1)</script>")
        page = pending(conn, limit=5)
        assert page[0]["notes"][0]["text"] == "<script>alert(1)</script>"  # stored as given
        nxt = pending(conn, limit=5, after=(page[-1]["detected_at"], page[-1]["id"]))
        assert [r["id"] for r in nxt] == [r["id"] for r in first[5:10]]


@pytest.mark.parametrize("decision, text, problem", [
    ("rejected", None, "reason"), ("rejected", "   ", "reason"), ("note", "", "text"),
    ("note", "x" * 10_001, "10,000"), ("note", "a\x00b", "NUL"), ("maybe", "x", "unknown"),
])
def test_bad_decisions_are_refused(analyst_db: Database, analyst_world: Any, decision: str,
                                   text: str | None, problem: str) -> None:
    event = analyst_world.hostile_event
    with analyst_db.transaction() as conn, pytest.raises(AccessError, match=problem):
        decide(conn, TESTER, event, decision, text)
    with analyst_db.transaction() as conn:
        assert decisions(conn, event)["history"] == []
        with pytest.raises(UnknownEvent, match="no event 987654"):
            decide(conn, TESTER, 987654, "approved")


def test_review_flow_through_the_api(make_client: Make, analyst_db: Database,
                                     analyst_world: Any) -> None:
    db = analyst_db
    review_groups(db, sandbox=True)
    reviewer = make_client("reviewer", database=db)
    viewer = make_client("viewer", database=db)
    admin = make_client("admin", database=db)
    r = viewer.get("/api/v1/review", params={"limit": 3})
    assert r.status_code == 200
    page = r.json()
    assert len(page["events"]) == 3 and page["next"]
    first = page["events"][0]["id"]
    r2 = viewer.get("/api/v1/review", params={"limit": 3, "cursor": page["next"]})
    assert first not in [e["id"] for e in r2.json()["events"]]
    assert viewer.get("/api/v1/review", params={"cursor": "junk"}).status_code == 400
    hostile = analyst_world.hostile_event
    # Viewers read; only reviewers decide.
    assert viewer.post(f"/api/v1/review/{hostile}/approve").status_code == 403
    r = reviewer.post(f"/api/v1/review/{hostile}/reject", json={})
    assert r.status_code == 400 and "reason" in r.json()["error"]
    r = reviewer.post(f"/api/v1/review/{hostile}/reject", json={"reason": 5})
    assert r.status_code == 400
    r = reviewer.post(f"/api/v1/review/{hostile}/reject", content=b"{not json",
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = reviewer.post(f"/api/v1/review/{hostile}/note", json={"text": "needs a second look"})
    assert r.status_code == 200 and r.json()["decision"] == "note"
    r = reviewer.post(f"/api/v1/review/{hostile}/reject", json={"reason": "doxxing"})
    assert r.status_code == 200 and r.json()["text"] == "doxxing"
    r = reviewer.post(f"/api/v1/review/{hostile}/approve", data={"note": "cleared",
                                                                 "next": "/review"})
    assert r.status_code == 303 and r.headers["location"] == "/review"
    state = viewer.get(f"/api/v1/review/{hostile}").json()
    assert state["state"] == "approved"
    assert [h["decision"] for h in state["history"]] == ["note", "rejected", "approved"]
    assert reviewer.post("/api/v1/review/99999999/approve").status_code == 404
    assert reviewer.post(f"/api/v1/review/{2**63}/approve").status_code == 422
    assert hostile not in [e["id"] for e in viewer.get(
        "/api/v1/review", params={"limit": 200}).json()["events"]]
    # Every decision is in the audit log, with who made it.
    entries = admin.get("/api/v1/audit", params={"limit": 10}).json()["entries"]
    review = [e for e in entries if e["action"].startswith("review.")]
    assert [e["action"] for e in review] == ["review.approve", "review.reject", "review.note"]
    assert all(e["subject"] == f"event:{hostile}" for e in review)
    assert review[1]["detail"]["text"] == "doxxing"
    assert review[0]["actor"].startswith("test-reviewer")
    assert admin.get("/api/v1/audit", params={"action": "review.note"}).json(
        )["entries"][0]["detail"]["text"] == "needs a second look"


def _cli(db_url: str, tmp_path: Any, *args: str) -> Any:
    result = CliRunner().invoke(review_group, list(args),
                                obj=Ctx(tmp_path / "none.toml", 0),
                                env={"TAKEDOWN_DATABASE_URL": db_url})
    return result


def test_review_flow_through_the_cli(analyst_db: Database, analyst_db_url: str,
                                     analyst_world: Any, tmp_path: Any) -> None:
    review_groups(analyst_db, sandbox=True)
    event = analyst_world.i18n_event
    with analyst_db.transaction() as conn:  # an author who writes terminal escapes
        conn.execute("UPDATE posts SET author = %s WHERE id = %s",
                     (f"\x1b[2J\u202eevil {ARABIC}", analyst_world.i18n_post))
    result = _cli(analyst_db_url, tmp_path, "list", "--limit", "500")
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.output  # no right-to-left override reaches the terminal
    assert "\x1b" not in result.output
    assert ARABIC.split()[0] in result.output and "\ufffd[2J\ufffdevil" in result.output
    assert str(event) in result.output and str(analyst_world.hostile_event) in result.output
    r = _cli(analyst_db_url, tmp_path, "reject", str(event))
    assert r.exit_code != 0 and "--reason" in r.output
    r = _cli(analyst_db_url, tmp_path, "reject", str(event), "--reason", "   ")
    assert r.exit_code != 0 and "reason" in r.output
    assert _cli(analyst_db_url, tmp_path, "note", str(event), "asked the source").exit_code == 0
    assert _cli(analyst_db_url, tmp_path, "approve", str(event)).exit_code == 0
    r = _cli(analyst_db_url, tmp_path, "approve", "424242")
    assert r.exit_code != 0 and "no event 424242" in r.output
    with analyst_db.transaction() as conn:
        assert decisions(conn, event)["state"] == "approved"
        rows = audit_rows(conn)
    assert [r["action"] for r in rows[:2]] == ["review.approve", "review.note"]
    assert rows[0]["actor"].startswith("cli:") and rows[0]["token_id"] is None
    listed = _cli(analyst_db_url, tmp_path, "list", "--limit", "500", "--format", "json")
    assert f'"id": {event},' not in listed.output


def test_group_review_option_reaches_the_database(db: Database) -> None:
    import tomllib

    from monitor.watchlist import all_kinds
    from monitor.watchlist_model import file_model

    text = '[groups.desk]\nreview = true\n[groups.open]\n'
    groups = file_model(all_kinds()).model_validate(tomllib.loads(text)).groups
    assert groups["desk"].review is True and groups["open"].review is False
    with pytest.raises(Exception, match="review"):
        file_model(all_kinds()).model_validate(tomllib.loads('[groups.x]\nreview = "yes"\n'))
    review_groups(db, **{name: g.review for name, g in groups.items()})
    with db.transaction() as conn:
        from monitor.db.access import group_reviewed, sync_review_groups

        assert group_reviewed(conn, "desk") and not group_reviewed(conn, "open")
        assert not group_reviewed(conn, "never-synced")
        sync_review_groups(conn, {"open": True})  # a partial sync leaves 'desk' alone
        assert group_reviewed(conn, "desk") and group_reviewed(conn, "open")
