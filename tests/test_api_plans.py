"""The API's hot queries can be answered from indexes (no timings: speed is bench/api.py's).

A small history from the benchmark's own loader (5,000 events) is explained with
``enable_seqscan``, ``enable_hashjoin`` and ``enable_mergejoin`` off: the planner then
reads a table in full only when no index can serve the query, so a missing index shows
as a ``Seq Scan`` on a big table, or as an index read end to end with no condition and
no LIMIT to stop it. The statements are the ones the routes send: the functions of
``monitor.db.analyst`` and ``monitor.stats`` run on a connection that explains each
statement first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from bench._analyst_data import TABLE_ORDER, Loaded, Plan, database_facts, load
from bench._api_plans import (
    BIG_TABLES,
    explain_hot_paths,
    full_scans,
    hot_paths,
    indexes_used,
    seq_scans,
)

#: Paths that read a bounded slice: no table may be read end to end.
BOUNDED = ["latest events", "filter: platform", "filter: cause", "filter: group",
           "filter: time range", "next page (cursor)", "search: English", "search: Chinese",
           "post history"]


@pytest.fixture(scope="module")
def small_history(pg_server_url: str, pg_template: str) -> Iterator[tuple[str, Loaded]]:
    """A migrated database holding the loader's 5,000 events, shared by this module's
    tests (they only read, or drop an index inside a rolled-back transaction)."""
    name = f"takedown_plans_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(pg_template)))
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    try:
        load(url, Plan(events=5000, seed=3))
        yield url, Loaded.read(url)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def test_loader_makes_the_shape_it_promises(small_history: tuple[str, Loaded]) -> None:
    url, facts = small_history
    rows = database_facts(url)["rows"]
    assert rows["events"] == 5000
    assert 1.0 <= rows["versions"] / rows["posts"] <= 1.6
    assert rows["observations"] >= 2 * rows["posts"]
    assert len(facts.platforms) == 6 and len(facts.groups) >= 3
    with psycopg.connect(url) as conn:
        kinds: dict[str, int] = dict(conn.execute(
            "SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        span = conn.execute("SELECT max(detected_at) - min(detected_at) FROM events").fetchone()
        chinese = conn.execute(
            "SELECT count(*) FROM versions WHERE raw_text ~ '[\u4e00-\u9fff]'").fetchone()
        dangling = conn.execute(
            "SELECT count(*) FROM events e LEFT JOIN posts p ON p.id = e.post_id"
            " LEFT JOIN versions v ON v.id = e.version_id"
            " WHERE p.id IS NULL OR v.id IS NULL OR v.post_id <> e.post_id").fetchone()
        nextval = conn.execute("SELECT nextval(pg_get_serial_sequence('events', 'id'))"
                               ).fetchone()
    assert set(kinds) == {"disappeared", "edited", "restored", "hidden"}
    assert 0.40 <= kinds["disappeared"] / 5000 <= 0.60
    assert span is not None and span[0].days >= 600
    assert chinese is not None and chinese[0] > 0
    # The loader switches foreign-key checks off: it must make every reference itself.
    assert dangling == (0,)
    # Sequences were moved past the loaded ids: the app can insert as usual.
    assert nextval is not None and nextval[0] == 5001


def test_statistics_rollups_are_rebuilt_after_the_load(small_history: tuple[str, Loaded]
                                                       ) -> None:
    """The loader's COPY runs without triggers, so it rebuilds the statistics' rollups
    (migration 012) itself: rebuilding them again changes nothing. Compared as whole
    rows, so the test holds whatever columns the rollups have."""
    url, _ = small_history

    def rollups(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename LIKE 'stats\\_%' AND tablename <> 'stats_answers'")]
        return {n: [r[0] for r in conn.execute(sql.SQL(
            "SELECT to_jsonb(t)::text AS row FROM {} t ORDER BY 1").format(
                sql.Identifier(n)))] for n in names}

    with psycopg.connect(url) as conn:
        loaded = rollups(conn)
        conn.execute("SELECT stats_rollup_rebuild()")
        rebuilt = rollups(conn)
        conn.rollback()
    assert loaded and any(loaded.values()), "no rollup rows after the load"
    assert loaded == rebuilt


def test_copy_escapes_hostile_text_exactly(pg_server_url: str, db_url: str) -> None:
    """Text with tabs, newlines, backslashes and a COPY end marker arrives unchanged."""
    from bench._analyst_rows import _j, _t

    nasty = "a\tb\nc\\N\r\\.\n\\x00 <script>alert(1)</script> \u202egnp.exe 审查"
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TEMP TABLE t (s text, j jsonb)")
        with conn.cursor().copy("COPY t (s, j) FROM STDIN") as copy:
            copy.write(f"{_t(nasty)}\t{_j({'k': nasty})}\n{_t(None)}\t{_j(None)}\n")
        rows = conn.execute("SELECT s, j FROM t ORDER BY s NULLS LAST").fetchall()
    assert rows == [(nasty, {"k": nasty}), (None, None)]


@pytest.mark.parametrize("path", BOUNDED)
def test_bounded_hot_path_can_use_indexes(small_history: tuple[str, Loaded], path: str
                                          ) -> None:
    url, facts = small_history
    plans = explain_hot_paths(url, facts, seqscan=False, only=[path])[path]
    assert "error" not in plans, plans.get("error")
    assert plans["statements"] >= 1
    assert plans["seq_scans"] == []
    assert plans["full_scans"] == [], plans["full_scans"]


def test_statistics_can_avoid_sequential_scans(small_history: tuple[str, Loaded]) -> None:
    url, facts = small_history
    names = [n for n in hot_paths(facts) if n.startswith("stats:")]
    if not names:
        pytest.fail("monitor.stats.report is not importable: the statistics are not built")
    plans = explain_hot_paths(url, facts, seqscan=False, only=names)
    for name in names:
        assert "error" not in plans[name], plans[name].get("error")
        assert plans[name]["seq_scans"] == [], name


@pytest.mark.parametrize("path", ["stats: survival (1 year)", "stats: rates (1 year)"])
def test_statistics_find_first_disappearances_by_index(small_history: tuple[str, Loaded],
                                                       path: str) -> None:
    """Migration 011: each post's first disappearance comes from its partial index,
    in order, not from a sort of every event."""
    url, facts = small_history
    with psycopg.connect(url, row_factory=dict_row) as conn:
        plans = explain_hot_paths(url, facts, seqscan=False, only=[path], conn=conn)[path]
        assert "error" not in plans, plans.get("error")
        used = set().union(*(indexes_used(p) for p in plans["plans"]))
        assert "events_disappeared_post" in used
        conn.execute("DROP INDEX events_disappeared_post")
        plans = explain_hot_paths(url, facts, seqscan=False, only=[path], conn=conn)[path]
        conn.rollback()
    used = set().union(*(indexes_used(p) for p in plans["plans"]))
    assert "events_disappeared_post" not in used


@pytest.mark.parametrize(("index", "path", "why"), [
    ("events_recent", "search: English", "the newest-first walk"),
    ("events_post", "post history", "a post's events"),
    ("observations_post", "post history", "a post's observations"),
])
def test_dropping_an_index_is_caught(small_history: tuple[str, Loaded], index: str,
                                     path: str, why: str) -> None:
    """The check is not vacuous: without the index, the same path fails it."""
    url, facts = small_history
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
        plans = explain_hot_paths(url, facts, seqscan=False, only=[path], conn=conn)[path]
        conn.rollback()
    assert plans["seq_scans"] or plans["full_scans"], f"{why} unchecked"


def test_plan_walkers_find_nested_nodes() -> None:
    inner = {"Node Type": "Seq Scan", "Relation Name": "versions"}
    small = {"Node Type": "Seq Scan", "Relation Name": "targets"}
    unbounded = {"Node Type": "Index Scan", "Relation Name": "events",
                 "Index Name": "events_recent"}
    limited = {"Node Type": "Limit", "Plans": [dict(unbounded)]}
    sorted_all = {"Node Type": "Limit", "Plans": [{"Node Type": "Sort", "Plans": [
        {**unbounded, "Relation Name": "posts", "Index Name": "posts_pkey"}]}]}
    plan: list[dict[str, Any]] = [{"Plan": {"Node Type": "Hash Join", "Plans": [
        {"Node Type": "Hash", "Plans": [inner, small]}, unbounded, limited, sorted_all]}}]
    assert seq_scans(plan) == ["versions"]
    # Under a LIMIT an index read stops early, unless a sort reads it all first.
    assert full_scans(plan) == ["events (events_recent)", "posts (posts_pkey)"]
    assert BIG_TABLES <= set(TABLE_ORDER)
