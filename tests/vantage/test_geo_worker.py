"""The worker with two vantage points and an injected crawl (no network): the claims
fan a suspect post out, each work item carries its vantage point's proxy and
country, and the cycles end in ``geo_blocked`` for a post withheld in Germany only,
a removal for one withheld in both countries, and no event while the US is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.claims import pending_key
from monitor.clock import ManualClock
from monitor.continuous import Continuous
from monitor.db import Database
from monitor.observation import Observation, Outcome, PostContent, WorkItem
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker

WATCHLIST = """
[vantages.de]
proxy = "socks5://127.0.0.1:1080"
country = "DE"
[vantages.us]
proxy = "http://127.0.0.1:3128"
country = "US"
[groups.g]
vantages = ["de", "us"]
[[groups.g.targets]]
platform = "mastodon"
account = "alice"
base_url = "http://127.0.0.1:9"
"""
SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m",
                          "default_interval": "1m", "vantage_patience": "1h"}, environ={})
T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


class GeoCrawl:
    """Answers as the platform would per country: ``withheld`` maps a post key to the
    countries withholding it; ``down`` vantage points answer connection errors."""

    def __init__(self, clock: ManualClock, withheld: dict[str, set[str]]) -> None:
        self.clock = clock
        self.withheld = withheld
        self.down: set[str] = set()
        self.items: list[WorkItem] = []

    async def __call__(self, work: Mapping[str, AsyncIterator[WorkItem]], sink: Any,
                       settings: Any) -> None:
        for items in work.values():
            async for item in items:
                self.items.append(item)
                await sink(self.answer(item))

    def answer(self, item: WorkItem) -> Observation:
        assert item.vantage is not None and item.vantage.proxy  # resolved by the worker
        country = item.vantage.country or "??"
        obs = Observation(mode=item.mode, platform=item.platform, target_key=item.target_key,
                          url=item.url, outcome=Outcome.OK, row_id=item.row_id,
                          post_key=item.post_key, vantage=item.vantage.name,
                          signals={"country": country}, observed_at=self.clock.now(),
                          http_status=200)
        if item.vantage.name in self.down:
            obs.outcome, obs.http_status = Outcome.CONNECTION_ERROR, None
        elif item.mode == "listing":
            obs.entries = [_post(k) for k, where in self.withheld.items()
                           if country not in where]
        elif country in self.withheld.get(item.post_key or "", set()):
            obs.outcome, obs.http_status = Outcome.LEGAL, 451
            obs.message = "Unavailable For Legal Reasons"
        else:
            obs.post = _post(item.post_key or "")
        return obs


def _post(key: str) -> PostContent:
    return PostContent(key=key, url=f"http://127.0.0.1:9/@alice/{key}", text=f"post {key}",
                       author="alice", published_at=T0)


def run(db: Database, withheld: dict[str, set[str]], down: frozenset[str] = frozenset(),
        minutes: int = 30) -> tuple[GeoCrawl, dict[str, list[dict[str, Any]]]]:
    clock = ManualClock(T0)
    crawl = GeoCrawl(clock, {k: set() for k in withheld})
    worker = Worker(db, SETTINGS, crawl, clock=clock)
    worker.sync(parse_watchlist(WATCHLIST).targets)
    asyncio.run(worker.cycle())  # everything served everywhere at first
    crawl.withheld, crawl.down = withheld, set(down)
    for _ in range(minutes):
        clock.advance(60)
        asyncio.run(worker.cycle())
    with db.transaction() as conn:
        rows = conn.execute("SELECT e.kind, e.cause, e.candidates, e.evidence, p.post_key "
                            "FROM events e JOIN posts p ON p.id = e.post_id").fetchall()
    events: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        events.setdefault(r["post_key"], []).append(dict(r))
    return crawl, events


def test_geo_blocked_in_one_country_and_removed_in_both(db: Database) -> None:
    crawl, events = run(db, {"1": {"DE"}, "2": {"DE", "US"}, "3": set()})
    assert [(e["kind"], e["cause"]) for e in events["1"]] == [("hidden", "geo_blocked")]
    assert events["1"][0]["evidence"]["countries_withheld"] == ["DE"]
    assert events["1"][0]["evidence"]["countries_visible"] == ["US"]
    assert [e["kind"] for e in events["2"]] == ["disappeared"]
    assert events["2"][0]["cause"] != "geo_blocked"
    assert "3" not in events
    # Listings and ordinary re-checks went through the home, suspect probes through both.
    assert {i.vantage.name for i in crawl.items if i.mode == "listing" and i.vantage} == {"de"}
    assert {i.vantage.name for i in crawl.items
            if i.post_key == "1" and i.vantage} == {"de", "us"}
    assert {i.vantage.name for i in crawl.items if i.post_key == "3" and i.vantage} == {"de"}


def test_no_false_removal_while_one_vantage_point_is_down(db: Database) -> None:
    _, events = run(db, {"1": {"DE"}, "2": {"DE", "US"}}, down=frozenset({"us"}))
    assert events == {}
    with db.transaction() as conn:
        states = {r["post_key"]: r["state"] for r in conn.execute(
            "SELECT post_key, state FROM posts")}
    assert states == {"1": "suspect", "2": "suspect"}


def test_the_continuous_loop_counts_each_fanned_out_item_back(db: Database) -> None:
    """Two items of one post (one per vantage point) are both in flight against their
    host; each observation gives back its own item's room, none is lost."""
    worker = Worker(db, SETTINGS, GeoCrawl(ManualClock(T0), {}))
    worker.sync(parse_watchlist(WATCHLIST).targets)
    loop = Continuous(worker)
    items = [WorkItem(mode="probe", platform="mastodon", target_key="t",
                      url="http://127.0.0.1:9/api/v1/statuses/1", row_id=5, vantage=v)
             for v in worker.vantages.values()]
    for item in items:
        loop.pending[pending_key(item)] = item
        loop._start(item)
    assert len(loop.pending) == 2 and loop.hosts["127.0.0.1:9"] == 2
    for item in reversed(items):
        loop._done(Observation(mode="probe", platform="mastodon", target_key="t",
                               url=item.url, outcome=Outcome.OK, row_id=5,
                               vantage=item.vantage.name if item.vantage else "local"))
    assert loop.pending == {} and loop.hosts["127.0.0.1:9"] == 0
