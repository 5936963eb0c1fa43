"""Small hand-made histories for the statistics tests: targets, posts with a version,
and events, written straight into a test database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

#: Every hand-made post starts here (published_at).
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Rows:
    """Writes rows through one connection (commit is the caller's transaction's)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def target(self, value: str = "alice", *, platform: str = "mastodon",
               group: str = "g1") -> int:
        row = self.conn.execute(
            "INSERT INTO targets (key, group_name, platform, kind, value, interval_s)"
            " VALUES (%s, %s, %s, 'account', %s, 60) RETURNING id",
            (f"{platform}:{uuid.uuid4().hex[:8]}", group, platform, value)).fetchone()
        return int(row["id"])

    def post(self, target: int, *, text: str = "hello", author: str | None = None,
             published: datetime | None = T0, first_seen: datetime = T0,
             last_visible: float | None = None) -> int:
        info = self.conn.execute("SELECT platform FROM targets WHERE id = %s",
                                 (target,)).fetchone()
        row = self.conn.execute(
            "INSERT INTO posts (target_id, platform, post_key, author, published_at,"
            " first_seen, state, state_since, last_visible_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'visible', %s, %s) RETURNING id",
            (target, info["platform"], uuid.uuid4().hex[:10], author, published, first_seen,
             first_seen, None if last_visible is None else at(last_visible))).fetchone()
        post = int(row["id"])
        version = self.conn.execute(
            "INSERT INTO versions (post_id, content_hash, content, raw_text, first_seen)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (post, uuid.uuid4().hex, Jsonb({"text": text}), text, first_seen)).fetchone()
        self.conn.execute("UPDATE posts SET current_version_id = %s WHERE id = %s",
                          (version["id"], post))
        return post

    def event(self, post: int, kind: str = "disappeared", *, cause: str | None = None,
              last_visible: float | None = None, first_gone: float | None = None,
              detected: float | None = None) -> int:
        info = self.conn.execute(
            "SELECT p.target_id, p.platform, p.post_key, t.group_name FROM posts p"
            " JOIN targets t ON t.id = p.target_id WHERE p.id = %s", (post,)).fetchone()
        detected_s = detected if detected is not None else (first_gone or 0) + 60
        row = self.conn.execute(
            "INSERT INTO events (dedupe_key, kind, cause, post_id, target_id, platform,"
            " group_name, post_key, detected_at, last_seen_visible, first_seen_gone,"
            " evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (uuid.uuid4().hex, kind, cause, post, info["target_id"], info["platform"],
             info["group_name"], info["post_key"], at(detected_s),
             None if last_visible is None else at(last_visible),
             None if first_gone is None else at(first_gone), Jsonb({}))).fetchone()
        return int(row["id"])
