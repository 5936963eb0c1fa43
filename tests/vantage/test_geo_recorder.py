"""Two vantage points through the Recorder and a real PostgreSQL: observations from
DE (home) and the US, recorded in batches as a worker's writer records them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from geo_support import GONE_404, VISIBLE_ANSWER, WITHHELD, StoredWorld, at

from monitor.db import Database
from monitor.observation import Outcome

DOWN = (Outcome.CONNECTION_ERROR, None, "proxy refused the connection")


@pytest.fixture
def world(db: Database) -> StoredWorld:
    w = StoredWorld(db)
    w.listing(at(0), ["1", "2"])
    return w


def test_withheld_in_germany_only_is_stored_as_geo_blocked(world: StoredWorld) -> None:
    assert world.listing(at(1), ["2"]) == []  # DE's listing no longer shows it
    assert world.post("1")["state"] == "suspect"
    assert world.probes("1", at(2), {"de": WITHHELD, "us": VISIBLE_ANSWER}) == []
    assert world.post("1")["state"] == "suspect"  # the US's answer lifted nothing
    events = world.probes("1", at(8), {"de": WITHHELD, "us": VISIBLE_ANSWER})
    assert [(e.kind, e.cause) for e in events] == [("hidden", "geo_blocked")]
    post = world.post("1")
    assert (post["state"], post["gone_cause"]) == ("hidden", "geo_blocked")
    stored = world.row("SELECT * FROM events WHERE post_id = %s", world.post_id("1"))
    assert stored["evidence"]["countries_withheld"] == ["DE"]
    assert stored["evidence"]["countries_visible"] == ["US"]
    by_vantage = {a["vantage"]: a for a in stored["evidence"]["vantage_answers"]}
    assert by_vantage["de"]["http_status"] == 451 and by_vantage["us"]["outcome"] == "ok"
    # Each observation records the vantage point it came from, and its country.
    seen = world.rows("SELECT vantage, signals->>'country' AS country FROM observations "
                      "WHERE post_id = %s AND mode = 'probe'", world.post_id("1"))
    assert {(r["vantage"], r["country"]) for r in seen} == {("de", "DE"), ("us", "US")}


def test_withheld_in_both_countries_is_a_removal(world: StoredWorld) -> None:
    world.listing(at(1), ["2"])
    assert world.probes("1", at(2), {"de": WITHHELD, "us": GONE_404}) == []
    events = world.probes("1", at(8), {"de": WITHHELD, "us": GONE_404})
    assert [e.kind for e in events] == ["disappeared"]
    assert events[0].cause != "geo_blocked"
    assert world.post("1")["state"] == "gone"


def test_geo_blocked_then_served_everywhere_is_restored(world: StoredWorld) -> None:
    world.listing(at(1), ["2"])
    world.probes("1", at(2), {"de": WITHHELD, "us": VISIBLE_ANSWER})
    world.probes("1", at(8), {"de": WITHHELD, "us": VISIBLE_ANSWER})
    assert world.listing(at(9), ["1", "2"]) == []  # the home listing alone restores nothing
    assert world.probes("1", at(20), {"de": WITHHELD, "us": VISIBLE_ANSWER}) == []
    events = world.probes("1", at(30), {"de": VISIBLE_ANSWER, "us": VISIBLE_ANSWER})
    assert [e.kind for e in events] == ["restored"]
    post = world.post("1")
    assert (post["state"], post["gone_cause"]) == ("visible", None)
    assert "geo" not in post["known"]


def test_one_vantage_point_down_gives_no_event_and_no_false_removal(
        world: StoredWorld) -> None:
    world.listing(at(1), ["2"])
    for minutes in (2, 8, 14, 30, 50):
        assert world.probes("1", at(minutes), {"de": WITHHELD, "us": DOWN}) == []
    assert world.post("1")["state"] == "suspect"
    assert world.rows("SELECT id FROM events") == []
    # After VANTAGE_PATIENCE (1 h since the suspicion began): decided, and ambiguous.
    events = world.probes("1", at(62), {"de": WITHHELD, "us": DOWN})
    assert [(e.kind, e.cause) for e in events] == [("disappeared", "ambiguous")]
    assert "geo_blocked" in events[0].candidates
    assert events[0].evidence["silent_vantages"] == ["us"]


def test_the_suspicion_keeps_each_vantage_points_answer_between_batches(
        world: StoredWorld) -> None:
    world.listing(at(1), ["2"])
    world.probes("1", at(2), {"de": WITHHELD})
    world.probes("1", at(2) + timedelta(seconds=30), {"us": VISIBLE_ANSWER})
    answers = world.post("1")["suspicion"]["answers"]
    assert answers["de"]["absent_count"] == 1 and answers["us"]["visible"] is True
