"""The one exception hierarchy of Takedown Monitor.

::

    TakedownError                 every error this project raises on purpose
    ├── ConfigError               a setting has a bad value
    │   ├── WatchlistError        the watchlist file is wrong (names file and key)
    │   └── UnknownPlatform       a platform name nobody implements
    ├── StorageError              the database cannot be reached or migrated
    └── ParseError                a response could not be parsed (malformed page)

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


class StorageError(TakedownError):
    pass


class ParseError(TakedownError):
    """Raised by parsers; spiders turn it into an Outcome.MALFORMED observation."""
