"""End to end (issue 11, Done when): two local vantage points in front of the sandbox.

A feed of four entries is watched from ``de`` (its home: listings go through it) and
``us``, each an HTTP proxy on 127.0.0.1 that tells the sandbox its country. Then
one entry is withheld in Germany and one in both countries, while the US proxy is
down: the monitor must report nothing (a vantage point that fails is a collector
problem, never a content signal). Once the US proxy is back: ``geo_blocked`` for
the entry withheld in one country, with the right countries, and a removal for the
one withheld in both; the other entries have no event.

The real spiders, worker and PostgreSQL, on a controlled clock (as ``tests/test_e2e.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from proxies import CountryProxy
from test_e2e import make_worker, next_due, settings_for, suspects

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker
from spiders.crawl import event_loop
from spiders.rss.fake import new_entry, new_site
from spiders.sandbox import SCENARIOS, Sandbox, fakes
from spiders.sandbox._script import Plan, Planner

pytestmark = pytest.mark.slow

#: Clock seconds per driver step, and the target interval.
STEP = 1.0
INTERVAL = "1s"


def four_entries(seed: int) -> Plan:
    """One Atom site with four entries live at start and nothing scripted."""
    planner = Planner(seed, "four_entries", {"rss": fakes()["rss"]})
    new_site(planner, "news", "atom")
    for _ in range(4):
        planner.initial(new_entry(planner, "news"))
    planner.begin_tick()
    return planner.finish()


def watchlist(sb: Sandbox, de: CountryProxy, us: CountryProxy) -> str:
    vantages = (f'[vantages.de]\nproxy = "{de.url}"\ncountry = "DE"\nlabel = "test proxy"\n\n'
                f'[vantages.us]\nproxy = "{us.url}"\ncountry = "US"\n\n')
    groups = sb.watchlist_toml(interval=INTERVAL).replace(
        'tags = ["sandbox"]', 'tags = ["sandbox"]\nvantages = ["de", "us"]', 1)
    return vantages + groups


async def drive(worker: Worker, clock: ManualClock, seconds: float) -> None:
    """Run a cycle, step the clock (to the next due check, at most STEP), for ``seconds``."""
    end = clock.now() + timedelta(seconds=seconds)
    while clock.now() < end:
        await worker.cycle()
        due = next_due(worker.db)
        step = clock.now() + timedelta(seconds=STEP)
        clock.set(min(step, max(due, clock.now() + timedelta(seconds=0.25))) if due else step)


async def until_quiet(worker: Worker, clock: ManualClock, limit: float) -> None:
    """Drive until no post is suspect, for at most ``limit`` clock seconds."""
    end = clock.now() + timedelta(seconds=limit)
    while clock.now() < end:
        await drive(worker, clock, 2 * STEP)
        if not suspects(worker.db):
            return
    raise AssertionError(f"posts still suspect after {limit:g} clock seconds")


def events(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute("SELECT post_key, kind, cause, cause_detail, evidence "
                            "FROM events ORDER BY id").fetchall()


def test_geo_blocked_in_one_country_removed_in_both_and_nothing_while_a_vantage_is_down(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SCENARIOS, "four_entries", four_entries)
    settings = settings_for(db_url, retry_times=0)
    clock = ManualClock()
    with (Sandbox(scenario="four_entries", clock=clock, tick_seconds=1.0) as sb,
          CountryProxy("DE") as de, CountryProxy("US") as us):
        posts = [p for p in sb.truth()["posts"] if p["platform"] == "rss"]
        geo, gone, *kept = posts
        with Database.open(settings) as db:
            worker = make_worker(db, settings, clock)
            worker.sync(parse_watchlist(watchlist(sb, de, us)).targets)
            loop = event_loop()
            loop.run_until_complete(drive(worker, clock, 3 * STEP))
            assert events(db) == [] and de.forwarded > 0

            # The US exit fails, then the platform withholds two entries.
            us.down()
            sb.withhold(geo["url"], ["DE"])
            sb.withhold(gone["url"], ["DE", "US"])
            loop.run_until_complete(drive(worker, clock, 20 * STEP))
            assert events(db) == [], "a vantage point that is down decided something"
            assert suspects(db) == 2  # still waiting for the US answer

            us.up()
            loop.run_until_complete(until_quiet(worker, clock, 60 * STEP))
            got = events(db)
            assert us.forwarded > 0
    by_key = {(e["post_key"], e["kind"]): e for e in got}
    assert len(got) == 2, got
    blocked = by_key[(geo["post_key"], "hidden")]
    assert blocked["cause"] == "geo_blocked"
    assert blocked["evidence"]["countries_withheld"] == ["DE"]
    assert blocked["evidence"]["countries_visible"] == ["US"]
    removed = by_key[(gone["post_key"], "disappeared")]
    assert removed["cause"] == "removed_by_platform" and removed["cause_detail"] == "legal"
    assert not any(e["post_key"] in {p["post_key"] for p in kept} for e in got)
