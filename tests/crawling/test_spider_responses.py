"""Platform-free tables: status → outcome, failure → outcome, Retry-After, settings."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from crawl_helpers import make_response
from scrapy import Request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet import error as tx_error
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived, _DataLoss

from monitor.observation import Outcome
from monitor.settings import Settings
from spiders import scrapy_settings
from spiders.responses import (
    is_challenge,
    json_body,
    outcome_for_failure,
    outcome_for_status,
    page_message,
    parse_retry_after,
    text_of,
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, None), (204, None), (404, Outcome.NOT_FOUND), (410, Outcome.GONE),
     (451, Outcome.LEGAL), (403, Outcome.FORBIDDEN), (401, Outcome.AUTH_REQUIRED),
     (429, Outcome.RATE_LIMITED), (408, Outcome.TIMEOUT), (500, Outcome.SERVER_ERROR),
     (503, Outcome.SERVER_ERROR), (520, Outcome.SERVER_ERROR), (400, Outcome.MALFORMED),
     (304, Outcome.MALFORMED)],
)
def test_outcome_for_status(status, outcome):
    assert outcome_for_status(status) is outcome


def _failure_with_dataloss() -> ResponseFailed:
    return ResponseFailed([Failure(_DataLoss())])


def _wrapped(cls: type[Exception], cause: BaseException) -> Exception:
    exc = cls(str(cause))
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (DownloadTimeoutError("took longer than 1.0 seconds"), Outcome.TIMEOUT),
        (tx_error.TimeoutError(), Outcome.TIMEOUT),
        (tx_error.TCPTimedOutError(), Outcome.TIMEOUT),
        (DownloadConnectionRefusedError("refused"), Outcome.CONNECTION_ERROR),
        (tx_error.ConnectionRefusedError(), Outcome.CONNECTION_ERROR),
        (tx_error.ConnectionLost(), Outcome.CONNECTION_ERROR),
        (CannotResolveHostError("no.such.host"), Outcome.CONNECTION_ERROR),
        (ResponseNeverReceived([Failure(tx_error.ConnectionLost())]), Outcome.CONNECTION_ERROR),
        (_wrapped(DownloadFailedError, ResponseNeverReceived([Failure(
            tx_error.ConnectionLost())])), Outcome.CONNECTION_ERROR),
        (ConnectionResetError(104, "Connection reset by peer"), Outcome.CONNECTION_ERROR),
        (ResponseDataLossError(), Outcome.TRUNCATED),
        (_failure_with_dataloss(), Outcome.TRUNCATED),
        (_wrapped(DownloadFailedError, _failure_with_dataloss()), Outcome.TRUNCATED),
        (DownloadCancelledError("larger than download max size (50000)"), Outcome.TOO_LARGE),
        (IgnoreRequest("Forbidden by robots.txt"), Outcome.REFUSED),
        (ValueError("something else"), Outcome.MALFORMED),
    ],
)
def test_outcome_for_failure(exc, outcome):
    got, detail = outcome_for_failure(exc)
    assert got is outcome
    assert detail


def test_robots_refusal_detail():
    assert outcome_for_failure(IgnoreRequest("Forbidden by robots.txt"))[1] == \
        "forbidden by robots.txt"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), (b"0", 0.0), (" 5 ", 5.0), ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
     ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0), ("soon", None), ("", None), (None, None),
     ("-5", None)],
)
def test_parse_retry_after(value, seconds):
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) == seconds


@pytest.mark.parametrize(
    ("status", "headers", "body", "challenge"),
    [
        (403, {"cf-mitigated": "challenge"}, b"", True),
        (503, {}, b"<title>Just a moment...</title>", True),
        (403, {}, b'<div class="g-recaptcha"></div>', True),
        (403, {}, b"<title>Forbidden</title>", False),
        (200, {}, b"<title>Just a moment...</title> a blog post about waiting", False),
        (404, {}, b"captcha", False),
    ],
)
def test_is_challenge(status, headers, body, challenge):
    response = make_response(Request("https://example.org/x"), status, body,
                             {"Content-Type": "text/html", **headers})
    assert is_challenge(response) is challenge


def test_text_of_never_raises_on_bad_bytes():
    response = make_response(Request("https://example.org/x"), 200, b"ok \xff\xfe done",
                             {"Content-Type": "text/plain; charset=utf-8"})
    assert text_of(response) == "ok \ufffd\ufffd done"
    odd = make_response(Request("https://example.org/x"), 200, b"<title>x</title>",
                        {"Content-Type": "text/html; charset=no-such-codec"})
    assert page_message(odd) == "x"


@pytest.mark.parametrize("planted", [
    "<meta charset=utf-16>",  # a post's own text, early in the JSON
    '<meta http-equiv=Content-Type content="text/html; charset=cp1251">',
])
def test_a_json_body_is_utf8_whatever_a_post_inside_it_declares(planted):
    """JSON is UTF-8 (RFC 8259): a charset that the content plants in an HTML <meta>
    must not decide how the whole body is read (it made the listing malformed)."""
    body = json.dumps({"content": planted, "text": "наш пост 微博 ✓"},
                      ensure_ascii=False).encode("utf-8")
    response = make_response(Request("https://example.org/api"), 200, body,
                             {"Content-Type": "application/json"})
    assert json_body(response) == {"content": planted, "text": "наш пост 微博 ✓"}


@pytest.mark.parametrize("body, headers", [
    # A charset the server declares is honoured (a platform serving GBK JSON).
    (b'{"text": "' + "微博".encode("gbk") + b'"}',
     {"Content-Type": "application/json; charset=gbk"}),
    # A byte-order mark says UTF-16.
    (codecs.BOM_UTF16_LE + '{"text": "微博"}'.encode("utf-16-le"),
     {"Content-Type": "application/json"}),
    # A UTF-8 byte-order mark wins over the header's charset and is dropped.
    (codecs.BOM_UTF8 + '{"text": "微博"}'.encode(),
     {"Content-Type": "application/json; charset=utf-8"}),
])
def test_a_json_body_with_a_declared_encoding_is_read_in_it(body, headers):
    response = make_response(Request("https://example.org/api"), 200, body, headers)
    assert json_body(response) == {"text": "微博"}


def test_scrapy_components_the_monitor_never_uses_are_not_even_loaded():
    """Left out of the ``*_BASE`` settings (a None override would still import them);
    every other default of Scrapy's stays, with its order."""
    from scrapy.settings import default_settings

    from spiders.settings import UNUSED_COMPONENTS

    s = scrapy_settings(Settings.load(environ={}))
    for name, unused in UNUSED_COMPONENTS.items():
        merged = s.getwithbase(name.removesuffix("_BASE"))
        assert unused and not set(unused) & set(merged)
        kept = {k: v for k, v in getattr(default_settings, name).items() if k not in unused}
        assert kept and all(merged.get(k) == v or k in s[name.removesuffix("_BASE")]
                            for k, v in kept.items())
    assert "scrapy.downloadermiddlewares.cookies.CookiesMiddleware" not in s.getwithbase(
        "DOWNLOADER_MIDDLEWARES")


def test_loading_the_crawls_components_imports_none_of_what_the_unused_ones_bring():
    """In a fresh interpreter, every extension and middleware a crawl loads is loaded:
    none brings in tldextract, requests, aiohttp or ftplib (about 14 MiB)."""
    code = (
        "import sys\n"
        "from scrapy.utils.conf import build_component_list\n"
        "from scrapy.utils.misc import load_object\n"
        "from monitor.settings import Settings\n"
        "from spiders.settings import scrapy_settings\n"
        "s = scrapy_settings(Settings.load(environ={}))\n"
        "for name in ('EXTENSIONS', 'DOWNLOADER_MIDDLEWARES', 'SPIDER_MIDDLEWARES'):\n"
        "    for path in build_component_list(s.getwithbase(name)):\n"
        "        load_object(path)\n"
        "print(sorted(m for m in ('tldextract', 'requests', 'aiohttp', 'ftplib')\n"
        "             if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_scrapy_settings_mapping():
    settings = Settings.load(environ={}, file_values={
        "user_agent": "Probe/1.0 (+https://example.org)", "concurrent_requests_per_host": 2,
        "concurrent_requests": 8, "max_body_bytes": 1000, "retry_times": 4,
        "download_timeout": "30s", "robotstxt_obey": False, "autothrottle": False,
        "download_delay": 0.5, "retry_after_max": "1m", "vantage": "berlin"})
    s = scrapy_settings(settings, LOG_LEVEL="DEBUG")
    assert s.getbool("COOKIES_ENABLED") is False
    assert s["USER_AGENT"] == "Probe/1.0 (+https://example.org)"
    assert s.getbool("ROBOTSTXT_OBEY") is False
    assert s.getint("CONCURRENT_REQUESTS") == 8
    assert s.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 2
    assert s.getbool("AUTOTHROTTLE_ENABLED") is False
    assert s.getfloat("DOWNLOAD_DELAY") == 0.5
    assert s.getfloat("DOWNLOAD_TIMEOUT") == 30.0
    assert s.getint("DOWNLOAD_MAXSIZE") == 1000
    assert s.getint("RETRY_TIMES") == 4
    assert {429, 500, 502, 503, 504} <= set(s.getlist("RETRY_HTTP_CODES"))
    assert s.getbool("DOWNLOAD_FAIL_ON_DATALOSS") is True
    assert s.getbool("TELNETCONSOLE_ENABLED") is False
    assert s.getfloat("RETRY_AFTER_MAX") == 60.0
    assert s["MONITOR_VANTAGE"] == "berlin"
    assert s["LOG_LEVEL"] == "DEBUG"  # overrides win
    assert s["TWISTED_REACTOR"] == "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


# --- decompression bomb ---------------------------------------------------------------


def test_decompression_bomb_is_too_large_not_malformed():
    from mockserver import MockServer

    from monitor.observation import Observation, WorkItem
    from spiders import crawl_blocking

    got: list[Observation] = []
    with MockServer() as server:
        item = WorkItem(mode="probe", platform="rss", target_key="bomb",
                        url=server.url("/gzip-bomb?n=20000000"), post_key="bomb")
        crawl_blocking({"rss": [item]}, got.append, Settings.load(environ={}, file_values={
            "autothrottle": False, "robotstxt_obey": False, "retry_times": 0,
            "max_body_bytes": 1_000_000}))
        # The compressed body is small: the cap was hit while inflating it.
        assert server.hits["/gzip-bomb"] == 1
    (obs,) = got
    assert obs.outcome is Outcome.TOO_LARGE, obs.detail
    assert "decompressed" in (obs.detail or "")


def test_ignored_request_for_another_reason_stays_malformed():
    outcome, detail = outcome_for_failure(IgnoreRequest("Filtered offsite request"))
    assert outcome is Outcome.MALFORMED and "Filtered offsite" in detail


@pytest.mark.parametrize("message", [
    "Ignored response <200 http://x/> because its body (19465 B compressed, 1048576 B "
    "decompressed so far) exceeded DOWNLOAD_MAXSIZE (1000000 B) during decompression.",
    "Ignored response <200 http://x/> because its body (10 B compressed) is larger than "
    "the download max size (5 B).",
])
def test_decompression_cut_off_is_recognised_by_its_wording(message):
    assert outcome_for_failure(IgnoreRequest(message))[0] is Outcome.TOO_LARGE


def test_html_links_are_deduplicated_and_capped():
    from spiders.responses import MAX_LINKS, html_links

    html = "".join(f'<a href="/p/{i % (MAX_LINKS * 3)}">x</a>' for i in range(MAX_LINKS * 6))
    links = html_links(html, "https://ex.org/")
    assert len(links) == MAX_LINKS == len(set(links))
    assert links[:2] == ["https://ex.org/p/0", "https://ex.org/p/1"]


def test_html_links_are_the_first_unique_ones_of_25000():
    from spiders.responses import MAX_LINKS, html_links

    html = "".join(f'<a href="/p/{i}">x</a>' for i in range(25_000))
    assert html_links(html, "https://ex.org/") == [f"https://ex.org/p/{i}"
                                                   for i in range(MAX_LINKS)]


@pytest.fixture
def joins(monkeypatch):
    """Counts the URL joins html_links makes (each costs ~5 µs of Python)."""
    import spiders.responses as responses

    calls: list[str] = []
    real = responses.join_url

    def join_url(base, href):
        calls.append(href)
        return real(base, href)

    monkeypatch.setattr(responses, "join_url", join_url)
    return calls


def test_a_repeated_href_is_joined_once(joins):
    from spiders.responses import html_links

    html = '<p>x <a href="/x">x</a> <a href="/y">y</a></p>' * 12_500
    assert html_links(html, "https://ex.org/") == ["https://ex.org/x", "https://ex.org/y"]
    assert joins == ["/x", "/y"]


def test_hrefs_that_differ_but_join_to_one_url_are_bounded(joins):
    from spiders.responses import MAX_HREFS, html_links

    html = "".join(f'<a href="/{i}/../x">x</a>' for i in range(25_000))
    assert html_links(html, "https://ex.org/") == ["https://ex.org/x"]
    assert len(joins) == MAX_HREFS


def test_links_are_read_from_the_first_max_link_html_characters_only():
    from spiders.responses import MAX_LINK_HTML, html_links

    head = '<a href="/first">x</a>'
    late = '<a href="/late">x</a>'
    html = head + " " * MAX_LINK_HTML + late
    assert html_links(html, "https://ex.org/") == ["https://ex.org/first"]
    # An anchor cut by the limit is left out whole, never read with half its href.
    cut = head + " " * (MAX_LINK_HTML - len(head) - 20) + '<a href="/abcdefghijklmnopqrstuvwxyz">'
    assert html_links(cut, "https://ex.org/") == ["https://ex.org/first"]


@pytest.mark.parametrize("html", ['<abbr title="x">A</abbr> <b>x</b>', "<p>no links</p>",
                                  "plain text", ""])
def test_a_fragment_without_anchor_tags_has_no_links(html):
    from spiders.responses import html_links

    assert html_links(html, "https://ex.org/") == []


@pytest.mark.parametrize("html", ['<A HREF="/x">x</A>', '<a\nhref="/x">x</a>',
                                  '<a href="/x"/>', '<p><a href=/x>x</p>'])
def test_anchor_tags_in_any_spelling_are_read(html):
    from spiders.responses import html_links

    assert html_links(html, "https://ex.org/") == ["https://ex.org/x"]


@pytest.mark.parametrize("body", [b"[" * 5000 + b"<title>x</title>", b'{"a":' * 5000])
def test_page_message_of_a_page_that_looks_like_deep_json(body):
    # parsel guesses JSON from a leading "[" or "{" and recursed until RecursionError.
    response = make_response(Request("http://127.0.0.1/x"), 404, body,
                             {"Content-Type": "text/html"})
    assert isinstance(page_message(response), str)
