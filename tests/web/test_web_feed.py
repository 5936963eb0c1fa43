"""The event feed in a real browser: filters narrow it, "older" pages through it, and
new events appear without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from analyst_world import XSS
from web_harness import Served, Watched, assert_inert, bearer, copy_event, make_token

from monitor.db import analyst


@pytest.fixture(scope="module")
def server(private_server: Served) -> Served:
    """A copy of the history of this module's own: it records new events."""
    return private_server


def _expected(server: Served, **filters: Any) -> list[int]:
    """The ids the store gives for these filters (first page), newest first."""
    with server.db.transaction() as conn:
        rows, _ = analyst.search_events(conn, analyst.EventQuery(limit=50, **filters))
    return [r["id"] for r in rows]


def _shown(page: Any) -> list[int]:
    return [int(i) for i in page.locator("#events tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def test_filters_narrow_the_feed(server: Served, watched: Watched, world: Any) -> None:
    page = bearer(watched, server)
    page.goto(server.url + "/")
    everything = _shown(page)
    assert everything == _expected(server)
    platform = world.platforms[0]
    page.get_by_label("Platform").select_option(platform)
    page.get_by_label("Kind").select_option("disappeared")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/?*platform=*")
    narrowed = _shown(page)
    assert narrowed == _expected(server, platforms=[platform], kinds=["disappeared"])
    assert 0 < len(narrowed) < len(everything)
    cells = page.locator("#events tbody tr td:nth-child(4)").all_inner_texts()
    assert set(cells) == {platform}
    assert set(page.locator("#events tbody tr td:nth-child(2)").all_inner_texts()) == {
        "disappeared"}
    # The filters stay in the form, and "Clear" drops them.
    assert page.get_by_label("Platform").input_value() == platform
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url(server.url + "/")
    assert _shown(page) == everything


def test_text_search_and_a_time_range(server: Served, watched: Watched, world: Any) -> None:
    page = bearer(watched, server)
    page.goto(server.url + "/")
    page.get_by_label("Text").fill("审查")
    page.get_by_label("Text").press("Enter")
    page.wait_for_url("**/?q=*")
    found = _shown(page)
    assert found and found == _expected(server, q="审查")
    assert world.i18n_event in found
    page.goto(server.url + "/?q=nosuchwordanywhere")
    assert _shown(page) == []
    assert page.locator("#no-events").is_visible()
    with server.db.transaction() as conn:
        hostile = analyst.event(conn, world.hostile_event)
    assert hostile is not None
    until = hostile["detected_at"].isoformat()
    page.goto(server.url + "/?until=" + until.replace("+", "%2B"))
    assert _shown(page) == _expected(server, until=hostile["detected_at"])


def test_older_pages_follow_on_without_repeats(server: Served, watched: Watched) -> None:
    page = bearer(watched, server)
    page.goto(server.url + "/")
    seen, pages = _shown(page), 1
    while page.get_by_role("link", name="Older events").count():
        page.get_by_role("link", name="Older events").click()
        page.wait_for_load_state()
        more = _shown(page)
        assert more and not set(more) & set(seen)
        seen, pages = seen + more, pages + 1
    assert pages >= 3  # ~106 events, 50 a page
    with server.db.transaction() as conn:
        rows, _ = analyst.search_events(conn, analyst.EventQuery(limit=500))
    assert seen == [r["id"] for r in rows]  # every event once, newest first
    assert page.locator("#events").get_attribute("data-live") is None  # no live rows here


def test_a_bad_filter_says_what_to_write(server: Served, watched: Watched) -> None:
    page = bearer(watched, server)
    response = page.goto(server.url + "/?since=last+tuesday&q=<b>x</b>")
    assert response is not None and response.status == 400
    assert "write a time like" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Text").input_value() == "<b>x</b>"  # kept, as text
    assert page.locator("main b").count() == 0


def test_new_events_appear_without_a_reload(server: Served, watched: Watched,
                                            world: Any) -> None:
    page = bearer(watched, server)
    page.goto(server.url + "/?kind=disappeared")
    assert page.locator("#live-status").inner_text().startswith("Live")
    before = _shown(page)
    # One the filter leaves out, then one it keeps: the second's arrival proves a poll
    # happened after both were recorded.
    skipped = copy_event(server.db, world.i18n_event)  # an edit
    fresh = copy_event(server.db, world.hostile_event)  # a disappearance, hostile post
    row = page.locator(f"#events tbody tr[data-id='{fresh}']")
    row.wait_for(timeout=20_000)
    assert _shown(page) == [fresh, *before]  # prepended, nothing else changed
    assert page.locator(f"#events tbody tr[data-id='{skipped}']").count() == 0
    assert "new event" in page.locator("#live-status").inner_text()
    # The new row is built from hostile data with textContent: inert, shown as text.
    assert XSS[1] in (row.text_content() or "")  # the author
    assert XSS[2] in (row.text_content() or "")  # the title
    assert row.locator("a").get_attribute("href") == f"/posts/{world.hostile_post}"
    assert_inert(watched, [XSS[1], XSS[2]])


def test_the_feed_works_without_javascript(server: Served, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False, extra_http_headers={
        "Authorization": f"Bearer {make_token(server.db, 'viewer')}"})
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        assert len(_shown(page)) == 50
        assert page.locator("#live-status").inner_text() == ""  # no live updates, no claim
        page.get_by_label("Kind").select_option("restored")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/?*kind=restored*")
        assert _shown(page) == _expected(server, kinds=["restored"])
    finally:
        context.close()
