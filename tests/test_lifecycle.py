"""The post state machine, table-driven, with no database.

Each case is a sequence of observations (listings and probes, with their
outcomes and signals) at injected times, applied to in-memory rows; after each
one the table says which events came out (kind, cause, post), which state each
post is in and when it is checked next. :class:`World` plays the store's part:
it hands out ids, keeps versions, and picks the posts a listing may affect the
way ``db.tracking.lock_listing_posts`` does.

Settings: a disappearance is confirmed by 2 consistent probes at least 5 min
apart; a suspect post is re-probed after 2 min; re-checks at 2, 5, 10, 30 and
60 min after first sight, then daily.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor import diff
from monitor.events import Event
from monitor.lifecycle import (
    SOURCES_KEY,
    Changes,
    Lifecycle,
    PostRow,
    PostState,
    Rules,
    Suspicion,
    TargetRow,
    window_start,
)
from monitor.observation import TRANSIENT, Observation, Outcome, PostContent
from monitor.schedule import PROBE_FAILURES

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
RULES = Rules(confirm_probes=2, confirm_spacing=300.0, confirm_retry=120.0, flap_versions=3,
              offsets=[120.0, 300.0, 600.0, 1800.0, 3600.0], horizon=30 * 86400.0,
              error_backoff_max=3600.0)
VISIBLE, SUSPECT, GONE, HIDDEN, UNSEEN = (PostState.VISIBLE, PostState.SUSPECT, PostState.GONE,
                                          PostState.HIDDEN, PostState.UNSEEN)
#: The account's three posts: key → (text, minutes before T0 it was published).
POSTS = {"3": ("third post", 1), "2": ("second post", 10), "1": ("first post", 20)}
EDITED = "second post, now edited"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class World:
    """One target and its posts in memory; the store's part played by hand."""

    def __init__(self, platform: str = "mastodon", kind: str = "account",
                 interval: float = 600.0) -> None:
        self.target = TargetRow(id=1, key=f"{platform}:alice", group_name="g",
                                platform=platform, kind=kind, value="alice",
                                base_url="https://ex.social", interval_s=interval)
        self._ids = itertools.count(100)
        self.posts: dict[str, PostRow] = {}
        self.contents: dict[int, diff.Normalised] = {}  # version id → content
        self.versions: dict[tuple[int, str], int] = {}  # (post id, hash) → version id
        self.last = Changes()
        if kind == "post":  # as sync_targets makes it: unseen, due at once
            self.posts["p"] = PostRow(id=next(self._ids), target_id=1, platform=platform,
                                      post_key="p", first_seen=T0, state=UNSEEN,
                                      state_since=T0, next_check=T0)

    def feed(self, obs: Observation) -> list[Event]:
        life = Lifecycle(RULES, lambda _table: next(self._ids), self._old_content)
        if obs.mode == "listing":
            affected = self._affected(obs)
            life.listing(self.target, affected, obs, lambda e: self._new_post(e, obs))
            self.posts.update(affected)
        else:
            assert obs.post_key is not None
            post = self.posts[obs.post_key]
            sources = post.known.get(SOURCES_KEY)
            for source in sources.values() if isinstance(sources, dict) else ():
                try:  # as lock_posts does: the newest reading's content, if it can
                    source["content"] = self.contents[source["recent"][0][1]].to_json()
                except (KeyError, IndexError, TypeError):
                    pass
            life.probe(self.target, post, obs)
        self._store(life.changes)
        self.last = life.changes
        return life.changes.events

    def version_count(self, key: str) -> int:
        return sum(1 for post_id, _ in self.versions if post_id == self.posts[key].id)

    def _affected(self, obs: Observation) -> dict[str, PostRow]:
        oldest = window_start(obs)
        keys = {e.key for e in obs.entries or []} | {t[0] for t in obs.tombstones}
        return {k: p for k, p in self.posts.items()
                if k in keys or p.state not in (VISIBLE, UNSEEN)
                or (oldest is not None and p.published_at is not None
                    and p.published_at >= oldest)}

    def _new_post(self, entry: PostContent, obs: Observation) -> PostRow:
        return PostRow(id=next(self._ids), target_id=1, platform=obs.platform,
                       post_key=entry.key, first_seen=obs.observed_at, state=UNSEEN,
                       state_since=obs.observed_at, url=entry.url,
                       probe_url=entry.probe_url, is_new=True)

    def _old_content(self, post_id: int) -> diff.Normalised | None:
        post = next(p for p in self.posts.values() if p.id == post_id)
        return self.contents.get(post.current_version_id or 0)

    def _store(self, changes: Changes) -> None:
        for v in changes.versions:
            self.contents[v.id] = diff.Normalised.from_json(v.content)
            self.versions[(v.post_id, v.content_hash)] = v.id
        by_id = {p.id: p for p in changes.posts}
        for post_id, content_hash in changes.revert_versions:
            by_id[post_id].current_version_id = self.versions[(post_id, content_hash)]
        for p in changes.posts:
            p.is_new = False
            sources = p.known.get(SOURCES_KEY)
            for source in sources.values() if isinstance(sources, dict) else ():
                if isinstance(source, dict):
                    source.pop("content", None)  # never stored


def entry(key: str, text: str | None = None) -> PostContent:
    default, minutes_old = POSTS[key]
    return PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                       probe_url=f"https://ex.social/api/v1/statuses/{key}",
                       text=text or default, author="alice",
                       published_at=T0 - timedelta(minutes=minutes_old))


def listing(minute: float, keys: str = "321", texts: dict[str, str] | None = None,
            outcome: Outcome = Outcome.OK, platform: str = "mastodon", **kw: Any) -> Observation:
    entries = [entry(k, (texts or {}).get(k)) for k in keys]
    return Observation(mode="listing", platform=platform, target_key=f"{platform}:alice",
                       url="alice", outcome=outcome, observed_at=at(minute),
                       entries=entries if outcome is Outcome.OK else None,
                       http_status=kw.pop("http_status", 200), **kw)


def probe(minute: float, key: str, outcome: Outcome, text: str | None = None,
          platform: str = "mastodon", **kw: Any) -> Observation:
    status = {Outcome.OK: 200, Outcome.NOT_FOUND: 404, Outcome.GONE: 410}.get(outcome)
    content = None
    if outcome is Outcome.OK:
        content = PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                              text=text or POSTS.get(key, ("a post", 0))[0], author="alice")
    return Observation(mode="probe", platform=platform, target_key=f"{platform}:alice",
                       url=f"https://ex.social/api/v1/statuses/{key}", outcome=outcome,
                       observed_at=at(minute), post_key=key, post=content,
                       http_status=kw.pop("http_status", status), **kw)


@dataclass
class Step:
    """One observation and what must hold after it."""

    obs: Observation
    #: Events it produced: (kind, cause, post key). Always checked.
    events: list[tuple[str, str | None, str]] = field(default_factory=list)
    states: dict[str, PostState] = field(default_factory=dict)
    #: Post key → minutes after T0 of its next check.
    next_check: dict[str, float] = field(default_factory=dict)
    #: Minutes after T0 of the target's next listing walk.
    next_due: float | None = None
    #: Post key → number of probes its suspicion holds.
    probes: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    name: str
    steps: list[Step]
    world: dict[str, Any] = field(default_factory=dict)


NF = Outcome.NOT_FOUND
ALL_VISIBLE = {"1": VISIBLE, "2": VISIBLE, "3": VISIBLE}
POST_TARGET = {"kind": "post", "interval": 3600.0}

CASES = [
    Case("first sight: visible, re-checks from first sight, listing every interval", [
        Step(listing(0), states=ALL_VISIBLE, next_check={"1": 2, "2": 2, "3": 2}, next_due=10,
             versions={"1": 1, "2": 1, "3": 1}, target={"error_streak": 0, "last_ok_at": T0}),
    ]),
    Case("an edit is one event and a new version; the schedule is kept", [
        Step(listing(0)),
        Step(listing(1, texts={"2": EDITED}), events=[("edited", None, "2")],
             states={"2": VISIBLE}, next_check={"2": 2}, versions={"2": 2}),
    ]),
    Case("flapping back to an earlier version is no new edit", [
        Step(listing(0)),
        Step(listing(1, texts={"2": EDITED}), events=[("edited", None, "2")]),
        Step(listing(2), versions={"2": 2}),
        Step(listing(3, texts={"2": EDITED}), states={"2": VISIBLE}, versions={"2": 2}),
    ]),
    Case("missing inside the window: suspect, confirmed by spaced probes, restored", [
        Step(listing(0)),
        Step(listing(1, "31"), states={"2": SUSPECT, "1": VISIBLE},
             next_check={"2": 1, "1": 2}),  # probe at once
        Step(probe(2, "2", NF), states={"2": SUSPECT}, probes={"2": 1},
             next_check={"2": 7}),  # the confirming probe waits for CONFIRM_SPACING
        Step(probe(4, "2", NF), states={"2": SUSPECT}, probes={"2": 2}, next_check={"2": 7}),
        Step(probe(7, "2", NF), events=[("disappeared", "ambiguous", "2")],
             states={"2": GONE}, next_check={"2": 10}),
        Step(listing(8), events=[("restored", None, "2")], states=ALL_VISIBLE),
    ]),
    Case("one success lifts the suspicion: the count starts over", [
        Step(probe(0, "p", Outcome.OK), states={"p": VISIBLE}, next_check={"p": 2}),
        Step(probe(2, "p", NF), states={"p": SUSPECT}, next_check={"p": 7}),
        Step(probe(7, "p", Outcome.OK), states={"p": VISIBLE}, next_check={"p": 10}),
        Step(probe(10, "p", NF), states={"p": SUSPECT}, probes={"p": 1}),
        # Spanning 2 min since the new suspicion, 10 min since the lifted one.
        Step(probe(12, "p", NF), states={"p": SUSPECT}, probes={"p": 2}, next_check={"p": 15}),
        Step(probe(15, "p", NF), events=[("disappeared", "ambiguous", "p")], states={"p": GONE}),
        Step(probe(20, "p", Outcome.OK), events=[("restored", None, "p")],
             states={"p": VISIBLE}),
    ], world=POST_TARGET),
    Case("a probe whose second signal failed is recorded and never decides", [
        Step(probe(0, "p", Outcome.OK)),
        Step(probe(2, "p", NF, signals={"followup_failed": True}), states={"p": SUSPECT}),
        Step(probe(8, "p", NF, signals={"followup_failed": True}), states={"p": SUSPECT},
             probes={"p": 2}),
        Step(probe(30, "p", NF, signals={"followup_failed": True}), states={"p": SUSPECT}),
        Step(probe(31, "p", NF), events=[("disappeared", "ambiguous", "p")]),
    ], world=POST_TARGET),
    Case("a tombstone signed by the author", [
        Step(listing(0, platform="rss")),
        Step(listing(1, "31", platform="rss",
                     tombstones=[("2", {"tombstone_by": "Alice"}, "typo")]),
             states={"2": SUSPECT}, next_check={"2": 1}),
        Step(probe(2, "2", NF, platform="rss"), next_check={"2": 7}),
        Step(probe(7, "2", NF, platform="rss"),
             events=[("disappeared", "deleted_by_author", "2")], states={"2": GONE}),
    ], world={"platform": "rss", "kind": "feed"}),
    Case("a tombstone signed by someone else", [
        Step(listing(0, platform="rss")),
        Step(listing(1, "31", platform="rss", tombstones=[("2", {"tombstone_by": "mod"}, "")]),
             states={"2": SUSPECT}),
        Step(probe(2, "2", NF, platform="rss")),
        Step(probe(7, "2", NF, platform="rss"),
             events=[("disappeared", "removed_by_moderator", "2")]),
    ], world={"platform": "rss", "kind": "feed"}),
    Case("a suspended account makes every post suspect; its profile decides", [
        Step(listing(0)),
        Step(listing(1, "", signals={"account_state": "suspended", "listing_end": True}),
             states={"1": SUSPECT, "2": SUSPECT, "3": SUSPECT},
             next_check={"1": 1, "2": 1, "3": 1}, target={"account_state": "suspended"}),
        Step(probe(2, "2", NF, signals={"account_state": "suspended_temporary"})),
        Step(probe(7, "2", NF, signals={"account_state": "suspended_temporary"}),
             events=[("disappeared", "account_suspended", "2")], states={"2": GONE}),
    ]),
    Case("missing from outside the window: rotated out, no signal", [
        Step(listing(0)),
        Step(listing(1, "32"), states=ALL_VISIBLE, next_check={"1": 2}),
        Step(listing(2, "3"), states=ALL_VISIBLE),
    ]),
    Case("the end of the timeline vouches for every older post", [
        Step(listing(0)),
        Step(listing(1, "3", signals={"listing_end": True}),
             states={"1": SUSPECT, "2": SUSPECT, "3": VISIBLE}),
    ]),
    Case("an entry skipped by key vouches for its post", [
        Step(listing(0)),
        Step(listing(1, "31", signals={"skipped_entries": 1, "skipped_keys": ["2"]}),
             states=ALL_VISIBLE),
        Step(listing(2, "31"), states={"2": SUSPECT}),  # not skipped now: a real absence
    ]),
    Case("an entry skipped without a key vouches for no absence at all", [
        Step(listing(0)),
        Step(listing(1, "31", signals={"skipped_entries": 2, "skipped_keys": ["9"]}),
             states=ALL_VISIBLE),
    ]),
    Case("a limited account: hidden after spaced probes, restored when lifted", [
        Step(listing(0)),
        Step(listing(1, signals={"account_state": "limited"}),
             states={"1": SUSPECT, "2": SUSPECT, "3": SUSPECT}, next_check={"2": 1}),
        Step(probe(2, "2", Outcome.OK), states={"2": SUSPECT}, probes={"2": 1},
             next_check={"2": 7}),
        Step(probe(7, "2", Outcome.OK), events=[("hidden", "hidden_from_feed", "2")],
             states={"2": HIDDEN}),
        Step(listing(10, signals={"account_state": "limited"}),
             states={"2": HIDDEN, "1": SUSPECT}),  # still limited: listing proves nothing
        Step(listing(20, signals={"account_state": "normal"}),
             events=[("restored", None, "2")], states=ALL_VISIBLE),
    ]),
    Case("a listing absent on its first check is the user's error, later a signal", [
        Step(listing(0, outcome=NF, http_status=404), next_due=2, target={
            "error_streak": 1, "last_ok_at": None,
            "last_error": "the account 'alice' answered HTTP 404 on its first check: "
                          "check its name and base_url"}),
        Step(listing(2), states=ALL_VISIBLE, next_due=12,
             target={"error_streak": 0, "last_error": None}),
        Step(listing(12, outcome=NF, http_status=404),
             states={"1": SUSPECT, "2": SUSPECT, "3": SUSPECT}, next_check={"2": 12},
             next_due=22, target={"error_streak": 0}),
    ]),
    Case("a post target never seen: a 404 is no disappearance", [
        Step(probe(0, "p", NF), states={"p": UNSEEN}, next_check={"p": 2}),
        Step(probe(2, "p", Outcome.OK), states={"p": VISIBLE}, next_check={"p": 5}),
    ], world=POST_TARGET),
    Case("transient probe failures back off, never past the scheduled re-check", [
        Step(listing(0)),
        Step(probe(2, "2", Outcome.TIMEOUT), next_check={"2": 4}),
        Step(probe(4, "2", Outcome.TIMEOUT), next_check={"2": 5}),  # capped: 4 min > 1 min
        Step(probe(5, "2", Outcome.TIMEOUT), next_check={"2": 10}),  # 8 min > 5 min
        Step(probe(10, "2", Outcome.OK), states={"2": VISIBLE}, next_check={"2": 30}),
        Step(probe(30, "2", Outcome.RATE_LIMITED, signals={"retry_after": 7200}),
             next_check={"2": 150}),  # the server asked for longer
    ]),
    Case("a probe's suspicion is not probed again at once by the next listing", [
        Step(listing(0)),
        Step(probe(3, "1", NF), states={"1": SUSPECT}, next_check={"1": 8}),
        # "1" is outside this listing's window: nothing new about it.
        Step(listing(4, "32"), states={"1": SUSPECT}, next_check={"1": 8}, probes={"1": 1}),
    ]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sequence(case: Case) -> None:
    world = World(**case.world)
    for i, step in enumerate(case.steps):
        where = f"step {i} ({step.obs.mode} at {step.obs.observed_at:%H:%M})"
        events = world.feed(step.obs)
        assert [(e.kind, e.cause, e.post_key) for e in events] == step.events, where
        for key, state in step.states.items():
            assert world.posts[key].state is state, f"{where}: post {key}"
        for key, minute in step.next_check.items():
            assert world.posts[key].next_check == at(minute), f"{where}: post {key}"
        if step.next_due is not None:
            assert world.target.next_due == at(step.next_due), where
        for key, n in step.probes.items():
            suspicion = world.posts[key].suspicion
            assert suspicion is not None and len(suspicion.probes) == n, f"{where}: post {key}"
        for key, n in step.versions.items():
            assert world.version_count(key) == n, f"{where}: post {key}"
        for name, value in step.target.items():
            assert getattr(world.target, name) == value, f"{where}: target.{name}"


def test_a_confirmed_disappearance_carries_its_bounds_and_probes() -> None:
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, "31"))
    world.feed(probe(2, "2", NF))
    [event] = world.feed(probe(7, "2", NF))
    assert (event.last_seen_visible, event.first_seen_gone) == (at(0), at(2))
    assert event.candidates == ["deleted_by_author", "removed_by_moderator"]
    suspicion = event.evidence["suspicion"]
    assert set(suspicion) == {"reason", "kind", "since", "context", "probes"}
    assert (suspicion["reason"], suspicion["kind"]) == ("probe_absent", "absence")
    assert [p["at"] for p in suspicion["probes"]] == [at(2).isoformat(), at(7).isoformat()]
    assert world.posts["2"].suspicion is None


def test_a_flap_makes_the_earlier_version_current_again() -> None:
    world = World()
    world.feed(listing(0))
    first = world.posts["2"].current_version_id
    world.feed(listing(1, texts={"2": EDITED}))
    assert world.posts["2"].current_version_id != first
    world.feed(listing(2))
    assert world.posts["2"].current_version_id == first


@pytest.mark.parametrize("outcome", sorted(TRANSIENT), ids=str)
def test_transient_outcomes_change_nothing(outcome: Outcome) -> None:
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, "31"))  # "2" suspect
    world.feed(probe(2, "2", NF))
    before = {k: (p.state, p.current_version_id, p.last_visible_at)
              for k, p in world.posts.items()}
    assert world.feed(probe(8, "2", outcome)) == []
    assert world.feed(probe(9, "3", outcome)) == []
    assert world.feed(listing(10, outcome=outcome, http_status=None)) == []
    after = {k: (p.state, p.current_version_id, p.last_visible_at)
             for k, p in world.posts.items()}
    assert after == before
    suspicion = world.posts["2"].suspicion
    assert suspicion is not None and len(suspicion.probes) == 1
    assert world.posts["2"].known[PROBE_FAILURES] == 1
    assert (world.target.error_streak, world.target.last_ok_at) == (1, at(1))


def test_a_suspect_row_without_its_suspicion_starts_one() -> None:
    """Old code: an AssertionError that failed the whole batch."""
    world = World(**POST_TARGET)
    world.feed(probe(0, "p", Outcome.OK))
    world.posts["p"].state = SUSPECT
    assert world.feed(probe(2, "p", NF)) == []
    suspicion = world.posts["p"].suspicion
    assert suspicion is not None
    assert (suspicion.reason, suspicion.kind, suspicion.since) == ("probe_absent", "absence",
                                                                   at(2))
    assert len(suspicion.probes) == 1


# --- the stored suspicion ---------------------------------------------------------

def test_a_suspicion_is_stored_without_any_transient_flag() -> None:
    """Old code stored ``"fresh": True`` with every suspicion a probe raised."""
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, "31"))
    world.feed(probe(2, "1", NF))
    for key in ("1", "2"):
        suspicion = world.posts[key].suspicion
        assert suspicion is not None
        assert set(suspicion.to_json()) == {"reason", "kind", "since", "context", "probes"}


def test_a_suspicion_stored_by_an_older_version_is_read() -> None:
    stored = {"reason": "missing_from_listing", "kind": "hiding", "since": at(1).isoformat(),
              "context": {"account_state": "limited"},
              "probes": [{"at": at(2).isoformat(), "outcome": "ok"}], "fresh": True}
    suspicion = Suspicion.from_json(stored)
    assert suspicion == Suspicion("missing_from_listing", "hiding", at(1),
                                  {"account_state": "limited"}, stored["probes"])
    assert suspicion.to_json() == {k: v for k, v in stored.items() if k != "fresh"}
    assert Suspicion.from_json({"reason": "tombstone", "kind": "absence",
                                "since": at(0).isoformat()}).probes == []


@pytest.mark.parametrize("stored", [
    {"kind": "absence", "since": "2026-08-01T12:00:00+00:00"},
    {"reason": "tombstone", "kind": "vanished", "since": "2026-08-01T12:00:00+00:00"},
])
def test_a_damaged_stored_suspicion_is_an_error_that_says_what_to_do(stored: dict[str, Any]
                                                                     ) -> None:
    with pytest.raises(ValueError, match="stored suspicion .* clear posts.suspicion"):
        Suspicion.from_json(stored)


def test_post_states_keep_their_stored_values() -> None:
    assert [s.value for s in PostState] == ["unseen", "visible", "suspect", "gone", "hidden"]
    assert PostState("suspect") is SUSPECT and SUSPECT == "suspect"


def test_a_cause_waits_for_three_failed_listing_reads_not_for_three_intervals() -> None:
    """A failing listing backs off beyond its interval; the cause must still wait for
    the reads that may bring a tombstone or the account's state, however long they
    take (a time limit decided 'ambiguous' after a single failed read)."""
    world = World()
    world.feed(listing(0))
    assert world.feed(probe(3, "2", Outcome.NOT_FOUND)) == []
    assert world.posts["2"].state is SUSPECT
    world.feed(listing(12, outcome=Outcome.TIMEOUT))  # 1 failed read since the suspicion
    # Consistent probes, 5 min apart and far beyond three intervals (30 min): not yet.
    assert world.feed(probe(20, "2", Outcome.NOT_FOUND)) == []
    assert world.feed(probe(45, "2", Outcome.NOT_FOUND)) == []
    world.feed(listing(50, outcome=Outcome.SERVER_ERROR))
    assert world.feed(probe(55, "2", Outcome.NOT_FOUND)) == []
    world.feed(listing(70, outcome=Outcome.TIMEOUT))  # the third failed read in a row
    (event,) = world.feed(probe(75, "2", Outcome.NOT_FOUND))
    assert (event.kind, event.cause) == ("disappeared", "ambiguous")


def test_listing_failures_before_the_suspicion_are_not_its_tries() -> None:
    """Two failed reads before the post went missing and one after are not three tries
    for its cause: the listing that may carry its tombstone is waited for (seen as a
    moderator's removal reported 'ambiguous' under 30% faults)."""
    world = World()
    world.feed(listing(0))
    world.feed(listing(1, outcome=Outcome.TIMEOUT))
    world.feed(listing(2, outcome=Outcome.SERVER_ERROR))
    assert world.feed(probe(3, "2", Outcome.NOT_FOUND)) == []
    world.feed(listing(12, outcome=Outcome.TIMEOUT))  # the first failed read since
    assert world.feed(probe(20, "2", Outcome.NOT_FOUND)) == []
    world.feed(listing(30, outcome=Outcome.TIMEOUT))
    assert world.feed(probe(35, "2", Outcome.NOT_FOUND)) == []
    world.feed(listing(40, outcome=Outcome.TIMEOUT))  # the third since: decided now
    (event,) = world.feed(probe(45, "2", Outcome.NOT_FOUND))
    assert (event.kind, event.cause) == ("disappeared", "ambiguous")


def test_a_listing_read_after_the_suspicion_lets_the_cause_be_decided() -> None:
    world = World()
    world.feed(listing(0))
    world.feed(probe(3, "2", Outcome.NOT_FOUND))
    world.feed(listing(5, keys="31", signals={"account_state": "normal"}))
    (event,) = world.feed(probe(9, "2", Outcome.NOT_FOUND))
    assert event.kind == "disappeared"


# --- another content source: a feed entry's article page -----------------------------

ARTICLE = ("The full article behind the second post, with the whole story told in many more "
           "words than the feed's summary ever had room for.")
ARTICLE_FIXED = ARTICLE.replace("many more", "many, many more")
ARTICLE_REDACTED = "The full article behind the second post, [removed]."
FEED = {"platform": "rss", "kind": "feed"}


def article(minute: float, text: str, key: str = "2") -> Observation:
    """A probe that read the entry's article page (``content_source = article``)."""
    content = PostContent(key=key, url=f"https://ex.social/@alice/{key}", title="Second",
                          text=text, extra={diff.SOURCE_FIELD: "article"})
    return Observation(mode="probe", platform="rss", target_key="rss:alice",
                       url=f"https://ex.social/@alice/{key}", outcome=Outcome.OK,
                       observed_at=at(minute), post_key=key, post=content, http_status=200)


def rss_listing(minute: float, texts: dict[str, str] | None = None) -> Observation:
    return listing(minute, texts=texts, platform="rss")


ARTICLE_CASES = [
    Case("the first article reading is its baseline, though its text is not the entry's", [
        Step(rss_listing(0), versions={"2": 1}),
        Step(article(1, ARTICLE), states={"2": VISIBLE}, versions={"2": 2}),
        Step(article(2, ARTICLE), versions={"2": 2}),  # read again: nothing new
        Step(rss_listing(3), versions={"2": 2}),  # the entry again: not compared with it
    ], FEED),
    Case("an article edit is one edited event and one new version", [
        Step(rss_listing(0)),
        Step(article(1, ARTICLE)),
        Step(article(2, ARTICLE_REDACTED), events=[("edited", None, "2")], versions={"2": 3}),
        Step(rss_listing(3), versions={"2": 3}),
    ], FEED),
    Case("an article flapping back to an earlier reading is no new edit", [
        Step(rss_listing(0)),
        Step(article(1, ARTICLE)),
        Step(article(2, ARTICLE_FIXED), events=[("edited", None, "2")]),
        Step(article(3, ARTICLE), versions={"2": 3}),
        Step(article(4, ARTICLE_FIXED), versions={"2": 3}),
    ], FEED),
    Case("an entry edit in the feed is compared with the entry, not with the article", [
        Step(rss_listing(0)),
        Step(article(1, ARTICLE)),
        Step(rss_listing(2, texts={"2": EDITED}), events=[("edited", None, "2")],
             versions={"2": 3}),
        Step(article(3, ARTICLE), versions={"2": 3}),
    ], FEED),
    Case("an article that cannot be probed changes nothing of its readings", [
        Step(rss_listing(0)),
        Step(article(1, ARTICLE)),
        Step(probe(2, "2", Outcome.TIMEOUT, platform="rss"), states={"2": VISIBLE}),
        Step(article(3, ARTICLE), versions={"2": 2}),
    ], FEED),
]


@pytest.mark.parametrize("case", ARTICLE_CASES, ids=[c.name for c in ARTICLE_CASES])
def test_article_sequence(case: Case) -> None:
    test_sequence(case)


def test_an_article_edit_names_its_source_and_both_versions() -> None:
    world = World(**FEED)
    world.feed(rss_listing(0))
    entry_version = world.posts["2"].current_version_id
    world.feed(article(1, ARTICLE))
    (before,) = world.last.versions
    [event] = world.feed(article(2, ARTICLE_REDACTED))
    (after,) = world.last.versions
    assert event.version_id == after.id and after.content["source"] == "article"
    assert event.edit is not None
    assert (event.edit["source"], event.edit["previous_version"]) == ("article", before.id)
    assert "text_removed" in event.edit["classes"]
    assert "[-many more words-]" not in event.edit["rendered"]  # diffed with the article,
    assert "[-The-]" not in event.edit["rendered"]  # not with the entry's "second post"
    assert world.posts["2"].current_version_id == entry_version  # the entry's stays current
    (write,) = world.last.observations
    assert write.version_id == after.id  # the probe's row holds what it read


def test_known_keeps_hashes_and_version_ids_not_the_article() -> None:
    world = World(**FEED)
    world.feed(rss_listing(0))
    long_text = " ".join(f"word{i}" for i in range(40_000))
    for minute, text in enumerate([long_text, long_text + " more", long_text + " most"], 1):
        world.feed(article(minute, text))
    readings = world.posts["2"].known[SOURCES_KEY]["article"]
    assert set(readings) == {"recent"}
    articles = sorted((v for (p, _), v in world.versions.items() if p == world.posts["2"].id
                       and world.contents[v].source == "article"), reverse=True)
    assert len(articles) == 3
    assert [v for _, v in readings["recent"]] == articles  # newest first
    assert len(repr(world.posts["2"].known)) < 400


def test_the_article_is_the_baseline_again_when_its_version_cannot_be_read() -> None:
    world = World(**FEED)
    world.feed(rss_listing(0))
    world.feed(article(1, ARTICLE))
    world.contents.clear()  # the store found no content for the last reading
    assert world.feed(article(2, ARTICLE_REDACTED)) == []
    assert world.feed(article(3, ARTICLE)) == []  # still one of the recent readings


@pytest.mark.parametrize("stored", [None, "junk", {"article": "junk"},
                                    {"article": {"recent": [["h", "not an id"], 7, []]}}])
def test_damaged_readings_are_a_fresh_baseline(stored: Any) -> None:
    world = World(**FEED)
    world.feed(rss_listing(0))
    world.posts["2"].known[SOURCES_KEY] = stored
    assert world.feed(article(1, ARTICLE)) == []
    assert world.feed(article(2, ARTICLE_REDACTED))[0].kind == "edited"


def test_a_post_targets_article_is_its_own_content_and_compared_with_its_versions() -> None:
    world = World(**POST_TARGET)
    world.feed(article(0, ARTICLE, key="p"))
    [event] = world.feed(article(1, ARTICLE_REDACTED, key="p"))
    assert event.edit is not None and "source" not in event.edit
    assert world.posts["p"].current_version_id == event.version_id
    assert SOURCES_KEY not in world.posts["p"].known


def test_two_article_readings_in_one_batch_are_compared_with_each_other() -> None:
    world = World(**FEED)
    world.feed(rss_listing(0))
    world.feed(article(1, ARTICLE))
    life = Lifecycle(RULES, lambda _table: next(world._ids), world._old_content)
    post = world.posts["2"]
    for source in post.known[SOURCES_KEY].values():  # as lock_posts does
        source["content"] = world.contents[source["recent"][0][1]].to_json()
    life.probe(world.target, post, article(2, ARTICLE_FIXED))
    life.probe(world.target, post, article(3, ARTICLE_REDACTED))  # the same batch
    baseline = post.known[SOURCES_KEY]["article"]["recent"][-1][1]
    fixed, redacted = (v.id for v in life.changes.versions)
    edits = [e.edit or {} for e in life.changes.events]
    assert [e["previous_version"] for e in edits] == [baseline, fixed]
    assert [e.version_id for e in life.changes.events] == [fixed, redacted]
    assert "text_removed" in edits[1]["classes"]
