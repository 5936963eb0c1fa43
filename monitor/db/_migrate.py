"""Versioned schema migrations: ``monitor/migrations/NNN_name.sql``, applied in order."""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Any

import psycopg

from ..errors import StorageError

log = logging.getLogger(__name__)

_LOCK_ID = 0x7A6B_3D01  # advisory lock: one migrator at a time
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    files = resources.files("monitor").joinpath("migrations")
    out = []
    for item in files.iterdir():
        m = _NAME.match(item.name)
        if m:
            out.append((int(m.group(1)), item.name, item.read_text(encoding="utf-8")))
    return sorted(out)


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply every migration not yet applied; returns the names applied."""
    applied_now: list[str] = []
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] if isinstance(r, dict) else r[0] for r in
                    conn.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, name, sql in available():
                if version in done:
                    continue
                log.info("applying migration %s", name)
                conn.execute(sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
                applied_now.append(name)
    except psycopg.Error as exc:
        raise StorageError(f"schema migration failed: {exc}") from exc
    return applied_now
