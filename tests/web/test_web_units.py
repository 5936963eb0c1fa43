"""The web part's pure pieces (links, timeline sentences, filters, summaries) and what
every response carries, over HTTP to the real server (no browser needed)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from web_harness import Served, make_token, serve

from monitor.web import feed, history, render, security

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize("url, link", [
    ("https://example.org/a?b=1#c", True),
    ("http://127.0.0.1:8080/x", True),
    ("HTTPS://EXAMPLE.ORG/", True),
    ("javascript:alert(1)", False),
    (" javascript:alert(1)", False),
    ("JaVaScRiPt:alert(1)", False),
    ("data:text/html,<script>alert(1)</script>", False),
    ("vbscript:msgbox", False),
    ("//evil.example/x", False),
    ("/relative/path", False),
    ("https://user:pw@example.org/", False),
    ("https://example.org/\u202egnp.exe", False),
    ("https://example.org/a\nb", False),
    ("http:///nohost", False),
    ("https://" + "a" * 3000 + ".org/", False),
    (None, False),
    (42, False),
])
def test_only_plain_http_links_become_links(url: Any, link: bool) -> None:
    assert (security.safe_href(url) is not None) is link
    assert security.safe_href(url) in (url, None)


def test_the_timeline_reads_as_sentences_in_time_order() -> None:
    runs = [
        {"state": "visible", "from": at(0), "to": at(30), "count": 12, "outcomes": ["ok"],
         "http_status": 200},
        {"state": "failed", "from": at(35), "to": at(35), "count": 1,
         "outcomes": ["timeout"], "http_status": None},
        {"state": "gone", "from": at(40), "to": at(50), "count": 3,
         "outcomes": ["not_found"], "http_status": 404, "confirmed_at": at(45)},
    ]
    events = [{"id": 7, "kind": "disappeared", "detected_at": at(45),
               "cause": "removed_by_platform", "cause_detail": "legal", "candidates": []}]
    steps = history.timeline(runs, events)
    assert [(s.what, s.start, s.end, s.checks, s.detail, s.event_id) for s in steps] == [
        ("visible", at(0), at(30), 12, "", None),
        ("not checked (the check failed)", at(35), None, 1, "timeout", None),
        ("missing", at(40), at(50), 3, "not_found, HTTP 404", None),
        ("confirmed gone", at(45), None, 1, "removed_by_platform / legal", 7),
    ]


def test_an_event_at_a_runs_start_reads_after_it() -> None:
    runs = [{"state": "visible", "from": at(5), "to": at(5), "count": 1, "outcomes": ["ok"]}]
    events = [{"id": 1, "kind": "restored", "detected_at": at(5), "cause": None},
              {"id": 2, "kind": "edited", "detected_at": at(1), "cause": None}]
    assert [s.what for s in history.timeline(runs, events)] == [
        "edited", "visible", "visible again (restored)"]
    ambiguous = {"id": 3, "kind": "disappeared", "detected_at": at(9), "cause": "ambiguous",
                 "candidates": ["account_deleted", "deleted_by_author"]}
    assert history.timeline([], [ambiguous])[0].detail == (
        "ambiguous (one of: account_deleted, deleted_by_author)")
    edit = {"id": 4, "kind": "edited", "detected_at": at(9), "cause": None,
            "edit": {"classes": ["text_removed", "link_removed"], "word_diff": []}}
    assert history.timeline([], [edit])[0].detail == "text_removed, link_removed"


PLATFORMS = ["mastodon", "rss"]


def test_filters_become_the_store_query() -> None:
    now = at(0)
    parsed = feed.parse_filters({"q": " 审查 ", "platform": "rss", "group": "g<1>",
                                 "kind": "disappeared", "cause": "legal", "since": "7d",
                                 "until": "2026-11-01T10:00", "junk": "x"}, now, PLATFORMS)
    q = parsed.query
    assert (q.q, q.platforms, q.groups, q.kinds, q.causes) == (
        "审查", ["rss"], ["g<1>"], ["disappeared"], ["legal"])
    assert q.since == now - timedelta(days=7)
    assert q.until == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # naive: read as UTC
    assert "junk" not in parsed.values
    assert feed.parse_filters({"platform": "", "q": "  "}, now, PLATFORMS).values == {}


@pytest.mark.parametrize("params, says", [
    ({"platform": "mastodn"}, "platform"),
    ({"kind": "deleted"}, "kind"),
    ({"cause": "<script>"}, "cause"),
    ({"since": "last tuesday"}, "From"),
    ({"until": "2026-13-45"}, "Until"),
    ({"q": "x" * 501}, "under 500"),
])
def test_bad_filters_say_what_to_write(params: dict[str, str], says: str) -> None:
    with pytest.raises(feed.FilterError, match=says):
        feed.parse_filters(params, at(0), PLATFORMS)


def test_summaries_drop_markup_and_stay_short() -> None:
    assert render.plain("<p>Hello <b>world</b></p><script>alert(1)</script>") == "Hello world"
    assert render.plain("x < y and y > z") == "x < y and y > z"
    assert render.plain("word " * 100, 20) == "word word word word…"
    assert render.plain(None) == ""


def test_templates_never_mark_data_safe_nor_style_inline() -> None:
    assert render.ENV.autoescape is True  # every template, whatever its file name
    templates = sorted(render.TEMPLATES.glob("*.html"))
    assert len(templates) >= 10
    for template in templates:
        text = template.read_text(encoding="utf-8")
        for banned in ("|safe", "| safe", "autoescape false", "Markup", " style=", "<style",
                       "<script>"):
            assert banned not in text, (template.name, banned)
        assert not re.search(r"\son[a-z]+\s*=", text), template.name  # no inline handlers


def test_query_strings_drop_empty_values_and_encode_the_rest() -> None:
    assert render.query_string({"q": "a&b=c", "platform": "", "x": None}, cursor="k/=") == (
        "?q=a%26b%3Dc&cursor=k%2F%3D")
    assert render.query_string({}) == ""


def test_install_puts_the_policy_on_html_made_elsewhere() -> None:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

    app = FastAPI()
    app.add_api_route("/x", lambda: HTMLResponse("<p>x</p>"))
    app.add_api_route("/own", lambda: HTMLResponse("<p>x</p>", headers={
        "Content-Security-Policy": "default-src 'self'"}))
    app.add_api_route("/api/v1/docs", lambda: HTMLResponse("<p>swagger</p>"))
    app.add_api_route("/j", lambda: JSONResponse({"a": 1}))
    app.add_api_route("/stream", lambda: StreamingResponse(
        iter([b"a,b\n", b"1,2\n"]), media_type="text/csv"))
    security.install(app)

    async def fetch() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return {p: await client.get(p) for p in ("/x", "/own", "/api/v1/docs", "/j",
                                                      "/stream")}

    with ThreadPoolExecutor(1) as pool:  # Playwright's loop may own this thread
        got = pool.submit(anyio.run, fetch).result()
    assert got["/x"].headers["content-security-policy"] == security.CSP
    assert got["/own"].headers["content-security-policy"] == "default-src 'self'"
    assert "content-security-policy" not in got["/api/v1/docs"].headers
    assert "content-security-policy" not in got["/j"].headers
    assert got["/stream"].text == "a,b\n1,2\n"
    assert "content-security-policy" not in got["/stream"].headers


# --- over HTTP: headers, authentication, errors -------------------------------------

PAGES = ["/", "/stats", "/review", "/status", "/accounts"]


def test_every_page_carries_the_strict_policy(server: Served, world: Any) -> None:
    token = make_token(server.db, "viewer")
    auth = {"Authorization": f"Bearer {token}"}
    pages = [*PAGES, f"/posts/{world.hostile_post}", f"/targets/{world.hostile_target}",
             "/posts/999999999", "/?since=nonsense"]
    with httpx.Client(base_url=server.url, headers=auth) as client:
        for path in [*pages, "/login", "/public/"]:
            r = client.get(path)
            assert r.headers["content-type"].startswith("text/html"), path
            assert r.headers["content-security-policy"] == security.CSP, path
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"] == "no-referrer", path
            assert " style=" not in r.text and "<script>" not in r.text, path
        assert client.get("/posts/999999999").status_code == 404
        assert client.get("/targets/0").status_code == 404
        assert client.get("/?since=nonsense").status_code == 400
        assert "write a time like" in client.get("/?since=nonsense").text
        assert client.get("/?cursor=not-a-cursor").status_code == 400


def test_pages_send_strangers_to_the_login_form(server: Served) -> None:
    with httpx.Client(base_url=server.url) as client:
        for path in PAGES:
            r = client.get(path + "?q=x")
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login?next="), path
        bad = client.get("/", headers={"Authorization": "Bearer tdm_nottoken_x"})
        assert bad.status_code == 303
        page = client.get("/login?next=//evil.example/steal")
        assert 'name="next" value="/"' in page.text  # never a redirect off the site
        page = client.get("/login?next=/posts/1%3Fa%3D%22%3E%3Cscript%3E")
        assert "<script>" not in page.text and "&#34;&gt;&lt;script&gt;" in page.text


def test_static_files_come_from_a_fixed_list(server: Served) -> None:
    with httpx.Client(base_url=server.url) as client:
        js = client.get("/static/app.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith(
            "text/javascript")
        assert "innerHTML" not in js.text.replace("never innerHTML", "")
        assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
        for path in ["/static/pages.py", "/static/..%2Fpages.py", "/static/%2e%2e%2fpages.py",
                     "/static/nosuch.js"]:
            assert client.get(path).status_code == 404, path


def test_the_public_view_is_off_unless_the_operator_turns_it_on(server: Served) -> None:
    for off in serve(server.db_url, PUBLIC_VIEW=False):
        with httpx.Client(base_url=off.url) as client:
            r = client.get("/public/")
            assert r.status_code == 404
            assert "PUBLIC_VIEW" in r.text
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/public/").status_code == 200
        assert client.get("/public/?platform=nosuch").status_code == 400
