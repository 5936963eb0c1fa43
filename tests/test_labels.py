"""Moderation labels through the real Lifecycle (monitor.labels): one rule per test.

The World of tests/test_lifecycle.py plays the store; readings are Bluesky-like
listings and probes whose entries carry ``extra["labels"]``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from monitor.events import Event
from monitor.labels import LABELS_FIELD, MAX_LABELS, read_labels
from monitor.lifecycle import PostState
from monitor.observation import Observation, Outcome, PostContent
from tests.test_lifecycle import T0, World, at

MOD = "did:plc:ar7c4by46qjdydhdevvrndac"
OTHER = "did:plc:thirdpartylabeler"


def label(value: str = "!hide", labeler: str = MOD, applied: float = 0,
          retracted: float | None = None) -> dict[str, Any]:
    return {"labeler": labeler, "value": value, "applied_at": at(applied).isoformat(),
            "retracted_at": None if retracted is None else at(retracted).isoformat(),
            "platform": labeler == MOD}


def entry(labels: Any = None, key: str = "a") -> PostContent:
    extra = {} if labels is None else {LABELS_FIELD: labels}
    return PostContent(key=key, url=f"https://bsky.example/{key}", text=f"post {key}",
                       author="alice", published_at=T0 - timedelta(minutes=1), extra=extra)


def listing(minute: float, labels: Any = None) -> Observation:
    return Observation(mode="listing", platform="bluesky", target_key="bluesky:alice",
                       url="alice", outcome=Outcome.OK, observed_at=at(minute),
                       entries=[entry(labels)], http_status=200)


def probe(minute: float, labels: Any = None) -> Observation:
    return Observation(mode="probe", platform="bluesky", target_key="bluesky:alice",
                       url="https://bsky.example/a", outcome=Outcome.OK,
                       observed_at=at(minute), post_key="a", post=entry(labels),
                       http_status=200)


def kinds(events: list[Event]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.cause) for e in events]


@pytest.fixture()
def world() -> World:
    return World(platform="bluesky")


def test_a_newly_applied_label_is_one_hidden_event_with_the_label(world: World) -> None:
    assert world.feed(listing(0)) == []
    events = world.feed(listing(10, [label(applied=5)]))
    assert kinds(events) == [("hidden", "restricted")]
    ev = events[0].evidence
    assert ev["label"] == {"labeler": MOD, "value": "!hide", "applied_at": at(5).isoformat()}
    assert ev["labeler_is_platform"] is True
    assert world.posts["a"].state is PostState.VISIBLE  # labels do not change the state
    assert world.feed(listing(20, [label(applied=5)])) == []  # the same label: nothing new


def test_a_third_party_label_is_not_the_platforms(world: World) -> None:
    world.feed(listing(0))
    events = world.feed(probe(3, [label("spam", OTHER)]))
    assert kinds(events) == [("hidden", "restricted")]
    assert events[0].evidence["labeler_is_platform"] is False
    assert events[0].evidence["label"]["labeler"] == OTHER


def test_a_retraction_of_a_reported_label_is_restored(world: World) -> None:
    world.feed(listing(0, []))
    world.feed(listing(10, [label(applied=5)]))
    events = world.feed(probe(20, [label(applied=5, retracted=15)]))
    assert kinds(events) == [("restored", None)]
    assert events[0].evidence["label"]["retracted_at"] == at(15).isoformat()
    assert world.posts["a"].state is PostState.VISIBLE
    assert world.feed(probe(30, [label(applied=5, retracted=15)])) == []


def test_applied_and_retracted_in_one_reading_is_one_hidden_event(world: World) -> None:
    world.feed(listing(0))
    events = world.feed(listing(10, [label(applied=2, retracted=4)]))
    assert kinds(events) == [("hidden", "restricted")]
    assert events[0].evidence["label"]["retracted_at"] == at(4).isoformat()
    assert world.feed(listing(20, [label(applied=2, retracted=4)])) == []


def test_a_label_reapplied_after_a_retraction_is_counted_not_reported(world: World) -> None:
    world.feed(listing(0))
    assert len(world.feed(listing(10, [label(applied=5)]))) == 1
    assert kinds(world.feed(listing(20, [label(applied=5, retracted=15)]))) == [
        ("restored", None)]
    assert world.feed(listing(30, [label(applied=25)])) == []
    memory = world.posts["a"].known[LABELS_FIELD]
    assert next(iter(memory.values()))["reapplied"] == 1
    assert world.feed(listing(40, [label(applied=25, retracted=35)])) == []  # flap: silent


def test_a_label_missing_from_a_reading_is_not_a_retraction(world: World) -> None:
    world.feed(listing(0))
    world.feed(listing(10, [label(applied=5)]))
    assert world.feed(listing(20, [])) == []
    assert world.feed(listing(30)) == []  # no labels field at all: not read
    assert world.feed(listing(40, [label(applied=5)])) == []  # still the one reported


def test_a_post_first_seen_labelled_is_reported_on_its_first_reading(world: World) -> None:
    events = world.feed(listing(0, [label("!warn", applied=-60)]))
    assert kinds(events) == [("hidden", "restricted")]
    assert events[0].evidence["label"]["value"] == "!warn"
    assert world.posts["a"].state is PostState.VISIBLE


def test_each_label_event_has_its_own_dedupe_key(world: World) -> None:
    world.feed(listing(0))
    a = world.feed(listing(10, [label("!hide"), label("!warn")]))
    b = world.feed(listing(20, [label("!hide", retracted=15), label("!warn")]))
    keys = [e.dedupe_key for e in a + b]
    assert len(keys) == 3 and len(set(keys)) == 3


def test_labels_never_make_an_edit(world: World) -> None:
    world.feed(listing(0, []))
    events = world.feed(listing(10, [label()]))
    assert "edited" not in [e.kind for e in events]
    assert world.version_count("a") == 1


@pytest.mark.parametrize("hostile", [
    "!hide", 42, {"labeler": MOD, "value": "!hide"}, None,
    [None, 1, "x", [], {"labeler": 5, "value": "!hide"}, {"labeler": MOD},
     {"labeler": MOD, "value": ["!hide"]}, {"labeler": "", "value": "!hide"}],
])
def test_hostile_label_lists_are_skipped(world: World, hostile: Any) -> None:
    world.feed(listing(0))
    assert world.feed(listing(10, hostile)) == []


def test_a_hostile_entry_does_not_stop_the_good_ones(world: World) -> None:
    world.feed(listing(0))
    events = world.feed(listing(10, [{"labeler": 5}, "junk", label("!warn")]))
    assert kinds(events) == [("hidden", "restricted")]


def test_ten_thousand_labels_are_capped(world: World) -> None:
    world.feed(listing(0))
    many = [label(f"v{i}", OTHER) for i in range(10_000)]
    events = world.feed(listing(10, many))
    assert len(events) == MAX_LABELS
    assert len(world.posts["a"].known[LABELS_FIELD]) == MAX_LABELS
    more = [label(f"w{i}", OTHER) for i in range(50)]
    assert world.feed(listing(20, more)) == []  # the memory is full: it cannot grow


def test_huge_values_are_cut() -> None:
    (only,) = read_labels([{"labeler": "d" * 100_000, "value": "v" * 100_000,
                            "applied_at": 7, "retracted_at": ["x"]}])
    assert len(only.labeler) <= 300 and len(only.value) <= 300
    assert only.applied_at is None and only.retracted_at is None


def test_a_damaged_memory_is_a_fresh_start(world: World) -> None:
    world.feed(listing(0))
    world.posts["a"].known[LABELS_FIELD] = ["not", "a", "dict"]
    assert kinds(world.feed(listing(10, [label()]))) == [("hidden", "restricted")]


def test_a_stale_reading_of_a_retracted_label_is_no_reapplication(world: World) -> None:
    """A cached answer that still shows the label as applied (before the retraction
    we saw) is not a flap: nothing is reported and nothing is counted."""
    world.feed(listing(0))
    world.feed(probe(10, [label(applied=5)]))
    assert kinds(world.feed(probe(20, [label(applied=5, retracted=15)]))) == [
        ("restored", None)]
    assert world.feed(listing(25, [label(applied=5)])) == []  # stale: applied at 5 < 15
    memory = next(iter(world.posts["a"].known[LABELS_FIELD].values()))
    assert memory["reapplied"] == 0 and memory["state"] == "retracted"
