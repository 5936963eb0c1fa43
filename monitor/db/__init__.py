"""Database access: the only part of the core that speaks SQL.

:class:`Database` owns a psycopg connection pool. With no ``DATABASE_URL`` it
starts the embedded PostgreSQL (``pgserver``) under ``DATA_DIR``. Migrations in
``monitor/migrations/NNN_name.sql`` apply themselves, under an advisory lock so
several workers can start at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolClosed

from ..errors import ConfigError, StorageClosed, StorageError, StorageUnavailable
from ._embedded import start_embedded
from ._migrate import migrate
from .health import Health, is_transient, storage_faults, unavailable

log = logging.getLogger(__name__)

__all__ = ["URL_SETTING", "Connection", "Database", "Health", "default_data_dir", "redact_url",
           "is_transient", "storage_faults"]

#: A pooled connection, as :meth:`Database.transaction` hands it out (rows are dicts).
Connection = psycopg.Connection[Any]

#: Where a database URL comes from, as error messages name it.
URL_SETTING = "TAKEDOWN_DATABASE_URL (or database_url in the watchlist's [settings])"
#: Seconds the first, direct connection may take before giving up.
PROBE_TIMEOUT = 10


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("takedown-monitor", appauthor=False))


class Database:
    """A pool of connections to one PostgreSQL database, migrated on open."""

    #: Seconds one chain of reconnection attempts lasts (pauses of 1, 2, then what is
    #: left) before the pool gives it up; the next request for a connection starts a
    #: new chain. psycopg's default, five minutes of doubling pauses, left the work
    #: stopped for about half as long again as an outage after the server was back.
    RECONNECT_TIMEOUT = 4.0

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4,
                 timeout: float = 30.0, setting: str | None = URL_SETTING) -> None:
        """Connect to ``url``, failing at once with the server's own reason.

        ``timeout`` bounds each wait for a pooled connection; ``setting`` names
        where the URL came from, for error messages (None: the embedded server).
        """
        self.url = url
        self._embedded: Any = None
        self.health = Health()
        _check_url(url, setting)
        _probe(url, setting)
        try:
            self.pool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": False, "row_factory": dict_row},
                open=False,
                name="takedown",
                timeout=timeout,
                reconnect_timeout=self.RECONNECT_TIMEOUT,
            )
            self.pool.open(wait=True, timeout=timeout)
        except Exception as exc:  # PoolTimeout: the server went away right after the probe
            raise StorageError(
                f"cannot connect to PostgreSQL at {redact_url(url)} within {timeout:g} s "
                f"({exc}). Is the server running?{_advice(setting)}"
            ) from exc

    @classmethod
    def open(cls, settings: Any, *, migrate_schema: bool = True) -> Database:
        """Connect as the settings say, starting the embedded server if needed."""
        url = settings["DATABASE_URL"]
        embedded = None
        if not url:
            data_dir = Path(settings["DATA_DIR"]) if settings["DATA_DIR"] else default_data_dir()
            embedded, url = start_embedded(data_dir)
        db = cls(url, setting=URL_SETTING if settings["DATABASE_URL"] else None)
        db._embedded = embedded
        if migrate_schema:
            db.migrate()
        return db

    @property
    def identity(self) -> str:
        """A short stable name for this database (host, port, name, user; no password),
        for files kept per database such as the recorder's spool."""
        return hashlib.sha256(redact_url(self.url).encode()).hexdigest()[:16]

    def migrate(self) -> list[str]:
        with self.pool.connection() as conn:
            return migrate(conn)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on exit, rolled back on error.

        Connection faults are reported to :attr:`health` (which logs an outage
        once) and raised as :class:`~monitor.errors.StorageUnavailable` (the
        driver's error is its ``__cause__``): callers retry on that. Once this
        process closed the database, :class:`~monitor.errors.StorageClosed`: no
        outage, nothing to retry. Any other error propagates as it was raised.
        """
        try:
            with self.pool.connection() as conn:
                with conn.transaction():
                    yield conn
        except PoolClosed as exc:
            raise StorageClosed(
                f"the database was closed by this process ({exc}): it is stopping, and "
                "work that needs the database now is left to the next start") from exc
        except Exception as exc:
            self.health.failed(exc)
            if is_transient(exc) and not isinstance(exc, StorageUnavailable):
                raise unavailable(exc) from exc
            raise
        self.health.ok()

    def close(self) -> None:
        self.pool.close()
        # The embedded server handle stops the server when its last user exits.
        self._embedded = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_url(url: str, setting: str | None) -> None:
    """Fail at once on a URL libpq cannot parse (no waiting, no retries)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
        for port in str(info.get("port") or "").split(","):
            if port and not port.strip().isdecimal():
                raise psycopg.ProgrammingError(f"port {port!r} is not a number")
    except psycopg.ProgrammingError as exc:
        where = setting or "the embedded server's URL"
        raise ConfigError(
            f"{where} is not a valid PostgreSQL URL ({_first_line(exc)}). Write it as "
            "postgresql://USER:PASSWORD@HOST:5432/DBNAME, or unset it to use the embedded "
            "database."
        ) from exc


def _probe(url: str, setting: str | None) -> None:
    """One direct connection, so the server's own reason (no such database, bad
    password, connection refused) reaches the user at once, not a pool timeout."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    timeout = PROBE_TIMEOUT if "connect_timeout" not in info else info["connect_timeout"]
    try:
        psycopg.connect(url, connect_timeout=timeout, autocommit=True).close()
    except psycopg.Error as exc:
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise StorageError(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {reason}.{_advice(setting)}"
        ) from exc


def _advice(setting: str | None) -> str:
    if setting is None:
        return " The embedded server did not accept connections: look at its log under DATA_DIR."
    return f" Check {setting}, or unset it to use the embedded database."


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]


def redact_url(url: str) -> str:
    """``url`` (a URL or a key=value conninfo) with its password replaced by ***."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        if parts.password is not None:
            userinfo, _, hostport = parts.netloc.rpartition("@")
            parts = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k == "password" for k, _ in pairs):
            parts = parts._replace(query=urlencode(
                [(k, "***" if k == "password" else v) for k, v in pairs], safe="*"))
        # Not urlunsplit: it drops the empty host of postgresql:///db.
        return (f"{parts.scheme}://{parts.netloc}{parts.path}"
                + (f"?{parts.query}" if parts.query else "")
                + (f"#{parts.fragment}" if parts.fragment else ""))
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable DATABASE_URL>"
    if "password" in info:
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo("", **info)


