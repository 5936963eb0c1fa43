"""The archive against real PostgreSQL, through the recorder: which observations keep
their raw capture, what an event rests on, and retention."""

from __future__ import annotations

import gzip
import hashlib
from datetime import timedelta
from pathlib import Path

from archive_helpers import HOSTILE_BODY, SETTINGS, T0, World, capture, entry

from monitor.archive import read_exchanges
from monitor.archive_retention import expire_archive
from monitor.db import Database, chain
from monitor.db import archive as store
from monitor.observation import Observation, Outcome
from monitor.spool import Spool

M = timedelta(minutes=1)


def test_unchanged_rechecks_store_no_capture(db: Database) -> None:
    w = World(db)
    w.listing(T0, [entry("a", "one"), entry("b", "two")], body=b"page 1")
    # one listing fetch: one record serving the listing's row and each entry's row
    assert w.record_count() == 1
    links = w.one("SELECT count(*) AS n FROM archive_links")["n"]
    assert links == 3
    for minute in (10, 20, 30):  # the same listing again: runs extended, nothing stored
        w.listing(T0 + minute * M, [entry("a", "one"), entry("b", "two")], body=b"page 1")
    assert w.record_count() == 1
    w.probe("a", T0 + 31 * M, Outcome.OK, 200, entry("a", "one"), body=b"a as probed")
    assert w.record_count() == 2  # a probe's first row
    for minute in (40, 50):
        w.probe("a", T0 + minute * M, Outcome.OK, 200, entry("a", "one"))
    assert w.record_count() == 2
    w.listing(T0 + 60 * M, [entry("a", "one"), entry("b", "two, edited")], body=b"page 2")
    assert w.record_count() == 3  # a new version arrived with this listing


def _disappear(w: World) -> int:
    """a is listed, probed absent, missing from the listing, absent again: an event."""
    w.listing(T0, [entry("a", "one"), entry("b", "two")], body=b"listing with a")
    w.probe("a", T0 + 20 * M, Outcome.NOT_FOUND, 404, body=b"first 404")
    w.listing(T0 + 21 * M, [entry("b", "two")], body=b"listing without a")
    [event] = w.probe("a", T0 + 26 * M, Outcome.NOT_FOUND, 404, body=b"second 404")
    assert event.kind == "disappeared"
    return int(w.one("SELECT id FROM events WHERE kind = 'disappeared'")["id"])


def test_an_events_observations_have_their_captures(db: Database) -> None:
    w = World(db)
    event_id = _disappear(w)
    w.probe("a", T0 + 40 * M, Outcome.NOT_FOUND, 404, body=b"later 404")  # gone: a re-check
    with db.transaction() as conn:
        ids = store.event_observation_ids(conn, event_id)
        recs = store.records(conn, ids)
    post_a = w.post_id("a")
    first_listed = w.one("SELECT min(id) AS id FROM observations WHERE post_id = %s "
                         "AND version_id IS NOT NULL", post_a)["id"]
    probe_row = w.one("SELECT id FROM observations WHERE post_id = %s AND mode = 'probe'",
                      post_a)["id"]
    assert ids == [first_listed, probe_row]
    payloads = [read_exchanges(r.warc)[0].payload for r in recs]
    # the last visible version's fetch, then both confirming probes; not the re-check
    assert payloads == [b"listing with a", b"first 404", b"second 404"]
    for r in recs:
        [ex] = read_exchanges(r.warc)
        assert ex.digests_ok and ex.payload_sha256 == r.payload_sha256
        assert r.observation_id in ids
    # the records concatenate into one valid .warc.gz
    assert len(read_exchanges(b"".join(r.warc for r in recs))) == 3


def test_unknown_events_and_hostile_evidence_rest_on_nothing_foreign(db: Database) -> None:
    w = World(db)
    event_id = _disappear(w)
    other = w.one("SELECT id FROM observations WHERE post_id = %s LIMIT 1", w.post_id("b"))["id"]
    with db.transaction() as conn:
        assert store.event_observation_ids(conn, 10**12) == []
        conn.execute("UPDATE events SET evidence = jsonb_set(evidence, '{observed,obs}', "
                     "to_jsonb(%s::bigint)) WHERE id = %s", (other, event_id))
        ids = store.event_observation_ids(conn, event_id)
    assert other not in ids  # another post's row named in evidence is not this event's


def test_retention_keeps_events_and_current_versions(db: Database) -> None:
    w = World(db)
    event_id = _disappear(w)
    w.probe("b", T0 + 30 * M, Outcome.SERVER_ERROR, 503, body=b"busy")  # needed by nobody
    w.probe("b", T0 + 31 * M, Outcome.OK, 200, entry("b", "two"), body=b"b as probed")
    before = {r["id"]: bytes(r["warc"]) for r in w.all("SELECT id, warc FROM archive_records")}
    with db.transaction() as conn:
        needed = {r.id for r in store.records(conn, store.event_observation_ids(conn, event_id))}
    with db.transaction() as conn:
        assert store.expire(conn, T0) == 0  # nothing is old enough yet
        deleted = store.expire(conn, T0 + 10 * 24 * 60 * M)
    kept = {r["id"]: bytes(r["warc"]) for r in w.all("SELECT id, warc FROM archive_records")}
    payloads = {read_exchanges(v)[0].payload for v in kept.values()}
    assert needed <= kept.keys()
    # the event's, and b's current version (first seen in the first listing)
    assert payloads == {b"listing with a", b"first 404", b"second 404"}
    gone = sorted(before.keys() - kept.keys())
    assert deleted == len(gone) == 3  # the listing without a, the 503, b's second probe
    with db.transaction() as conn:
        entries = chain.entries_for(conn, [("capture", i) for i in gone])
        assert {e.row_id for e in entries if e.kind == "retire:capture"} == set(gone)
        assert chain.verify(conn).ok
        assert store.expire(conn, T0 + 10 * 24 * 60 * M) == 0  # idempotent


def test_a_suspicions_probes_outlive_retention(db: Database) -> None:
    w = World(db)
    w.listing(T0, [entry("a", "one")])
    w.probe("a", T0 + 20 * M, Outcome.NOT_FOUND, 404, body=b"pending 404")
    assert w.one("SELECT state FROM posts WHERE post_key = 'a'")["state"] == "suspect"
    with db.transaction() as conn:
        store.expire(conn, T0 + 100 * 24 * 60 * M)
    payloads = {read_exchanges(bytes(r["warc"]))[0].payload
                for r in w.all("SELECT warc FROM archive_records")}
    assert b"pending 404" in payloads


def test_the_retention_chore(db: Database) -> None:
    w = World(db)
    w.listing(T0, [entry("a", "one")])
    w.probe("a", T0 + M, Outcome.SERVER_ERROR, 503, body=b"busy")
    keep_all = SETTINGS.replace(ARCHIVE_RETENTION=0)
    assert expire_archive(db, keep_all, T0 + 1000 * 24 * 60 * M) == 0
    assert w.record_count() == 2
    assert expire_archive(db, SETTINGS, T0 + 29 * 24 * 60 * M) == 0  # 30 days by default
    assert expire_archive(db, SETTINGS, T0 + 31 * 24 * 60 * M) == 1
    assert w.record_count() == 1


def test_a_spooled_batch_keeps_its_capture(db: Database, tmp_path: Path) -> None:
    w = World(db)
    w.listing(T0, [entry("a", "one")])
    hostile = capture("https://ex.social/api/v1/statuses/a", 451, HOSTILE_BODY, at=T0 + M,
                      response_headers=(("X-Why", "法律\ud800"), ("Set-Cookie", "a=1")))
    obs = Observation(mode="probe", platform="mastodon", target_key=w.target_key,
                      url="https://ex.social/api/v1/statuses/a", outcome=Outcome.LEGAL,
                      row_id=w.post_id("a"), post_key="a", http_status=451,
                      observed_at=T0 + M, capture=hostile)
    spool = Spool(tmp_path)
    assert spool.write([obs]) == 1
    [(path, [back])] = list(spool.take())
    assert back.capture is not None
    assert back.capture.body == HOSTILE_BODY
    assert back.capture.fetched_at == hostile.fetched_at
    assert back.capture.response_headers == (("X-Why", "法律?"), ("Set-Cookie", "a=1"))
    assert back.capture.request_headers == hostile.request_headers
    w.recorder.record([back])
    spool.done(path)
    [row] = w.all("SELECT r.warc FROM archive_records r JOIN archive_links l "
                  "ON l.record_id = r.id JOIN observations o ON o.id = l.observation_id "
                  "WHERE o.mode = 'probe'")
    [ex] = read_exchanges(bytes(row["warc"]))
    assert ex.payload == HOSTILE_BODY and ex.status == 451 and ex.digests_ok


def test_a_damaged_spooled_capture_is_skipped_not_fatal(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "x.jsonl").write_text(
        '{"mode": "probe", "platform": "p", "target_key": "t", "url": "u", "outcome": "ok",'
        ' "observed_at": "2026-08-01T12:00:00+00:00", "capture": {"method": "GET"}}\n',
        encoding="utf-8")
    assert [obs for _, obs in spool.take()] == [[]]


def test_stored_bytes_are_gzip_and_hashes_match(db: Database) -> None:
    w = World(db)
    w.listing(T0, [entry("a", "one")], body=HOSTILE_BODY)
    row = w.one("SELECT * FROM archive_records")
    warc = bytes(row["warc"])
    assert gzip.decompress(warc).startswith(b"WARC/1.1\r\n")
    assert row["warc_sha256"] == hashlib.sha256(warc).hexdigest()
    assert row["payload_sha256"] == hashlib.sha256(HOSTILE_BODY).hexdigest()
    assert row["size"] == len(warc)
    assert row["target_uri"] == "https://ex.social/api/v1/accounts/1/statuses"
    assert row["captured_at"] == T0


def test_a_sanitised_observation_keeps_its_capture(db: Database) -> None:
    """A message with a NUL is cleaned by the recorder; the capture must survive it."""
    w = World(db)
    w.listing(T0, [entry("a", "one")])
    url = "https://ex.social/api/v1/statuses/a"
    obs = Observation(mode="probe", platform="mastodon", target_key=w.target_key, url=url,
                      outcome=Outcome.NOT_FOUND, row_id=w.post_id("a"), post_key="a",
                      http_status=404, message="gone\x00", observed_at=T0 + M,
                      capture=capture(url, 404, b"nul in the message", at=T0 + M))
    w.recorder.record([obs])
    assert w.record_count() == 2
