"""The archive's WARC records (pure): written in warcio's layout, read back, digests checked,
every altered byte found, hostile bytes and headers kept harmless."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from archive_helpers import HOSTILE_BODY, T0, capture
from warcio.archiveiterator import ArchiveIterator

from monitor.archive import (
    OBSERVATION_HEADER,
    ArchiveError,
    build,
    read_exchanges,
    rests_on,
    suspicion_observations,
)

URL = "https://ex.social/api/v1/statuses/1"


def _members(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each gzip member."""
    out, start = [], 0
    while start < len(data):
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        d.decompress(data[start:])
        end = len(data) - len(d.unused_data)
        out.append((start, end))
        start = end
    return out


def test_round_trip_keeps_every_byte_of_a_hostile_body() -> None:
    c = capture(URL, 451, HOSTILE_BODY, vantage="de-1")
    [ex] = read_exchanges(build(c, [7, 9]))
    assert ex.payload == HOSTILE_BODY
    assert ex.payload_sha256 == hashlib.sha256(HOSTILE_BODY).hexdigest()
    assert (ex.uri, ex.status, ex.method, ex.vantage) == (URL, 451, "GET", "de-1")
    assert ex.observation_ids == (7, 9)
    assert ex.captured_at == T0
    assert ex.digests_ok and ex.problems == ()
    assert ex.request_record_id and ex.request_record_id != ex.response_record_id
    assert ("User-Agent", "tm/1") in ex.request_headers


def test_records_are_gzip_members_with_sha256_digests_warcio_accepts() -> None:
    c = capture(URL, 200, b"body")
    data = build(c, [1])
    assert len(_members(data)) == 2  # response, request: each its own member
    records = list(ArchiveIterator(io.BytesIO(data),
                                   check_digests="raise"))
    response, request = records
    assert (response.rec_type, request.rec_type) == ("response", "request")
    assert request.rec_headers.get_header("WARC-Concurrent-To") == \
        response.rec_headers.get_header("WARC-Record-ID")
    digest = response.rec_headers.get_header("WARC-Payload-Digest")
    assert digest == "sha256:" + base64.b32encode(hashlib.sha256(b"body").digest()).decode()
    assert response.rec_headers.get_header("WARC-Block-Digest").startswith("sha256:")
    assert response.rec_headers.get_header(OBSERVATION_HEADER) == "1"
    assert data.startswith(b"\x1f\x8b")


def test_concatenated_records_read_as_one_archive() -> None:
    a = build(capture(URL, 200, b"first", at=T0), [1])
    b = build(capture(URL + "?x", 404, b"second", at=T0), [2])
    exchanges = read_exchanges(a + b)
    assert [(e.payload, e.status, e.observation_ids) for e in exchanges] == [
        (b"first", 200, (1,)), (b"second", 404, (2,))]
    assert all(e.digests_ok for e in exchanges)


def _content(data: bytes) -> bytes | None:
    """What the gzip members hold, or None when they do not decompress."""
    out = b""
    try:
        for start, end in _members(data):
            out += gzip.decompress(data[start:end])
    except (OSError, EOFError, zlib.error):
        return None
    return out


def test_every_changed_content_byte_is_detected() -> None:
    """One byte flipped anywhere is caught, as a damaged member or a failed digest,
    unless the archive still says exactly the same thing (a gzip header's flag, time or
    OS byte, the padding bits of the last deflate byte: a bundle's manifest hash
    covers those)."""
    data = build(capture(URL, 200, HOSTILE_BODY), [3])
    original = _content(data)
    missed, harmless = [], 0
    for i in range(len(data)):
        altered = bytearray(data)
        altered[i] ^= 0x20
        if _content(bytes(altered)) == original:
            harmless += 1
            continue
        try:
            found = read_exchanges(bytes(altered))
        except ArchiveError:
            continue
        if len(found) == 1 and found[0].digests_ok:
            missed.append(i)
    assert missed == []
    assert harmless < 20  # two gzip headers and a padding byte or two, nothing more


def test_a_changed_byte_in_plain_warc_fails_the_digest() -> None:
    plain = gzip.decompress(build(capture(URL, 200, b"the original words"), [1]))
    altered = plain.replace(b"original", b"0riginal")
    [ex] = read_exchanges(altered)
    assert not ex.digests_ok
    assert any("digest" in p for p in ex.problems)
    assert ex.payload == b"the 0riginal words"


@pytest.mark.parametrize("cut", [10, 200, -3])
def test_truncated_or_garbage_archives_are_refused(cut: int) -> None:
    data = build(capture(URL, 200, HOSTILE_BODY), [1])
    with pytest.raises(ArchiveError):
        read_exchanges(data[:cut])
    with pytest.raises(ArchiveError):
        read_exchanges(data + b"\x1f\x8bnot a member")


def test_a_response_without_its_request_is_flagged() -> None:
    data = build(capture(URL, 200, b"x"), [1])
    (start, end), _ = _members(data)
    [ex] = read_exchanges(data[start:end])
    assert not ex.digests_ok
    assert ex.request_record_id is None
    assert any("no request record" in p for p in ex.problems)


def test_hostile_headers_cannot_forge_records() -> None:
    c = capture(
        "http://127.0.0.1/a b\r\nWARC-Type: x?q=é", 200, b"ok", method="G\r\nET",
        request_headers=(("X-Inject\r\nWARC-Type", "v\r\n\r\nWARC/1.1"),
                         ("Nämé", "välue\ud800"), ("", "empty name")),
        response_headers=(("X-Big", "a" * 300_000), ("X-U", "日本語; a=b"),
                          ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"),
                          ("Content-Length", "99"), ("X-Nul", "a\x00b")),
    )
    [ex] = read_exchanges(build(c, [1]))
    assert ex.digests_ok and ex.payload == b"ok"
    assert ex.method == "GET"  # an impossible method is recorded as GET
    assert "\r" not in ex.uri and "\n" not in ex.uri and " " not in ex.uri
    headers = dict(ex.response_headers)
    assert len(headers["X-Big"]) == 300_000
    assert headers["X-U"] == "%E6%97%A5%E6%9C%AC%E8%AA%9E; a=b"
    # the body is stored decoded: the wire headers are kept, renamed
    assert headers["X-Archive-Orig-Content-Encoding"] == "gzip"
    assert headers["X-Archive-Orig-Content-Length"] == "99"
    assert headers["Content-Length"] == "2"
    assert headers["X-Nul"] == "a b"
    names = [k for k, _ in ex.request_headers]
    assert all(k.isascii() and ":" not in k and "\r" not in k for k in names)
    assert not any(k == "WARC-Type" for k in names)


def test_any_status_and_date_are_written() -> None:
    for status in (100, 299, 451, 599, 999, 0, 70000):
        [ex] = read_exchanges(build(capture(URL, status, b""), []))
        assert ex.digests_ok
        assert ex.status == (status if 100 <= status <= 999 else 0)
        assert ex.observation_ids == ()
    naive = capture(URL, at=datetime(2026, 1, 2, 3, 4, 5))
    [ex] = read_exchanges(build(naive))
    assert ex.captured_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


REST: list[tuple[Any, Any, tuple[list[int], list[int]]]] = [
    ({"observed": {"obs": 5}, "suspicion": {"probes": [{"obs": 3}, {"obs": 4}, {"obs": 5}]}},
     None, ([5, 3, 4], [])),
    ({"observed": {"obs": 9}}, {"previous_version": 2}, ([9], [2])),
    ({"observed": {"obs": "5"}, "suspicion": {"probes": "x"}}, {"previous_version": None},
     ([], [])),
    ({"observed": [], "suspicion": {"probes": [None, {"obs": True}, {"obs": -1},
                                               {"obs": 2**70}, {"obs": 1.5}]}}, [], ([], [])),
    (None, None, ([], [])),
    ("not a mapping", 7, ([], [])),
]


@pytest.mark.parametrize(("evidence", "edit", "expected"), REST)
def test_what_an_event_rests_on_is_read_defensively(evidence: Any, edit: Any,
                                                    expected: Any) -> None:
    assert rests_on(evidence, edit) == expected


def test_a_pending_suspicions_probes() -> None:
    assert suspicion_observations({"probes": [{"obs": 1}, {"obs": 1}, {"obs": 8}]}) == [1, 8]
    assert suspicion_observations(None) == []
