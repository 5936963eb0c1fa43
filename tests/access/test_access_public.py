"""The public view: off by default (404), only published events, limited fields,
stable pseudonyms that are not the handle."""

from __future__ import annotations

from typing import Any

from access_helpers import TESTER, Make, review_groups

from monitor.db import Database
from monitor.db.access import decide, pseudonym_secret
from monitor.settings import Settings


def _events(client: Any, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before = None
    while True:
        r = client.get("/api/v1/public/events", params={"limit": 40, **params,
                                                         **({"before": before} if before else {})})
        assert r.status_code == 200, r.text
        out += r.json()["events"]
        before = r.json()["next"]
        if before is None:
            return out


def test_public_view_is_off_by_default(make_client: Make, analyst_db: Database) -> None:
    r = make_client(database=analyst_db).get("/api/v1/public/events")
    assert r.status_code == 404 and "PUBLIC_VIEW" in r.json()["error"]


def test_public_view_shows_only_published_events(make_client: Make, analyst_db: Database,
                                                 analyst_world: Any) -> None:
    db = analyst_db
    client = make_client(database=db, PUBLIC_VIEW=True)  # no token
    everything = _events(client)
    with db.transaction() as conn:
        total = conn.execute("SELECT count(*) AS n FROM events").fetchone()
    assert total is not None and len(everything) == total["n"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    review_groups(db, sandbox=True)
    assert _events(client) == []
    hostile, i18n = analyst_world.hostile_event, analyst_world.i18n_event
    with db.transaction() as conn:
        decide(conn, TESTER, hostile, "approved")
        decide(conn, TESTER, i18n, "rejected", "private person")
    shown = _events(client)
    assert [e["id"] for e in shown] == [hostile]
    row = shown[0]
    assert set(row) == {"id", "kind", "cause", "platform", "group", "detected_at",
                        "last_seen_visible", "first_seen_gone", "published_at", "author",
                        "url", "title", "text", "evidence"}
    assert set(row["evidence"]) == {"at", "outcome", "http_status", "words", "body_hash"}
    assert "target_id" not in str(row) and "post_key" not in row
    assert _events(client, platform="nope") == []
    assert client.get("/api/v1/public/events", params={"platform": "a\x00"}).status_code == 400
    assert client.get("/api/v1/public/events", params={"limit": 0}).status_code == 422


def test_authors_are_pseudonymised_stably(make_client: Make, analyst_db: Database) -> None:
    db = analyst_db
    with db.transaction() as conn:
        handles = {r["id"]: r["author"] for r in conn.execute(
            "SELECT e.id, p.author FROM events e JOIN posts p ON p.id = e.post_id")}
    assert any(handles.values())
    first = {e["id"]: e for e in _events(make_client(database=db, PUBLIC_VIEW=True))}
    again = {e["id"]: e for e in _events(make_client(database=db, PUBLIC_VIEW=True))}
    for event_id, handle in handles.items():
        shown = first[event_id]
        assert shown["url"] is None
        if handle:
            assert shown["author"].startswith("anon-") and shown["author"] != handle
            assert handle not in shown["author"]
            assert again[event_id]["author"] == shown["author"]
    # The same handle gets the same pseudonym on every event; different handles differ.
    by_handle: dict[str, set[str]] = {}
    for event_id, handle in handles.items():
        if handle:
            by_handle.setdefault(handle, set()).add(first[event_id]["author"])
    assert all(len(v) == 1 for v in by_handle.values())
    assert len({next(iter(v)) for v in by_handle.values()}) == len(by_handle)
    # Pseudonyms off: handles and URLs as recorded.
    plain = {e["id"]: e for e in _events(make_client(database=db, PUBLIC_VIEW=True,
                                                     PUBLIC_PSEUDONYMS=False))}
    assert all(plain[i]["author"] == h for i, h in handles.items())


def test_pseudonym_secret_from_setting_or_generated_once(db: Database) -> None:
    settings = Settings()
    with db.transaction() as conn:
        generated = pseudonym_secret(conn, settings)
    with db.transaction() as conn:
        assert pseudonym_secret(conn, settings) == generated and len(generated) == 32
        assert pseudonym_secret(conn, settings.replace(PSEUDONYM_SECRET="k")) == b"k"
