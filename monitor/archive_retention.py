"""The archive's retention chore: "keep events, expire raw snapshots".

Run by the daemon among its periodic chores and by ``takedown evidence prune``.
Raw captures older than ``ARCHIVE_RETENTION`` are deleted unless an event rests on
them, a pending suspicion may need them, or they are the capture of a post's
current version (:func:`monitor.db.archive.expire`). Each deletion is recorded in
the hash chain as a retirement, so it is never mistaken for tampering.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from .db import Database
from .db import archive as store

log = logging.getLogger(__name__)

__all__ = ["expire_archive", "retention_cutoff"]


def retention_cutoff(settings: Any, now: datetime) -> datetime | None:
    """Captures from before this instant may go; None: ``ARCHIVE_RETENTION`` is 0
    (keep every capture)."""
    seconds = float(settings["ARCHIVE_RETENTION"])
    if seconds <= 0:
        return None
    return now - timedelta(seconds=seconds)


def expire_archive(db: Database, settings: Any, now: datetime) -> int:
    """Expire the captures past ``ARCHIVE_RETENTION`` at ``now``, in one transaction;
    returns how many records were deleted."""
    before = retention_cutoff(settings, now)
    if before is None:
        return 0
    with db.transaction() as conn:
        deleted = store.expire(conn, before)
    if deleted:
        log.info("archive retention: %d raw capture(s) from before %s expired "
                 "(none an event rests on)", deleted, before.isoformat())
    return deleted
