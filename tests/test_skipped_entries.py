"""A listing entry the spider had to skip never makes its post suspect (real PostgreSQL).

Issue 6, defect 4: one unreadable entry is skipped and counted
(``signals["skipped_entries"]`` / ``["skipped_keys"]``); its absence from the
recorded entries says nothing about its post.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_tracking import T0, World, entry

from monitor.db import Database


@pytest.fixture
def world(db: Database) -> World:
    w = World(db)
    w.listing(T0, [entry("3", "third post", 1), entry("2", "second post", 10),
                   entry("1", "first post", 20)])
    return w


def states(world: World) -> dict[str, str]:
    with world.db.transaction() as conn:
        rows = conn.execute("SELECT post_key, state FROM posts").fetchall()
    return {r["post_key"]: r["state"] for r in rows}


def test_control_a_post_missing_inside_the_window_becomes_suspect(world: World) -> None:
    # Without the skip signals the same listing makes post 2 suspect: the tests
    # below would pass vacuously if it did not.
    world.listing(T0 + timedelta(minutes=1), [entry("3", "third post", 1),
                                              entry("1", "first post", 20)])
    assert states(world)["2"] == "suspect"


def test_skipped_entry_with_its_key_does_not_make_its_post_suspect(world: World) -> None:
    world.listing(T0 + timedelta(minutes=1),
                  [entry("3", "third post", 1), entry("1", "first post", 20)],
                  signals={"skipped_entries": 1, "skipped_keys": ["2"]})
    assert states(world) == {"1": "visible", "2": "visible", "3": "visible"}
    assert world.events() == []


def test_skipped_entry_without_a_key_makes_no_post_suspect(world: World) -> None:
    world.listing(T0 + timedelta(minutes=1), [entry("3", "third post", 1)],
                  signals={"skipped_entries": 1, "skipped_keys": []})
    assert states(world) == {"1": "visible", "2": "visible", "3": "visible"}
    assert world.events() == []
