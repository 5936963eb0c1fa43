"""End to end through the sandbox: a silent edit of an article page is found.

A watchlist ``post`` target's article is its only content source: a redaction of
the page is an ``edited`` event. A feed entry that rotated out of its feed is
found edited too: the core compares its article with earlier readings of the
article alone (``monitor.rows.SOURCES_KEY``); compared with the feed
entry's text, the first reading of every article would be a false edit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_e2e import (
    INTERVAL,
    TICK,
    assert_true_to,
    make_worker,
    run_until_quiet,
    settings_for,
)

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.watchlist import parse_watchlist
from spiders.rss.fake import EDIT_ARTICLE, REDACTED, article_url, redact_article
from spiders.rss.fake_pages import atom_id, feed_url, site_of
from spiders.sandbox import Sandbox, detection_window

pytestmark = pytest.mark.slow

#: The FAST schedule of test_e2e, continued: an entry that rotated out of its feed
#: (after ten ticks) is still re-checked within the run.
LONG_SCHEDULE = "1s,2s,4s,6s,10s,15s,20s,30s,45s,60s,75s,90s,105s,120s"


def run_for(worker: Any, clock: ManualClock, seconds: float) -> None:
    """Worker cycles every half second of the controlled clock, for ``seconds``."""
    from spiders.crawl import event_loop

    async def cycles() -> None:
        until = clock.now() + timedelta(seconds=seconds)
        while clock.now() < until:
            await worker.cycle()
            clock.set(clock.now() + timedelta(seconds=0.5))

    event_loop().run_until_complete(cycles())


def events_of(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute("SELECT post_key, kind, cause, cause_detail, candidates, evidence, "
                            "platform, edit FROM events ORDER BY id").fetchall()


def test_a_redacted_article_of_a_post_target_is_an_edit(db_url: str) -> None:
    settings = settings_for(db_url)
    clock = ManualClock()
    with Sandbox(scenario="demo", clock=clock, tick_seconds=None) as sb, \
            Database.open(settings) as db:
        post = sb.world.posts_of("rss", "blog")[-1]  # the oldest: long out of any window
        url = article_url(sb.base_url, post)
        worker = make_worker(db, settings.replace(**sb.settings()), clock)
        worker.sync(parse_watchlist(
            f'[groups.g]\ninterval = "1s"\n[[groups.g.targets]]\nplatform = "rss"\n'
            f'post = "{url}"\n').targets)
        run_for(worker, clock, 8)
        assert events_of(db) == []  # the first reading is the baseline, not an edit
        with sb.world.lock:
            redact_article(post, sb.world.clock())
        run_for(worker, clock, 12)
        events = events_of(db)
    assert [(e["kind"], e["post_key"]) for e in events] == [("edited", url)]
    edit = events[0]["edit"]
    assert "text_removed" in edit["classes"]
    assert f"{{+{REDACTED}+}}" in edit["rendered"]


def test_an_article_edited_after_it_rotated_out_of_its_feed_is_found(
        db_url: str) -> None:
    settings = settings_for(db_url, recheck_schedule=LONG_SCHEDULE)
    clock = ManualClock()
    resolution = detection_window(settings, INTERVAL) + 2.0
    with Sandbox(scenario="demo", clock=clock, tick_seconds=TICK, resolution=resolution) as sb, \
            Database.open(settings) as db:
        worker = make_worker(db, settings.replace(**sb.settings()), clock)
        worker.sync(parse_watchlist(sb.watchlist_toml(interval=f"{INTERVAL:g}s")).targets)
        from spiders.crawl import event_loop

        event_loop().run_until_complete(run_until_quiet(
            sb, worker, clock, settle=3 * detection_window(settings, INTERVAL)))
        events, truth = events_of(db), sb.truth()
    scripted = [a for a in truth["actions"] if a["action"] == EDIT_ARTICLE]
    assert len(scripted) == 2  # one Atom entry, one RSS item, both out of their feeds
    assert_true_to(events, truth)
    edited = {a["post_key"] for a in truth["actions"] if a["expect"]["kind"] == "edited"}
    false = [e["post_key"] for e in events if e["kind"] == "edited"
             and e["post_key"] not in edited]
    assert false == []
    for action in scripted:
        (found,) = [e for e in events if e["post_key"] == action["post_key"]
                    and e["kind"] == "edited"]
        assert found["edit"]["source"] == "article"
        assert "text_removed" in found["edit"]["classes"]


#: The paragraphs of the sandbox's article pages, not their heading or byline.
BODY = "article > p:not(.byline)"


def test_a_feed_targets_article_selector_reaches_its_probes(db_url: str) -> None:
    """The watchlist's ``article_selector`` is stored with the target and handed to the
    spider with each probe of its entries: the article is read from that part alone,
    so a change outside it (the byline) is no edit, and one inside it is."""
    settings = settings_for(db_url, recheck_schedule=",".join(f"{s}s" for s in range(1, 40)))
    clock = ManualClock()
    with Sandbox(scenario="demo", clock=clock, tick_seconds=None) as sb, \
            Database.open(settings) as db:
        site = site_of(sb.world, "blog")
        assert site is not None
        worker = make_worker(db, settings.replace(**sb.settings()), clock)
        worker.sync(parse_watchlist(
            f'[groups.g]\ninterval = "1s"\n[[groups.g.targets]]\nplatform = "rss"\n'
            f'feed = "{feed_url(sb.base_url, site)}"\narticle_selector = "{BODY}"\n').targets)
        run_for(worker, clock, 6)
        post = sb.world.posts_of("rss", "blog")[0]
        key = atom_id(post) if site.fmt == "atom" else article_url(sb.base_url, post)
        with db.transaction() as conn:
            options = conn.execute("SELECT options FROM targets").fetchone()["options"]
            articles_read = conn.execute(
                "SELECT v.content FROM versions v JOIN posts p ON p.id = v.post_id "
                "WHERE v.content ->> 'source' = 'article'").fetchall()
        assert options == {"article_selector": BODY}
        assert len(articles_read) == len(sb.world.posts_of("rss", "blog"))
        for row in articles_read:  # the selected part only: no heading, no byline
            assert "By " not in row["content"]["text"]
        with sb.world.lock:
            post.author = "A. N. Other"  # outside the selected part
        run_for(worker, clock, 6)
        assert events_of(db) == []
        with sb.world.lock:
            redact_article(post, sb.world.clock())
        run_for(worker, clock, 6)
        events = events_of(db)
        with db.transaction() as conn:
            known = [r["known"] for r in conn.execute("SELECT known FROM posts")]
    article_edits = [e for e in events if e["kind"] == "edited"
                     and (e["edit"] or {}).get("source") == "article"]
    assert [e["post_key"] for e in article_edits] == [key]
    assert "text_removed" in article_edits[0]["edit"]["classes"]
    # Each post's known holds its readings' hashes and version ids, never their text.
    for k in known:
        assert set(k["sources"]["article"]) == {"recent"}
        assert all(len(r) == 2 for r in k["sources"]["article"]["recent"])
