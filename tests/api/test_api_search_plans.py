"""Migrations 009 and 013's indexes serve the analyst queries: full-text search probes
the newest events or goes through the GIN indexes of the stored documents, and the newest-first
pages and their filters walk an index in order. Tables this small are read whole when
the planner may, so these plans are asked for with sequential scans discouraged: what is
checked is that an index CAN serve each query (bench/ checks the plans at scale)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from api_rows import add_post, add_target, add_version

from monitor.db import Database, analyst


def plan(db: Database, f: analyst.EventQuery) -> str:
    built = analyst.search_statement(f)
    assert built is not None
    stmt, params = built
    with db.transaction() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")
        rows = conn.execute(b"EXPLAIN " + stmt.as_bytes(conn), params).fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


@pytest.mark.parametrize(("query", "indexes"), [
    (analyst.EventQuery(), ["events_recent"]),
    (analyst.EventQuery(cursor=analyst.encode_cursor(datetime(2030, 1, 1, tzinfo=UTC), 5)),
     ["events_recent"]),
    (analyst.EventQuery(platforms=["weibo"]), ["events_platform_recent"]),
    (analyst.EventQuery(causes=["deleted_by_author"]), ["events_"]),
    # A search first probes the newest events one by one (migration 013) ...
    (analyst.EventQuery(q="审查"), ["events_recent", "versions_post_id_content_hash_key"]),
    (analyst.EventQuery(q="curfew mayor", kinds=["edited"]), ["events_kind_recent"]),
])
def test_each_query_can_use_its_index(shared_db: Database, query: analyst.EventQuery,
                                      indexes: list[str]) -> None:
    text = plan(shared_db, query)
    for index in indexes:
        assert index in text, text
    assert "Seq Scan on events" not in text, text


@pytest.mark.parametrize(("query", "indexes"), [
    (analyst.EventQuery(q="审查"), ["versions_search", "events_words_search"]),
    # with a filter, its own index may find the few events whose words to test
    (analyst.EventQuery(q="curfew mayor", kinds=["edited"]), ["versions_search"]),
    (analyst.EventQuery(q="curfew", groups=["sandbox"], authors=["dora"], targets=["x"]),
     ["versions_search"]),
])
def test_a_search_collects_rare_matches_from_the_text_indexes(
        shared_db: Database, query: analyst.EventQuery, indexes: list[str]) -> None:
    """... and collects older matches from the GIN indexes of the stored documents."""
    built = analyst.search_statement(query, before=(datetime(2030, 1, 1, tzinfo=UTC), 9),
                                     limit=10, collect=True)
    assert built is not None
    with shared_db.transaction() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")
        rows = conn.execute(b"EXPLAIN " + built[0].as_bytes(conn), built[1]).fetchall()
    text = "\n".join(r["QUERY PLAN"] for r in rows)
    for index in indexes:
        assert index in text, text
    assert "Seq Scan on events" not in text and "Seq Scan on versions" not in text, text


def test_the_search_text_puts_each_cjk_character_apart(shared_db: Database) -> None:
    with shared_db.transaction() as conn:
        row = conn.execute(
            "SELECT takedown_search_doc('标题 Title', '关于审查的讨论，mixed英文 ok')::text AS doc,"
            " phraseto_tsquery('simple', takedown_search_text('审查'))::text AS query"
        ).fetchone()
    assert row["query"] == "'审' <-> '查'"
    for lexeme in ("'审'", "'查'", "'title'", "'mixed'", "'英'", "'文'", "'ok'"):
        assert lexeme in row["doc"]


def test_a_huge_post_is_still_recorded(shared_db: Database) -> None:
    """The expression index must never make the core's insert of a version fail."""
    with shared_db.transaction() as conn:
        post = add_post(conn, add_target(conn, value="huge"))
        add_version(conn, post, "审" * 3_000_000 + " word" * 200_000, title="x" * 100_000)
        found: Any = conn.execute(
            "SELECT count(*) AS n FROM versions WHERE post_id = %s", (post,)).fetchone()
    assert found["n"] == 1
