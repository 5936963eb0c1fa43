"""A batch gives back only the leases it answers.

Recording a listing touches the posts it lists (seen again, rescheduled); one of
them may be claimed for a probe at that moment, by this worker or another. The
listing's batch must leave that claim alone: freed, the post is claimed a second
time while the first probe is still in flight. ``takedown run`` then held two
claims under one key and, when the second answer found no claim to close, its
per-host count never came down: a few such races wedged the host's whole queue
(every item held, no request sent) until the daemon was restarted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import ManualClock
from monitor.continuous import Continuous, host_of
from monitor.db import claims
from monitor.observation import Observation, Outcome, WorkItem
from monitor.settings import Settings
from monitor.snapshot import Recorder
from tests import test_database_errors
from tests.test_database_errors import T0, Site

proxy = test_database_errors.proxy
site = test_database_errors.site

SETTINGS = Settings.load({}, environ={})


def post_leases(site: Site) -> dict[str, bool]:
    with site.direct.transaction() as conn:
        return {r["post_key"]: r["leased"] for r in conn.execute(
            "SELECT post_key, lease_until IS NOT NULL AS leased FROM posts ORDER BY id")}


def target_leases(site: Site) -> list[bool]:
    with site.direct.transaction() as conn:
        return [r["leased"] for r in conn.execute(
            "SELECT lease_until IS NOT NULL AS leased FROM targets ORDER BY id")]


def test_a_listing_leaves_the_probe_claims_of_its_posts_alone(site: Site) -> None:
    recorder = Recorder(site.direct, SETTINGS)
    recorder.record(site.observations(T0))  # each account lists one post: seen
    assert target_leases(site) == [False] * 6
    claimed = site.rows[0]["id"]
    with site.direct.transaction() as conn:  # its post is claimed for a probe
        conn.execute("UPDATE posts SET lease_until = now() + interval '1 hour' "
                     "WHERE post_key = %s", (f"{claimed}-p",))
        conn.execute("UPDATE targets SET lease_until = now() + interval '1 hour'")
    later = T0 + timedelta(minutes=1)
    recorder.record(site.observations(later))  # the listings again, that post in them
    leases = post_leases(site)
    assert leases.pop(f"{claimed}-p") is True  # the probe's claim stands
    assert set(leases.values()) == {False}
    assert target_leases(site) == [False] * 6  # the listings answered: given back
    with site.direct.transaction() as conn:  # so nobody claims that post again (the
        # others are due: their re-checks were scheduled from T0, months ago)
        again = claims.claim_due(conn, datetime.now(UTC) + timedelta(minutes=5), 100, 600.0)
    probed = {i.post_key for i in again if i.mode == "probe"}
    assert probed == {f"{r['id']}-p" for r in site.rows} - {f"{claimed}-p"}


class _Claims:
    """A worker whose every claim returns the same item (its lease given back under it)."""

    def __init__(self, item: WorkItem) -> None:
        self.item = item
        self.settings = SETTINGS
        self.clock = ManualClock(T0)

    def _claim(self, platform: str, now: datetime, limit: int) -> list[WorkItem]:
        return [self.item]


def test_a_row_claimed_again_while_in_flight_is_fetched_once_and_its_host_freed(
        caplog: pytest.LogCaptureFixture) -> None:
    """The loop's own guard: a second claim of work already in flight is not handed to
    the spider, so the one answer closes the one claim and the host's count is 0."""
    item = WorkItem(mode="probe", platform="mastodon", target_key="t", row_id=7,
                    url="https://ex.social/@a/1", post_key="1")
    loop = Continuous(_Claims(item))  # type: ignore[arg-type]

    async def claim_twice() -> list[datetime | None]:
        return [await loop._claim("mastodon", 10), await loop._claim("mastodon", 10)]

    # Each came back short (it took all that was due), so each gives its time.
    assert all(at is not None for at in asyncio.run(claim_twice()))
    assert loop.claimed == 1  # the second brought nothing new
    assert "claimed again while in flight" in caplog.text
    started = loop._release_held("mastodon", 10)
    assert started == [item]
    for it in started:
        loop._start(it)
    assert loop.hosts[host_of(item)] == 1
    loop._done(Observation(mode="probe", platform="mastodon", target_key="t", url=item.url,
                           outcome=Outcome.OK, row_id=7, post_key="1", observed_at=T0))
    assert loop.hosts[host_of(item)] == 0 and loop.platforms["mastodon"] == 0
    assert loop.pending == {} and loop._release_held("mastodon", 10) == []
