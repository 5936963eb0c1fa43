"""End to end (issue 8, item 4): a post on a limited account is hidden, then its author
deletes it; the monitor reports it ``disappeared`` within one listing interval plus the
confirmation, not at its next sparse re-check.

The sandbox (Mastodon fake), the real spiders, worker and PostgreSQL, on the
controlled clock of ``tests/test_e2e.py``. The deletion comes after the post's
last dense re-check offset, so only the listing can bring its probe forward.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_e2e import (
    INTERVAL,
    STEP,
    TICK,
    assert_true_to,
    make_worker,
    run_until_quiet,
    settings_for,
)

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.watchlist import parse_watchlist
from spiders.mastodon.fake import new_account, new_status
from spiders.sandbox import SCENARIOS, Sandbox, detection_window, fakes
from spiders.sandbox._script import Plan, Planner

pytestmark = pytest.mark.slow

#: Ticks of the script (TICK clock seconds each): limited at 2, deleted at DELETE_TICK.
LIMIT_TICK, DELETE_TICK, TICKS = 2, 9, 12
#: Re-checks dense only for the first ticks: the deletion comes after the last one.
RECHECKS = "1s,2s,4s,6s,10s"


def hidden_then_deleted(seed: int) -> Plan:
    """One Mastodon account with three posts; limited, then one post deleted."""
    planner = Planner(seed, "hidden_then_deleted", {"mastodon": fakes()["mastodon"]})
    account = new_account(planner, "dana")
    posts = [planner.initial(new_status(planner, "dana")) for _ in range(3)]
    for _ in range(TICKS):
        tick = planner.begin_tick()
        if tick == LIMIT_TICK:
            planner.act_account(account, "limit_account")
        elif tick == DELETE_TICK:
            # The fake's planner keeps its scripts to accounts in good standing; a
            # limited account's author can still delete a post on the real thing.
            fake = planner.fakes["mastodon"]
            rule = fake.why_not
            fake.why_not = lambda *_: None  # type: ignore[method-assign]
            try:
                planner.act(posts[1], "delete_by_author")
            finally:
                fake.why_not = rule  # type: ignore[method-assign]
    return planner.finish()


def test_a_hidden_post_deleted_later_is_found_within_a_listing_interval(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SCENARIOS, "hidden_then_deleted", hidden_then_deleted)
    settings = settings_for(db_url, recheck_schedule=RECHECKS)
    clock = ManualClock()
    window = detection_window(settings, INTERVAL)
    with Sandbox(scenario="hidden_then_deleted", clock=clock, tick_seconds=TICK,
                 resolution=window + STEP) as sb:
        with Database.open(settings) as db:
            worker = make_worker(db, settings.replace(**sb.settings()), clock)
            worker.sync(parse_watchlist(sb.watchlist_toml(interval=f"{INTERVAL:g}s")).targets)
            from spiders.crawl import event_loop

            event_loop().run_until_complete(run_until_quiet(sb, worker, clock,
                                                            settle=3 * window))
            truth = sb.truth()
            events = _events(db)
            deleted_at = sb.tick_time(DELETE_TICK)
    assert_true_to(events, truth)
    [deletion] = [a for a in truth["actions"] if a["action"] == "delete_by_author"]
    hidden = [e for e in events if e["post_key"] == deletion["post_key"]
              and e["kind"] == "hidden"]
    assert hidden, "the post was first hidden (the account was limited)"
    [gone] = [e for e in events if e["post_key"] == deletion["post_key"]
              and e["kind"] == "disappeared"]
    assert gone["cause"] == "ambiguous"
    assert deleted_at is not None
    latency = (gone["detected_at"] - deleted_at).total_seconds()
    # One listing interval, the confirmation, and the driver's step: far inside the
    # day the post's next scheduled re-check would have taken.
    assert 0 < latency <= window + STEP, latency


def _events(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute(
            "SELECT post_key, kind, cause, cause_detail, candidates, evidence, platform, "
            "detected_at FROM events ORDER BY id").fetchall()

