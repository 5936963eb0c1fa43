"""The hash chain's SQL: an append-only chain over recorded rows (:mod:`monitor.chain`).

Appends are serialised by the one-row ``chain_head`` table, locked ``FOR UPDATE``
in the caller's transaction: the entries commit (or vanish) with the rows they
cover, and two recorders never take the same ``seq``. The head lock is taken
last, after every row lock of the batch, so it is held only until the commit and
cannot be part of a lock cycle (every caller here keeps that order: delete or
insert first, then append or retire).

``chain`` refuses UPDATE, DELETE and TRUNCATE by trigger (migration 015). A
superuser can still switch the triggers off; :func:`verify` then finds the gap.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from ..chain import (
    CHAINED,
    RETIRE,
    ChainEntry,
    ChainError,
    Walker,
    chained_fields,
    link,
    refs_of,
    retire_digest,
    row_digest,
)
from . import Connection as Conn

__all__ = ["ChainReport", "append", "entries_for", "group_rows", "head", "retire",
           "retire_gone", "rows_for", "verify"]

_ENTRY_COLS = "seq, kind, row_id, digest, prev, hash, at, note"
#: Entries read per round trip while verifying (bounds the memory of a walk).
CHUNK = 2000


@dataclass
class ChainReport:
    """What :func:`verify` found: ``ok`` when ``problems`` is empty."""

    entries: int = 0
    head: ChainEntry | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _entry(row: dict[str, Any]) -> ChainEntry:
    return ChainEntry(seq=row["seq"], kind=row["kind"], row_id=row["row_id"],
                      digest=row["digest"], prev=row["prev"], hash=row["hash"],
                      at=row["at"], note=row["note"])


def _read_rows(conn: Conn, kind: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored rows of ``kind`` with ``ids``, only their chained columns."""
    table, columns = CHAINED[kind]
    query = sql.SQL("SELECT {cols} FROM {table} WHERE id = ANY(%s)").format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=sql.Identifier(table))
    return {r["id"]: r for r in conn.execute(query, (list(ids),)).fetchall()}


def _write(conn: Conn, items: Sequence[tuple[str, int, str, str | None]]) -> list[ChainEntry]:
    """Lock the head, link ``(kind, row id, digest, note)`` items after it, store them."""
    if not items:
        return []
    row = conn.execute("SELECT seq, hash FROM chain_head FOR UPDATE").fetchone()
    if row is None:
        raise ChainError("chain_head has no row: the chain's migration (015) did not run "
                         "or its row was removed; run `takedown migrate`")
    seq, prev = row["seq"], row["hash"]
    entries: list[ChainEntry] = []
    for kind, row_id, digest, note in items:
        seq += 1
        entry = link(prev, seq, kind, row_id, digest, note)
        entries.append(entry)
        prev = entry.hash
    with conn.cursor().copy(
        "COPY chain (seq, kind, row_id, digest, prev, hash, note) FROM STDIN"
    ) as copy:
        for e in entries:
            copy.write_row((e.seq, e.kind, e.row_id, e.digest, e.prev, e.hash, e.note))
    conn.execute("UPDATE chain_head SET seq = %s, hash = %s", (seq, prev))
    return entries


def append(conn: Conn, refs: Sequence[tuple[str, int]]) -> list[ChainEntry]:
    """Append one entry per ``(kind, row id)`` in the caller's transaction; returns
    them. Each row is read back by id first, so its digest is what a verifier
    reads. A ref whose row is not stored is an error (a caller's bug)."""
    refs = list(dict.fromkeys((k, int(i)) for k, i in refs))
    if not refs:
        return []
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, row_id in refs:
        refs_of(kind, ())  # an unknown kind is an error before anything is read
        by_kind[kind].append(row_id)
    stored = {kind: _read_rows(conn, kind, ids) for kind, ids in by_kind.items()}
    items: list[tuple[str, int, str, str | None]] = []
    for kind, row_id in refs:
        found = stored[kind].get(row_id)
        if found is None:
            raise ChainError(f"cannot chain {kind} {row_id}: no such row in "
                             f"{CHAINED[kind][0]}")
        items.append((kind, row_id, row_digest(kind, found), None))
    return _write(conn, items)


def retire(conn: Conn, kind: str, ids: Sequence[int], reason: str) -> list[ChainEntry]:
    """Record that rows of ``kind`` were deleted on purpose (``reason``: retention,
    a forgotten group…), in the deleting transaction, after the delete."""
    items = [(RETIRE + kind, row_id, retire_digest(kind, row_id, reason), reason)
             for _, row_id in refs_of(kind, ids)]
    return _write(conn, items)


def entries_for(conn: Conn, refs: Sequence[tuple[str, int]]) -> list[ChainEntry]:
    """The entries that chain or retire each ``(kind, row id)``, in ``seq`` order."""
    keys = list(dict.fromkeys((k, int(i)) for k, i in refs))
    if not keys:
        return []
    kinds = [k for k, _ in keys] + [RETIRE + k for k, _ in keys]
    ids = [i for _, i in keys] * 2
    rows = conn.execute(
        f"SELECT {_ENTRY_COLS} FROM chain WHERE (kind, row_id) IN "
        "(SELECT * FROM unnest(%s::text[], %s::bigint[])) ORDER BY seq",
        (kinds, ids),
    ).fetchall()
    return [_entry(r) for r in rows]


def rows_for(conn: Conn, refs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The chained fields of each stored row of ``refs`` (absent rows are left out)."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, row_id in dict.fromkeys((k, int(i)) for k, i in refs):
        if kind in CHAINED:
            by_kind[kind].append(row_id)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for kind, ids in by_kind.items():
        for row_id, row in _read_rows(conn, kind, ids).items():
            out[(kind, row_id)] = chained_fields(kind, row)
    return out


def head(conn: Conn) -> ChainEntry | None:
    """The newest entry (None: nothing chained yet)."""
    row = conn.execute(
        f"SELECT {_ENTRY_COLS} FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else _entry(row)


def verify(conn: Conn, *, limit: int = 1000) -> ChainReport:
    """Walk the whole chain in order (a server-side cursor, :data:`CHUNK` entries at
    a time): contiguous seq from 1, each prev link, each entry hash, each live
    row's digest, each missing row retired by a later entry, the head table
    agreeing with the last entry, and no row recorded since the chain began
    missing from it. Keeps at most ``limit`` problems (and counts the rest).

    Safe while recorders run, at any isolation level: the head is read first and
    the walk stops at it (entries and their head commit together), and a row
    found missing is looked up among the retirements after it was read (a delete
    and its retirement commit together)."""
    walker = Walker(complete=True, limit=limit)
    recorded = conn.execute("SELECT seq, hash FROM chain_head").fetchone()
    if recorded is None:
        walker.problems.append("chain_head has no row (removed)")
    expected = None if recorded is None else ChainEntry(
        seq=recorded["seq"], kind="head", row_id=0, digest="", prev="", hash=recorded["hash"])
    last: ChainEntry | None = None
    for chunk in _chunks(conn, None if recorded is None else recorded["seq"]):
        live = {kind: _read_rows(conn, kind, [e.row_id for e in chunk if e.kind == kind])
                for kind in CHAINED}
        missing = [(e.kind, e.row_id) for e in chunk
                   if e.kind in live and e.row_id not in live[e.kind]]
        retired = _retired(conn, missing)
        for entry in chunk:
            row = live[entry.kind].get(entry.row_id) if entry.kind in live else None
            walker.step(entry, row,
                        retired=retired.get((entry.kind, entry.row_id), 0) > entry.seq)
            last = entry
    walker.problems.extend(_unchained(conn))
    return ChainReport(entries=walker.count, head=last, problems=walker.finish(expected))


def _chunks(conn: Conn, upto: int | None) -> Iterator[list[ChainEntry]]:
    """The chain in seq order, up to seq ``upto`` (None: all), :data:`CHUNK` at a time."""
    name = f"chain_walk_{uuid.uuid4().hex[:8]}"
    with conn.cursor(name=name) as cur:
        cur.itersize = CHUNK
        cur.execute(f"SELECT {_ENTRY_COLS} FROM chain WHERE %(upto)s::bigint IS NULL "
                    "OR seq <= %(upto)s ORDER BY seq", {"upto": upto})
        while rows := cur.fetchmany(CHUNK):
            yield [_entry(r) for r in rows]


def _retired(conn: Conn, refs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The seq of the last retirement of each ``(kind, row id)`` that has one."""
    if not refs:
        return {}
    rows = conn.execute(
        "SELECT kind, row_id, max(seq) AS seq FROM chain WHERE (kind, row_id) IN "
        "(SELECT * FROM unnest(%s::text[], %s::bigint[])) GROUP BY kind, row_id",
        ([RETIRE + k for k, _ in refs], [i for _, i in refs]),
    ).fetchall()
    return {(r["kind"][len(RETIRE):], r["row_id"]): r["seq"] for r in rows}


def _exists(conn: Conn, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS t", (table,)).fetchone()
    return bool(row and row["t"])


def _unchained(conn: Conn, show: int = 5) -> list[str]:
    """Rows stored after the chain began (ids above ``chain_head.since``) with no
    entry: rows inserted behind the recorder's back."""
    since = conn.execute("SELECT since FROM chain_head").fetchone()
    baseline: dict[str, Any] = (since or {}).get("since") or {}
    problems = []
    for kind, (table, _) in CHAINED.items():
        if not _exists(conn, table):
            continue
        rows = conn.execute(
            sql.SQL("SELECT t.id FROM {table} t WHERE t.id > %s AND NOT EXISTS "
                    "(SELECT 1 FROM chain c WHERE c.kind = %s AND c.row_id = t.id) "
                    "ORDER BY t.id LIMIT %s").format(table=sql.Identifier(table)),
            (int(baseline.get(kind) or 0), kind, show + 1),
        ).fetchall()
        if rows:
            ids = ", ".join(str(r["id"]) for r in rows[:show])
            more = " and more" if len(rows) > show else ""
            problems.append(f"{kind} rows not in the chain (inserted behind the "
                            f"recorder's back?): {ids}{more}")
    return problems


def group_rows(conn: Conn, group: str) -> list[tuple[str, int]]:
    """The chained rows recorded about a group's targets (before it is forgotten)."""
    parts = ["SELECT 'observation' AS kind, o.id FROM observations o "
             "JOIN targets t ON t.id = o.target_id WHERE t.group_name = %(g)s",
             "SELECT 'event', e.id FROM events e "
             "JOIN targets t ON t.id = e.target_id WHERE t.group_name = %(g)s"]
    if _exists(conn, "archive_records"):
        parts.append("SELECT 'capture', a.id FROM archive_records a JOIN observations o "
                     "ON o.id = a.observation_id JOIN targets t ON t.id = o.target_id "
                     "WHERE t.group_name = %(g)s")
    rows = conn.execute(" UNION ALL ".join(parts) + " ORDER BY 1, 2", {"g": group}).fetchall()
    return [(r["kind"], r["id"]) for r in rows]


def retire_gone(conn: Conn, refs: Sequence[tuple[str, int]], reason: str) -> list[ChainEntry]:
    """Retire those of ``refs`` that are chained, not yet retired, and no longer
    stored: call it after a delete that may have cascaded to them."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, row_id in dict.fromkeys((k, int(i)) for k, i in refs):
        by_kind[kind].append(row_id)
    out: list[ChainEntry] = []
    for kind, ids in by_kind.items():
        stored = _read_rows(conn, kind, ids)
        chained = conn.execute(
            "SELECT row_id FROM chain WHERE kind = %s AND row_id = ANY(%s) EXCEPT "
            "SELECT row_id FROM chain WHERE kind = %s AND row_id = ANY(%s)",
            (kind, ids, RETIRE + kind, ids),
        ).fetchall()
        gone = sorted(r["row_id"] for r in chained if r["row_id"] not in stored)
        out += retire(conn, kind, gone, reason)
    return out
