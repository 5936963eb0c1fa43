"""The stamping chore: freeze new events' manifests and have them timestamped.

:func:`stamp_pending` runs among the daemon's periodic chores and as ``takedown
evidence stamp``. It builds the manifest of every event that has none, then asks
each configured authority (``TIMESTAMP_AUTHORITIES``) to stamp the manifests it
has not stamped yet. A failing authority is recorded (``failed``, ``last_error``)
and retried after a back-off that starts at a minute and doubles up to
``TIMESTAMP_RETRY_MAX``; it never raises into the recorder or the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..db import Database
from ..db import evidence as store
from .collect import ensure_manifest
from .tsa import AuthorityUnavailable, TimestampError, load_ca_file, request_token, verify_token

log = logging.getLogger(__name__)

__all__ = ["StampRun", "backoff", "stamp_pending"]

#: Manifests built per call, and stamps asked per call (bounds one chore's work).
BUILD_BATCH = 200
STAMP_BATCH = 200
#: The first wait after a failure; it doubles with each failure in a row.
RETRY_BASE = 60.0

Requester = Callable[..., bytes]


@dataclass
class StampRun:
    """What one call did."""

    built: int = 0
    stamped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, longest: float) -> timedelta:
    """The wait after the ``attempts``-th failure in a row (1 → a minute)."""
    return timedelta(seconds=min(longest, RETRY_BASE * 2 ** min(max(attempts - 1, 0), 30)))


def stamp_pending(db: Database, settings: Any, now: datetime, *,
                  request: Requester = request_token) -> StampRun:
    """Build missing manifests and ask for due stamps; returns what happened. Never
    raises: every failure is logged and left for the next call."""
    run = StampRun()
    try:
        _build(db, settings, now, run)
        if settings["TIMESTAMP_AUTHORITIES"]:
            _stamp(db, settings, now, run, request)
    except Exception as exc:  # noqa: BLE001 (a chore: the daemon must go on)
        log.warning("evidence stamping stopped early: %s (retried at the next run)", exc)
        run.errors.append(str(exc))
    return run


def _build(db: Database, settings: Any, now: datetime, run: StampRun) -> None:
    authorities = list(settings["TIMESTAMP_AUTHORITIES"])
    with db.transaction() as conn:
        event_ids = store.events_without_manifest(conn, BUILD_BATCH)
    for event_id in event_ids:
        try:
            with db.transaction() as conn:
                ensure_manifest(conn, event_id, now, authorities)
            run.built += 1
        except Exception as exc:  # noqa: BLE001 (one event's damage must not stop others)
            log.warning("event %d: its evidence manifest cannot be built: %s", event_id, exc)
            run.errors.append(f"event {event_id}: {exc}")


def _stamp(db: Database, settings: Any, now: datetime, run: StampRun,
           request: Requester) -> None:
    authorities = list(settings["TIMESTAMP_AUTHORITIES"])
    ca = load_ca_file(settings["TIMESTAMP_CA_FILE"]) if settings["TIMESTAMP_CA_FILE"] else []
    with db.transaction() as conn:
        store.add_authorities(conn, authorities)
        due = store.due_stamps(conn, authorities, now, STAMP_BATCH)
    down: dict[str, str] = {}  # an authority that failed this run is not asked again
    longest = float(settings["TIMESTAMP_RETRY_MAX"])
    for item in due:
        error = down.get(item.authority)
        token = None
        if error is None:
            try:
                token = request(item.authority, item.manifest,
                                timeout=float(settings["TIMESTAMP_TIMEOUT"]),
                                user_agent=settings["USER_AGENT"])
                if ca:
                    verify_token(token, item.manifest, ca)
            except AuthorityUnavailable as exc:
                error = down[item.authority] = str(exc)
            except TimestampError as exc:
                error = f"unusable token: {exc}"
        with db.transaction() as conn:
            if token is not None and error is None:
                store.record_token(conn, item.event_id, item.authority, token, now)
                run.stamped += 1
                continue
            wait = backoff(item.attempts + 1, longest)
            store.record_failure(conn, item.event_id, item.authority, error or "", now + wait)
        run.failed += 1
        log.info("event %d: timestamp authority %s failed (%s); next try in %s",
                 item.event_id, item.authority, error, wait)
