"""The exported tables: events (as ``takedown events`` prints them), posts, versions,
and per-country availability."""

from __future__ import annotations

from typing import Any

from ..query import EVENT_FIELDS, event_record
from .tabular import Table

_EVENT_TYPES = {
    "id": "int", "detected_at": "time", "candidates": "texts", "published_at": "time",
    "last_seen_visible": "time", "first_seen_gone": "time", "lifetime_seconds": "float",
    "edit": "json", "evidence": "json",
}


def _event(row: dict[str, Any]) -> dict[str, Any]:
    record = event_record(row)
    # event_record writes times as ISO text; the writers want them as times (Parquet).
    for name in ("detected_at", "published_at", "last_seen_visible", "first_seen_gone"):
        record[name] = row.get(name)
    return record


def _same(row: dict[str, Any]) -> dict[str, Any]:
    return row


EVENTS = Table("events", tuple((name, _EVENT_TYPES.get(name, "text"))
                               for name in EVENT_FIELDS), _event)

POSTS = Table("posts", (
    ("id", "int"), ("platform", "text"), ("group", "text"), ("target", "text"),
    ("target_key", "text"), ("post_key", "text"), ("url", "text"), ("author", "text"),
    ("published_at", "time"), ("first_seen", "time"), ("state", "text"),
    ("state_since", "time"), ("gone_cause", "text"), ("last_visible_at", "time"),
    ("first_gone_at", "time"), ("versions", "int"), ("disappearances", "int"),
    ("edits", "int"), ("other_events", "int"), ("title", "text"), ("text", "text"),
), _same)

VERSIONS = Table("versions", (
    ("id", "int"), ("post_id", "int"), ("platform", "text"), ("group", "text"),
    ("target_key", "text"), ("post_key", "text"), ("content_hash", "text"),
    ("first_seen", "time"), ("title", "text"), ("text", "text"),
), _same)

#: Per-country availability (monitor.availability): one row per observation run of a
#: post, as an OONI-style measurement (ok, anomaly, confirmed, failure).
AVAILABILITY = Table("availability", (
    ("observation_id", "int"), ("post_id", "int"), ("platform", "text"), ("group", "text"),
    ("target_key", "text"), ("post_key", "text"), ("country", "text"), ("vantage", "text"),
    ("mode", "text"), ("first_at", "time"), ("last_at", "time"), ("repeats", "int"),
    ("measurement", "text"), ("outcome", "text"), ("http_status", "int"),
    ("fingerprint", "text"), ("notice", "text"), ("ok_elsewhere", "texts"),
), _same)

TABLES = {t.name: t for t in (EVENTS, POSTS, VERSIONS, AVAILABILITY)}
