"""End to end through the sandbox: an enclosure removed from a feed entry is an edit.

The sandbox's feeds carry every medium as a Media RSS ``media:content`` (RSS) or an
enclosure link (Atom), signed the way CDNs sign URLs (``?exp=…&sig=…``, a new
signature every SIGNATURE_PERIOD): the monitor records the removal as ``media_removed`` and
the re-signing as nothing at all.
"""

from __future__ import annotations

import pytest
from test_article_probe_e2e import events_of
from test_e2e import (
    INTERVAL,
    assert_true_to,
    controlled_sandbox,
    make_worker,
    run_until_quiet,
    settings_for,
)

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.watchlist import parse_watchlist
from spiders.rss.fake_pages import SIGNATURE_PERIOD
from spiders.sandbox import detection_window

pytestmark = pytest.mark.slow


def test_a_removed_enclosure_is_a_media_removed_edit_and_re_signing_is_none(db_url: str) -> None:
    settings = settings_for(db_url)
    clock = ManualClock()
    with controlled_sandbox(settings, clock) as sb, Database.open(settings) as db:
        worker = make_worker(db, settings.replace(**sb.settings()), clock)
        worker.sync(parse_watchlist(sb.watchlist_toml(interval=f"{INTERVAL:g}s")).targets)
        from spiders.crawl import event_loop

        drive = event_loop().run_until_complete(run_until_quiet(
            sb, worker, clock, settle=3 * detection_window(settings, INTERVAL)))
        events, truth = events_of(db), sb.truth()
    assert drive.clock_seconds > 2 * SIGNATURE_PERIOD  # the media URLs were re-signed
    assert_true_to(events, truth)
    removals = [a for a in truth["actions"]
                if a["platform"] == "rss" and a.get("edit_style") == "media_removed"]
    assert removals
    for action in removals:
        # (the post has other scripted edits too: exactly one removed a medium)
        (found,) = [e for e in events if e["post_key"] == action["post_key"]
                    and e["kind"] == "edited" and "media_removed" in e["edit"]["classes"]]
        (gone,) = found["edit"]["removed_media"]
        assert "/media/" in gone and "?" not in gone  # a stable id, not a signed URL
    edited = {a["post_key"] for a in truth["actions"] if a["expect"]["kind"] == "edited"}
    assert [e["post_key"] for e in events if e["kind"] == "edited"
            and e["post_key"] not in edited] == []
