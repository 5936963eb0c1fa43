"""A large synthetic history for the API benchmark, loaded with COPY.

The rows come from :mod:`bench._analyst_rows`. Each table is fed through its own
COPY on its own connection, chunk by chunk, so memory stays bounded and the server
parses one table while Python builds the next chunk. Foreign-key triggers are off
while loading (``session_replication_role = replica``): the generator makes every
reference itself (``tests/test_api_plans.py`` checks it), and checking 6 million of
them would slow the load a lot. The big tables' secondary indexes are dropped before
and built after (once, two at a time). Ids are given explicitly and the sequences moved
past them afterwards, so the app inserts rows (tokens, reviews) as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from monitor.db import Database

from ._analyst_rows import COLUMNS, TABLE_ORDER, Generator, Plan

log = logging.getLogger(__name__)

__all__ = ["Loaded", "Plan", "TABLE_ORDER", "bench_database", "database_facts", "load"]


@dataclass
class Loaded:
    """Where things are in a loaded database, read back from it (so a database kept by
    an earlier run serves as well as a fresh one)."""

    groups: list[str]
    platforms: list[str]
    #: The newest event's time: "a year back" counts from here.
    now: datetime
    #: Posts with 2+ versions and a disappearance: the "one post's history" samples.
    sample_posts: list[int]

    @classmethod
    def read(cls, url: str) -> Loaded:
        with psycopg.connect(url) as conn:
            groups = [r[0] for r in conn.execute(
                "SELECT DISTINCT group_name FROM targets ORDER BY 1")]
            platforms = [r[0] for r in conn.execute(
                "SELECT DISTINCT platform FROM targets ORDER BY 1")]
            now = conn.execute("SELECT max(detected_at) FROM events").fetchone()
            samples = [r[0] for r in conn.execute(
                """
                SELECT e.post_id FROM events e
                 WHERE e.kind = 'disappeared' AND EXISTS (
                       SELECT 1 FROM versions v
                        WHERE v.post_id = e.post_id AND v.id <> e.version_id)
                 ORDER BY e.id DESC LIMIT 500
                """)]
        if not now or now[0] is None or not samples:
            raise ValueError(f"the database at {url} holds no loaded history; load one "
                             "with `python -m bench.api --keep` first")
        return cls(groups, platforms, now[0], samples)


def database_facts(url: str) -> dict[str, Any]:
    """Rows per table and the database's size on disk."""
    with psycopg.connect(url) as conn:
        rows = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(t))).fetchone()[0] for t in TABLE_ORDER}  # type: ignore[index]
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return {"rows": rows, "database_bytes": size[0] if size else 0}


# --- loading ------------------------------------------------------------------------


def _copy_statement(table: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table])))


def load(url: str, plan: Plan) -> dict[str, int]:
    """Migrate the (empty) database at ``url`` and fill it as ``plan`` says, then ANALYZE."""
    plan = plan.scaled()
    db = Database(url, setting=None)
    try:
        db.migrate()
    finally:
        db.close()
    gen = Generator(plan)
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = _drop_secondary_indexes(conn)
    with ExitStack() as stack:
        conns = {}
        copies = {}
        for table in TABLE_ORDER:
            conn = stack.enter_context(psycopg.connect(url))
            conn.execute("SET session_replication_role = replica")
            conn.execute("SET synchronous_commit = off")
            conns[table] = conn
            copies[table] = stack.enter_context(
                conn.cursor().copy(_copy_statement(table)))
        copies["targets"].write("".join(gen.target_lines()))
        copies["observations"].write("".join(gen.listing_lines()))
        chunks = 0
        while not gen.done():
            rows = gen.chunk()
            for table, lines in rows.items():
                copies[table].write("".join(lines))
            chunks += 1
            if chunks % 10 == 0:
                log.info("loaded %d events, %d posts", gen.events_made, gen.ids["posts"])
        # Leaving the stack ends each COPY, then commits its connection.
    log.info("copied %s; building %d indexes", gen.ids, len(indexes))
    _recreate_indexes(url, indexes)
    log.info("indexes built; analysing")
    _finish(url, gen.ids)
    return dict(gen.ids)


def _drop_secondary_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the big tables' indexes that back no constraint; returns their definitions.

    Building an index once after the load is several times faster than keeping it
    up to date row by row (the GIN text indexes above all).
    """
    rows = conn.execute(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS ddl
          FROM pg_index i
         WHERE i.indrelid = ANY(%s::regclass[])
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """, (list(TABLE_ORDER),)).fetchall()
    for name, _ in rows:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [ddl for _, ddl in rows]


def _recreate_indexes(url: str, ddls: list[str]) -> None:
    """Build the dropped indexes again, two at a time (one per core)."""
    from concurrent.futures import ThreadPoolExecutor

    def build(batch: list[str]) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '512MB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            for ddl in batch:
                conn.execute(ddl.encode())

    # The GIN indexes are the slow ones: spread them over both workers.
    ordered = sorted(ddls, key=lambda d: "USING gin" not in d)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(build, [ordered[0::2], ordered[1::2]]))


def _finish(url: str, ids: dict[str, int]) -> None:
    """Move the sequences past the loaded ids; VACUUM as autovacuum would have done by
    now on a live database (hint bits, visibility map for index-only scans), ANALYZE."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLE_ORDER:
            conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                         (table, max(1, ids[table])))
        # Triggers were off during the COPY: rebuild what they would have kept
        # (the statistics' rollups of migration 012), when the schema has them.
        rebuild = conn.execute("SELECT to_regproc('stats_rollup_rebuild')").fetchone()
        if rebuild and rebuild[0] is not None:
            log.info("rebuilding the statistics' rollups")
            conn.execute("SELECT stats_rollup_rebuild()")
        conn.execute("VACUUM (ANALYZE)")


@contextmanager
def bench_database(server_url: str, keep: bool = False,
                   prefix: str = "takedown_bench_api") -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it after unless ``keep``."""
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name)
    finally:
        if keep:
            log.warning("kept database %s", name)
        else:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
