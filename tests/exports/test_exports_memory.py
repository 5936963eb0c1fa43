"""A large export holds one chunk at a time: the Python side's peak memory does not
grow with the number of rows (a behaviour check, not a timing)."""

from __future__ import annotations

import tracemalloc

import pytest

from monitor.db import Database
from monitor.db.queries import EventFilter
from monitor.exports import research_bytes, table_bytes
from monitor.settings import Settings

ROWS = 20_000
CHUNK = 500


@pytest.fixture
def big(db: Database) -> Database:
    """20,000 events on 200 posts, each post with a version of about 1 kB of text."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO targets (key, group_name, platform, kind, value, interval_s) "
            "VALUES ('mastodon:account:big@example.social', 'big', 'mastodon', 'account', "
            "'big@example.social', 600)")
        conn.execute(
            "INSERT INTO posts (target_id, platform, post_key, url, author, first_seen, "
            "state, state_since) SELECT 1, 'mastodon', 'p' || i, "
            "'https://example.social/@big/' || i, 'big@example.social', "
            "now() - interval '30 days', 'gone', now() FROM generate_series(1, 200) i")
        conn.execute(
            "INSERT INTO versions (post_id, content_hash, content, raw_text, title, first_seen) "
            "SELECT id, md5(id::text), '{}'::jsonb, repeat('text ' || id || ' ', 100), "
            "'title ' || id, first_seen FROM posts")
        conn.execute("UPDATE posts SET current_version_id = v.id FROM versions v "
                     "WHERE v.post_id = posts.id")
        conn.execute(
            "INSERT INTO events (dedupe_key, kind, cause, post_id, target_id, platform, "
            "group_name, post_key, detected_at, evidence) "
            "SELECT 'k' || i, 'disappeared', 'deleted_by_author', 1 + i %% 200, 1, "
            "'mastodon', 'big', 'p' || (1 + i %% 200), now() - make_interval(secs => i), "
            "jsonb_build_object('observed', jsonb_build_object('http_status', 404, "
            "'message', repeat('gone ', 20))) FROM generate_series(1, %s) i", (ROWS,))
    return db


def _peak(chunks: object) -> tuple[int, int]:
    """Peak traced memory while draining ``chunks``, and the bytes they held."""
    tracemalloc.reset_peak()
    size = 0
    for data in chunks:  # type: ignore[attr-defined]
        size += len(data)
    return tracemalloc.get_traced_memory()[1], size


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_memory_stays_flat_as_rows_grow(big: Database, fmt: str) -> None:
    def run(rows: int) -> tuple[int, int]:
        return _peak(table_bytes(big, "events", fmt, EventFilter(limit=rows), chunk=CHUNK))

    tracemalloc.start()
    try:
        run(CHUNK)  # warm up: imports, adapters, the pool's connections
        small, small_size = run(ROWS // 10)
        large, large_size = run(ROWS)
    finally:
        tracemalloc.stop()
    assert large_size > 8 * small_size  # ten times the rows did go through
    # Ten times the rows, about the same peak: one chunk in memory, not the result.
    assert large < 1.5 * small + 256 * 1024, (small, large)


def test_research_export_memory_stays_flat(big: Database) -> None:
    settings = Settings().replace(PSEUDONYM_SECRET="s3cret")

    def run(rows: int) -> tuple[int, int]:
        return _peak(research_bytes(big, settings, "events", "csv", EventFilter(limit=rows),
                                    with_text=True, chunk=CHUNK))

    tracemalloc.start()
    try:
        run(CHUNK)
        small, _ = run(ROWS // 10)
        large, _ = run(ROWS)
    finally:
        tracemalloc.stop()
    assert large < 1.5 * small + 256 * 1024, (small, large)
