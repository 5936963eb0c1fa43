"""The lifecycle with two vantage points (DE home, US), pure: rows in memory.

A suspect post is decided on every vantage point's answers: withheld in one country
and visible in the other is ``geo_blocked``; withheld in both is a removal; a vantage
point that fails (transient, blocked, paused) is never a content signal and blocks
the verdict until VANTAGE_PATIENCE (1 h here) runs out.
"""

from __future__ import annotations

import pytest
from geo_support import GONE_404, RULES, WITHHELD, MemoryWorld, at

from monitor.geo import GEO_KEY
from monitor.lifecycle import PostState
from monitor.observation import Outcome

OK = Outcome.OK


@pytest.fixture
def world() -> MemoryWorld:
    w = MemoryWorld()
    w.listing(at(0), ["1", "2"])
    return w


def geo_block(world: MemoryWorld, key: str = "1") -> None:
    """Withheld in DE (the home), visible in the US: hidden, geo_blocked, at +7 min."""
    assert world.probe(key, "de", at(1), WITHHELD) == []
    assert world.probe(key, "us", at(1.5), OK) == []
    events = world.probe(key, "de", at(7), WITHHELD)
    assert [(e.kind, e.cause) for e in events] == [("hidden", "geo_blocked")]


def test_withheld_in_one_country_is_geo_blocked_with_the_countries(world: MemoryWorld) -> None:
    assert world.probe("1", "de", at(1), WITHHELD) == []
    assert world.state("1") is PostState.SUSPECT
    # Visible from the US while DE's absence stands: the suspicion is not lifted.
    assert world.probe("1", "us", at(1.5), OK) == []
    assert world.state("1") is PostState.SUSPECT
    assert world.probe("1", "de", at(3), WITHHELD) == []  # 2 answers, but 2 min apart
    events = world.probe("1", "de", at(7), WITHHELD)
    assert len(events) == 1
    event = events[0]
    assert (event.kind, event.cause) == ("hidden", "geo_blocked")
    assert event.evidence["countries_withheld"] == ["DE"]
    assert event.evidence["countries_visible"] == ["US"]
    answers = {a["vantage"]: a for a in event.evidence["vantage_answers"]}
    assert answers["de"]["http_status"] == 451 and answers["de"]["country"] == "DE"
    assert answers["de"]["words"] == "Unavailable For Legal Reasons"
    assert answers["us"]["outcome"] == "ok"
    post = world.posts["1"]
    assert (post.state, post.gone_cause) == (PostState.HIDDEN, "geo_blocked")
    assert post.suspicion is None and GEO_KEY in post.known
    assert world.state("2") is PostState.VISIBLE


def test_withheld_everywhere_is_a_removal_not_geo_blocking(world: MemoryWorld) -> None:
    assert world.probe("1", "de", at(1), WITHHELD) == []
    assert world.probe("1", "us", at(1.5), WITHHELD) == []
    # DE is confirmed, the US has one answer: wait for its confirmation.
    assert world.probe("1", "de", at(7), WITHHELD) == []
    events = world.probe("1", "us", at(7.5), WITHHELD)
    assert [e.kind for e in events] == ["disappeared"]
    assert events[0].cause != "geo_blocked" and "geo_blocked" not in events[0].candidates
    assert events[0].evidence["countries_withheld"] == ["DE", "US"]
    assert events[0].evidence["countries_visible"] == []
    assert world.state("1") is PostState.GONE


@pytest.mark.parametrize("failure", [Outcome.CONNECTION_ERROR, Outcome.TIMEOUT,
                                     Outcome.COLLECTOR_BLOCKED, "paused"])
def test_a_vantage_point_down_blocks_the_verdict_never_a_false_removal(
        world: MemoryWorld, failure: Outcome | str) -> None:
    def us_fails(minutes: float) -> list[object]:
        if failure == "paused":  # an absence while the collector was paused says nothing
            return list(world.probe("1", "us", at(minutes), GONE_404,
                                    collector_paused="blocked: captcha"))
        assert isinstance(failure, Outcome)
        return list(world.probe("1", "us", at(minutes), failure))

    for minutes in (1, 7, 13, 30, 59):
        assert world.probe("1", "de", at(minutes), WITHHELD) == []
        assert us_fails(minutes + 0.5) == []
    assert world.state("1") is PostState.SUSPECT and world.events == []
    # VANTAGE_PATIENCE (1 h since the suspicion began) ran out: decide with DE alone.
    events = world.probe("1", "de", at(62), WITHHELD)
    assert [e.kind for e in events] == ["disappeared"]
    assert events[0].cause == "ambiguous" and "geo_blocked" in events[0].candidates
    assert events[0].evidence["silent_vantages"] == ["us"]


def test_the_home_listing_does_not_lift_an_absence_seen_elsewhere() -> None:
    world = MemoryWorld(["us", "de"])  # home: the US, whose listing still shows it
    world.listing(at(0), ["1"], vantage="us")
    assert world.probe("1", "de", at(1), WITHHELD) == []
    assert world.state("1") is PostState.SUSPECT
    assert world.listing(at(2), ["1"], vantage="us") == []
    assert world.state("1") is PostState.SUSPECT
    assert world.probe("1", "us", at(3), OK) == []
    events = world.probe("1", "de", at(7), WITHHELD)
    assert [(e.kind, e.cause) for e in events] == [("hidden", "geo_blocked")]


def test_visible_everywhere_lifts_the_suspicion(world: MemoryWorld) -> None:
    assert world.probe("1", "de", at(1), GONE_404) == []
    assert world.probe("1", "us", at(1.5), OK) == []
    assert world.probe("1", "de", at(3), OK) == []  # DE took its absence back
    assert world.state("1") is PostState.VISIBLE and world.posts["1"].suspicion is None


def test_while_geo_blocked_the_withholding_country_and_the_listing_change_nothing(
        world: MemoryWorld) -> None:
    geo_block(world)
    for minutes in (20, 40):
        assert world.probe("1", "de", at(minutes), WITHHELD) == []
        assert world.probe("1", "us", at(minutes + 0.5), OK) == []
    assert world.listing(at(50), ["1", "2"]) == []  # listed: no restoration
    assert world.listing(at(51), ["2"]) == []  # not listed: no new suspicion
    assert world.probe("1", "us", at(52), Outcome.TIMEOUT) == []
    post = world.posts["1"]
    assert (post.state, post.gone_cause) == (PostState.HIDDEN, "geo_blocked")


def test_geo_blocked_then_visible_everywhere_is_restored(world: MemoryWorld) -> None:
    geo_block(world)
    assert world.probe("1", "us", at(20), OK) == []
    events = world.probe("1", "de", at(21), OK)
    assert [e.kind for e in events] == ["restored"]
    assert events[0].evidence["previous_cause"] == "geo_blocked"
    post = world.posts["1"]
    assert (post.state, post.gone_cause) == (PostState.VISIBLE, None)
    assert GEO_KEY not in post.known


def test_geo_blocked_then_withheld_everywhere_is_a_disappearance(world: MemoryWorld) -> None:
    geo_block(world)
    assert world.probe("1", "us", at(20), GONE_404) == []  # the US: one answer only
    assert world.probe("1", "de", at(20.5), WITHHELD) == []
    events = world.probe("1", "us", at(26), GONE_404)
    assert [e.kind for e in events] == ["disappeared"]
    assert events[0].evidence["countries_withheld"] == ["DE", "US"]
    assert world.state("1") is PostState.GONE and GEO_KEY not in world.posts["1"].known


@pytest.mark.parametrize("broken", ["garbage", {"answers": ["x"], "probes": "y"},
                                    {"answers": {"de": {"visible": False, "at": "never",
                                                        "absent_count": "many",
                                                        "absent_since": 3}}}])
def test_a_broken_geo_record_is_read_as_no_answers(world: MemoryWorld, broken: object) -> None:
    geo_block(world)
    world.posts["1"].known[GEO_KEY] = broken
    assert world.probe("1", "de", at(20), WITHHELD) == []  # nothing to decide on yet
    assert world.probe("1", "us", at(21), OK) == []
    events = world.probe("1", "de", at(22), OK)
    assert [e.kind for e in events] == ["restored"]


def test_a_single_vantage_point_behaves_as_before() -> None:
    world = MemoryWorld(["de"])
    world.listing(at(0), ["1"])
    assert world.probe("1", "de", at(1), WITHHELD) == []
    assert world.probe("1", "de", at(2), OK) == []  # one success lifts it, as always
    assert world.state("1") is PostState.VISIBLE
    assert world.probe("1", "de", at(3), GONE_404) == []
    events = world.probe("1", "de", at(9), GONE_404)
    assert [e.kind for e in events] == ["disappeared"]
    assert "countries_withheld" not in events[0].evidence


def test_an_answer_from_a_vantage_point_the_target_does_not_allow_decides_nothing(
        world: MemoryWorld) -> None:
    assert world.probe("1", "de", at(1), WITHHELD) == []
    assert world.probe("1", "local", at(1.5), OK) == []  # a stale item, fetched directly
    assert world.probe("1", "de", at(7), WITHHELD) == []
    assert world.state("1") is PostState.SUSPECT and world.events == []


def test_the_rules_read_vantage_patience() -> None:
    assert RULES.vantage_patience == 3600.0
