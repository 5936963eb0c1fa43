"""An unchanged raw reading is never normalised nor diffed (issue 13, monitor.reading).

The lifecycle keeps the raw hash of the content behind a post's current version;
a reading with that raw hash is taken as that version without parsing it. These
tests make :func:`monitor.diff.normalise` raise where it must not run, and check
that everything else (observation rows, counters, states, events) is recorded as
before: in memory (the lifecycle's table world) and through the Recorder into
real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from monitor import diff, reading
from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent
from monitor.reading import RAW_KEY, raw_hash
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target
from tests.test_lifecycle import VISIBLE, World, at, listing, probe


class Calls:
    """Counts diff.normalise calls; with ``forbid`` set, a call fails the test."""

    def __init__(self) -> None:
        self.n = 0
        self.forbid = False


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    real = diff.normalise
    seen = Calls()

    def counting(post: PostContent, platform: Any = None) -> diff.Normalised:
        if seen.forbid:
            raise AssertionError(f"normalise called for an unchanged reading of {post.key}")
        seen.n += 1
        return real(post, platform)

    monkeypatch.setattr(diff, "normalise", counting)
    yield seen


def test_an_unchanged_probe_is_not_normalised_and_still_recorded(calls: Calls) -> None:
    world = World()
    world.feed(listing(0))
    version = world.posts["2"].current_version_id
    assert world.posts["2"].known[RAW_KEY]
    calls.forbid = True
    for minute in (2, 4):
        events = world.feed(probe(minute, "2", Outcome.OK))
        assert events == []
        (write,) = world.last.observations
        assert write.version_id == version
        assert world.last.versions == []
    assert world.posts["2"].state is VISIBLE
    assert world.posts["2"].last_visible_at == at(4)


def test_an_unchanged_listing_is_not_normalised_and_extends_its_rows(calls: Calls) -> None:
    world = World()
    world.feed(listing(0))
    first = {k: p.last_obs_id for k, p in world.posts.items()}
    calls.forbid = True
    world.feed(listing(3))
    post_writes = [w for w in world.last.observations if w.post_id is not None]
    assert len(post_writes) == 3 and all(w.extend for w in post_writes)
    assert {k: p.last_obs_id for k, p in world.posts.items()} == first


def test_changed_raw_content_is_normalised_and_diffed(calls: Calls) -> None:
    world = World()
    world.feed(listing(0))
    before = calls.n
    events = world.feed(probe(2, "2", Outcome.OK, text="second post, now edited"))
    assert calls.n == before + 1
    assert [e.kind for e in events] == ["edited"]
    assert world.posts["2"].known[RAW_KEY] == raw_hash(
        PostContent(key="2", url="u", text="second post, now edited"), "mastodon")


def test_new_raw_content_with_the_same_text_is_normalised_once_then_skipped(
        calls: Calls) -> None:
    world = World()
    world.feed(listing(0))
    spaced = "<p>second   post</p>"  # other markup and spacing, the same words
    events = world.feed(probe(2, "2", Outcome.OK, text=spaced))
    assert events == [] and world.version_count("2") == 1
    calls.forbid = True
    assert world.feed(probe(4, "2", Outcome.OK, text=spaced)) == []


def test_a_flap_back_keeps_the_raw_hash_of_the_version_made_current(calls: Calls) -> None:
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, texts={"2": "second post, now edited"}))
    world.feed(listing(2))  # back to the first version: a flap, not an edit
    calls.forbid = True
    assert world.feed(probe(3, "2", Outcome.OK)) == []


def test_another_sources_reading_is_always_normalised(calls: Calls) -> None:
    content = PostContent(key="2", url="u", text="article", extra={diff.SOURCE_FIELD: "article"})
    assert raw_hash(content, "rss") is None
    world = World()
    world.feed(listing(0))
    post = world.posts["2"]
    post.known[RAW_KEY] = "stale"
    norm, raw = reading.read(post, content, "rss")
    assert raw is None and not isinstance(norm, diff.Unparsed)
    reading.remember(post, raw, norm)
    assert RAW_KEY not in post.known


def test_a_raw_hash_without_a_current_version_is_not_trusted(calls: Calls) -> None:
    world = World()
    world.feed(listing(0))
    post = world.posts["2"]
    post.current_hash = None  # e.g. a row whose version was deleted on purpose
    content = PostContent(key="2", url="u", text="second post")
    norm, _ = reading.read(post, content, "mastodon")
    assert not isinstance(norm, diff.Unparsed) and calls.n > 0


BASE = PostContent(key="k", url="u", title="t", text="<p>x</p>", media=["m1"],
                   links=["https://a.example/"], extra={"spoiler_text": "cw", "other": 1})


@pytest.mark.parametrize("changed", [
    replace(BASE, title="t2"), replace(BASE, text="<p>y</p>"), replace(BASE, media=["m2"]),
    replace(BASE, media=["m1", "m1b"]), replace(BASE, links=["https://b.example/"]),
    replace(BASE, extra={"spoiler_text": "cw2", "other": 1}),
], ids=["title", "text", "media", "more media", "links", "warning"])
def test_the_raw_hash_covers_every_field_normalise_reads(changed: PostContent) -> None:
    assert raw_hash(changed, "mastodon") != raw_hash(BASE, "mastodon")


def test_the_raw_hash_ignores_what_normalise_ignores() -> None:
    other = replace(BASE, counters={"favourites_count": 9}, extra={"spoiler_text": "cw",
                                                                   "other": 2})
    assert raw_hash(other, "mastodon") == raw_hash(BASE, "mastodon")


def test_the_raw_hash_names_the_platform_and_the_normaliser_version(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert raw_hash(BASE, "mastodon") != raw_hash(BASE, "rednote")
    before = raw_hash(BASE, "mastodon")
    monkeypatch.setattr(diff, "NORMALISE_VERSION", diff.NORMALISE_VERSION + 1)
    assert raw_hash(BASE, "mastodon") != before


def test_hostile_text_hashes(calls: Calls) -> None:
    odd = replace(BASE, text="\ud800 lone surrogate " + "<a " * 10_000, title="\x00")
    assert len(raw_hash(odd, "mastodon") or "") == 16


# --- through the Recorder, against real PostgreSQL ----------------------------


def test_recorder_skips_normalise_for_an_unchanged_probe(db: Database, calls: Calls) -> None:
    with db.transaction() as conn:
        store.sync_targets(conn, [Target("g", "mastodon", "post", "https://ex.social/@a/1",
                                         "https://ex.social", None, ())], 600)
        post_id = conn.execute("SELECT id FROM posts").fetchone()["id"]
    recorder = Recorder(db, Settings.load({}, environ={}))

    def seen(minute: float, text: str, likes: int) -> Observation:
        return Observation(
            mode="probe", platform="mastodon", target_key="g:x", url="u",
            outcome=Outcome.OK, row_id=post_id, post_key="1", http_status=200,
            observed_at=at(minute), post=PostContent(
                key="1", url="u", text=text, counters={"favourites_count": likes}))

    recorder.record([seen(0, "<p>hello</p>", 1)])
    calls.forbid = True
    recorder.record([seen(5, "<p>hello</p>", 2)])
    recorder.record([seen(10, "<p>hello</p>", 3)])
    calls.forbid = False
    events = recorder.record([seen(15, "<p>hello, edited</p>", 3)])
    assert [e.kind for e in events] == ["edited"]
    with db.transaction() as conn:
        rows = conn.execute("SELECT repeats, counters FROM observations WHERE post_id = %s "
                            "ORDER BY id", (post_id,)).fetchall()
        known = conn.execute("SELECT known FROM posts WHERE id = %s", (post_id,)).fetchone()
        versions = conn.execute("SELECT count(*) AS n FROM versions").fetchone()["n"]
    assert [r["repeats"] for r in rows] == [3, 1]  # the unchanged re-checks extended a row
    assert rows[0]["counters"] == {"favourites_count": 3}  # counters still recorded
    assert versions == 2
    assert known["known"][RAW_KEY] == raw_hash(
        PostContent(key="1", url="u", text="<p>hello, edited</p>"), "mastodon")
