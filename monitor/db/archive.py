"""The evidence archive's SQL: raw captures stored as gzipped WARC records.

:func:`write` runs in the recorder's transaction (``tracking.apply``): one record
per distinct capture of the batch, linked to every observation row it serves
(``archive_links``). :func:`records` and :func:`event_observation_ids` are what an
evidence bundle reads; :func:`expire` is the retention chore. The WARC bytes are
built by :mod:`monitor.archive` (pure).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from .. import archive
from ..archive import ArchiveRecord
from ..observation import RawCapture
from . import Connection as Conn
from . import chain

__all__ = ["ArchiveRecord", "event_observation_ids", "expire", "records", "write"]

#: Records examined per round trip by :func:`expire` (bounds its memory).
EXPIRE_CHUNK = 1000



def write(conn: Conn, items: Sequence[tuple[int, RawCapture]]) -> list[int]:
    """Store each ``(observation id, capture)``; return the new record ids.

    Equal captures (one listing fetch behind its own row and each entry's) become one
    record linked to all their rows."""
    groups: dict[RawCapture, list[int]] = {}
    for obs_id, capture in items:
        ids = groups.setdefault(capture, [])
        if obs_id not in ids:
            ids.append(obs_id)
    if not groups:
        return []
    rows = []
    for capture, obs_ids in groups.items():
        warc = archive.build(capture, obs_ids)
        rows.append((obs_ids[0], capture.fetched_at, archive.target_uri(capture.url),
                     hashlib.sha256(capture.body).hexdigest(), hashlib.sha256(warc).hexdigest(),
                     len(warc), warc))
    # Set-based: the ids drawn in one statement, the records and their links each
    # COPYed, where each record and each link was a statement of its own.
    new_ids = [r["id"] for r in conn.execute(
        "SELECT nextval('archive_records_id_seq') AS id FROM generate_series(1, %s)",
        (len(rows),)).fetchall()]
    with conn.cursor().copy(
            "COPY archive_records (id, observation_id, captured_at, target_uri, "
            "payload_sha256, warc_sha256, size, warc) FROM STDIN") as copy:
        for record_id, row in zip(new_ids, rows, strict=True):
            copy.write_row((record_id, *row))
    # A record is new, so none of its links is stored yet; and each capture's
    # observation ids are distinct: no pair can repeat.
    with conn.cursor().copy("COPY archive_links (observation_id, record_id) FROM STDIN") as copy:
        for record_id, obs_ids in zip(new_ids, groups.values(), strict=True):
            for obs_id in obs_ids:
                copy.write_row((obs_id, record_id))
    return new_ids


def records(conn: Conn, observation_ids: Sequence[int]) -> list[ArchiveRecord]:
    """The captures of ``observation_ids``, oldest first, each record once."""
    rows = conn.execute(
        "SELECT r.id, l.observation_id, r.captured_at, r.target_uri, r.payload_sha256, "
        "r.warc_sha256, r.size, r.warc FROM archive_links l "
        "JOIN archive_records r ON r.id = l.record_id WHERE l.observation_id = ANY(%s) "
        "ORDER BY r.captured_at, r.id, array_position(%s::bigint[], l.observation_id)",
        (list(observation_ids), list(observation_ids)),
    ).fetchall()
    out: dict[int, ArchiveRecord] = {}
    for r in rows:
        if r["id"] not in out:
            out[r["id"]] = ArchiveRecord(
                id=r["id"], observation_id=r["observation_id"], captured_at=r["captured_at"],
                target_uri=r["target_uri"], payload_sha256=r["payload_sha256"],
                warc_sha256=r["warc_sha256"], warc=bytes(r["warc"]), size=r["size"])
    return list(out.values())


def event_observation_ids(conn: Conn, event_id: int) -> list[int]:
    """The observations event ``event_id`` rests on, oldest first: the one that first
    recorded its version (the last visible one; an edit's previous one too), each
    probe of its suspicion and the observation named in ``evidence.observed``. Only
    the event's own post's rows count; an unknown event has none."""
    event = conn.execute("SELECT post_id, version_id, evidence, edit FROM events "
                         "WHERE id = %s", (event_id,)).fetchone()
    if event is None:
        return []
    named, versions = archive.rests_on(event["evidence"], event["edit"])
    if event["version_id"] is not None:
        versions.insert(0, event["version_id"])
    firsts = _first_observations(conn, [(event["post_id"], v) for v in versions])
    found = conn.execute("SELECT id FROM observations WHERE post_id = %s AND id = ANY(%s)",
                         (event["post_id"], named)).fetchall()
    return sorted(set(firsts.values()) | {r["id"] for r in found})


def _first_observations(conn: Conn, pairs: Iterable[tuple[int, int]]
                        ) -> dict[tuple[int, int], int]:
    """``(post id, version id)`` → the id of the first observation that recorded it."""
    wanted = set(pairs)
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (post_id, version_id) post_id, version_id, id FROM observations "
        "WHERE post_id = ANY(%s) AND version_id = ANY(%s) ORDER BY post_id, version_id, id",
        (sorted({p for p, _ in wanted}), sorted({v for _, v in wanted})),
    ).fetchall()
    return {(r["post_id"], r["version_id"]): r["id"] for r in rows
            if (r["post_id"], r["version_id"]) in wanted}


def expire(conn: Conn, before: datetime) -> int:
    """Delete the records captured before ``before`` that no event rests on, no pending
    suspicion's probe needs and that are not the capture of a post's current version
    (a post deleted on day 40 still needs its last visible capture). Each deletion is
    retired in the hash chain (reason ``retention``). Returns how many were deleted."""
    deleted: list[int] = []
    last = 0
    while True:
        chunk = [r["id"] for r in conn.execute(
            "SELECT id FROM archive_records WHERE captured_at < %s AND id > %s "
            "ORDER BY id LIMIT %s", (before, last, EXPIRE_CHUNK)).fetchall()]
        if not chunk:
            break
        last = chunk[-1]
        kept = _needed(conn, chunk)
        gone = [i for i in chunk if i not in kept]
        if gone:
            conn.execute("DELETE FROM archive_records WHERE id = ANY(%s)", (gone,))
            deleted.extend(gone)
    # Retired once, last: the chain's head lock is held only from here to the commit,
    # so recorders never wait behind the whole sweep.
    if deleted:
        chain.retire(conn, "capture", deleted, "retention")
    return len(deleted)


def _needed(conn: Conn, record_ids: list[int]) -> set[int]:
    """Those of ``record_ids`` that an event, a suspicion or a current version needs."""
    links = conn.execute(
        "SELECT l.record_id, o.id, o.post_id, o.version_id FROM archive_links l "
        "JOIN observations o ON o.id = l.observation_id WHERE l.record_id = ANY(%s)",
        (record_ids,)).fetchall()
    post_ids = sorted({r["post_id"] for r in links if r["post_id"] is not None})
    if not post_ids:
        return set()
    needed_obs: set[int] = set()
    versions: set[tuple[int, int]] = set()
    for p in conn.execute("SELECT id, current_version_id, suspicion FROM posts "
                          "WHERE id = ANY(%s)", (post_ids,)).fetchall():
        needed_obs.update(archive.suspicion_observations(p["suspicion"]))
        if p["current_version_id"] is not None:
            versions.add((p["id"], p["current_version_id"]))
    for e in conn.execute("SELECT post_id, version_id, evidence, edit FROM events "
                          "WHERE post_id = ANY(%s)", (post_ids,)).fetchall():
        named, previous = archive.rests_on(e["evidence"], e["edit"])
        needed_obs.update(named)
        versions.update((e["post_id"], v) for v in [e["version_id"], *previous]
                        if v is not None)
    needed_obs.update(_first_observations(conn, versions).values())
    return {r["record_id"] for r in links if r["id"] in needed_obs}

