"""SQL for a batch's new versions: content-addressed per post, stored once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..lifecycle import SOURCES_KEY, Changes
from ..rows import NewVersion

Conn = psycopg.Connection[Any]


def new_versions(conn: Conn, changes: Changes) -> list[NewVersion]:
    """The versions of ``changes`` not stored yet.

    Versions are content-addressed per post (``UNIQUE (post_id, content_hash)``):
    content that comes back after it left the post's flap window is an edit,
    but its version is the one already stored, so every reference to the new id
    (posts, observations, events) is pointed at the stored one instead.
    """
    if not changes.versions:
        return []
    rows = conn.execute(
        "SELECT v.id, v.post_id, v.content_hash FROM versions v "
        "JOIN unnest(%s::bigint[], %s::text[]) AS n(post_id, content_hash) "
        "USING (post_id, content_hash)",
        ([v.post_id for v in changes.versions], [v.content_hash for v in changes.versions]),
    ).fetchall()
    stored = {(r["post_id"], r["content_hash"]): r["id"] for r in rows}
    if not stored:
        return list(changes.versions)
    moved: dict[int, int] = {}
    fresh: list[NewVersion] = []
    for v in changes.versions:
        known = stored.get((v.post_id, v.content_hash))
        if known is None:
            fresh.append(v)
        else:
            moved[v.id] = known
    for row in changes.posts:
        if row.current_version_id in moved:
            row.current_version_id = moved[row.current_version_id]
        for reading in _source_readings(row.known):
            reading[1] = moved.get(reading[1], reading[1])
    for o in changes.observations:
        if o.version_id in moved:
            o.version_id = moved[o.version_id]
    for e in changes.events:
        if e.version_id in moved:
            e.version_id = moved[e.version_id]
        if e.edit and e.edit.get("previous_version") in moved:
            e.edit["previous_version"] = moved[e.edit["previous_version"]]
    return fresh


def _source_readings(known: dict[str, Any]) -> Iterator[list[Any]]:
    """The ``[hash, version id]`` readings of a post's other content sources."""
    for source in (s if isinstance(s := known.get(SOURCES_KEY), dict) else {}).values():
        recent = source.get("recent") if isinstance(source, dict) else None
        yield from (r for r in recent or () if isinstance(r, list) and len(r) == 2)


def insert_versions(conn: Conn, versions: list[NewVersion]) -> None:
    """COPY the batch's new versions."""
    if versions:
        with conn.cursor().copy(
            "COPY versions (id, post_id, content_hash, content, raw_text, title, first_seen) "
            "FROM STDIN"
        ) as copy:
            for v in versions:
                copy.write_row([v.id, v.post_id, v.content_hash, Jsonb(v.content), v.raw_text,
                                v.title, v.first_seen])
