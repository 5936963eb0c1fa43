"""The daemon's watchlist reload: nothing parsed, nothing written, when nothing changed.

``takedown run`` reloads the watchlist every 30 s. :class:`Reloader` reads the
file's bytes and hashes them (with the settings that shape the targets): the same
hash as the last reload that was synced returns None at once, without parsing the
file or touching the database. :func:`reload_and_sync` is one reload step of a
daemon loop: a broken file is logged and the previous targets kept; an unavailable
database is retried at the next reload (the hash is remembered only once the sync
succeeded).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StorageUnavailable, TakedownError, WatchlistError

if TYPE_CHECKING:
    from .watchlist import Target
    from .worker import Worker

log = logging.getLogger(__name__)

__all__ = ["Reloader", "file_hash", "reload_and_sync"]

#: What a daemon calls for the watchlist's targets: None when unchanged since the last sync.
Reload = Callable[[], "Sequence[Target] | None"]


def file_hash(data: bytes, salt: str = "") -> str:
    """SHA-256 of a watchlist file's bytes and of ``salt`` (the settings that shape
    its targets, e.g. the default interval and the worker's groups)."""
    return hashlib.sha256(salt.encode() + b"\0" + data).hexdigest()


class Reloader:
    """Calls ``parse(text)`` for the targets only when the file at ``path`` changed
    since the last reload :meth:`synced` confirmed (or :meth:`prime` set)."""

    def __init__(self, path: Path, parse: Callable[[str], Sequence[Target]], *,
                 salt: str = "") -> None:
        self.path = path
        self.parse = parse
        self.salt = salt
        self._synced: str | None = None
        self._pending: str | None = None

    def __call__(self) -> Sequence[Target] | None:
        data = self._read()
        digest = file_hash(data, self.salt)
        if digest == self._synced:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WatchlistError(str(self.path), None, "not UTF-8 text; save it as UTF-8") from None
        targets = self.parse(text)  # a bad file raises: nothing is remembered
        self._pending = digest
        return targets

    def synced(self) -> None:
        """The targets last returned are in the database: the same bytes are skipped."""
        self._synced = self._pending

    def prime(self, data: bytes) -> None:
        """Take ``data`` (the file as read before the daemon's first sync) as synced.
        Read before that sync: were the file changed in between, the next reload
        differs from it and syncs."""
        self._synced = file_hash(data, self.salt)

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError:
            from .watchlist import read_text

            read_text(self.path)  # raises the WatchlistError that says what to do
            raise


def reload_and_sync(worker: Worker, reload: Callable[[], Any]) -> dict[str, int] | None:
    """One reload of a daemon: the targets ``reload`` returns, synced; None when it
    returned None (unchanged), the file is broken or the database is away."""
    try:
        targets = reload()
        if targets is None:
            return None
        counts = worker.sync(targets)
    except StorageUnavailable:
        # The database is away (logged once by its health tracker): the next reload syncs.
        return None
    except TakedownError as exc:
        # A broken watchlist never stops the daemon: keep the last good one.
        log.error("watchlist not reloaded, keeping the previous targets: %s", exc)
        return None
    if isinstance(reload, Reloader):
        reload.synced()
    if counts.get("added") or counts.get("changed") or counts.get("deactivated"):
        log.info("watchlist reloaded: %s", counts)
    return counts
