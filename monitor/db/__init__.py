"""Database access: the only part of the core that speaks SQL.

:class:`Database` owns a psycopg connection pool. With no ``DATABASE_URL`` it
starts the embedded PostgreSQL (``pgserver``) under ``DATA_DIR``. Migrations in
``monitor/migrations/NNN_name.sql`` apply themselves, under an advisory lock so
several workers can start at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from ..errors import StorageError
from ._embedded import start_embedded
from ._migrate import migrate

log = logging.getLogger(__name__)

__all__ = ["Database", "default_data_dir"]


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("takedown-monitor", appauthor=False))


class Database:
    """A pool of connections to one PostgreSQL database, migrated on open."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self.url = url
        self._embedded: Any = None
        try:
            self.pool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": False, "row_factory": dict_row},
                open=False,
                name="takedown",
            )
            self.pool.open(wait=True, timeout=30)
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL at {_redact(url)}: {exc}. Check DATABASE_URL, "
                "or unset it to use the embedded database."
            ) from exc
        except Exception as exc:  # PoolTimeout
            raise StorageError(
                f"cannot connect to PostgreSQL at {_redact(url)} within 30 s ({exc}). Is the "
                "server running? Unset DATABASE_URL to use the embedded database."
            ) from exc

    @classmethod
    def open(cls, settings: Any, *, migrate_schema: bool = True) -> Database:
        """Connect as the settings say, starting the embedded server if needed."""
        url = settings["DATABASE_URL"]
        embedded = None
        if not url:
            data_dir = Path(settings["DATA_DIR"]) if settings["DATA_DIR"] else default_data_dir()
            embedded, url = start_embedded(data_dir)
        db = cls(url)
        db._embedded = embedded
        if migrate_schema:
            db.migrate()
        return db

    def migrate(self) -> list[str]:
        with self.pool.connection() as conn:
            return migrate(conn)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection inside one transaction: committed on exit, rolled back on error."""
        with self.pool.connection() as conn:
            with conn.transaction():
                yield conn

    def close(self) -> None:
        self.pool.close()
        # The embedded server handle stops the server when its last user exits.
        self._embedded = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redact(url: str) -> str:
    """Hide a password in a URL before it reaches a log or an error message."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable URL>"
    if "password" in info:
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo("", **info)
