"""The plans behind the API's hot paths: ``EXPLAIN (FORMAT JSON)`` of the statements
the routes really send.

The functions the routes call (:mod:`monitor.db.analyst`, :mod:`monitor.stats`) run on
an :class:`ExplainingConnection`, which explains each statement before running it, so no
SQL is copied here. :func:`seq_scans` finds sequential scans of the big tables;
:func:`full_scans` finds index scans that read one end to end (what a planner told
not to scan sequentially picks when no index fits).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ._analyst_data import Loaded

#: Tables whose sequential scan would grow with the history.
BIG_TABLES = frozenset({"events", "posts", "versions", "observations"})


class ExplainingConnection:
    """A connection that explains each statement before running it, so the plans are
    those of the SQL the routes really send (the same functions, the same parameters)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.plans: list[dict[str, Any]] = []

    def execute(self, query: Any, params: Any = None) -> Any:
        statement = sql.SQL(query) if isinstance(query, str) else query
        words = statement.as_string(self.conn).lstrip(" \n\t(").split(None, 1)
        if not words or words[0].upper() not in ("SELECT", "WITH"):  # SET, SHOW...
            return self.conn.execute(query, params)
        row = self.conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement,
                                params).fetchone()
        plan = next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index]
        self.plans.append(json.loads(plan) if isinstance(plan, str) else plan)
        return self.conn.execute(query, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def seq_scans(plan: Any) -> list[str]:
    """The big tables a plan (EXPLAIN's JSON) reads with a Seq Scan node."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in BIG_TABLES:
            found.append(str(node["Relation Name"]))
        for child in node.get("Plans", ()):
            walk(child)

    for top in plan if isinstance(plan, list) else [plan]:
        walk(top["Plan"])
    return found


def hot_paths(facts: Loaded) -> dict[str, Callable[[Any], Any]]:
    """The functions behind each measured route, with representative arguments."""
    from monitor.db import analyst

    year = facts.now - timedelta(days=365)
    month = facts.now - timedelta(days=200)
    q = analyst.EventQuery

    def cursor_page(conn: Any) -> Any:
        _, cursor = analyst.search_events(conn, q())
        return analyst.search_events(conn, q(cursor=cursor))

    paths: dict[str, Callable[[Any], Any]] = {
        "latest events": lambda c: analyst.search_events(c, q()),
        "filter: platform": lambda c: analyst.search_events(c, q(platforms=["weibo"])),
        "filter: cause": lambda c: analyst.search_events(c, q(causes=["legal"])),
        "filter: group": lambda c: analyst.search_events(c, q(groups=[facts.groups[-1]])),
        "filter: time range": lambda c: analyst.search_events(
            c, q(since=month, until=month + timedelta(days=30))),
        "next page (cursor)": cursor_page,
        "search: English": lambda c: analyst.search_events(c, q(q="censorship")),
        "search: Chinese": lambda c: analyst.search_events(c, q(q="审查")),
        "post history": lambda c: analyst.post_detail(c, facts.sample_posts[0]),
    }
    try:
        from monitor.db.stats import StatsFilter
        from monitor.stats import report
    except ImportError:  # the stats part not there yet: its routes are skipped too
        return paths
    paths["stats: rates (1 year)"] = lambda c: report.rates(c, StatsFilter(since=year))
    paths["stats: survival (1 year)"] = lambda c: report.survival(c, StatsFilter(since=year))
    return paths


_READS_ALL = frozenset({"Sort", "Hash", "Aggregate", "SetOp"})


def indexes_used(plan: Any) -> set[str]:
    """Every index a plan (EXPLAIN's JSON) reads."""
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if node.get("Index Name"):
            found.add(str(node["Index Name"]))
        for child in node.get("Plans", ()):
            walk(child)

    for top in plan if isinstance(plan, list) else [plan]:
        walk(top["Plan"])
    return found


def full_scans(plan: Any) -> list[str]:
    """Index scans that read a big table end to end: no index condition and no LIMIT
    above to stop them (what ``enable_seqscan = off`` picks when no index fits)."""
    found: list[str] = []

    def walk(node: dict[str, Any], limited: bool) -> None:
        # A LIMIT stops the scans below it early, unless a node in between reads all
        # of its input first (a sort, a hash, an aggregate) or runs as a sub-plan.
        if (node.get("Node Type") in _READS_ALL
                or node.get("Parent Relationship") in ("SubPlan", "InitPlan")):
            limited = False
        limited = limited or node.get("Node Type") == "Limit"
        if (node.get("Node Type") in ("Index Scan", "Index Only Scan")
                and node.get("Relation Name") in BIG_TABLES
                and "Index Cond" not in node and not limited):
            found.append(f"{node['Relation Name']} ({node.get('Index Name')})")
        for child in node.get("Plans", ()):
            walk(child, limited)

    for top in plan if isinstance(plan, list) else [plan]:
        walk(top["Plan"], False)
    return found


def explain_hot_paths(url: str, facts: Loaded, *, seqscan: bool = True,
                      only: list[str] | None = None,
                      conn: psycopg.Connection[Any] | None = None
                      ) -> dict[str, dict[str, Any]]:
    """Per hot path: statements explained, the big tables read by Seq Scan, and the
    unbounded index scans. ``seqscan=False`` asks whether the planner *can* avoid
    them (the indexes exist): sequential scans, hash and merge joins are off.
    ``conn`` (dict rows): explain inside its transaction."""
    if conn is None:
        with psycopg.connect(url, row_factory=dict_row) as own:
            return explain_hot_paths(url, facts, seqscan=seqscan, only=only, conn=own)
    out: dict[str, dict[str, Any]] = {}
    for name, run in hot_paths(facts).items():
        if only is not None and name not in only:
            continue
        explaining = ExplainingConnection(conn)
        try:
            with conn.transaction():
                if not seqscan:
                    # Hash and merge joins would read a whole index in place of a
                    # whole table: forbid them too, so each row must come by a lookup.
                    for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                        conn.execute(sql.SQL("SET LOCAL {} = off").format(
                            sql.Identifier(setting)))
                run(explaining)
        except Exception as exc:  # a path not working is a finding, not a crash
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        out[name] = {"statements": len(explaining.plans),
                     "seq_scans": sorted({t for p in explaining.plans for t in seq_scans(p)}),
                     "full_scans": sorted({t for p in explaining.plans
                                           for t in full_scans(p)}),
                     "plans": explaining.plans}
    return out
