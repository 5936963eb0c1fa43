"""The review flow in a real browser: a reviewer signs in, approves one event, rejects
another with a reason and annotates a third; the public view then shows the approved
one only. Viewers see the queue without the forms; decisions are audited."""

from __future__ import annotations

from typing import Any

import pytest
from analyst_world import XSS
from web_harness import Served, Watched, assert_accessible, assert_inert, login, make_token

from monitor.db import access


@pytest.fixture(scope="module")
def server(private_server: Served) -> Served:
    """A copy of the history of this module's own: it decides reviews."""
    return private_server


def _queue(page: Any) -> list[int]:
    return [int(i.split("-")[1]) for i in page.locator("article.review-item").evaluate_all(
        "items => items.map(i => i.id)")]


def _public(page: Any, server: Served, before: int) -> list[int]:
    page.goto(f"{server.url}/public/?before={before}")
    return [int(i) for i in page.locator("#public-events tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def test_review_then_publish(server: Served, watched: Watched, browser: Any,
                             world: Any) -> None:
    group = world.groups[0]
    with server.db.transaction() as conn:
        access.sync_review_groups(conn, {group: True})
    page = watched.page
    login(watched, server, make_token(server.db, "reviewer", "alice-reviewer"), "/review")
    page.wait_for_url("**/review")
    assert_accessible(page)
    queue = _queue(page)
    assert len(queue) >= 3
    # (The hostile event stays pending for the last test of this module.)
    approve, reject, annotate = [e for e in queue if e != world.hostile_event][:3]
    page.get_by_role("button", name=f"Approve event {approve}", exact=True).click()
    page.wait_for_url("**/review")
    assert approve not in _queue(page)
    page.locator(f"#reason-{reject}").fill("not a takedown: <b>x</b>")
    page.get_by_role("button", name=f"Reject event {reject}", exact=True).click()
    page.wait_for_url("**/review")
    assert reject not in _queue(page)
    note = page.locator(f"#note-{annotate}")
    note.fill("ask the author <script>window.__xss=1</script>")
    page.get_by_role("button", name=f"Add note to event {annotate}", exact=True).click()
    page.wait_for_url(f"**/review#review-{annotate}")
    item = page.locator(f"#review-{annotate}")
    assert "ask the author <script>window.__xss=1</script>" in item.inner_text()
    assert annotate in _queue(page)  # a note decides nothing
    assert_inert(watched)
    # The public view (no login) shows the approved event only.
    stranger = browser.new_context()
    try:
        public = stranger.new_page()
        shown = _public(public, server, max(queue) + 1)
        assert approve in shown
        assert reject not in shown and annotate not in shown
        pending = set(queue) - {approve, reject, annotate}
        assert not pending & set(shown)  # still pending: unpublished
    finally:
        stranger.close()
    with server.db.transaction() as conn:
        actions = {(r["action"], r["subject"], r["actor"])
                   for r in access.audit_rows(conn, action=None)}
    assert ("review.approve", f"event:{approve}", "alice-reviewer") in actions
    assert ("review.reject", f"event:{reject}", "alice-reviewer") in actions
    assert ("review.note", f"event:{annotate}", "alice-reviewer") in actions


def test_a_rejection_needs_a_reason_and_a_form_needs_its_token(
        server: Served, watched: Watched, world: Any) -> None:
    with server.db.transaction() as conn:
        access.sync_review_groups(conn, {world.groups[0]: True})
    page = watched.page
    login(watched, server, make_token(server.db, "reviewer"), "/review")
    first = _queue(page)[0]
    # The browser will not send an empty reason; the server refuses one all the same.
    page.get_by_role("button", name=f"Reject event {first}", exact=True).click()
    assert page.url.endswith("/review")
    assert page.locator(f"#reason-{first}").evaluate("i => i.validity.valueMissing")
    csrf = page.locator(f"#review-{first} input[name=csrf_token]").first.input_value()
    empty = page.request.post(f"{server.url}/api/v1/review/{first}/reject",
                              form={"reason": " ", "csrf_token": csrf, "next": "/review"})
    assert empty.status == 400 and "reason" in empty.json()["error"]
    forged = page.request.post(f"{server.url}/api/v1/review/{first}/approve",
                               form={"next": "/review"})  # the cookie, but no CSRF token
    assert forged.status == 403
    page.reload()
    assert first in _queue(page)


def test_viewers_see_the_queue_without_the_forms(server: Served, watched: Watched,
                                                 world: Any) -> None:
    with server.db.transaction() as conn:
        access.sync_review_groups(conn, {world.groups[0]: True})
    page = watched.page
    login(watched, server, make_token(server.db, "viewer"), "/review")
    page.wait_for_url("**/review")
    assert _queue(page)
    assert page.locator("article.review-item form").count() == 0
    assert "needs the reviewer role" in page.locator(".notice").inner_text()


def test_hostile_events_in_the_queue_stay_inert(server: Served, watched: Watched,
                                                world: Any) -> None:
    with server.db.transaction() as conn:
        access.sync_review_groups(conn, {world.groups[0]: True})
        row = conn.execute("SELECT detected_at FROM events WHERE id = %s",
                           (world.hostile_event,)).fetchone()
    page = watched.page
    login(watched, server, make_token(server.db, "reviewer"), "/review")
    after = f"{row['detected_at'].isoformat()}_{world.hostile_event - 1}"
    page.goto(f"{server.url}/review?after={after.replace('+', '%2B')}")
    assert _queue(page)[0] == world.hostile_event
    assert_inert(watched, [XSS[1], XSS[2]])
