"""An event's evidence manifest (pure): what the bundle says and what is stamped.

The manifest is one JSON document: the event row, its cause and the rule that
decided it, the post's observation timeline (with each body's SHA-256), the raw
captures in the bundle's WARC file (each a byte range of it, with its SHA-256),
the hash-chain entries of every row it names with those rows' chained fields, the
chain head when it was built, and the post's per-country availability. It is
built once per event and frozen: its bytes are what the timestamp authorities
sign, so they never change (:mod:`monitor.db.evidence` keeps them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..archive import ArchiveRecord
from ..chain import ChainEntry, chained_fields, json_safe

__all__ = ["FORMAT", "WARC_NAME", "Capture", "build", "dumps", "loads", "row_key", "rule_of"]

#: The manifest's format; a verifier refuses one it does not know.
FORMAT = "takedown-evidence/1"
#: The bundle member holding the captures.
WARC_NAME = "archive/evidence.warc.gz"


#: One archived capture as the manifest reads it (a stored record).
Capture = ArchiveRecord


def row_key(kind: str, row_id: int) -> str:
    """How the manifest keys a chained row: ``"observation:12"``."""
    return f"{kind}:{int(row_id)}"


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else empty: stored evidence is read defensively."""
    return value if isinstance(value, Mapping) else {}


def _timeline_entry(obs: Mapping[str, Any]) -> dict[str, Any]:
    signals = _mapping(obs.get("signals"))
    return json_safe({
        "id": obs["id"],
        "first_at": obs["first_at"],
        "last_at": obs["last_at"],
        "repeats": obs["repeats"],
        "mode": obs["mode"],
        "outcome": obs["outcome"],
        "http_status": obs["http_status"],
        "url": obs["url"],
        "vantage": obs["vantage"],
        "country": signals.get("country"),
        "words": obs["message"],
        "fingerprint": signals.get("fingerprint"),
        "notice": signals.get("notice"),
        "body_sha256": obs["body_hash"],
    })


def rule_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The deciding rule and the probes of an event's evidence, as the manifest shows them."""
    evidence = _mapping(event.get("evidence"))
    observed = _mapping(evidence.get("observed"))
    signals = _mapping(observed.get("signals"))
    listed = _mapping(evidence.get("suspicion")).get("probes")
    probes = [p for p in [observed, *(listed if isinstance(listed, list) else [])]
              if isinstance(p, Mapping) and p]
    return json_safe({
        "fingerprint": evidence.get("fingerprint") or signals.get("fingerprint"),
        "reason": evidence.get("reason"),
        "observed": observed.get("obs"),
        # Each probe's own body hash: a run's row keeps only its latest.
        "probes": [{"obs": p.get("obs"), "at": p.get("at"), "outcome": p.get("outcome"),
                    "http_status": p.get("http_status"), "body_hash": p.get("body_hash")}
                   for p in probes],
    })


def build(*, event: Mapping[str, Any], observations: Sequence[Mapping[str, Any]],
          captures: Sequence[Capture], entries: Sequence[ChainEntry],
          chain_rows: Mapping[tuple[str, int], Mapping[str, Any]],
          head: ChainEntry | None, availability: Sequence[Mapping[str, Any]] | None,
          built_at: datetime, rests_on: Sequence[int] = (),
          chain_since: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The manifest of ``event`` (its stored row) from its post's ``observations``
    (stored rows, oldest first), the ``captures`` (in WARC order), the chain
    ``entries`` of the rows named with those rows' chained fields (``chain_rows``,
    keyed ``(kind, id)``) and the chain ``head``; ``rests_on``: the observation
    ids the event rests on; ``chain_since``: per kind, the last row id before the
    chain began (later rows must all have an entry)."""
    offset = 0
    capture_items = []
    for c in captures:
        capture_items.append(json_safe({
            "record_id": c.id, "observation_id": c.observation_id,
            "captured_at": c.captured_at, "target_uri": c.target_uri,
            "payload_sha256": c.payload_sha256, "warc_sha256": c.warc_sha256,
            "warc_file": WARC_NAME, "offset": offset, "length": len(c.warc),
        }))
        offset += len(c.warc)
    rows = {row_key(kind, row_id): json_safe(dict(fields))
            for (kind, row_id), fields in sorted(chain_rows.items())}
    return {
        "format": FORMAT,
        "built_at": json_safe(built_at),
        "event": chained_fields("event", event),
        "cause": event.get("cause"),
        "cause_detail": event.get("cause_detail"),
        "candidates": list(event.get("candidates") or []),
        "rule": rule_of(event),
        "rests_on": [int(i) for i in rests_on],
        "timeline": [_timeline_entry(o) for o in observations],
        "captures": capture_items,
        "chain": {
            "entries": [e.as_json() for e in entries],
            "rows": rows,
            "head": head.as_json() if head is not None else None,
            "since": dict(chain_since or {}),
        },
        "availability": (json_safe([dict(a) for a in availability])
                         if availability is not None else None),
    }


def dumps(manifest: Mapping[str, Any]) -> bytes:
    """The manifest's bytes: indented, sorted JSON (readable, and stable)."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False,
                       allow_nan=False) + "\n").encode("utf-8", "surrogatepass")


def loads(data: bytes) -> dict[str, Any]:
    """A manifest from its bytes; ValueError when it is not one."""
    value = json.loads(data.decode("utf-8", "surrogatepass"))
    if not isinstance(value, dict):
        raise ValueError("the manifest is not a JSON object")
    if value.get("format") != FORMAT:
        raise ValueError(f"unknown manifest format {value.get('format')!r}; this "
                         f"version reads {FORMAT}")
    return value
