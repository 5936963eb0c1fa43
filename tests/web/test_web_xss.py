"""Hostile content stays inert on every page that shows it: post text and titles,
authors' names, target names and the platform's own words (tests/analyst_world.py's
payloads). No dialog, no script run, no injected element; the payload is there as
text. And the Content-Security-Policy is really enforced: an inline script or style
that did get in would be refused, and reported on the console."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from analyst_world import XSS
from web_harness import Served, Watched, assert_inert, bearer

from monitor.db import analyst


def _event(server: Served, event_id: int) -> dict[str, Any]:
    with server.db.transaction() as conn:
        row = analyst.event(conn, event_id)
    assert row is not None
    return row


def test_hostile_post_text_title_and_author(server: Served, watched: Watched,
                                            world: Any) -> None:
    page = bearer(watched, server)
    page.goto(f"{server.url}/posts/{world.hostile_post}")
    assert_inert(watched, [XSS[0], XSS[1], XSS[2], *XSS[3:]])
    assert page.locator("h1").count() == 1  # "</title>" in the title closed nothing
    assert page.title().endswith("· Takedown Monitor")


def test_hostile_rows_in_the_feed(server: Served, watched: Watched, world: Any) -> None:
    page = bearer(watched, server)
    hostile = _event(server, world.hostile_event)
    page.goto(server.url + "/?" + urlencode({"platform": hostile["platform"],
                                             "kind": "disappeared"}))
    assert page.locator(f"#events tr[data-id='{world.hostile_event}']").count() == 1
    assert_inert(watched, [XSS[1], XSS[2]])


def test_hostile_platform_words(server: Served, watched: Watched, world: Any) -> None:
    page = bearer(watched, server)
    words = _event(server, world.hostile_words_event)
    page.goto(f"{server.url}/posts/{words['post_id']}")
    shown = page.locator(f"#event-{world.hostile_words_event} .words").first
    assert shown.inner_text() == f"“{XSS[3]}{XSS[4]}”"
    assert page.locator("a[href^='javascript']").count() == 0
    assert_inert(watched, [XSS[3] + XSS[4]])


def test_hostile_target_and_account_names(server: Served, watched: Watched,
                                          world: Any) -> None:
    page = bearer(watched, server)
    page.goto(f"{server.url}/targets/{world.hostile_target}")
    assert_inert(watched, [XSS[1]])
    page.goto(f"{server.url}/status")
    assert_inert(watched)
    page.goto(f"{server.url}/accounts")
    assert_inert(watched, [XSS[1]])
    hostile = _event(server, world.hostile_event)
    page.locator("#accounts a", has_text=XSS[1]).click()
    page.wait_for_url("**/accounts/view?*")
    assert page.locator("h1 bdi").inner_text() == XSS[1]
    assert page.locator(f"tr[data-id='{world.hostile_event}']").count() == 1
    assert hostile["platform"] in page.locator("h1").inner_text()
    assert_inert(watched, [XSS[1], XSS[2]])


def test_hostile_content_in_the_public_view(server: Served, watched: Watched,
                                            world: Any) -> None:
    page = watched.page  # no token: the public view needs none
    page.goto(f"{server.url}/public/?before={world.hostile_event + 1}")
    row = page.locator(f"#public-events tr[data-id='{world.hostile_event}']")
    assert row.count() == 1
    author = row.locator("td:nth-child(6)").inner_text()
    assert author.startswith("anon-") and XSS[1] not in author  # a pseudonym
    assert_inert(watched, [XSS[2], XSS[0]])


def test_the_policy_refuses_what_escaping_would_have_missed(server: Served,
                                                           watched: Watched) -> None:
    """Were a payload ever injected, the browser would still refuse to run it."""
    page = bearer(watched, server)
    page.goto(server.url + "/")
    page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__xss = 1';
        document.body.append(s);
        const i = document.createElement('img');
        i.setAttribute('onerror', 'window.__xss = 2');
        i.src = 'https://example.invalid/x.png';
        document.body.append(i);
        const d = document.createElement('div');
        d.setAttribute('style', 'display:none');
        document.body.append(d);
    }""")
    for _ in range(100):  # the console reports arrive as the browser refuses each
        if len(watched.csp_violations()) >= 3:
            break
        page.wait_for_timeout(50)
    assert page.evaluate("typeof window.__xss") == "undefined"
    violations = watched.csp_violations()
    assert any("script-src" in v for v in violations), watched.console
    assert any("img-src" in v for v in violations), watched.console
    assert any("style-src" in v for v in violations), watched.console
    assert watched.other_errors() == []
    assert watched.dialogs == []
