"""The one exception hierarchy of Takedown Monitor.

::

    TakedownError                 every error this project raises on purpose
    ├── ConfigError               a setting has a bad value
    │   ├── WatchlistError        the watchlist file is wrong (names file and key)
    │   └── UnknownPlatform       a platform name nobody implements
    ├── StorageError              the database cannot be reached or migrated
    │   └── StorageUnavailable    a transient fault (connection lost or refused, pool
    │       │                     timeout, server shutting down, deadlock): retry later
    │       └── StorageClosed     closed by this process (it is stopping): skip, never wait
    ├── ParseError                a response could not be parsed (malformed page)
    └── AccessError               an analyst's request cannot be done: an unknown token,
        │                         a rejection without a reason (monitor/db/access.py)
        └── UnknownEvent          a review of an event id that does not exist

Besides it, :class:`Aborted`: a recorder told to stop, not a failure.

Messages say what happened and what to do next.
"""

from __future__ import annotations


class TakedownError(Exception):
    """Base class: catch this to handle every expected failure."""


class ConfigError(TakedownError):
    pass


class WatchlistError(ConfigError):
    def __init__(self, file: str, key: str | None, problem: str) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


class UnknownPlatform(ConfigError):
    def __init__(self, name: str, known: list[str], suggestion: str | None = None) -> None:
        hint = f"did you mean {suggestion!r}? " if suggestion else ""
        super().__init__(f"unknown platform {name!r}; {hint}known platforms: {', '.join(known)}")
        self.name = name
        self.suggestion = suggestion


class PlatformLoadError(ConfigError):
    """A platform's entry point is installed but could not be loaded."""

    def __init__(self, entry_point: str, reason: str) -> None:
        super().__init__(f"platform plug-in {entry_point!r} (entry point group "
                         f"'takedown.platforms') could not be loaded: {reason}; fix or "
                         "uninstall the package that declares it")
        self.entry_point = entry_point
        self.reason = reason


class StorageError(TakedownError):
    pass


class StorageUnavailable(StorageError):
    """The database is away for now, or the transaction lost a race (deadlock,
    serialisation failure): the same work succeeds later, so callers retry.

    Raised by the database layer in place of the driver's own errors (which stay
    in ``__cause__``), so nothing outside ``monitor/db`` and ``alerts/store.py``
    needs to know the driver.
    """


class StorageClosed(StorageUnavailable):
    """The database was closed by this process (it is shutting down). A caller that
    skips an attempt on :class:`StorageUnavailable` (the next tick retries) skips it
    quietly as before; one that waits for the database to come back must not: this
    one never comes back (:func:`monitor.db.is_transient` is False for it), and it
    is no outage."""


class ParseError(TakedownError):
    """Raised by parsers; spiders turn it into an Outcome.MALFORMED observation."""


class Aborted(Exception):
    """The recorder was told to stop while the database was away; nothing was written.

    Not a :class:`TakedownError`: the crawl's pipeline ends on it quietly. Here rather
    than in :mod:`monitor.snapshot`, so the crawl's side catches it without loading
    the recorder."""
