"""Migration 013 and the search statement built for speed: the stored search documents
follow the rows they come from, the two halves of a search (post text, platform's
words) merge into one newest-first page without repeats or gaps, filters work inside
both halves, and a single filter value keeps the index's order (no sort of a whole
group). Results are compared with a plain computation over the same rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from api_rows import add_event, add_post, add_target, add_version, at
from psycopg import sql

from monitor.db import Database, analyst


def pages(db: Database, query: analyst.EventQuery) -> list[int]:
    """Every event id of a search, following the cursors."""
    out: list[int] = []
    with db.transaction() as conn:
        while True:
            rows, cursor = analyst.search_events(conn, query)
            out += [r["id"] for r in rows]
            if cursor is None:
                return out
            query.cursor = cursor


def plain_matches(db: Database, text: str) -> list[int]:
    """The same search without indexes or stored documents: the recomputed text of
    every version and every event's words, newest first (terms AND'ed, as documented)."""
    tsq = analyst.text_query(text)
    if tsq is None:
        return []
    with db.transaction() as conn:
        rows = conn.execute(sql.SQL(
            """
            SELECT e.id FROM events e
            WHERE EXISTS (SELECT 1 FROM versions v WHERE v.post_id = e.post_id
                            AND takedown_search_doc(v.title, v.raw_text) @@ {tsq})
               OR takedown_search_doc(NULL, e.evidence -> 'observed' ->> 'message') @@ {tsq}
            ORDER BY e.detected_at DESC, e.id DESC
            """).format(tsq=tsq)).fetchall()
    return [r["id"] for r in rows]


def test_stored_documents_follow_inserts_and_updates(shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        post = add_post(conn, add_target(conn, value="stored-docs"))
        version = add_version(conn, post, "okapi grazing", title="Okapi")
        quiet = add_event(conn, post, "edited", at(1))
        loud = add_event(conn, post, "disappeared", at(2), message="已被删除 okapi gone")

        def doc(sql_text: str, row: int) -> Any:
            return conn.execute(sql_text, (row,)).fetchone()["d"]

        v_sql = ("SELECT search_doc = takedown_search_doc(title, raw_text) AND"
                 " search_doc @@ 'grazing'::tsquery AS d FROM versions WHERE id = %s")
        assert doc(v_sql, version) is True
        conn.execute("UPDATE versions SET raw_text = 'tapir resting' WHERE id = %s",
                     (version,))
        assert doc("SELECT search_doc @@ 'grazing'::tsquery AS d FROM versions"
                   " WHERE id = %s", version) is False
        assert doc("SELECT search_doc @@ 'tapir'::tsquery AS d FROM versions"
                   " WHERE id = %s", version) is True
        assert doc("SELECT words_doc AS d FROM events WHERE id = %s", quiet) is None
        assert doc("SELECT words_doc @@ phraseto_tsquery('simple',"
                   " takedown_search_text('删除')) AS d FROM events WHERE id = %s",
                   loud) is True


def test_both_halves_merge_newest_first_without_repeats(
        shared_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text hits and words hits interleave in time; an event matching both comes once;
    a page of one holds the newest of either half."""
    with shared_db.transaction() as conn:
        target = add_target(conn, value="merge-halves")
        texty = add_post(conn, target)
        add_version(conn, texty, "a quokka smiled")
        wordy = add_post(conn, target)
        add_version(conn, wordy, "nothing here")
        expected = [
            add_event(conn, texty, "edited", at(11)),
            add_event(conn, wordy, "disappeared", at(12), message="quokka removed"),
            add_event(conn, texty, "edited", at(13)),
            add_event(conn, wordy, "hidden", at(14), message="the quokka notice"),
            add_event(conn, texty, "disappeared", at(15), message="quokka both"),
        ][::-1]
        add_event(conn, wordy, "edited", at(16))  # the post matches no version
    for limit in (1, 2, 3, 50):
        assert pages(shared_db, analyst.EventQuery(q="quokka", limit=limit)) == expected
    monkeypatch.setattr(analyst, "SEARCH_WINDOW", 1)
    monkeypatch.setattr(analyst, "MAX_WALK", 0)  # collected from the GIN indexes
    for limit in (1, 2, 3, 50):
        assert pages(shared_db, analyst.EventQuery(q="quokka", limit=limit)) == expected
    assert pages(shared_db, analyst.EventQuery(q="quokka")) == plain_matches(
        shared_db, "quokka")


@pytest.mark.parametrize(("window", "walk"), [(4000, 12000), (1, 0), (2, 6), (5, 40)])
@pytest.mark.parametrize("text", ["审查", "删除", "the", "ok", "审查 the", "الرقابة"])
def test_search_equals_the_plain_computation(shared_db: Database, text: str, window: int,
                                             walk: int, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    """Over the whole analyst history (every kind of event, hostile rows included),
    whichever way a page is found: one window, several, or collected (small windows
    make this history take each path)."""
    monkeypatch.setattr(analyst, "SEARCH_WINDOW", window)
    monkeypatch.setattr(analyst, "MAX_WALK", walk)
    expected = plain_matches(shared_db, text)
    for limit in (1, 7, 500):
        assert pages(shared_db, analyst.EventQuery(q=text, limit=limit)) == expected


@pytest.mark.parametrize(("window", "walk"), [(4000, 12000), (1, 0)])
def test_filters_apply_inside_both_halves(shared_db: Database, window: int, walk: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    word = f"wombat{walk}"  # each case its own rows
    with shared_db.transaction() as conn:
        mine = add_target(conn, value=f"{word}-watch", group=f"{word}s")
        theirs = add_target(conn, value=f"{word}-elsewhere", group=f"{word}s-too")
        a = add_post(conn, mine, author=f"alice{walk}")
        add_version(conn, a, f"{word} burrow")
        b = add_post(conn, theirs, author=f"bob{walk}")
        add_version(conn, b, "plain text")
        a_text = add_event(conn, a, "edited", at(21))
        b_words = add_event(conn, b, "disappeared", at(22), cause="legal",
                            message=f"{word} withheld")
    monkeypatch.setattr(analyst, "SEARCH_WINDOW", window)
    monkeypatch.setattr(analyst, "MAX_WALK", walk)

    def ids(**filters: Any) -> list[int]:
        return pages(shared_db, analyst.EventQuery(q=word, **filters))

    assert ids() == [b_words, a_text]
    assert ids(groups=[f"{word}s"]) == [a_text]
    assert ids(groups=[f"{word}s", f"{word}s-too"]) == [b_words, a_text]
    assert ids(targets=[f"{word}-elsewhere"]) == [b_words]
    assert ids(authors=[f"alice{walk}"], platforms=["mastodon"]) == [a_text]
    assert ids(authors=[f"alice{walk}", f"bob{walk}"]) == [b_words, a_text]
    assert ids(causes=["legal"]) == [b_words]
    assert ids(kinds=["edited", "hidden"]) == [a_text]
    assert ids(since=at(21.5)) == [b_words]
    assert ids(until=at(21.5)) == [a_text]
    assert ids(groups=["no-such-group"]) == []


@pytest.mark.parametrize("text", [
    "'); DROP TABLE events; --", "a & !b | c <-> d", "\\", "'", ":*", "审' <-> '查",
    "\u202egnp.exe", "<script>alert(1)</script>", "x" * 5000,
])
def test_hostile_queries_are_only_text(shared_db: Database, text: str) -> None:
    found = pages(shared_db, analyst.EventQuery(q=text, limit=500))
    assert found == plain_matches(shared_db, text)
    with shared_db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM events").fetchone()["n"] > 0


def plan(db: Database, f: analyst.EventQuery) -> str:
    built = analyst.search_statement(f)
    assert built is not None
    stmt, params = built
    with db.transaction() as conn, conn.transaction(force_rollback=True):
        # This history is small: make every alternative to an ordered index read
        # look expensive, so what is checked is whether one CAN serve the page.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(sql.SQL("SET LOCAL {} = off").format(sql.Identifier(setting)))
        # The unfiltered time index is such an alternative: in this history one group
        # holds every event, so once autovacuum has analysed `events` the planner
        # rightly reads events_recent and filters; without statistics it reads the
        # group's index. Which one depended on when autoanalyze ran. Dropped here (and
        # rolled back), the filter's own index must serve the page in order.
        conn.execute("DROP INDEX events_recent")
        rows = conn.execute(b"EXPLAIN " + stmt.as_bytes(conn), params).fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


@pytest.mark.parametrize(("query", "index"), [
    (analyst.EventQuery(groups=["sandbox"]), "events_group_detected"),
    (analyst.EventQuery(platforms=["weibo"]), "events_platform_recent"),
    (analyst.EventQuery(kinds=["edited"]), "events_kind_recent"),
    (analyst.EventQuery(groups=["sandbox"], cursor=analyst.encode_cursor(
        datetime(2030, 1, 1, tzinfo=UTC), 5)), "events_group_detected"),
])
def test_one_filter_value_reads_its_index_in_order(shared_db: Database,
                                                   query: analyst.EventQuery,
                                                   index: str) -> None:
    """`column = value`, not `= ANY('{value}')`: the page comes off the index in order,
    so nothing sorts the whole group (PostgreSQL 15 would for `= ANY`)."""
    text = plan(shared_db, query)
    assert index in text, text
    assert "Sort" not in text, text


def test_the_old_indexes_are_gone(shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN"
            " ('events', 'versions')").fetchall()
    names = {r["indexname"]: r["indexdef"] for r in rows}
    assert "events_detected" not in names and "events_group_recent" not in names
    assert {"events_recent", "events_group_detected"} <= set(names)
    assert "(search_doc)" in names["versions_search"]
    assert "(words_doc)" in names["events_words_search"]
