"""Atom feeds: well-formed whatever the events hold, stable ids, public feeds only
published and pseudonymised, and the routes' access rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from analyst_world import XSS
from export_helpers import Make
from lxml import etree

from monitor.access import Principal, pseudonym
from monitor.db import Database
from monitor.db import access as access_store
from monitor.exports import FeedSpec, build_feed, xml_safe
from monitor.exports.atom import ATOM, entry_id, events_feed
from monitor.settings import Settings

NS = {"a": ATOM}
CONTROLS = "".join(chr(c) for c in range(0x20))
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse(body: bytes) -> Any:
    """The feed parsed strictly (lxml raises on anything not well-formed)."""
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{ATOM}}}feed"
    return root


def check_atom(root: Any) -> list[Any]:
    """RFC 4287's required elements; returns the entries."""
    for name in ("id", "title", "updated", "author/a:name"):
        assert root.find(f"a:{name}", NS) is not None, name
    datetime.fromisoformat(root.findtext("a:updated", namespaces=NS))
    entries = root.findall("a:entry", NS)
    ids = [e.findtext("a:id", namespaces=NS) for e in entries]
    assert len(set(ids)) == len(ids)
    for entry in entries:
        assert entry.findtext("a:id", namespaces=NS).startswith("tag:takedown-monitor,2026:")
        assert entry.findtext("a:title", namespaces=NS)
        updated = datetime.fromisoformat(entry.findtext("a:updated", namespaces=NS))
        assert updated.tzinfo is not None
        link = entry.find("a:link[@rel='alternate']", NS)
        assert link is not None and link.get("href").startswith("http")
    return entries


def _row(i: int, **values: Any) -> dict[str, Any]:
    row = {"id": i, "post_id": 100 + i, "detected_at": NOW - timedelta(minutes=i),
           "kind": "disappeared", "cause": "removed_by_platform", "cause_detail": "legal",
           "candidates": [], "platform": "weibo", "group": "g", "post_key": f"k{i}",
           "author": "alice", "published_at": NOW - timedelta(days=1),
           "last_seen_visible": NOW - timedelta(hours=2), "first_seen_gone": NOW,
           "title": "a title", "text": "some text", "edit": None,
           "evidence": {"observed": {"http_status": 451, "message": "withheld"}}}
    return {**row, **values}


def _spec(author: Any = None) -> FeedSpec:
    return events_feed("http://example.test/", "http://example.test/api/v1/feeds/events.atom",
                       None, None, public=False, author=author or (lambda r: r.get("author")))


def test_control_characters_and_markup_stay_text_in_a_well_formed_feed() -> None:
    hostile = CONTROLS + XSS[0] + "\ufffe\uffff\ud800" + " ]]> &amp; <!-- x -->"
    rows = [_row(1, title=hostile, text=hostile, author=hostile, post_key=hostile,
                 evidence={"observed": {"message": hostile, "http_status": 403}}),
            _row(2, title=None, text=None)]
    root = parse(build_feed(rows, _spec(), NOW))
    first, second = check_atom(root)
    title = first.findtext("a:title", namespaces=NS)
    kept = xml_safe(hostile)
    assert not any(c in kept for c in CONTROLS if c not in "\t\n\r")
    assert XSS[0] in title  # as text: nothing parsed as markup
    assert len(first.find("a:title", NS)) == 0  # no child element slipped in
    assert first.findtext("a:author/a:name", namespaces=NS) == kept
    summary = first.findtext("a:summary", namespaces=NS)
    assert XSS[0] in summary and "]]> &amp; <!-- x -->" in summary
    assert second.findtext("a:title", namespaces=NS).endswith(": k2")  # falls back to the key


@pytest.mark.parametrize("code", list(range(0x20)))
def test_every_c0_control_is_either_allowed_or_stripped(code: int) -> None:
    rows = [_row(1, title=f"a{chr(code)}b", text=chr(code))]
    root = parse(build_feed(rows, _spec(), NOW))
    title = root.find("a:entry/a:title", NS).text
    # The title is one line (whitespace runs become a space); other controls go.
    assert title.endswith((": a b", ": ab"))
    assert not any(c in title for c in CONTROLS)
    summary = root.find("a:entry/a:summary", NS).text
    assert not any(c in summary for c in CONTROLS if c not in "\t\n")


def test_entry_ids_are_stable_tag_uris_and_links_are_under_the_base() -> None:
    rows = [_row(1), _row(2)]
    one = parse(build_feed(rows, _spec(), NOW))
    other = events_feed("https://mirror.example/sub/", "https://mirror.example/sub/x", None,
                        None, public=False, author=lambda r: None)
    two = parse(build_feed(rows, other, NOW + timedelta(days=1)))
    ids = [e.findtext("a:id", namespaces=NS) for e in check_atom(one)]
    assert ids == [e.findtext("a:id", namespaces=NS) for e in check_atom(two)]
    assert ids == [entry_id(1), entry_id(2)] == ["tag:takedown-monitor,2026:event/1",
                                                 "tag:takedown-monitor,2026:event/2"]
    links = [e.find("a:link", NS).get("href") for e in check_atom(two)]
    assert links == ["https://mirror.example/sub/posts/101", "https://mirror.example/sub/posts/102"]
    # The feed's own time is its newest event, not the time it was built.
    assert one.findtext("a:updated", namespaces=NS) == two.findtext("a:updated", namespaces=NS)


def test_an_empty_feed_is_valid() -> None:
    root = parse(build_feed([], _spec(), NOW))
    assert check_atom(root) == []
    assert root.findtext("a:updated", namespaces=NS) == NOW.isoformat()


# --- the routes, over the analyst history ------------------------------------------------


def _entries(body: bytes) -> list[Any]:
    return check_atom(parse(body))


def _count(db: Database, where: str = "TRUE") -> int:
    with db.transaction() as conn:
        return int(conn.execute(f"SELECT count(*) AS n FROM events WHERE {where}"  # noqa: S608
                                ).fetchone()["n"])


def test_private_feed_needs_a_token(make_client: Make) -> None:
    response = make_client().get("/api/v1/feeds/events.atom")
    assert response.status_code == 401
    bad = make_client()
    bad.headers["Authorization"] = "Bearer tdm_AAAAAAAA_" + "x" * 40
    assert bad.get("/api/v1/feeds/events.atom").status_code == 401


def test_private_feed_of_the_history(make_client: Make, analyst_db: Database,
                                     analyst_world: Any) -> None:
    client = make_client("viewer")
    response = client.get("/api/v1/feeds/events.atom", params={"limit": 500})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    entries = _entries(response.content)
    assert len(entries) == _count(analyst_db)
    # Newest first; the hostile event is there, its payloads as text.
    hostile = [e for e in entries if e.findtext("a:id", namespaces=NS)
               == entry_id(analyst_world.hostile_event)]
    assert len(hostile) == 1
    assert hostile[0].findtext("a:author/a:name", namespaces=NS) == XSS[1]
    assert XSS[2] in hostile[0].findtext("a:title", namespaces=NS)
    link = hostile[0].find("a:link", NS).get("href")
    assert link == f"http://127.0.0.1/posts/{analyst_world.hostile_post}"
    # Per platform and per group; the default size.
    weibo = _entries(client.get("/api/v1/feeds/events.atom",
                                params={"platform": "weibo", "limit": 500}).content)
    assert len(weibo) == _count(analyst_db, "platform = 'weibo'") > 0
    assert _entries(client.get("/api/v1/feeds/events.atom",
                               params={"group": "nosuch"}).content) == []
    assert len(_entries(client.get("/api/v1/feeds/events.atom").content)) == 50


def test_feed_parameters_are_checked(make_client: Make) -> None:
    client = make_client("viewer")
    response = client.get("/api/v1/feeds/events.atom", params={"platform": "mastodn"})
    assert response.status_code == 400
    assert "mastodon" in response.json()["error"]
    response = client.get("/api/v1/feeds/events.atom", params={"group": "a\x00"})
    assert response.status_code == 400 and "NUL" in response.json()["error"]
    assert client.get("/api/v1/feeds/events.atom", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/feeds/events.atom", params={"limit": 501}).status_code == 422


def test_public_feed_is_off_unless_public_view(make_client: Make) -> None:
    assert make_client().get("/public/feeds/events.atom").status_code == 404
    assert make_client("admin").get("/public/feeds/events.atom").status_code == 404


def _review_sandbox(db: Database, approve: list[int]) -> None:
    with db.transaction() as conn:
        access_store.sync_review_groups(conn, {"sandbox": True})
        for event_id in approve:
            access_store.decide(conn, Principal.cli("test"), event_id, "approved")


def test_public_feed_carries_only_published_events_under_pseudonyms(
        make_client: Make, analyst_db: Database, analyst_world: Any) -> None:
    client = make_client(PUBLIC_VIEW=True, PSEUDONYM_SECRET="feed-secret")
    before = _entries(client.get("/public/feeds/events.atom", params={"limit": 500}).content)
    assert len(before) == _count(analyst_db)  # the group needs no review: all published

    approved = [analyst_world.hostile_event, analyst_world.i18n_event]
    _review_sandbox(analyst_db, approved)
    with analyst_db.transaction() as conn:
        rejected = analyst_world.hostile_words_event
        access_store.decide(conn, Principal.cli("test"), rejected, "rejected", "not yet")
    body = client.get("/public/feeds/events.atom", params={"limit": 500}).content
    entries = _entries(body)
    assert sorted(e.findtext("a:id", namespaces=NS) for e in entries) == sorted(
        entry_id(i) for i in approved)
    authors = {e.findtext("a:author/a:name", namespaces=NS) for e in entries}
    assert all(a.startswith("anon-") for a in authors)
    assert pseudonym(b"feed-secret", XSS[1]) in authors
    # No handle appears outside the post's own words (which the hostile post's text
    # happens to repeat): not as an author, an id, a link or a category.
    root = parse(body)
    for words in root.iter(f"{{{ATOM}}}title", f"{{{ATOM}}}summary"):
        words.getparent().remove(words)
    with analyst_db.transaction() as conn:
        handles = [r["author"] for r in conn.execute("SELECT DISTINCT author FROM posts")]
    for handle in handles:
        if handle:
            assert handle not in "".join(root.itertext()), handle
    links = [e.find("a:link", NS).get("href") for e in entries]
    assert all(link.startswith("http://127.0.0.1/public/#event-") for link in links)


def test_public_feed_shows_handles_when_the_operator_chooses(
        make_client: Make, analyst_db: Database, analyst_world: Any) -> None:
    _review_sandbox(analyst_db, [analyst_world.hostile_event])
    client = make_client(PUBLIC_VIEW=True, PUBLIC_PSEUDONYMS=False)
    (entry,) = _entries(client.get("/public/feeds/events.atom").content)
    assert entry.findtext("a:author/a:name", namespaces=NS) == XSS[1]


def test_settings_have_the_public_flags() -> None:
    # The routes read these settings by name: they must exist with safe defaults.
    settings = Settings()
    assert settings["PUBLIC_VIEW"] is False and settings["PUBLIC_PSEUDONYMS"] is True
