"""A hidden post keeps being watched (issue 8, item 4): its probes keep their schedule,
a listing that no longer shows a post it showed while hidden brings its probe
forward, and an absent probe makes it suspect, then gone.

State machine cases (no database) here; the same through the sandbox, the real
spiders, worker and PostgreSQL in ``tests/test_hidden_e2e.py``.
"""

from __future__ import annotations

from test_lifecycle import GONE, HIDDEN, NF, SUSPECT, World, at, listing, probe

from monitor.observation import Outcome

LIMITED = {"account_state": "limited"}


def hidden_on_a_limited_account() -> World:
    """Post "2" hidden at minute 7 because the account was limited at minute 1."""
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, signals=LIMITED))
    world.feed(probe(2, "2", Outcome.OK))
    [event] = world.feed(probe(7, "2", Outcome.OK))
    assert (event.kind, event.cause) == ("hidden", "hidden_from_feed")
    assert world.posts["2"].state is HIDDEN
    return world


def test_a_hidden_post_keeps_its_re_check_schedule() -> None:
    world = hidden_on_a_limited_account()
    assert world.posts["2"].next_check == at(10)  # the next offset after first sight
    world.feed(probe(10, "2", Outcome.OK))
    assert world.posts["2"].state is HIDDEN
    assert world.posts["2"].next_check == at(30)


def test_a_hidden_post_missing_from_the_listing_that_still_showed_it_is_probed_at_once(
        ) -> None:
    world = hidden_on_a_limited_account()
    world.feed(listing(8, signals=LIMITED))  # still listed while hidden: nothing new
    assert world.posts["2"].next_check == at(10)
    # The author deletes it: the limited account's listing no longer shows it.
    assert world.feed(listing(9, "31", signals=LIMITED)) == []
    post = world.posts["2"]
    assert post.state is HIDDEN and post.next_check == at(9)  # probed at once, still hidden
    world.feed(probe(9, "2", NF))
    assert post.state is SUSPECT and post.next_check == at(14)
    [event] = world.feed(probe(14, "2", NF))
    assert (event.kind, event.cause) == ("disappeared", "ambiguous")
    assert post.state is GONE
    assert event.first_seen_gone == at(9)


def test_a_listed_hidden_post_whose_probe_still_answers_stays_hidden() -> None:
    world = hidden_on_a_limited_account()
    world.feed(listing(8, signals=LIMITED))
    world.feed(listing(9, "31", signals=LIMITED))
    assert world.feed(probe(9, "2", Outcome.OK)) == []
    assert world.posts["2"].state is HIDDEN and world.posts["2"].suspicion is None


def test_a_hidden_post_not_listed_since_it_was_hidden_waits_for_its_schedule() -> None:
    # Hidden from the feed (missing inside the window while its permalink answers):
    # the listing never shows it, so its absence there is no news.
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, "31"))
    world.feed(probe(1, "2", Outcome.OK))
    [event] = world.feed(probe(6, "2", Outcome.OK))
    assert (event.kind, world.posts["2"].state) == ("hidden", HIDDEN)
    world.feed(listing(8, "31"))
    assert world.posts["2"].next_check == at(10)
    world.feed(probe(10, "2", NF))  # deleted: found by the scheduled re-check
    assert world.posts["2"].state is SUSPECT
    world.feed(listing(12, "31"))
    [event] = world.feed(probe(15, "2", NF))
    assert (event.kind, event.first_seen_gone) == ("disappeared", at(10))


def test_a_hidden_post_is_not_hidden_again_when_the_account_is_limited_anew() -> None:
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, "31"))
    world.feed(probe(1, "2", Outcome.OK))
    world.feed(probe(6, "2", Outcome.OK))
    assert world.posts["2"].state is HIDDEN
    assert world.feed(listing(8, "31", signals=LIMITED)) == []
    assert world.posts["2"].state is HIDDEN and world.posts["2"].suspicion is None
    assert {world.posts[k].state for k in "13"} == {SUSPECT}
