"""Evidence bundles over the demo's real history: every event exports a bundle that
verify accepts, and any changed byte is rejected."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tsa_server import LocalAuthority
from warcio.archiveiterator import ArchiveIterator

from monitor.archive import read_exchanges
from monitor.db import Database
from monitor.db import evidence as store
from monitor.evidence import bundle, manifest
from monitor.evidence.collect import UnknownEvent, bundle_bytes, ensure_manifest
from monitor.evidence.tsa import load_ca_file, request_token
from monitor.evidence.verify import verify_bundle

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _export(db: Database, event_id: int) -> bytes:
    with db.transaction() as conn:
        return bundle_bytes(conn, event_id, NOW)


def _event_with_captures(db: Database) -> int:
    with db.transaction() as conn:
        for (event_id,) in [(r["id"],) for r in conn.execute(
                "SELECT id FROM events WHERE kind = 'disappeared' ORDER BY id")]:
            doc = manifest.loads(ensure_manifest(conn, event_id, NOW).data)
            if doc["captures"]:
                return event_id
    pytest.fail("no disappearance of the demo rests on a stored capture")


def _stamped(db: Database, event_id: int, authority: LocalAuthority) -> bytes:
    """The event's bundle with a token of ``authority`` in it."""
    with db.transaction() as conn:
        stored = ensure_manifest(conn, event_id, NOW, [authority.url])
        token = request_token(authority.url, stored.data, timeout=10, user_agent="test")
        store.record_token(conn, event_id, authority.url, token, NOW)
    return _export(db, event_id)


def _flip(data: bytes, at: int) -> bytes:
    bad = bytearray(data)
    bad[at] ^= 0x01
    return bytes(bad)


def _member_span(data: bytes, name: str) -> range:
    """Where member ``name``'s bytes lie in the (stored, uncompressed) zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
        content = zf.read(name)
    start = data.index(content, info.header_offset)
    return range(start, start + len(content))


def test_every_demo_event_exports_a_bundle_verify_accepts(analyst_db: Database,
                                                          analyst_world: Any) -> None:
    with analyst_db.transaction() as conn:
        events = conn.execute("SELECT id, post_id FROM events ORDER BY id").fetchall()
        # The analyst history is made hostile by editing stored rows behind the
        # recorder's back (tests/analyst_world.py): that post's rows are tampered with.
        tampered = conn.execute("SELECT post_id FROM events WHERE id = %s",
                                (analyst_world.hostile_words_event,)).fetchone()["post_id"]
    assert events
    captured = 0
    for event in events:
        report = verify_bundle(_export(analyst_db, event["id"]))
        checks = {c.name: c for c in report.checks}
        if event["post_id"] == tampered:
            assert not report.accepted
            assert "row edited" in checks["chain"].detail
            continue
        assert report.accepted, (event["id"], "\n".join(report.lines()))
        assert report.event_id == event["id"]
        assert checks["chain"].status == "ok" and checks["rows"].status == "ok"
        assert checks["chain coverage"].status == "ok"
        captured += "no capture" not in checks["captures"].detail
    # The demo ran through the recorder that archives and chains: the evidence is real.
    assert captured >= 1


def test_the_manifest_says_what_decided(analyst_db: Database) -> None:
    event_id = _event_with_captures(analyst_db)
    data = _export(analyst_db, event_id)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        doc = json.loads(zf.read("manifest.json"))
        warc = zf.read(manifest.WARC_NAME)
        assert zf.read("README.txt").decode() == bundle.README_TEXT
    with analyst_db.transaction() as conn:
        event = conn.execute("SELECT * FROM events WHERE id = %s", (event_id,)).fetchone()
        obs = conn.execute("SELECT id, body_hash FROM observations WHERE post_id = %s",
                           (event["post_id"],)).fetchall()
    assert doc["format"] == manifest.FORMAT
    assert (doc["cause"], doc["candidates"]) == (event["cause"], event["candidates"])
    assert doc["rule"]["reason"] == event["evidence"].get("reason")
    assert doc["event"]["id"] == event_id
    hashes = {o["id"]: o["body_hash"] for o in obs}
    assert all(t["body_sha256"] == hashes[t["id"]] for t in doc["timeline"])
    for cap in doc["captures"]:
        part = warc[cap["offset"]:cap["offset"] + cap["length"]]
        assert hashlib.sha256(part).hexdigest() == cap["warc_sha256"]
        assert read_exchanges(part)[0].payload_sha256 == cap["payload_sha256"]
        assert cap["observation_id"] in hashes
    assert doc["chain"]["head"]["seq"] >= max(e["seq"] for e in doc["chain"]["entries"])
    assert doc["availability"] is None or isinstance(doc["availability"], list)


def test_a_stamped_bundle_verifies_against_its_ca(analyst_db: Database,
                                                  live_authority: LocalAuthority) -> None:
    event_id = _event_with_captures(analyst_db)
    data = _stamped(analyst_db, event_id, live_authority)
    ca = load_ca_file(str(live_authority.ca_file))
    report = verify_bundle(data, ca_certs=ca)
    assert report.accepted, report.lines()
    stamp = [c for c in report.checks if c.name.startswith("timestamp ")]
    assert len(stamp) == 1 and "chains to the CA" in stamp[0].detail


def test_openssl_agrees_with_the_bundle(analyst_db: Database, live_authority: LocalAuthority,
                                       tmp_path: Path) -> None:
    """What README.txt tells a reader without the tool works: OpenSSL verifies the token
    over manifest.json, and warcio reads the WARC file."""
    data = _stamped(analyst_db, _event_with_captures(analyst_db), live_authority)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path)
        token = next(n for n in zf.namelist() if n.startswith("timestamps/"))
    done = subprocess.run(["openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / token),
                           "-data", str(tmp_path / "manifest.json"), "-CAfile",
                           str(live_authority.ca_file)], capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    with open(tmp_path / manifest.WARC_NAME, "rb") as fh:
        kinds = [r.rec_type for r in ArchiveIterator(fh)]
    assert kinds and set(kinds) == {"request", "response"}


def test_one_changed_byte_anywhere_is_rejected(analyst_db: Database,
                                              live_authority: LocalAuthority) -> None:
    event_id = _event_with_captures(analyst_db)
    data = _stamped(analyst_db, event_id, live_authority)
    ca = load_ca_file(str(live_authority.ca_file))
    token_name = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist()
                      if n.startswith("timestamps/"))
    named = {
        "warc": _member_span(data, manifest.WARC_NAME),
        "manifest": _member_span(data, "manifest.json"),
        "token": _member_span(data, token_name),
        "readme": _member_span(data, "README.txt"),
    }
    for what, span in named.items():
        for at in (span[0], span[len(span) // 2], span[-1]):
            report = verify_bundle(_flip(data, at), ca_certs=ca)
            assert not report.accepted, (what, at)
    # Every byte of the zip's own headers (each bit of the flags too), and a stride
    # through the whole file.
    content = [span for span in named.values()]
    headers = [at for at in range(len(data)) if not any(at in span for span in content)]
    for at in headers:
        for bit in (0x01, 0x08, 0x80):
            bad = bytearray(data)
            bad[at] ^= bit
            assert not verify_bundle(bytes(bad), ca_certs=ca).accepted, (at, bit)
    for at in range(0, len(data), max(1, len(data) // 400)):
        assert not verify_bundle(_flip(data, at), ca_certs=ca).accepted, at


def test_a_token_for_other_data_is_rejected(analyst_db: Database,
                                            live_authority: LocalAuthority) -> None:
    event_id = _event_with_captures(analyst_db)
    data = _export(analyst_db, event_id)
    found = bundle.read(data)
    other = request_token(live_authority.url, found.manifest + b" ", timeout=10,
                          user_agent="test")
    found.tokens = {"127.0.0.1_1": other}
    report = verify_bundle(bundle.write(found))
    assert not report.accepted
    failed = [c for c in report.checks if c.status == "failed"]
    assert [c.name for c in failed] == ["timestamp 127.0.0.1_1"]
    assert "other data" in failed[0].detail


def _rezipped(data: bytes, edit: Any) -> bytes:
    """The bundle with its manifest edited and the zip rebuilt canonically (what a
    forger would do); no token, so only the inner checks stand in the way."""
    found = bundle.read(data)
    doc = json.loads(found.manifest)
    edit(doc)
    found.manifest = manifest.dumps(doc)
    found.tokens = {}
    return bundle.write(found)


@pytest.mark.parametrize(("edit", "check"), [
    (lambda d: d["chain"]["rows"].__setitem__(
        f"event:{d['event']['id']}",
        {**d["chain"]["rows"][f"event:{d['event']['id']}"], "cause": "forged"}),
     "chain"),
    (lambda d: d["event"].__setitem__("cause", "forged"), "rows"),
    (lambda d: d.__setitem__("cause", "forged"), "rows"),
    (lambda d: d["rule"].__setitem__("fingerprint", "forged.rule"), "rows"),
    (lambda d: d["timeline"][0].__setitem__("outcome", "forged"), "rows"),
    (lambda d: d["captures"][0].__setitem__("payload_sha256", "0" * 64), "captures"),
    (lambda d: d["captures"][0].__setitem__("offset", 1), "captures"),
    (lambda d: d["chain"]["entries"].pop(len(d["chain"]["entries"]) // 2), "chain coverage"),
    (lambda d: d["chain"]["since"].clear() or d["chain"]["entries"].pop(), "chain coverage"),
    (lambda d: d["chain"]["entries"][0].__setitem__("digest", "0" * 64), "chain"),
    (lambda d: d["chain"]["head"].__setitem__("seq", 1), "chain"),
    (lambda d: d["captures"].pop(), "captures"),
])
def test_a_forged_manifest_is_rejected(analyst_db: Database, edit: Any, check: str) -> None:
    event_id = _event_with_captures(analyst_db)
    report = verify_bundle(_rezipped(_export(analyst_db, event_id), edit))
    assert not report.accepted
    assert check in [c.name for c in report.checks if c.status == "failed"], report.lines()


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04" + b"\x00" * 40, b"not a zip at all"])
def test_garbage_is_rejected_with_a_reason(data: bytes) -> None:
    report = verify_bundle(data)
    assert not report.accepted
    assert report.checks[0].name == "container" and report.checks[0].detail


def test_hostile_members_are_refused_unread(analyst_db: Database) -> None:
    event_id = _event_with_captures(analyst_db)
    found = bundle.read(_export(analyst_db, event_id))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", found.readme)
        zf.writestr("manifest.json", found.manifest)
        zf.writestr(manifest.WARC_NAME, b"\x00" * 50_000_000)  # a bomb in small
    report = verify_bundle(out.getvalue())
    assert not report.accepted and "compressed" in report.checks[0].detail
    extra = io.BytesIO(bundle.write(found))
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("../../etc/evil", b"x")
    report = verify_bundle(extra.getvalue())
    assert not report.accepted and "never has" in report.checks[0].detail


def test_a_manifest_is_frozen(analyst_db: Database) -> None:
    event_id = _event_with_captures(analyst_db)
    with analyst_db.transaction() as conn:
        first = ensure_manifest(conn, event_id, NOW)
    with analyst_db.transaction() as conn:  # built again later: the stored bytes stay
        again = ensure_manifest(conn, event_id, NOW + timedelta(days=3))
    assert again.data == first.data and again.built_at == first.built_at
    with pytest.raises(psycopg.Error, match="frozen"):
        with analyst_db.transaction() as conn:
            conn.execute("UPDATE evidence_manifests SET manifest = 'x' WHERE event_id = %s",
                         (event_id,))


def test_an_unknown_event(analyst_db: Database) -> None:
    with pytest.raises(UnknownEvent, match="no event 999999"):
        _export(analyst_db, 999999)


@pytest.mark.parametrize("text", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"format": "takedown-evidence/1"}',
    b'{"format": "takedown-evidence/1", "event": {"id": "x"}}',
    b'{"format": "takedown-evidence/2", "event": {"id": 1}}',
    b"\xff\xfe not utf-8",
])
def test_a_hostile_manifest_is_rejected_not_raised(text: bytes) -> None:
    found = bundle.Bundle(manifest=text, warc=b"")
    report = verify_bundle(bundle.write(found))
    assert not report.accepted
    assert [c.name for c in report.checks if c.status == "failed"] == ["manifest"]


@pytest.mark.parametrize("edit", [
    lambda d: d.__setitem__("captures", "a string"),
    lambda d: d.__setitem__("timeline", [1, None]),
    lambda d: d["captures"][0].__setitem__("offset", 10**30),
    lambda d: d["chain"].__setitem__("entries", [{"seq": "x"}]),
    lambda d: d["chain"]["entries"][0].__setitem__("at", "not a time"),
    lambda d: d["chain"].__setitem__("rows", {"event:nan": {}}),
    lambda d: d.__setitem__("rule", None),
])
def test_malformed_manifest_parts_are_failures(analyst_db: Database, edit: Any) -> None:
    event_id = _event_with_captures(analyst_db)
    report = verify_bundle(_rezipped(_export(analyst_db, event_id), edit))
    assert not report.accepted


def test_truncated_and_mangled_bundles_never_raise(analyst_db: Database) -> None:
    import random

    data = _export(analyst_db, _event_with_captures(analyst_db))
    rng = random.Random(11)
    for cut in range(0, len(data), max(1, len(data) // 200)):
        assert not verify_bundle(data[:cut]).accepted
    for _ in range(300):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        if bytes(bad) != data:
            assert not verify_bundle(bytes(bad)).accepted
