"""The pages in a real browser: navigation, the post page (versions, word diffs,
timeline, evidence), targets and accounts, Chinese and right-to-left text, and the
accessibility basics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analyst_world import ARABIC, CHINESE, EMOJI, RLO
from web_harness import Served, Watched, assert_accessible, bearer, login, make_token

from monitor.db import access, analyst
from monitor.stats.survival import HEADLINE


def test_navigation_between_pages(server: Served, watched: Watched) -> None:
    page = bearer(watched, server)
    page.goto(server.url + "/")
    assert page.locator("#events tbody tr").count() == 50  # a full first page of ~106
    assert_accessible(page)
    page.get_by_role("link", name="Collectors").click()
    page.wait_for_url("**/status")
    assert_accessible(page)
    page.locator("table").last.locator("tbody a").first.click()
    page.wait_for_url("**/targets/*")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Target")
    assert_accessible(page)
    page.locator("a[href^='/posts/']").first.click()
    page.wait_for_url("**/posts/*")
    assert page.get_by_role("heading", name="Timeline").is_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Statistics").click()
    page.wait_for_url("**/stats")
    assert page.locator("#headline li").count() == len(HEADLINE)  # 10 min … 24 h
    plots = page.locator(".plots img")
    assert plots.count() == 3
    for img in plots.all():  # the stats API's SVGs, loaded as images
        img.scroll_into_view_if_needed()
        assert img.evaluate("i => i.decode().then(() => i.naturalWidth)") > 0
    assert_accessible(page)
    page.get_by_role("link", name="Deletion rates per account").click()
    page.wait_for_url("**/accounts")
    page.locator("#accounts tbody a").first.click()
    page.wait_for_url("**/accounts/view?*")
    assert "deletion rate" in (page.locator(".numbers").inner_text())
    assert_accessible(page)
    page.get_by_role("link", name="Review").click()
    page.wait_for_url("**/review")
    assert_accessible(page)
    page.get_by_role("link", name="Events").click()
    page.wait_for_url(server.url + "/")
    assert watched.dialogs == [] and watched.other_errors() == [], watched.console


def test_a_post_shows_its_timeline_and_evidence(server: Served, watched: Watched,
                                                world: Any) -> None:
    page = bearer(watched, server)
    with server.db.transaction() as conn:
        detail = analyst.post_detail(conn, world.hostile_post)
    assert detail is not None
    page.goto(f"{server.url}/posts/{world.hostile_post}")
    steps = page.locator("ol.timeline li").all_inner_texts()
    assert steps[0].startswith("visible from ")
    assert any(s.startswith("missing (") and " from " in s for s in steps)
    gone = [s for s in steps if s.startswith("confirmed gone")]
    assert len(gone) == 1 and " at " in gone[0]
    evidence = page.locator(f"#event-{world.hostile_event}")
    observed = detail["events"][-1]["evidence"]["observed"]
    assert "sha256:" + observed["body_hash"] in evidence.inner_text()
    if observed.get("http_status"):
        assert f"HTTP {observed['http_status']}" in evidence.inner_text()
    assert f"vantage {observed['vantage']}" in evidence.inner_text()
    # The timeline links each event to its evidence.
    page.locator("ol.timeline a", has_text="confirmed gone").click()
    assert page.url.endswith(f"#event-{world.hostile_event}")


def test_word_diffs_mark_insertions_and_deletions(server: Served, watched: Watched,
                                                  world: Any) -> None:
    page = bearer(watched, server)
    # The edit to look at: the first (by id) that both removed and added words. Which of
    # the demo's edits that is varies with crawl order, so it is found, not assumed.
    with server.db.transaction() as conn:
        edits = [analyst.event(conn, e) for e in world.events["edited"]
                 if e != world.i18n_event]
    event = next((e for e in edits if e is not None
                  and {"delete", "insert"} <= {op for op, _ in e["edit"]["word_diff"]}), None)
    assert event is not None, "the demo recorded no edit that both removed and added words"
    ops = event["edit"]["word_diff"]
    page.goto(f"{server.url}/posts/{event['post_id']}")
    # The version's diff block is the one that reads as the whole word diff; inside it,
    # each deletion is struck and each insertion marked, in order.
    blocks = page.locator("article.version .diff").all()
    block = next((b for b in blocks
                  if b.text_content() == "".join(w for _, w in ops)), None)
    assert block is not None, [b.text_content() for b in blocks]
    assert block.locator("del").all_text_contents() == [w for op, w in ops if op == "delete"]
    assert block.locator("ins").all_text_contents() == [w for op, w in ops if op == "insert"]
    assert block.is_visible()


def test_chinese_right_to_left_and_emoji_read_as_written(server: Served, watched: Watched,
                                                         world: Any) -> None:
    page = bearer(watched, server)
    page.goto(f"{server.url}/posts/{world.i18n_post}")
    text = page.locator(".post-text[dir=auto]").first
    assert CHINESE in text.inner_text() and ARABIC in text.inner_text()
    assert EMOJI in text.inner_text() and RLO in (text.text_content() or "")
    # The author (Arabic and emoji) is isolated: an override inside cannot flip the page.
    author = page.locator("dt:text('Author') + dd bdi")
    assert author.inner_text() == f"{ARABIC} {EMOJI}"
    assert page.evaluate("getComputedStyle(document.querySelector('dd bdi')).unicodeBidi") \
        == "isolate"
    assert page.locator("body").evaluate("b => getComputedStyle(b).direction") == "ltr"
    # Each paragraph of a dir=auto block takes its own direction: Arabic runs right to
    # left inside the left-to-right page.
    assert text.evaluate("t => getComputedStyle(t).unicodeBidi") == "plaintext"
    page.goto(f"{server.url}/?q=审查")
    posts = page.locator("#events tbody tr a[href^='/posts/']")
    assert posts.count() >= 1
    assert {a.get_attribute("href") for a in posts.all()} == {f"/posts/{world.i18n_post}"}


def test_signing_in_through_the_form_returns_to_the_page_asked_for(
        server: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(server.url + "/stats")
    page.wait_for_url("**/login?next=*")
    page.get_by_label("Token").fill("tdm_wrongwro_" + "x" * 30)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login?failed=1*")
    assert "not accepted" in page.get_by_role("alert").inner_text()
    login(watched, server, make_token(server.db, "viewer"), "/stats")
    page.wait_for_url("**/stats")
    assert page.get_by_role("heading", name="Statistics").is_visible()
    assert "Signed in as" in page.locator(".who").inner_text()


def test_the_screenshot_helper_saves_the_feed_and_a_post(server: Served, tmp_path: Path,
                                                         browser: Any, world: Any) -> None:
    import screenshot

    feed, post = tmp_path / "feed.png", tmp_path / "post.png"
    screenshot.shoot(server.db_url, feed, post, world.i18n_post, browser)
    for png in (feed, post):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000
    with server.db.transaction() as conn:  # its token was revoked after the shot
        live = [t["name"] for t in access.list_tokens(conn, include_revoked=False)]
    assert not [name for name in live if name.startswith("screenshot-")]
