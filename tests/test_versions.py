"""Versions are content-addressed per post: content that comes back after it
left the flap window is an edit, stored against the version it already has."""

from __future__ import annotations

from datetime import timedelta

from test_tracking import SETTINGS, T0, World, entry

from monitor.db import Database
from monitor.observation import Observation, Outcome


def test_content_returning_after_the_flap_window_is_an_edit_not_a_storage_error(
        db: Database) -> None:
    world = World(db)
    flap = int(SETTINGS["FLAP_VERSIONS"])
    texts = ["version A"] + [f"version {n}" for n in range(flap + 1)] + ["version A"]
    for i, text in enumerate(texts):
        world.listing(T0 + timedelta(minutes=i), [entry("1", text, 10)])
    post = world.one("SELECT * FROM posts WHERE post_key = '1'")
    first_a = world.one("SELECT id FROM versions WHERE post_id = %s ORDER BY id LIMIT 1",
                        post["id"])
    # The post is recorded as served, not as a malformed stand-in.
    last = world.one("SELECT outcome, detail FROM observations WHERE post_id = %s "
                     "ORDER BY id DESC LIMIT 1", post["id"])
    assert last["outcome"] == Outcome.OK.value, last
    assert post["current_version_id"] == first_a["id"]
    versions = world.one("SELECT count(*) AS n FROM versions WHERE post_id = %s", post["id"])
    assert versions["n"] == len(texts) - 1  # A is stored once
    edits = [e for e in world.events() if e["kind"] == "edited"]
    assert len(edits) == len(texts) - 1
    assert edits[-1]["version_id"] == first_a["id"]


def test_the_same_new_content_from_a_listing_and_a_probe_in_one_batch(db: Database) -> None:
    world = World(db)
    world.listing(T0, [entry("1", "first words", 10)])
    post_id = world.post_id("1")
    changed = entry("1", "second words", 10)
    at = T0 + timedelta(minutes=3)
    listing = Observation(mode="listing", platform="mastodon", target_key=world.target_key,
                          url="alice", outcome=Outcome.OK, row_id=world.target_id,
                          entries=[changed], observed_at=at, http_status=200)
    probe = Observation(mode="probe", platform="mastodon", target_key=world.target_key,
                        url="https://ex.social/api/v1/statuses/1", outcome=Outcome.OK,
                        row_id=post_id, post_key="1", post=changed, http_status=200,
                        observed_at=at + timedelta(seconds=1), body_hash="ab" * 32)
    world.recorder.record([listing, probe])
    outcomes = world.one("SELECT array_agg(outcome) AS o FROM observations WHERE post_id = %s",
                         post_id)["o"]
    assert "malformed" not in outcomes
    n = world.one("SELECT count(*) AS n FROM versions WHERE post_id = %s", post_id)["n"]
    assert n == 2
    assert [e["kind"] for e in world.events()] == ["edited"]
