"""The evidence archive's records: raw captures as WARC, read back with warcio.

An observation an event may rest on keeps its raw HTTP exchange
(:class:`~monitor.observation.RawCapture`) as two WARC/1.1 records, a
``response`` and the ``request`` that asked for it (``WARC-Concurrent-To``
links them), each its own gzip member, so records from different rows
concatenate into one valid ``.warc.gz``. Pure: :mod:`monitor.db.archive` stores
the bytes, ``takedown evidence verify`` reads them back with
:func:`read_exchanges`.

The records are laid out byte for byte as warcio's ``WARCWriter`` wrote them
(header order, gzip level 9, one member per record), but assembled here: warcio
builds header objects, scans them again and again, and re-reads the body for each
digest, which took a third of the time of recording new observations.
``tests/golden/archive_build.json`` pins the bytes warcio wrote.

Digests are SHA-256 in warcio's notation, ``sha256:`` + base32 (RFC 4648), for
both ``WARC-Block-Digest`` and ``WARC-Payload-Digest``; warcio's reader checks
them. The body is stored as the spider received it, after Scrapy undid any
``Content-Encoding`` and chunking, so those headers (and ``Content-Length``) are
kept renamed ``X-Archive-Orig-*`` and ``Content-Length`` gives the stored size,
as pywb and the Webrecorder tools do. Characters beyond ASCII in a header value
are percent-encoded as UTF-8 (as RFC 8187 does); CR, LF and NUL in a header become spaces,
and header names keep only RFC 9110 token characters (others are %-escaped),
so no header can forge a record boundary.

Which rows keep a capture is :mod:`monitor.runs`'s decision; which observations
an event rests on is :func:`rests_on`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.timeutils import datetime_to_iso_date, iso_date_to_datetime

from .observation import RawCapture

__all__ = [
    "ArchiveError", "ArchiveRecord", "ArchivedExchange", "DIGEST", "OBSERVATION_HEADER",
    "VANTAGE_HEADER",
    "build", "read_exchanges", "rests_on", "sha256_hex", "suspicion_observations", "target_uri",
]


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """One stored capture: complete gzip members (a WARC response and its request)."""

    id: int
    #: The observation it was asked for (:func:`monitor.db.archive.records`), else the
    #: first it serves.
    observation_id: int
    captured_at: datetime
    target_uri: str
    payload_sha256: str
    warc_sha256: str
    warc: bytes
    size: int = 0


#: The digest algorithm of every record (hashlib's name, as warcio writes it).
DIGEST = "sha256"
#: WARC header naming the observation row the capture was stored with.
OBSERVATION_HEADER = "WARC-Takedown-Observation"
#: WARC header naming the vantage point the request left from.
VANTAGE_HEADER = "WARC-Takedown-Vantage"
#: Headers that describe the bytes on the wire, not the body as stored.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
_ORIG_PREFIX = "X-Archive-Orig-"
_TCHAR = "!#$%&'*+-.^_`|~"
_UNSAFE_VALUE = re.compile("[\r\n\x00]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
_TOKEN_CHAR = r"[A-Za-z0-9!#$%&'*+.^_`|~-]"
_METHOD = re.compile(_TOKEN_CHAR + "{1,32}")
#: Header names and values the cleaning would leave as they are (nearly all of them):
#: matching them is cheaper than cleaning them.
_TOKEN = re.compile(_TOKEN_CHAR + "+")
_PLAIN_VALUE = re.compile(r"[!-~](?:[ -~]*[!-~])?")


class ArchiveError(ValueError):
    """The archive bytes cannot be read as WARC at all (a damaged gzip member, a broken
    record header): the bundle or record was altered or truncated. Re-export it from
    the database, or treat it as tampered with."""


@dataclass(frozen=True, slots=True)
class ArchivedExchange:
    """One response read back from WARC bytes, with the request that went with it."""

    uri: str
    status: int | None
    payload: bytes
    #: SHA-256 (hex) of ``payload`` as read: compare with an observation's body hash.
    payload_sha256: str
    response_record_id: str
    request_record_id: str | None
    captured_at: datetime | None
    method: str | None
    response_headers: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...]
    #: The observation rows the capture was stored for (its WARC header), first first.
    observation_ids: tuple[int, ...]
    vantage: str | None
    #: Every record's block and payload digests present and matching.
    digests_ok: bool
    problems: tuple[str, ...] = field(default_factory=tuple)


# --- writing ----------------------------------------------------------------------


def build(capture: RawCapture, observation_ids: Sequence[int] = ()) -> bytes:
    """The gzipped WARC ``response`` + ``request`` records of ``capture``, naming the
    observation rows it serves (one listing fetch serves the listing's row and one
    row per entry) in ``WARC-Takedown-Observation``, comma-separated.

    Raises ``ValueError`` for a capture with no URL: a record needs a target URI."""
    uri = target_uri(capture.url)
    if not uri:
        raise ValueError(f"cannot archive a capture with no URL ({capture.url!r}): "
                         "a WARC record needs a target URI")
    # The record headers in warcio's order: the caller's fields, then its own.
    fields = (f"WARC-Date: {datetime_to_iso_date(_utc(capture.fetched_at), use_micros=True)}"
              f"\r\n{VANTAGE_HEADER}: {_header_value(capture.vantage) or 'local'}\r\n")
    if observation_ids:
        fields += f"{OBSERVATION_HEADER}: {','.join(str(int(i)) for i in observation_ids)}\r\n"
    status = capture.status if 100 <= capture.status <= 999 else 0
    response_http = _http_head(f"HTTP/1.1 {status:03d} {_REASONS.get(status, 'Unknown')}",
                               _response_headers(capture))
    method = capture.method if _METHOD.fullmatch(capture.method or "") else "GET"
    request_http = _http_head(f"{method} {_request_target(uri)} HTTP/1.1",
                              _clean(capture.request_headers))
    response_id, request_id = _record_id(), _record_id()  # in the order warcio drew them
    body = capture.body
    response = _record("response", f"{fields}WARC-Type: response\r\nWARC-Record-ID: "
                       f"{response_id}\r\nWARC-Target-URI: {uri}\r\nWARC-Payload-Digest: "
                       f"{_digest(body)}\r\n", response_http, body)
    request = _record("request", f"{fields}WARC-Type: request\r\nWARC-Record-ID: "
                      f"{request_id}\r\nWARC-Target-URI: {uri}\r\nWARC-Payload-Digest: "
                      f"{_EMPTY_DIGEST}\r\nWARC-Concurrent-To: {response_id}\r\n",
                      request_http, b"")
    return response + request


def _record(kind: str, fields: str, http: bytes, payload: bytes) -> bytes:
    """One record as its own gzip member: ``fields`` (the header lines up to the
    payload digest, and a request's ``WARC-Concurrent-To``), then the lines warcio's
    writer adds last, the HTTP head, the payload and the closing blank lines. zlib's
    gzip header carries no time, so equal records compress to equal bytes."""
    block = hashlib.sha256(http)
    block.update(payload)
    head = (f"WARC/1.1\r\n{fields}WARC-Block-Digest: {_b32(block.digest())}\r\n"
            f"Content-Type: application/http; msgtype={kind}\r\n"
            f"Content-Length: {len(http) + len(payload)}\r\n\r\n").encode()
    gzip = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)  # warcio's settings
    return gzip.compress(b"".join((head, http, payload, b"\r\n\r\n"))) + gzip.flush()


def _http_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The HTTP start line and header lines, with the blank line ending them. ASCII:
    the cleaning made it so (warcio would have %-encoded anything else)."""
    lines = [start_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("ascii")


def _digest(data: bytes) -> str:
    return _b32(hashlib.sha256(data).digest())


def _b32(digest: bytes) -> str:
    """A SHA-256 digest in warcio's notation: ``sha256:`` and the base32 that
    ``base64.b32encode`` writes (in pure Python there, and slower): the
    256 bits and four zero bits are 26 pairs of letters, then padding to 56."""
    n = int.from_bytes(digest, "big") << 4
    letters = "".join([_B32_PAIRS[(n >> shift) & 0x3FF] for shift in _B32_SHIFTS])
    return f"{DIGEST}:{letters}===="


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


_B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648
_B32_PAIRS = [a + b for a in _B32_ALPHABET for b in _B32_ALPHABET]
_B32_SHIFTS = range(250, -1, -10)
_EMPTY_DIGEST = _digest(b"")
_REASONS = {s.value: s.phrase for s in HTTPStatus}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc(when: datetime) -> datetime:
    """Naive UTC, as warcio's date helpers want it."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.replace(tzinfo=None)


def target_uri(url: str) -> str:
    """A target URI with no whitespace or control characters (a WARC header value)."""
    return quote(_header_value(url) or "", safe="!#$%&'()*+,-./:;=?@[]_~")


def _request_target(uri: str) -> str:
    parts = urlsplit(uri)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _header_value(value: str) -> str:
    """Printable: CR, LF and NUL as spaces; other characters beyond ASCII
    percent-encoded as UTF-8 (warcio's own encoder misses some values)."""
    if type(value) is str and _PLAIN_VALUE.fullmatch(value):
        return value
    text = _SURROGATE.sub("\ufffd", _UNSAFE_VALUE.sub(" ", str(value))).strip()
    return text if text.isascii() else quote(text, safe=_PRINTABLE)


def _header_name(name: str) -> str:
    if type(name) is str and _TOKEN.fullmatch(name):
        return name
    name = _SURROGATE.sub("\ufffd", str(name))
    return quote(name, safe=_TCHAR) or "X-Empty"


def _clean(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(_header_name(k), _header_value(v)) for k, v in headers]


def _response_headers(capture: RawCapture) -> list[tuple[str, str]]:
    out = []
    for name, value in _clean(capture.response_headers):
        if name.lower() in _WIRE_HEADERS:
            name = _ORIG_PREFIX + name
        out.append((name, value))
    out.append(("Content-Length", str(len(capture.body))))
    return out


# --- reading ----------------------------------------------------------------------


def read_exchanges(data: bytes) -> list[ArchivedExchange]:
    """The responses in ``data`` (gzipped or plain WARC), each with its request.

    Every record's digests are checked: a mismatch, a missing digest or a missing
    request leaves the exchange with ``digests_ok`` false and says why in
    ``problems``. Raises :class:`ArchiveError` when the bytes are not readable WARC
    (a changed byte inside a gzip member fails its CRC)."""
    _check_gzip(data)
    responses: list[dict[str, Any]] = []
    requests: dict[str, dict[str, Any]] = {}
    noise = io.StringIO()  # warcio reports a damaged stream on stderr, then reads on
    try:
        with contextlib.redirect_stderr(noise):
            for record in ArchiveIterator(io.BytesIO(data), check_digests=True,
                                          arc2warc=False):
                info = _read_record(record)
                if record.rec_type == "response":
                    responses.append(info)
                elif record.rec_type == "request":
                    for target in _concurrent(record):
                        requests[target] = info
    except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as e:
        raise ArchiveError(f"not readable as WARC: {e}") from e
    if noise.getvalue().strip():
        raise ArchiveError("not readable as WARC: " + " ".join(noise.getvalue().split()))
    return [_exchange(r, requests) for r in responses]


def _read_record(record: Any) -> dict[str, Any]:
    payload = record.raw_stream.read()  # to the end: the digests are checked as it reads
    checker = record.digest_checker
    problems = list(checker.problems)
    for name in ("WARC-Block-Digest", "WARC-Payload-Digest"):
        if not record.rec_headers.get_header(name):
            problems.append(f"{record.rec_type} record has no {name}")
    if checker.passed is False and not problems:
        problems.append(f"{record.rec_type} record digest failed")
    return {"record": record, "payload": payload, "problems": problems,
            "headers": tuple(record.http_headers.headers) if record.http_headers else ()}


def _check_gzip(data: bytes) -> None:
    """Every gzip member decompresses and passes its CRC-32 and length check (warcio
    itself stops quietly at a damaged member); plain WARC passes through."""
    rest = data
    while rest[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            while not inflater.eof:  # in bounded steps: a bomb costs time, not memory
                out = inflater.decompress(rest, 1 << 20)
                rest = inflater.unconsumed_tail
                if not out and not rest:
                    break
        except zlib.error as e:
            raise ArchiveError(f"a gzip member is damaged ({e}): the archive was altered "
                               "or truncated") from e
        if not inflater.eof:
            raise ArchiveError("the last gzip member is truncated")
        rest = inflater.unused_data
    if rest and data[:2] == b"\x1f\x8b":
        raise ArchiveError(f"{len(rest)} byte(s) after the last gzip member are not WARC")


def _concurrent(record: Any) -> list[str]:
    return [v for k, v in record.rec_headers.headers if k.lower() == "warc-concurrent-to"]


def _exchange(info: Mapping[str, Any], requests: Mapping[str, Mapping[str, Any]]
              ) -> ArchivedExchange:
    record = info["record"]
    head = record.rec_headers
    record_id = head.get_header("WARC-Record-ID") or ""
    request = requests.get(record_id)
    problems = list(info["problems"])
    if request is None:
        problems.append(f"response {record_id} has no request record")
    else:
        problems.extend(request["problems"])
    status = record.http_headers.get_statuscode() if record.http_headers else None
    obs = head.get_header(OBSERVATION_HEADER)
    date = head.get_header("WARC-Date")
    req_record = request["record"] if request is not None else None
    return ArchivedExchange(
        uri=head.get_header("WARC-Target-URI") or "",
        status=int(status) if status and str(status).isdigit() else None,
        payload=info["payload"], payload_sha256=sha256_hex(info["payload"]),
        response_record_id=record_id,
        request_record_id=req_record.rec_headers.get_header("WARC-Record-ID")
        if req_record is not None else None,
        captured_at=_date(date),
        method=req_record.http_headers.protocol
        if req_record is not None and req_record.http_headers else None,
        response_headers=info["headers"],
        request_headers=request["headers"] if request is not None else (),
        observation_ids=tuple(int(i) for i in (obs or "").split(",") if i.strip().isdigit()),
        vantage=head.get_header(VANTAGE_HEADER),
        digests_ok=not problems, problems=tuple(problems),
    )


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return iso_date_to_datetime(value).replace(tzinfo=UTC)
    except ValueError:
        return None


# --- what an event rests on -------------------------------------------------------


def rests_on(evidence: Any, edit: Any = None) -> tuple[list[int], list[int]]:
    """The observation ids an event's evidence names (``evidence.observed`` and each
    probe of ``evidence.suspicion``), and the version ids besides the event's own whose
    first observation it rests on (an edit's ``previous_version``). Values that are not
    positive integers are ignored: evidence is JSON, read defensively."""
    obs: list[int] = []
    evidence = evidence if isinstance(evidence, Mapping) else {}
    observed = evidence.get("observed")
    if isinstance(observed, Mapping):
        obs.append(observed.get("obs"))  # type: ignore[arg-type]
    suspicion = evidence.get("suspicion")
    probes = suspicion.get("probes") if isinstance(suspicion, Mapping) else None
    for probe in probes if isinstance(probes, list) else ():
        if isinstance(probe, Mapping):
            obs.append(probe.get("obs"))  # type: ignore[arg-type]
    versions = [edit.get("previous_version")] if isinstance(edit, Mapping) else []
    return _ids(obs), _ids(versions)


def suspicion_observations(suspicion: Any) -> list[int]:
    """The observation ids of a pending suspicion's probes (``posts.suspicion``)."""
    return rests_on({"suspicion": suspicion})[0]


def _ids(values: Iterable[Any]) -> list[int]:
    return list(dict.fromkeys(v for v in values
                              if type(v) is int and 0 < v < 2**63))
