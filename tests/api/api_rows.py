"""Small hand-made rows for the API tests (a target, a post, its versions, observation
runs and events), for cases whose answer is computed by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from monitor import diff

Conn = Any
#: A fixed time after the analyst history (built "now"): newest first, hand-made events
#: come before it.
T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def add_target(conn: Conn, *, platform: str = "mastodon", group: str = "handmade",
               value: str = "handmade", kind: str = "account", **health: Any) -> int:
    key = f"{platform}:{kind}:{value}:{uuid.uuid4().hex[:6]}"
    row = conn.execute(
        "INSERT INTO targets (key, group_name, platform, kind, value, interval_s)"
        " VALUES (%s, %s, %s, %s, %s, 60) RETURNING id",
        (key, group, platform, kind, value)).fetchone()
    for column, v in health.items():  # test-chosen column names only
        conn.execute(f"UPDATE targets SET {column} = %s WHERE id = %s", (v, row["id"]))
    return int(row["id"])


def add_post(conn: Conn, target: int, *, author: str = "dora", state: str = "visible",
             platform: str = "mastodon", first_seen: datetime = T0) -> int:
    row = conn.execute(
        "INSERT INTO posts (target_id, platform, post_key, author, first_seen, state,"
        " state_since) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (target, platform, uuid.uuid4().hex[:10], author, first_seen, state,
         first_seen)).fetchone()
    return int(row["id"])


def add_version(conn: Conn, post: int, text: str, *, title: str = "",
                seen: datetime = T0) -> int:
    norm = diff.Normalised(title=title, text=text)
    row = conn.execute(
        "INSERT INTO versions (post_id, content_hash, content, raw_text, title, first_seen)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (post, norm.content_hash, Jsonb(norm.to_json()), text, title, seen)).fetchone()
    conn.execute("UPDATE posts SET current_version_id = %s WHERE id = %s", (row["id"], post))
    return int(row["id"])


def add_observation(conn: Conn, target: int, post: int | None, outcome: str,
                    first: datetime, last: datetime | None = None, *, repeats: int = 1,
                    status: int | None = 200, message: str | None = None,
                    mode: str = "probe") -> int:
    row = conn.execute(
        "INSERT INTO observations (target_id, post_id, mode, first_at, last_at, repeats,"
        " outcome, http_status, message, vantage) VALUES"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'local') RETURNING id",
        (target, post, mode, first, last or first, repeats, outcome, status,
         message)).fetchone()
    return int(row["id"])


def add_event(conn: Conn, post: int, kind: str, detected: datetime, *,
              cause: str | None = None, message: str | None = None,
              group: str | None = None) -> int:
    info = conn.execute(
        "SELECT p.target_id, p.platform, p.post_key, t.group_name FROM posts p"
        " JOIN targets t ON t.id = p.target_id WHERE p.id = %s", (post,)).fetchone()
    observed: dict[str, Any] = {"http_status": 404, "outcome": "not_found"}
    if message is not None:
        observed["message"] = message
    row = conn.execute(
        "INSERT INTO events (dedupe_key, kind, cause, post_id, target_id, platform,"
        " group_name, post_key, detected_at, evidence) VALUES"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (uuid.uuid4().hex, kind, cause, post, info["target_id"], info["platform"],
         group or info["group_name"], info["post_key"], detected,
         Jsonb({"observed": observed}))).fetchone()
    return int(row["id"])
