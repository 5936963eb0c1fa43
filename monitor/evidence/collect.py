"""Gathering an event's evidence from the database: its frozen manifest, and the
bundle (manifest, captures, tokens) that ``takedown evidence export`` and the API
hand out."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..chain import ChainEntry
from ..db import Connection as Conn
from ..db import archive as archive_store
from ..db import chain as chain_store
from ..db import evidence as store
from . import bundle, manifest

__all__ = ["EvidenceError", "UnknownEvent", "bundle_bytes", "ensure_manifest"]

#: Observation runs of the post a manifest lists at most (besides those the event
#: rests on): runs compress unchanged re-checks, so this is months of history.
TIMELINE_LIMIT = 500


class EvidenceError(Exception):
    """An event's evidence cannot be put together; the message says why."""


class UnknownEvent(EvidenceError):
    """No event has this id."""


def _availability(conn: Conn, post_id: int) -> list[dict[str, Any]] | None:
    """The post's per-country availability, when that part is installed."""
    try:
        module = importlib.import_module("monitor.db.availability")
    except ImportError:
        return None
    for_post = getattr(module, "for_post", None)
    return None if for_post is None else list(for_post(conn, post_id))


def build_manifest(conn: Conn, event_id: int, now: datetime) -> bytes:
    """The manifest bytes of ``event_id`` as the database holds it now."""
    event = store.event_row(conn, event_id)
    if event is None:
        raise UnknownEvent(f"no event {event_id}; list events with `takedown events`")
    rests_on = archive_store.event_observation_ids(conn, event_id)
    observations = store.timeline(conn, event["post_id"], event["detected_at"], rests_on,
                                  TIMELINE_LIMIT)
    records = archive_store.records(conn, rests_on) if rests_on else []
    captures = list(records)
    refs: list[tuple[str, int]] = [("event", event_id)]
    refs += [("observation", o["id"]) for o in observations]
    refs += [("capture", c.id) for c in captures]
    entries: Sequence[ChainEntry] = chain_store.entries_for(conn, refs)
    doc = manifest.build(event=event, observations=observations, captures=captures,
                         entries=entries, chain_rows=chain_store.rows_for(conn, refs),
                         head=chain_store.head(conn),
                         availability=_availability(conn, event["post_id"]),
                         built_at=now, rests_on=rests_on,
                         chain_since=store.chain_since(conn))
    return manifest.dumps(doc)


def ensure_manifest(conn: Conn, event_id: int, now: datetime,
                    authorities: Sequence[str] = ()) -> store.StoredManifest:
    """The event's frozen manifest, built and stored now if it has none."""
    stored = store.manifest(conn, event_id)
    if stored is not None:
        return stored
    data = build_manifest(conn, event_id, now)
    return store.store_manifest(conn, event_id, data, now, authorities)


def bundle_bytes(conn: Conn, event_id: int, now: datetime,
                 authorities: Sequence[str] = ()) -> bytes:
    """The event's bundle: its frozen manifest, the captures it names and every
    token stamped so far."""
    stored = ensure_manifest(conn, event_id, now, authorities)
    doc = manifest.loads(stored.data)
    wanted = [int(c["record_id"]) for c in doc["captures"]]
    by_id = {r.id: r for r in archive_store.records(
        conn, [int(c["observation_id"]) for c in doc["captures"]])}
    parts = []
    for cap in doc["captures"]:
        record = by_id.get(int(cap["record_id"]))
        if record is None or record.warc_sha256 != cap["warc_sha256"]:
            raise EvidenceError(
                f"event {event_id}: capture {cap['record_id']} is no longer stored as the "
                "manifest names it (removed or altered); check `takedown evidence verify "
                "--chain`")
        parts.append(record.warc)
    assert len(parts) == len(wanted)
    tokens = {row["authority"]: row["token"] for row in store.stamps(conn, event_id)
              if row["status"] == "ok"}
    return bundle.write(bundle.Bundle(manifest=stored.data, warc=b"".join(parts),
                                      tokens=bundle.tokens_from(tokens)))
