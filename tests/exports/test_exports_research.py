"""The anonymised research export: pseudonyms, no handle, URL or target anywhere,
only published events, text only when asked."""

from __future__ import annotations

from typing import Any

import pytest
from analyst_world import XSS
from export_helpers import read_back

from monitor.access import Principal, pseudonym
from monitor.db import Database
from monitor.db import access as access_store
from monitor.db.queries import EventFilter
from monitor.exports import research_bytes, research_table
from monitor.settings import Settings

FORMATS = ["csv", "jsonl", "parquet"]
SECRET = "research-secret"


@pytest.fixture
def settings() -> Settings:
    return Settings().replace(PSEUDONYM_SECRET=SECRET)


def export(db: Database, settings: Settings, table: str, fmt: str, *, with_text: bool = False,
           f: EventFilter | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    data = b"".join(research_bytes(db, settings, table, fmt, f or EventFilter(),
                                   with_text=with_text, chunk=9))
    return read_back(data, fmt)


def identifying(db: Database) -> list[str]:
    """Everything that names an account or leads to it: handles, URLs, target values
    and keys, post keys (a platform's search finds the post, then its author)."""
    with db.transaction() as conn:
        found = [r["v"] for r in conn.execute(
            "SELECT author AS v FROM posts UNION SELECT url FROM posts "
            "UNION SELECT probe_url FROM posts UNION SELECT post_key FROM posts "
            "UNION SELECT value FROM targets UNION SELECT key FROM targets")]
    # Very short values (a one-letter handle) would match by chance anywhere.
    return [v for v in found if v and len(v) >= 3]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("table", ["events", "posts"])
def test_no_handle_url_or_target_anywhere(analyst_db: Database, settings: Settings,
                                          table: str, fmt: str) -> None:
    columns, rows = export(analyst_db, settings, table, fmt)
    assert rows
    assert columns == research_table(table, b"x").names
    assert not {"author_handle", "url", "target_key", "title", "text", "evidence"} & set(
        columns)
    cells = "\n".join(str(v) for row in rows for v in row.values())
    assert "http" not in cells and "127.0.0.1" not in cells
    for value in identifying(analyst_db):
        assert value not in cells, value
    for row in rows:
        assert row["author"] in (None, "") or row["author"].startswith("anon-")
        assert row["post"].startswith("anon-") and row["target"].startswith("anon-")


def test_pseudonyms_are_stable_keyed_and_match_the_public_view(
        analyst_db: Database, settings: Settings, analyst_world: Any) -> None:
    _, first = export(analyst_db, settings, "events", "jsonl")
    _, again = export(analyst_db, settings, "events", "jsonl")
    assert first == again
    with analyst_db.transaction() as conn:
        handles = {r["id"]: r["author"] for r in conn.execute(
            "SELECT e.id, p.author FROM events e JOIN posts p ON p.id = e.post_id "
            "ORDER BY e.detected_at, e.id")}
    # The public view's pseudonym of the same handle: one author, one name, everywhere.
    assert [r["author"] for r in first] == [
        pseudonym(SECRET.encode(), h) if h else None for h in handles.values()]
    assert pseudonym(SECRET.encode(), XSS[1]) in {r["author"] for r in first}
    # Authors, posts and targets are separate namespaces; another key, other names.
    assert not {r["author"] for r in first} & {r["post"] for r in first}
    _, other = export(analyst_db, Settings().replace(PSEUDONYM_SECRET="another"),
                      "events", "jsonl")
    assert not {r["author"] for r in first if r["author"]} & {r["author"] for r in other}
    assert [r["detected_at"] for r in other] == [r["detected_at"] for r in first]


def test_a_generated_secret_is_kept_in_the_database(analyst_db: Database) -> None:
    settings = Settings().replace(PSEUDONYM_SECRET="")
    _, one = export(analyst_db, settings, "posts", "jsonl")
    _, two = export(analyst_db, settings, "posts", "jsonl")
    assert [r["author"] for r in one] == [r["author"] for r in two]


def test_only_published_events_and_their_posts(analyst_db: Database, settings: Settings,
                                               analyst_world: Any) -> None:
    with analyst_db.transaction() as conn:
        access_store.sync_review_groups(conn, {"sandbox": True})
        access_store.decide(conn, Principal.cli("t"), analyst_world.hostile_event, "approved")
        access_store.decide(conn, Principal.cli("t"), analyst_world.i18n_event, "rejected",
                            "names a private person")
        approved_post = conn.execute("SELECT platform, post_key FROM posts WHERE id = %s",
                                     (analyst_world.hostile_post,)).fetchone()
        others = conn.execute("SELECT count(*) AS n FROM events WHERE post_id = %s",
                              (analyst_world.hostile_post,)).fetchone()["n"]
        quiet = conn.execute("SELECT count(*) AS n FROM posts p WHERE NOT EXISTS "
                             "(SELECT 1 FROM events e WHERE e.post_id = p.id)").fetchone()["n"]
    _, events = export(analyst_db, settings, "events", "csv")
    assert [r["kind"] for r in events] == ["disappeared"]
    _, posts = export(analyst_db, settings, "posts", "jsonl")
    # Posts with no event, and the approved one if all its events are approved.
    post_id = pseudonym(SECRET.encode(), f"post:{approved_post['platform']}:"
                                         f"{approved_post['post_key']}")
    assert len(posts) == quiet + (1 if others == 1 else 0)
    assert (post_id in {p["post"] for p in posts}) == (others == 1)
    assert all(p["disappearances"] + p["edits"] + p["other_events"] <= 1 for p in posts)


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_only_when_asked(analyst_db: Database, settings: Settings,
                              analyst_world: Any, fmt: str) -> None:
    columns, rows = export(analyst_db, settings, "events", fmt, with_text=True)
    assert columns[-2:] == ["title", "text"]
    texts = {r["text"] for r in rows}
    assert f"<p>{' '.join(XSS)}</p><p>{XSS[0]}</p>" in texts
    columns, rows = export(analyst_db, settings, "posts", fmt, with_text=True)
    assert columns[-2:] == ["title", "text"]


def test_filters_apply(analyst_db: Database, settings: Settings) -> None:
    _, rows = export(analyst_db, settings, "events", "jsonl",
                     f=EventFilter(platforms=["reddit"], kinds=["disappeared"]))
    assert rows and {(r["platform"], r["kind"]) for r in rows} == {("reddit", "disappeared")}


def test_an_unknown_research_table_is_refused() -> None:
    with pytest.raises(ValueError, match="events, posts"):
        research_table("targets", b"k")
