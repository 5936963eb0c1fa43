"""Tamper evidence: an append-only hash chain over recorded rows (pure).

Every observation, event and archived capture the recorder stores gets one chain
entry in the transaction that wrote it. An entry holds the row's *digest* (SHA-256
of the canonical JSON of the row's immutable columns) and its *hash*, which
commits to the previous entry's hash, its own sequence number, the row's kind and
id and that digest::

    hash(n) = sha256(canonical([hash(n-1), n, kind, row_id, digest]))

So editing a stored row changes its digest, removing a row leaves an entry with
nothing behind it, and removing or editing an entry breaks every later link.
A legitimate deletion (retention, a forgotten demo group) is itself an entry,
``retire:<kind>``, whose digest commits to the row and the reason.

What is chained, per kind (:data:`CHAINED`): observations without the columns a
run of identical re-checks extends in place (``last_at``, ``repeats``,
``body_hash``, ``counters``: :mod:`monitor.runs`); events as inserted, without
``words_doc`` (a generated search column derived from ``evidence``; no code
updates an event row); captures without the WARC bytes, to which
``warc_sha256`` commits. An entry's ``at`` is informational, not committed:
trusted time comes from the RFC 3161 stamps of the bundles.

The SQL lives in :mod:`monitor.db.chain`; this module only computes and checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from .errors import TakedownError

#: The ``prev`` of the first entry.
GENESIS = "0" * 64

#: Per row kind: its table and the columns the chain commits to.
CHAINED: dict[str, tuple[str, tuple[str, ...]]] = {
    "observation": ("observations", (
        "id", "target_id", "post_id", "mode", "first_at", "outcome", "http_status",
        "version_id", "message", "url", "vantage", "signals", "detail")),
    "event": ("events", (
        "id", "dedupe_key", "kind", "cause", "cause_detail", "candidates", "post_id",
        "target_id", "platform", "group_name", "post_key", "detected_at",
        "last_seen_visible", "first_seen_gone", "published_at", "version_id", "edit",
        "evidence")),
    "capture": ("archive_records", (
        "id", "observation_id", "captured_at", "target_uri", "payload_sha256",
        "warc_sha256", "size")),
}

#: The prefix of the kind of an entry that records a legitimate deletion.
RETIRE = "retire:"


class ChainError(TakedownError, ValueError):
    """A row or entry cannot be chained (unknown kind, a column missing, no such row,
    the chain's head row gone)."""


#: The options of ``json.dumps`` the canonical form was defined with, built once.
#: Without its check for cycles: it only ever sees what :func:`json_safe` built, and
#: that walk fails on a cycle first (``RecursionError``).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False, check_circular=False)


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (a lone surrogate kept as
    its code point), every value first made JSON-safe by :func:`json_safe`."""
    return _encode(json_safe(value))


def _encode(safe: Any) -> bytes:
    return _CANONICAL.encode(safe).encode("utf-8", "surrogatepass")


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types, the same way every time, and idempotent (a
    value already made safe is returned unchanged, so a verifier reading exported
    fields computes the recorder's digest).

    Datetimes become ISO 8601 UTC with microseconds (a naive one is taken as
    UTC); dates ISO; ``Decimal`` its exact string; bytes ``base64:...``;
    non-finite floats the strings ``NaN``, ``Infinity``, ``-Infinity`` (a jsonb
    column cannot hold them, so they cannot collide with a stored row); tuples
    and sets lists (sets sorted by their canonical form); mapping keys strings.
    """
    # Exact types first: nearly every value is one, and ``isinstance`` with an ABC
    # (``Mapping``) costs more than the rest of the walk. Subclasses take the long way.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): json_safe(v) for k, v in value.items()}
    if kind is list:
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v) for v in value), key=_encode)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    raise ChainError(f"cannot chain a value of type {type(value).__name__}: {value!r:.80}")


def _columns(kind: str) -> tuple[str, ...]:
    try:
        return CHAINED[kind][1]
    except KeyError:
        raise ChainError(f"unknown chain kind {kind!r}; known: {', '.join(CHAINED)}") from None


def chained_fields(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's immutable columns of ``kind``, JSON-safe. Other columns are
    ignored; a chained column missing from ``row`` is an error (absent is not
    NULL)."""
    columns = _columns(kind)
    missing = [c for c in columns if c not in row]
    if missing:
        raise ChainError(f"{kind} row {row.get('id')!r} lacks chained column(s) "
                         f"{', '.join(missing)}")
    return {c: json_safe(row[c]) for c in columns}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def row_digest(kind: str, row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``{"kind": kind, "row": chained fields}``."""
    # The fields are JSON-safe already, and json_safe is idempotent: not made so again.
    return _sha256(_encode({"kind": kind, "row": chained_fields(kind, row)}))


def retire_digest(kind: str, row_id: int, reason: str) -> str:
    """The digest of a ``retire:<kind>`` entry: the row it retires and why."""
    _columns(kind)
    return _sha256(canonical({"kind": RETIRE + kind, "row_id": row_id, "reason": reason}))


def entry_hash(prev: str, seq: int, kind: str, row_id: int, digest: str) -> str:
    """The entry's hash: SHA-256 of the canonical JSON list of its committed fields."""
    return _sha256(canonical([prev, seq, kind, row_id, digest]))


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One link. ``kind`` is a row kind of :data:`CHAINED` or ``retire:<kind>``;
    ``note`` is a retirement's reason (committed through its digest); ``at`` when
    it was appended (not committed)."""

    seq: int
    kind: str
    row_id: int
    digest: str
    prev: str
    hash: str
    at: datetime | None = None
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The entry as plain JSON (for bundles); :meth:`from_json` reads it back."""
        return {"seq": self.seq, "kind": self.kind, "row_id": self.row_id,
                "digest": self.digest, "prev": self.prev, "hash": self.hash,
                "at": json_safe(self.at), "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChainEntry:
        at = data.get("at")
        return cls(seq=int(data["seq"]), kind=str(data["kind"]), row_id=int(data["row_id"]),
                   digest=str(data["digest"]), prev=str(data["prev"]), hash=str(data["hash"]),
                   at=datetime.fromisoformat(at) if isinstance(at, str) else None,
                   note=data.get("note"))


def link(prev: str, seq: int, kind: str, row_id: int, digest: str,
         note: str | None = None) -> ChainEntry:
    """A new entry after ``prev`` (the previous entry's hash, or :data:`GENESIS`)."""
    return ChainEntry(seq=seq, kind=kind, row_id=row_id, digest=digest, prev=prev,
                      hash=entry_hash(prev, seq, kind, row_id, digest), note=note)


def retired_kind(kind: str) -> str | None:
    """The row kind a ``retire:<kind>`` entry retires; None for a row entry."""
    return kind[len(RETIRE):] if kind.startswith(RETIRE) else None


#: What :meth:`Walker.step` is told about an entry's row that is not stored.
MISSING: Mapping[str, Any] | None = None


@dataclass
class Walker:
    """Checks entries one at a time, in ``seq`` order, in bounded memory.

    With ``complete`` the walk must start at seq 1 from :data:`GENESIS` and have
    no gap; otherwise (a bundle's few entries) only adjacent entries are linked.
    At most ``limit`` problems are kept; ``dropped`` counts the rest.
    """

    complete: bool = True
    limit: int = 1000
    problems: list[str] = field(default_factory=list)
    dropped: int = 0
    count: int = 0
    _last: ChainEntry | None = None

    def _problem(self, entry: ChainEntry, what: str) -> None:
        if len(self.problems) < self.limit:
            self.problems.append(f"seq {entry.seq} ({entry.kind} {entry.row_id}): {what}")
        else:
            self.dropped += 1

    def step(self, entry: ChainEntry, row: Mapping[str, Any] | None, *,
             retired: bool = False) -> None:
        """Check ``entry`` after the previous one. ``row``: its stored row (or
        chained fields), None when absent; ``retired``: a later entry retires it."""
        self.count += 1
        self._check_link(entry)
        if entry.hash != entry_hash(entry.prev, entry.seq, entry.kind, entry.row_id,
                                    entry.digest):
            self._problem(entry, "entry hash does not match its fields (entry edited)")
        target = retired_kind(entry.kind)
        if target is not None:
            if target not in CHAINED:
                self._problem(entry, f"retires an unknown kind {target!r}")
            elif entry.note is not None and entry.digest != retire_digest(
                    target, entry.row_id, entry.note):
                self._problem(entry, "retirement's reason does not match its digest")
        elif entry.kind not in CHAINED:
            self._problem(entry, "unknown kind")
        elif row is not None:
            try:
                digest = row_digest(entry.kind, row)
            except ChainError as exc:
                self._problem(entry, f"row cannot be read: {exc}")
            else:
                if digest != entry.digest:
                    self._problem(entry, "row edited: its digest no longer matches")
        elif not retired:
            self._problem(entry, "row missing and never retired (row removed)")
        self._last = entry

    def _check_link(self, entry: ChainEntry) -> None:
        last = self._last
        if last is None:
            if self.complete and entry.seq != 1:
                self._problem(entry, f"chain starts at seq {entry.seq}, not 1 "
                                     "(entries removed)")
            if entry.seq == 1 and entry.prev != GENESIS:
                self._problem(entry, "first entry does not start from GENESIS")
            return
        if entry.seq <= last.seq:
            self._problem(entry, f"out of order after seq {last.seq}")
            return
        if entry.seq != last.seq + 1:
            if self.complete:
                self._problem(entry, f"gap: seq {last.seq + 1}..{entry.seq - 1} missing "
                                     "(entries removed)")
            return
        if entry.prev != last.hash:
            self._problem(entry, f"does not link to seq {last.seq} (prev hash differs)")

    def finish(self, head: ChainEntry | None = None) -> list[str]:
        """The problems found, with the head's check: the last entry walked must be
        the recorded head (entries cut off the end are caught here)."""
        if head is not None:
            last = self._last
            if last is None and head.seq == 0:
                pass  # an empty chain, as recorded
            elif last is None or last.seq != head.seq or last.hash != head.hash:
                where = "nothing" if last is None else f"seq {last.seq}"
                self.problems.append(f"head is seq {head.seq} but the chain ends at {where} "
                                     "(entries removed or head edited)")
        if self.dropped:
            self.problems.append(f"... and {self.dropped} more problem(s)")
        return self.problems


def verify_entries(entries: Sequence[ChainEntry],
                   rows: Mapping[tuple[str, int], Mapping[str, Any]], *,
                   complete: bool = False) -> list[str]:
    """Problems with ``entries`` (in ``seq`` order) against ``rows`` (the stored
    rows or their chained fields, keyed ``(kind, row id)``): entry hashes, links
    between adjacent entries, each row's digest, each missing row retired by a
    later entry in ``entries``. Empty: everything holds. ``complete``: the
    entries are the whole chain (from seq 1, no gaps)."""
    retired_at: dict[tuple[str, int], int] = {}
    for e in entries:
        target = retired_kind(e.kind)
        if target is not None:
            retired_at.setdefault((target, e.row_id), e.seq)
    walker = Walker(complete=complete)
    for e in entries:
        key = (e.kind, e.row_id)
        later = retired_at.get(key)
        walker.step(e, rows.get(key), retired=later is not None and later > e.seq)
    return walker.finish()


def refs_of(kind: str, ids: Iterable[int]) -> list[tuple[str, int]]:
    """``(kind, id)`` refs, checked and without repeats, in order."""
    _columns(kind)
    return [(kind, i) for i in dict.fromkeys(int(i) for i in ids)]
