"""What a response or a failed download says, before any platform is involved.

Pure functions shared by every spider: the HTTP status → outcome table, the
generic anti-bot check, the download-failure → outcome table, and small text
helpers that never raise on bad bytes.
"""

from __future__ import annotations

import codecs
import json
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import urljoin

from lxml import etree
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Headers, Response
from twisted.internet import error as tx_error
from twisted.web._newclient import ResponseFailed, _DataLoss
from twisted.web.client import PartialDownloadError

from monitor.observation import Outcome
from monitor.text import html_text

try:  # private to Scrapy, so its message is matched as well, in case it moves
    from scrapy.utils._compression import _DecompressionMaxSizeExceeded
except ImportError:  # pragma: no cover
    _DecompressionMaxSizeExceeded = None  # type: ignore[assignment,misc]

T = TypeVar("T")
_local = threading.local()

#: Robots.txt refusals: we chose not to fetch (transient, never classified).
ROBOTS_OUTCOME = Outcome.REFUSED

# Markers of interstitial challenge pages (Cloudflare, hCaptcha, reCAPTCHA,
# DataDome, PerimeterX). Matched case-insensitively on the start of the body.
_CHALLENGE_MARKERS = (
    "just a moment...",
    "cf-challenge",
    "challenge-platform",
    "attention required! | cloudflare",
    "g-recaptcha",
    "h-captcha",
    "hcaptcha.com",
    "captcha-delivery.com",
    "px-captcha",
    "please verify you are a human",
)
_SNIPPET_CHARS = 200
#: What an error page's message leaves out (its <noscript> text counts).
_UNSEEN = frozenset({"script", "style"})
#: Entries read from one listing page (feed, timeline page, profile cards): real
#: listings are far shorter. Entries past it are not parsed; they are counted in
#: ``signals["skipped_entries"]`` without keys, so that listing vouches for no
#: absence (see :func:`first_entries`).
MAX_ENTRIES = 500
#: Links kept per post: enough for any real post; a page of 25,000 links would
#: otherwise cost a URL join each, on the reactor loop.
MAX_LINKS = 500
#: Distinct ``href`` values joined per post: hostile hrefs that differ but join
#: to one URL (``/1/../x``, ``/2/../x``…) must not cost a join each either.
MAX_HREFS = 4 * MAX_LINKS
#: Characters of a post's HTML read for links. libxml2 builds about a million
#: elements a second (~1 µs each), so a 1 MB post of tiny tags costs ~100 ms;
#: a real post's links all lie well within its first 128 KiB.
MAX_LINK_HTML = 128 * 1024
#: ``<a`` opening a tag (what libxml2 reads as an anchor): no such tag, no parse.
_ANCHOR_TAG = re.compile(r"<a(?![\w:.-])", re.I)


#: Byte-order marks of UTF-8, UTF-16 and UTF-32 (UTF-32 LE's starts as UTF-16 LE's).
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)


def text_of(response: Response) -> str:
    """The body as text; undecodable bytes become U+FFFD instead of raising."""
    encoding = getattr(response, "encoding", None) or "utf-8"
    try:
        return response.body.decode(encoding, errors="replace")
    except LookupError:  # an encoding name Python does not know
        return response.body.decode("utf-8", errors="replace")


def header(response: Response, name: str) -> str | None:
    """The last value of header ``name``, as text (Latin-1), or None.

    ``Headers`` is a dict of normalised names (Scrapy's ``normkey``: title case, as
    bytes) to value lists, read here as one: its ``get`` normalises the name on every
    call, and each response has several looked up."""
    values = dict.get(response.headers, _header_key(name))
    if not values:
        return None
    return values[-1].decode("latin-1").strip()


@lru_cache(maxsize=256)
def _header_key(name: str) -> bytes:
    """A header name as Scrapy's ``Headers`` keys it (``Headers.normkey``)."""
    return name.title().encode("utf-8")


def header_pairs(headers: Headers) -> tuple[tuple[str, str], ...]:
    """Scrapy's headers (bytes, repeated names as lists) as text pairs in order: UTF-8
    where they are, else Latin-1, which maps every byte. ``Headers`` is a dict of
    normalised names to value lists, read here as one: its ``items()`` looks every
    name up again through ``getlist``, a third of this function's cost."""
    return tuple((_text(name), _text(value)) for name, values in dict.items(headers)
                 for value in values)


def _text(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def is_challenge(response: Response) -> bool:
    """True for a bot-challenge interstitial served instead of the page."""
    if (header(response, "cf-mitigated") or "").lower() == "challenge":
        return True
    if response.status not in (403, 429, 503):
        return False
    head = response.body[:65536].decode("utf-8", errors="replace").lower()
    return any(marker in head for marker in _CHALLENGE_MARKERS)


#: Statuses that decide an outcome by themselves.
_STATUS_OUTCOMES = {
    404: Outcome.NOT_FOUND,
    410: Outcome.GONE,
    451: Outcome.LEGAL,
    403: Outcome.FORBIDDEN,
    401: Outcome.AUTH_REQUIRED,
    429: Outcome.RATE_LIMITED,
    408: Outcome.TIMEOUT,
}


def outcome_for_status(status: int) -> Outcome | None:
    """The outcome an HTTP status decides on its own; None for 2xx."""
    if 200 <= status < 300:
        return None
    if status in _STATUS_OUTCOMES:
        return _STATUS_OUTCOMES[status]
    if status >= 500:
        return Outcome.SERVER_ERROR
    # 3xx left unfollowed, 400, 405…: nothing we can classify, so transient.
    return Outcome.MALFORMED


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, its cause chain, and Twisted's wrapped reasons."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                todo.append(nxt)
        for reason in getattr(current, "reasons", None) or []:
            value = getattr(reason, "value", reason)
            if isinstance(value, BaseException):
                todo.append(value)
    return seen


def _decompressed_too_large(chain: list[BaseException]) -> bool:
    return any(
        (_DecompressionMaxSizeExceeded is not None
         and isinstance(e, _DecompressionMaxSizeExceeded))
        # Scrapy's wordings, for versions whose private exception moved.
        or "DOWNLOAD_MAXSIZE" in str(e) or "download max size" in str(e)
        for e in chain
    )


def outcome_for_failure(exc: BaseException) -> tuple[Outcome, str]:
    """Map a download failure (after retries) to an outcome and a detail line."""
    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    chain = _causes(exc)
    named = getattr(exc, "outcome", None)
    if isinstance(named, Outcome):  # the exception says what it means (HostPaused)
        return named, str(exc)
    if isinstance(exc, IgnoreRequest):
        if getattr(exc, "url_policy", None):  # spiders.urlpolicy.UrlRefused
            return Outcome.REFUSED, str(exc)
        if "robots.txt" in str(exc).lower():
            return ROBOTS_OUTCOME, "forbidden by robots.txt"
        if _decompressed_too_large(chain):
            # HttpCompressionMiddleware stopped inflating at DOWNLOAD_MAXSIZE
            # (a decompression bomb, or just a huge page): too large, not malformed.
            return Outcome.TOO_LARGE, f"body too large once decompressed: {exc}"
        return Outcome.MALFORMED, f"request ignored: {exc}"
    if any(isinstance(e, ResponseDataLossError | _DataLoss | PartialDownloadError)
           for e in chain):
        return Outcome.TRUNCATED, detail
    if isinstance(exc, DownloadCancelledError) or (
        "maxsize" in str(exc).lower() and isinstance(exc, DownloadFailedError)
    ):
        # Scrapy cancels a download that grows past DOWNLOAD_MAXSIZE.
        return Outcome.TOO_LARGE, detail
    if any(isinstance(e, DownloadTimeoutError | tx_error.TimeoutError | tx_error.TCPTimedOutError)
           for e in chain):
        return Outcome.TIMEOUT, detail
    if any(
        isinstance(
            e,
            DownloadConnectionRefusedError
            | DownloadFailedError
            | CannotResolveHostError
            | ResponseFailed
            | tx_error.ConnectError
            | tx_error.ConnectionLost
            | tx_error.ConnectionDone
            | ConnectionError,
        )
        for e in chain
    ):
        return Outcome.CONNECTION_ERROR, detail
    return Outcome.MALFORMED, detail


def json_text(response: Response) -> str:
    """A JSON body as text. JSON is UTF-8 (RFC 8259, section 8.1): without a charset
    in its Content-Type, the body is read as the JSON module reads bytes (UTF-8, or
    the UTF-16/32 a byte-order mark or the null bytes show), never by Scrapy's
    detection, which first scans the body for an HTML ``<meta charset>`` that a
    post's own text inside the JSON could plant. A byte-order mark wins over the
    header, and its codec (``utf-8-sig``, ``utf-16``, ``utf-32``) drops it."""
    body = response.body
    if "charset" in (header(response, "Content-Type") or "").lower() \
            and not body.startswith(_BOMS):
        return text_of(response)
    return body.decode(json.detect_encoding(body), errors="replace")


def json_body(response: Response) -> Any:
    """The body parsed as JSON; raises ValueError with the parser's message."""
    try:
        return json.loads(json_text(response))
    except RecursionError:  # hostile nesting: malformed like any other bad JSON
        raise ValueError("JSON nested too deeply to parse") from None


def json_error(response: Response) -> str | None:
    """The ``error``/``msg``/``message`` string of a JSON error body, if any."""
    try:
        data = json_body(response)
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("error", "msg", "message", "error_description"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return None


def page_message(response: Response) -> str | None:
    """A page's own words: its <title>, else the start of its visible text."""
    body = text_of(response)
    if not body.strip():
        return None
    text = html_text(body, part="title", layout=False, skip=frozenset())
    if not text:
        text = html_text(body, part="body", layout=False, skip=_UNSEEN)
    return _squash(text) or None


def visible_text(html: str) -> str:
    """Text a reader sees (no scripts or styles), whitespace squashed."""
    return html_text(html, layout=False, skip=_UNSEEN)


def html_links(html: str, base: str | None = None) -> list[str]:
    """``href`` targets of the links in an HTML fragment, in order, deduplicated.

    Bounded whatever the fragment: only its first :data:`MAX_LINK_HTML`
    characters are parsed, each distinct ``href`` is joined once (at most
    :data:`MAX_HREFS` of them), and the walk stops at :data:`MAX_LINKS` links.
    """
    if not html or _ANCHOR_TAG.search(html, 0, MAX_LINK_HTML) is None:
        return []
    if len(html) > MAX_LINK_HTML:
        # Cut before the last tag that starts inside the limit, so that no
        # anchor is read with half its href.
        html = html[:max(html.rfind("<", 0, MAX_LINK_HTML), 1)]
    try:
        # lxml directly: a parsel Selector costs 5x as much, once per feed entry.
        root = etree.HTML(html, parser=_link_parser())
    except (ValueError, etree.LxmlError):
        return []
    if root is None:
        return []
    seen: set[str] = set()  # raw hrefs: a repeated one costs no second join
    out: dict[str, None] = {}  # a dict, not a list: 25,000 links must not be quadratic
    for anchor in root.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or href in seen or href.startswith(("javascript:", "#")):
            continue
        seen.add(href)
        if base:
            href = join_url(base, href) or href  # not a URL (e.g. "http://[x"): as served
        out.setdefault(href, None)
        if len(out) >= MAX_LINKS or len(seen) >= MAX_HREFS:
            break
    return list(out)


def _link_parser() -> etree.HTMLParser:
    """This thread's HTML parser for links (an lxml parser is not thread-safe):
    recovering like the default one, but it keeps no id index, comments or
    processing instructions, which costs a third less on a page of tiny tags."""
    parser: etree.HTMLParser | None = getattr(_local, "link_parser", None)
    if parser is None:
        parser = _local.link_parser = etree.HTMLParser(
            collect_ids=False, remove_comments=True, remove_pis=True, no_network=True)
    return parser


def first_entries(entries: Iterable[T]) -> tuple[list[T], int]:
    """The first :data:`MAX_ENTRIES` of ``entries``, and how many more there are.

    The rest are only counted, never parsed. A spider adds that count to
    ``signals["skipped_entries"]`` without keys, so by the lifecycle's rule the
    listing vouches for no absence: no post becomes suspect for missing from it.
    """
    rest = iter(entries)
    head = list(islice(rest, MAX_ENTRIES))
    return head, sum(1 for _ in rest)


def join_url(base: str | None, href: str) -> str | None:
    """``href`` resolved against ``base``; None when either is not a URL at all."""
    try:
        return urljoin(base or "", href.strip())
    except ValueError:  # a broken IPv6 host ("http://[x"), a bad port
        return None


def _squash(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:_SNIPPET_CHARS]
