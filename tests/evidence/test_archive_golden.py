"""The WARC bytes :func:`monitor.archive.build` writes, pinned byte for byte.

``tests/golden/archive_build.json`` was written by ``build`` as it was when warcio's
``WARCWriter`` assembled the records, for every case below. A stored capture's bytes
are hashed (``warc_sha256``) into the chain, and the layout of its records is what
``takedown evidence verify`` and other WARC tools read: a rewrite of the writer must
produce the same bytes.

Two things in the bytes are not a function of the capture, and the test pins both:

- ``WARC-Record-ID`` is a random uuid4. The test does not normalise the ids away:
  it replaces ``uuid.uuid4`` with a counter for each case (warcio drew its ids from
  ``uuid.uuid4`` too, response first), so whole records compare, ids included.
- gzip: zlib's gzip wrapper writes MTIME 0 and a fixed OS byte, so the compressed
  bytes are a function of the records and the zlib build. They are compared whole
  when the running zlib is the version that wrote the file, and always compared with
  warcio's own ``GzippingWrapper`` over the same records; the decompressed records
  are always compared with the file.

Rewrite the file (``.venv/bin/python tests/evidence/test_archive_golden.py``) only for
a deliberate change of format, and say so in the changelog: captures already stored
keep the old bytes.
"""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http import HTTPStatus
from pathlib import Path

import pytest
from archive_helpers import HOSTILE_BODY, T0, capture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.utils import Digester
from warcio.warcwriter import GzippingWrapper, WARCWriter

from monitor import archive
from monitor.observation import RawCapture

GOLDEN = Path(__file__).parent.parent / "golden" / "archive_build.json"
URL = "https://ex.social/api/v1/statuses/1"

JSON_BODY = json.dumps({
    "id": "1127", "content": "<p>" + "hello world " * 157 + "</p>",
    "account": {"acct": "alice", "display_name": "Alice"},
    "created_at": "2026-08-01T12:00:00Z", "replies_count": 3}).encode()
#: Over warcio's 16 KiB read size and zlib's 32 KiB window, and not one repeated line.
BIG_BODY = b"".join(b"line %d: %s\n" % (i, b"ab" * (i % 41)) for i in range(4000))
TYPICAL = RawCapture(
    method="GET", url="https://ex.social/api/v1/statuses/1127?with=1",
    request_headers=(("User-Agent", "takedown-monitor/1.0 (+https://example.org)"),
                     ("Accept", "application/json"), ("Accept-Language", "en"),
                     ("Accept-Encoding", "gzip, deflate, br")),
    status=200,
    response_headers=(("Date", "Sat, 01 Aug 2026 12:00:00 GMT"),
                      ("Content-Type", "application/json; charset=utf-8"),
                      ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"),
                      ("Cache-Control", "max-age=0, private, must-revalidate"),
                      ("ETag", 'W/"4a1f2b3c"'), ("Vary", "Accept, Origin"),
                      ("X-Request-Id", "0b5e4c1a-2f2e-4c77-9a9e-1d8f0f0c7d11"),
                      ("Strict-Transport-Security", "max-age=31536000"),
                      ("X-RateLimit-Remaining", "299")),
    body=JSON_BODY, fetched_at=datetime(2026, 8, 1, 12, 0, 0, 123456, tzinfo=UTC),
    vantage="de-1")
HOSTILE_HEADERS = capture(
    "http://127.0.0.1/a b\r\nWARC-Type: x?q=é", 200, b"ok", method="G\r\nET",
    request_headers=(("X-Inject\r\nWARC-Type", "v\r\n\r\nWARC/1.1"),
                     ("Nämé", "välue\ud800"), ("", "empty name"), ("\ud800", "\udfff"),
                     ("Has Space", " padded\t"), ("Colon:Name", "a: b"),
                     ("X-Ctl", "a\x01b\x7fc\td"), ("X-Ws", "\x0b\x0cfeed\x1c\x85\xa0"),
                     ("X-Empty", ""), ("x" * 300, "y")),
    response_headers=(("X-Big", "a" * 300_000), ("X-U", "日本語; a=b"),
                      ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"),
                      ("Content-Length", "99"), ("X-Nul", "a\x00b"),
                      ("content-length", "7"), ("CONTENT-ENCODING", "br"),
                      ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                      ("X-Emoji", "\U0001f600 \u202eevil"), ("X-Pct", "100%25 %zz")))

CASES: dict[str, tuple[RawCapture, list[int]]] = {
    "plain": (capture(URL), [1]),
    "typical 2 KB JSON": (TYPICAL, [123456]),
    "no observation ids": (capture(URL, 200, b"x"), []),
    "several observation ids": (capture(URL, 200, b"x"), [7, 9, 12345678901234]),
    "hostile headers": (HOSTILE_HEADERS, [1]),
    "hostile body": (capture(URL, 451, HOSTILE_BODY, vantage="de-1"), [7, 9]),
    "empty body, no headers": (capture(URL, 204, b"", request_headers=(),
                                       response_headers=()), [2]),
    "big body": (capture(URL, 200, BIG_BODY), [3]),
    "naive time": (capture(URL, at=datetime(2026, 1, 2, 3, 4, 5)), [4]),
    "time in UTC+8, no microseconds": (
        capture(URL, at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))),
        [5]),
    "one microsecond": (capture(URL, at=T0.replace(microsecond=1)), [6]),
}
for _status in (0, 99, 100, 101, 299, 404, 418, 451, 599, 600, 999, 1000, 70000, -5):
    CASES[f"status {_status}"] = (capture(URL, _status, b"s"), [10])
for _i, _method in enumerate(("POST", "HEAD", "M-SEARCH", "propfind", "", "G\r\nET",
                              "GET /x", "x" * 32, "x" * 33, "GÉT", "GET\n", "DELETE")):
    CASES[f"method {_i} {_method[:8]!r}"] = (capture(URL, method=_method), [11])
for _i, _vantage in enumerate(("", "  ", "de-1\r\nWARC-Type: x", "日本", "a\x00b", "\ud800")):
    CASES[f"vantage {_i}"] = (capture(URL, vantage=_vantage), [12])
for _i, _url in enumerate((
        "https://ex.social", "https://ex.social/?", "https://ex.social/a b?q=é&x=1#frag",
        "http://[::1]:8080/p?x", "https://ex.social/%41%zz", "https://ex.social/\u202e",
        "//no-scheme/x", "relative/path", " https://ex.social/trailing\t",
        "https://ex.social/" + "a" * 5000, "https://ex.social/\ud800?\x00")):
    CASES[f"url {_i}"] = (capture(_url), [13])


def _counter() -> Iterator[uuid.UUID]:
    n = 0
    while True:
        n += 1
        yield uuid.UUID(int=n, version=4)


def _build_pinned(monkeypatch: pytest.MonkeyPatch, c: RawCapture, ids: list[int]) -> bytes:
    """``build`` with record ids drawn from a counter that restarts for each case."""
    ids_drawn = _counter()
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids_drawn))
    return archive.build(c, ids)


def _members(data: bytes) -> list[bytes]:
    """Each gzip member, decompressed."""
    out = []
    while data:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        out.append(inflater.decompress(data))
        assert inflater.eof
        data = inflater.unused_data
    return out


def _warcio_gzip(record: bytes) -> bytes:
    out = io.BytesIO()
    wrapper = GzippingWrapper(out)
    wrapper.write(record)
    wrapper.flush()
    return out.getvalue()


def _golden() -> dict[str, object]:
    found = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, (c, ids) in CASES.items():
            found[name] = base64.b64encode(_build_pinned(monkeypatch, c, ids)).decode()
    return {"zlib": zlib.ZLIB_RUNTIME_VERSION, "cases": found}


GOLD: dict[str, object] = json.loads(GOLDEN.read_text("utf-8")) if GOLDEN.exists() else {}


@pytest.mark.parametrize("name", list(CASES))
def test_build_writes_the_pinned_bytes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    c, ids = CASES[name]
    data = _build_pinned(monkeypatch, c, ids)
    cases = GOLD["cases"]
    assert isinstance(cases, dict)
    pinned = base64.b64decode(cases[name])
    records = _members(data)
    assert records == _members(pinned)
    assert len(records) == 2  # response, request: each its own gzip member
    assert data == b"".join(_warcio_gzip(r) for r in records)
    if GOLD["zlib"] == zlib.ZLIB_RUNTIME_VERSION:
        assert data == pinned


def test_the_cases_are_the_pinned_ones() -> None:
    cases = GOLD["cases"]
    assert isinstance(cases, dict)
    assert sorted(cases) == sorted(CASES)


def test_the_pinned_records_are_what_they_claim() -> None:
    """The pins themselves are sound WARC: warcio reads every case with its digests
    checked, and the response carries the capture's body. Not for a URL that is not
    http(s): warcio's reader does not parse HTTP headers under such a target URI, so it
    takes them for payload and the payload digest fails (it always has; spiders fetch
    only http(s))."""
    cases = GOLD["cases"]
    assert isinstance(cases, dict)
    for name, (c, _) in CASES.items():
        if not archive.target_uri(c.url).startswith(("http:", "https:")):
            continue
        data = base64.b64decode(cases[name])
        records = [(r.rec_type, r.raw_stream.read())  # read while the iterator is on it
                   for r in ArchiveIterator(io.BytesIO(data), check_digests="raise")]
        assert records == [("response", c.body), ("request", b"")], name


def test_record_ids_are_fresh_uuid4s() -> None:
    urn = re.compile(r"<urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                     r"[0-9a-f]{12}>")
    seen = set()
    for _ in range(3):
        [ex] = archive.read_exchanges(archive.build(TYPICAL, [1]))
        assert ex.digests_ok
        for record_id in (ex.response_record_id, ex.request_record_id):
            assert record_id is not None and urn.fullmatch(record_id)
            seen.add(record_id)
    assert len(seen) == 6


class _Sha256Writer(WARCWriter):
    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def _warcio_build(capture: RawCapture, observation_ids: list[int]) -> bytes:
    """``build`` as it was, with warcio's writer: the oracle for any capture. The
    header cleaning helpers are the module's own (the pinned cases cover them)."""
    out = io.BytesIO()
    writer = _Sha256Writer(out, gzip=True, warc_version="1.1")
    extra = {"WARC-Date": datetime_to_iso_date(archive._utc(capture.fetched_at),
                                               use_micros=True),
             archive.VANTAGE_HEADER: archive._header_value(capture.vantage) or "local"}
    if observation_ids:
        extra[archive.OBSERVATION_HEADER] = ",".join(str(int(i)) for i in observation_ids)
    uri = archive.target_uri(capture.url)
    status = capture.status if 100 <= capture.status <= 999 else 0
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    response = writer.create_warc_record(
        uri, "response", payload=io.BytesIO(capture.body), length=len(capture.body),
        warc_headers_dict=dict(extra),
        http_headers=StatusAndHeaders(f"{status:03d} {reason}",
                                      archive._response_headers(capture),
                                      protocol="HTTP/1.1"))
    method = capture.method if archive._METHOD.fullmatch(capture.method or "") else "GET"
    request = writer.create_warc_record(
        uri, "request", payload=io.BytesIO(b""), length=0, warc_headers_dict=dict(extra),
        http_headers=StatusAndHeaders(f"{method} {archive._request_target(uri)} HTTP/1.1",
                                      archive._clean(capture.request_headers),
                                      is_http_request=True))
    writer.write_request_response_pair(request, response)
    return out.getvalue()


_headers = st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)), max_size=6)
_captures = st.builds(
    RawCapture,
    method=st.one_of(st.sampled_from(["GET", "POST", "HEAD"]), st.text(max_size=6)),
    url=st.text(min_size=1, max_size=60).map(lambda s: "https://ex.social/" + s),
    request_headers=_headers.map(tuple), status=st.integers(-10, 1200),
    response_headers=_headers.map(tuple), body=st.binary(max_size=3000),
    fetched_at=st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    vantage=st.text(max_size=10))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(c=_captures, ids=st.lists(st.integers(1, 2**63 - 1), max_size=4))
def test_build_matches_warcios_writer(c: RawCapture, ids: list[int],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _build_pinned(monkeypatch, c, ids)
    ids_drawn = _counter()
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids_drawn))
    assert ours == _warcio_build(c, ids)


def test_a_capture_without_a_url_is_refused() -> None:
    """warcio's writer failed on it too (a request record with no target URI)."""
    for url in ("", " \r\n\t"):
        with pytest.raises(ValueError, match="URL"):
            archive.build(capture(url), [1])


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(_golden(), indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {GOLDEN}")
