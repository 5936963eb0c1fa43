"""A notice a platform also serves for an expired or missing access token (RedNote's
"当前笔记暂时无法浏览", ``unavailable_generic``) is absence only when the listing backs it.

Table-driven on in-memory rows (no database), then through PostgreSQL: the store
sharing a listing's token with a lone note target, a fresh URL, ``takedown status``
and the metrics, and once through the Worker with tokens that expire in two minutes.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from prometheus_client import CollectorRegistry
from test_token import NOTE, OTHER, SETTINGS, T0, World, at, note

from monitor.clock import ManualClock
from monitor.db import Database, claims, queries, tracking
from monitor.metrics import Metrics
from monitor.observation import Observation, Outcome, PostContent
from monitor.platforms import PLATFORMS
from monitor.query import format_attention, format_status, target_state
from monitor.rows import PostState
from monitor.snapshot import Recorder
from monitor.tokens import ATTENTION, TOKEN_AT, TOKEN_WAIT, token_ambiguous
from monitor.watchlist import Target
from monitor.worker import Worker

GENERIC = {"notice": "unavailable_generic", "error_code": "300031"}
VIOLATION = {"notice": "removed_violation"}
DELETED = {"notice": "deleted"}
OLD = "66a00000000000000000aaaa"  # published before NOTE: a listing of it vouches for NOTE


def old() -> PostContent:
    entry = note(OLD, token="tok-old")
    entry.published_at = T0 - timedelta(hours=2)
    return entry


def test_a_single_note_with_an_expired_token_never_disappears() -> None:
    """The defect of issue 9: two generic 300031 pages confirmed a disappearance."""
    world = World(kind="post")
    world.probe(0, Outcome.OK, post=note())
    events = world.probe(2, Outcome.UNAVAILABLE, signals=GENERIC)
    events += world.probe(8, Outcome.UNAVAILABLE, signals=GENERIC)
    events += world.probe(20, Outcome.UNAVAILABLE, signals=GENERIC)
    assert events == []
    assert world.posts[NOTE].state.value == "visible"


def test_rednote_declares_only_the_generic_notice_token_ambiguous() -> None:
    assert PLATFORMS["rednote"].token_notices == frozenset({"unavailable_generic"})
    assert PLATFORMS["mastodon"].token_notices == frozenset()

    def obs(outcome: Outcome, notice: str, platform: str = "rednote") -> Observation:
        return Observation(mode="probe", platform=platform, target_key="k", url="u",
                           outcome=outcome, signals={"notice": notice})

    assert token_ambiguous(obs(Outcome.UNAVAILABLE, "unavailable_generic"))
    for specific in ("removed_violation", "deleted", "private", "under_review"):
        assert not token_ambiguous(obs(Outcome.UNAVAILABLE, specific)), specific
    assert not token_ambiguous(obs(Outcome.UNAVAILABLE, "unavailable_generic", "mastodon"))
    assert not token_ambiguous(obs(Outcome.TIMEOUT, "unavailable_generic"))


# --- an account target: the listing decides what a generic notice means -----------------

# Steps: ("listing", minute, entries | Outcome) or ("probe", minute, outcome, signals).
# Expected after all steps: (events as (kind, cause), the note's state, waiting for a token).
Step = tuple[Any, ...]
ACCOUNT: dict[str, tuple[list[Step], tuple[list[tuple[str, str | None]], str, bool]]] = {
    "still listed: a generic notice is a token problem, forever": (
        [("probe", 2, Outcome.UNAVAILABLE, GENERIC), ("probe", 8, Outcome.UNAVAILABLE, GENERIC),
         ("listing", 10, [note(token="tok-2"), note(OTHER), old()]),
         ("probe", 10, Outcome.UNAVAILABLE, GENERIC), ("probe", 20, Outcome.UNAVAILABLE, GENERIC),
         ("probe", 40, Outcome.UNAVAILABLE, GENERIC)],
        ([], "visible", True)),
    "rotated out of the window: a generic notice says nothing": (
        [("listing", 10, [note(OTHER)]), ("probe", 12, Outcome.UNAVAILABLE, GENERIC),
         ("probe", 20, Outcome.UNAVAILABLE, GENERIC), ("listing", 20, [note(OTHER)]),
         ("probe", 30, Outcome.UNAVAILABLE, GENERIC), ("probe", 60, Outcome.UNAVAILABLE, GENERIC)],
        ([], "visible", True)),
    "missing from inside the window, generic with the listing's token: ambiguous": (
        [("listing", 10, [note(OTHER), old()]), ("probe", 10, Outcome.UNAVAILABLE, GENERIC),
         ("probe", 15, Outcome.UNAVAILABLE, GENERIC)],
        ([("disappeared", "ambiguous")], "gone", False)),
    "missing from inside the window, the words decide: 因违规": (
        [("listing", 10, [note(OTHER), old()]), ("probe", 10, Outcome.UNAVAILABLE, GENERIC),
         ("probe", 15, Outcome.UNAVAILABLE, VIOLATION)],
        ([("disappeared", "removed_by_platform")], "gone", False)),
    "missing from inside the window, but the token expired: no event": (
        [("listing", 10, [note(OTHER), old()]), ("probe", 10, Outcome.TOKEN_EXPIRED, {}),
         ("probe", 15, Outcome.TOKEN_EXPIRED, {}), ("probe", 40, Outcome.TOKEN_EXPIRED, {})],
        ([], "suspect", True)),
    "the account's profile itself gone: generic pages confirm, ambiguous": (
        [("listing", 10, Outcome.NOT_FOUND), ("probe", 11, Outcome.UNAVAILABLE, GENERIC),
         ("probe", 16, Outcome.UNAVAILABLE, GENERIC)],
        ([("disappeared", "ambiguous")], "gone", False)),
    "listed again after a generic page: no suspicion left": (
        [("listing", 10, [note(OTHER), old()]), ("probe", 10, Outcome.UNAVAILABLE, GENERIC),
         ("listing", 12, [note(token="tok-3"), note(OTHER), old()]),
         ("probe", 17, Outcome.UNAVAILABLE, GENERIC)],
        ([], "visible", True)),
    # Specific notices are not token-ambiguous: they count as absence as before.
    "still listed: a specific notice waits for the listing to be read again": (
        [("probe", 2, Outcome.UNAVAILABLE, VIOLATION), ("probe", 8, Outcome.UNAVAILABLE, VIOLATION),
         ("listing", 10, [note(token="tok-2"), note(OTHER), old()])],
        ([], "visible", False)),
    "still listed: a 404 also waits for the listing to be read again": (
        [("probe", 2, Outcome.NOT_FOUND, {}), ("probe", 8, Outcome.NOT_FOUND, {}),
         ("listing", 10, [note(token="tok-2"), note(OTHER), old()])],
        ([], "visible", False)),
    "a specific notice, then the listing without the note: 因违规": (
        [("probe", 2, Outcome.UNAVAILABLE, VIOLATION), ("probe", 8, Outcome.UNAVAILABLE, VIOLATION),
         ("listing", 10, [note(OTHER), old()]), ("probe", 11, Outcome.UNAVAILABLE, VIOLATION)],
        ([("disappeared", "removed_by_platform")], "gone", False)),
    "a specific notice, then a generic one: the generic one is no confirmation": (
        [("probe", 2, Outcome.UNAVAILABLE, DELETED), ("listing", 3, [note(OTHER)]),
         ("probe", 8, Outcome.UNAVAILABLE, GENERIC), ("probe", 9, Outcome.UNAVAILABLE, GENERIC)],
        ([], "suspect", True)),
}


class AccountWorld(World):
    def absent_listing(self, minutes: float, outcome: Outcome) -> None:
        obs = Observation(mode="listing", platform=self.platform, target_key=self.target.key,
                          url="u", outcome=outcome, observed_at=at(minutes))
        self._life().listing(self.target, self.posts, obs, self._new_post)


@pytest.mark.parametrize("name", list(ACCOUNT))
def test_a_generic_notice_counts_as_absence_only_when_the_listing_says_gone(name: str) -> None:
    steps, (events, state, waiting) = ACCOUNT[name]
    world = AccountWorld()
    world.listing(0, note(), note(OTHER), old())
    world.target.next_due = at(10)
    got: list[tuple[str, str | None]] = []
    for step in steps:
        if step[0] == "listing":
            if isinstance(step[2], Outcome):
                world.absent_listing(step[1], step[2])
            else:
                world.listing(step[1], *step[2])
            world.target.next_due = at(step[1] + 10)
        else:
            got += [(e.kind, e.cause) for e in world.probe(step[1], step[2], signals=step[3])]
    row = world.posts[NOTE]
    assert (got, row.state.value, TOKEN_WAIT in row.known) == (events, state, waiting)
    assert ATTENTION not in row.known  # an account's posts never need the user


def test_the_generic_verdict_keeps_the_evidence_of_the_listing() -> None:
    world = AccountWorld()
    world.listing(0, note(), note(OTHER), old())
    world.listing(10, note(OTHER), old())
    world.probe(10, Outcome.UNAVAILABLE, signals=GENERIC)
    (event,) = world.probe(15, Outcome.UNAVAILABLE, signals=GENERIC)
    assert event.candidates  # ambiguous: who removed it is not said
    assert event.evidence["suspicion"]["context"]["unlisted"] == "missing_from_listing"


def test_a_missing_token_never_confirms_a_generic_notice() -> None:
    """A listing that handed the note no token: its probes go without one."""
    world = AccountWorld()
    world.listing(0, note(token=None), note(OTHER), old())
    world.listing(10, note(OTHER), old())
    events = [e for m in (10, 15, 30) for e in world.probe(m, Outcome.UNAVAILABLE,
                                                            signals=GENERIC)]
    assert events == [] and TOKEN_WAIT in world.posts[NOTE].known


def test_a_probe_that_ran_while_the_listing_refreshed_its_token_goes_again_at_once() -> None:
    """Claimed before the listing ran, it used the token before: no need to wait."""
    world = World()
    world.listing(0, note(), note(OTHER))
    world.target.next_due = at(10)
    world.listing(10, note(token="tok-2"), note(OTHER))
    world.target.next_due = at(20)
    assert world.probe(10, Outcome.UNAVAILABLE, signals=GENERIC) == []
    row = world.posts[NOTE]
    assert row.next_check == at(10) and TOKEN_WAIT not in row.known
    world.probe(11, Outcome.UNAVAILABLE, signals=GENERIC)  # this one had the fresh token
    assert row.next_check == at(20 + 10) and TOKEN_WAIT in row.known


# --- a note watched alone: no listing refreshes its token --------------------------------

# (minute, outcome, signals, listing token shared before it) → (attention, waiting)
SINGLE: dict[str, list[tuple[tuple[float, Outcome, dict[str, Any], bool], tuple[bool, bool]]]] = {
    "a generic page needs attention, a read clears it": [
        ((2, Outcome.UNAVAILABLE, GENERIC, False), (True, False)),
        ((8, Outcome.UNAVAILABLE, GENERIC, False), (True, False)),
        ((30, Outcome.OK, {}, False), (False, False)),
    ],
    "an expired token needs attention": [
        ((2, Outcome.TOKEN_EXPIRED, {}, False), (True, False)),
        ((9, Outcome.TIMEOUT, {}, False), (True, False)),  # nothing read: still needed
    ],
    "a listing's token: wait once, then attention if none comes": [
        ((2, Outcome.UNAVAILABLE, GENERIC, True), (False, True)),
        ((12, Outcome.UNAVAILABLE, GENERIC, False), (True, True)),
    ],
    "a listing's token each time: never attention": [
        ((2, Outcome.UNAVAILABLE, GENERIC, True), (False, True)),
        ((12, Outcome.TOKEN_EXPIRED, {}, True), (False, True)),
        ((22, Outcome.OK, {}, True), (False, False)),
    ],
    "a specific notice needs no attention": [
        ((2, Outcome.UNAVAILABLE, VIOLATION, False), (False, False)),
    ],
}


@pytest.mark.parametrize("name", list(SINGLE))
def test_a_single_note_needs_attention_never_an_event(name: str) -> None:
    world = World(kind="post")
    world.probe(0, Outcome.OK, post=note())
    for (minute, outcome, signals, shared), (attention, waiting) in SINGLE[name]:
        row = world.posts[NOTE]
        if shared:  # what the store does when a watched listing carries the note
            row.known.update({"xsec_token": f"tok-{minute}", TOKEN_AT: at(minute - 1).isoformat()})
            row.known.pop(TOKEN_WAIT, None)
        post = note(token=None) if outcome is Outcome.OK else None
        events = world.probe(minute, outcome, post=post, signals=signals)
        assert [e.kind for e in events] == [], "a token never makes an event"
        assert (ATTENTION in row.known, TOKEN_WAIT in row.known) == (attention, waiting), minute


def test_a_single_note_still_disappears_on_specific_notices() -> None:
    world = World(kind="post")
    world.probe(0, Outcome.OK, post=note())
    world.probe(2, Outcome.UNAVAILABLE, signals=GENERIC)
    assert world.probe(3, Outcome.UNAVAILABLE, signals=VIOLATION) == []
    (event,) = world.probe(9, Outcome.UNAVAILABLE, signals=VIOLATION)
    assert (event.kind, event.cause) == ("disappeared", "removed_by_platform")
    assert world.posts[NOTE].state is PostState.GONE
    assert ATTENTION not in world.posts[NOTE].known


def test_attention_reads_as_a_state_and_a_note_in_status() -> None:
    row = {"group_name": "g", "key": "rednote:post:x", "active": True, "error_streak": 0,
           "last_checked_at": T0, "last_ok_at": T0, "next_due": None, "posts": 1, "gone": 0,
           "hidden": 0, "last_error": None, "account_state": None, "attention": "token_expired"}
    assert target_state(row) == "attention"
    assert "attention" in format_status([row]).splitlines()[1].split()
    assert format_attention([row, {**row, "key": "k2", "attention": None}]) == (
        "attention: rednote:post:x: token expired: add the author's profile or a fresh URL\n")
    assert target_state({**row, "attention": None}) == "ok"
    assert format_attention([{**row, "active": False}]) == ""



# --- through PostgreSQL -----------------------------------------------------------------

USER = "5c315a550000000006031475"
LONE_URL = f"https://www.xiaohongshu.com/explore/{NOTE}?xsec_token=url-tok&xsec_source=pc_feed"


def _targets(*extra: tuple[str, str]) -> list[Target]:
    return [Target(group="g", platform="rednote", kind=kind, value=value, base_url=None,
                   interval=600.0, tags=()) for kind, value in extra]


class Store:
    """A database with RedNote targets, recording observations as the worker would."""

    def __init__(self, db: Database) -> None:
        self.db, self.tracking = db, tracking
        self.recorder = Recorder(db, SETTINGS)

    def sync(self, *targets: tuple[str, str]) -> None:
        with self.db.transaction() as conn:
            self.tracking.sync_targets(conn, _targets(*targets), 600)

    def target(self, kind: str) -> dict[str, Any]:
        with self.db.transaction() as conn:
            return dict(conn.execute("SELECT id, key FROM targets WHERE kind = %s",
                                     (kind,)).fetchone())

    def post(self, kind: str) -> dict[str, Any]:
        with self.db.transaction() as conn:
            return dict(conn.execute(
                "SELECT p.id, p.known, p.next_check, p.state, p.probe_url FROM posts p "
                "JOIN targets t ON t.id = p.target_id WHERE t.kind = %s AND p.post_key = %s",
                (kind, NOTE)).fetchone())

    def listing(self, minutes: float, *entries: PostContent) -> None:
        row = self.target("account")
        self.recorder.record([Observation(
            mode="listing", platform="rednote", target_key=row["key"], url=USER,
            outcome=Outcome.OK, row_id=row["id"], entries=list(entries),
            observed_at=at(minutes))])

    def probe(self, kind: str, minutes: float, outcome: Outcome,
              signals: dict[str, Any] | None = None, post: PostContent | None = None) -> list[Any]:
        return self.recorder.record([Observation(
            mode="probe", platform="rednote", target_key=self.target(kind)["key"],
            url=LONE_URL, outcome=outcome, row_id=self.post(kind)["id"], post_key=NOTE,
            observed_at=at(minutes), http_status=200, signals=dict(signals or {}), post=post)])

    def status(self) -> dict[str, dict[str, Any]]:
        with self.db.transaction() as conn:
            return {r["kind"]: r for r in queries.status(conn)}

    def attention_gauge(self) -> float | None:
        registry = CollectorRegistry()
        Metrics(registry=registry, db=self.db)
        return registry.get_sample_value("takedown_targets_needing_attention",
                                         {"platform": "rednote", "reason": "token_expired"})


def test_a_watched_listing_lends_its_token_to_a_lone_note_target(db: Database) -> None:
    store = Store(db)
    store.sync(("post", LONE_URL))
    assert store.probe("post", 0, Outcome.UNAVAILABLE, GENERIC) == []
    assert store.post("post")["known"][ATTENTION] == "token_expired"
    assert store.status()["post"]["attention"] == "token_expired"
    assert store.attention_gauge() == 1.0
    # The author's account joins the watchlist: its listing carries the note.
    store.sync(("post", LONE_URL), ("account", USER))
    store.listing(1, note(token="tok-2"), note(OTHER, token="tok-o"))
    lone = store.post("post")
    assert lone["known"]["xsec_token"] == "tok-2" and TOKEN_AT in lone["known"]
    assert ATTENTION not in lone["known"] and lone["next_check"] == at(1)
    assert store.status()["post"]["attention"] is None and store.attention_gauge() == 0.0
    with db.transaction() as conn:  # the lone note's probe goes with the listing's token
        items = claims.claim_due(conn, at(1), 10, 60)
    (item,) = [i for i in items if i.row_id == lone["id"]]
    assert item.known["xsec_token"] == "tok-2"
    # That token expires too: the lone note waits for the next listing, no attention.
    assert store.probe("post", 3, Outcome.UNAVAILABLE, GENERIC) == []
    lone = store.post("post")
    assert TOKEN_WAIT in lone["known"] and ATTENTION not in lone["known"]
    store.listing(10, note(token="tok-3"), note(OTHER, token="tok-o2"))
    lone = store.post("post")
    assert lone["known"]["xsec_token"] == "tok-3" and TOKEN_WAIT not in lone["known"]
    assert lone["next_check"] == at(10)  # probed at once with the fresh token
    assert store.probe("post", 10, Outcome.OK, post=note(token=None)) == []
    assert store.status()["post"]["attention"] is None


def test_a_fresh_url_in_the_watchlist_replaces_an_expired_token(db: Database) -> None:
    store = Store(db)
    store.sync(("post", LONE_URL))
    store.probe("post", 0, Outcome.OK, post=note(token="url-tok"))
    assert store.post("post")["known"]["xsec_token"] == "url-tok"  # wins over the URL's
    store.probe("post", 2, Outcome.UNAVAILABLE, GENERIC)
    assert store.status()["post"]["attention"] == "token_expired"
    fresh = LONE_URL.replace("url-tok", "fresh-tok")
    store.sync(("post", fresh))
    row = store.post("post")
    assert row["probe_url"] == fresh and "xsec_token" not in row["known"]
    with db.transaction() as conn:
        (item,) = claims.claim_due(conn, datetime.now(UTC) + timedelta(seconds=5),
                                           10, 60)
    assert item.url == fresh and "xsec_token" not in item.known  # the spider uses the URL's
    store.probe("post", 12, Outcome.OK, post=note(token="fresh-tok"))
    assert store.status()["post"]["attention"] is None
    store.sync(("post", fresh))  # the same URL again changes nothing
    assert store.post("post")["known"]["xsec_token"] == "fresh-tok"


def test_tokens_are_shared_only_between_rows_of_the_same_post(db: Database) -> None:
    store = Store(db)
    other_url = LONE_URL.replace(NOTE, OTHER)
    store.sync(("post", LONE_URL), ("post", other_url), ("account", USER))
    store.listing(0, note(OTHER, token="tok-o"))
    with db.transaction() as conn:
        known = {r["post_key"]: r["known"] for r in conn.execute(
            "SELECT p.post_key, p.known FROM posts p JOIN targets t ON t.id = p.target_id "
            "WHERE t.kind = 'post'")}
    assert known[OTHER]["xsec_token"] == "tok-o"
    assert "xsec_token" not in known[NOTE]


# --- through the Worker: tokens that expire in two minutes, 30% transient faults ---------

class ExpiringTokens:
    """A RedNote account whose listing hands out tokens valid for two minutes; a note
    page refuses a stale, missing or foreign token with the generic 300031 page, as it
    does a deleted note. ``faults`` of the checks time out (a seeded RNG)."""

    def __init__(self, clock: Any, seed: int, faults: float = 0.3) -> None:
        self.clock, self.rng, self.faults = clock, random.Random(seed), faults
        self.listed = {NOTE: note(), OTHER: note(OTHER), OLD: old()}
        self.issued: dict[str, tuple[str, datetime]] = {}

    async def crawl(self, work: Any, sink: Any, settings: Any) -> dict[str, int]:
        for platform, items in work.items():
            async for item in items:
                now = self.clock.now()
                obs = Observation(mode=item.mode, platform=platform,
                                  target_key=item.target_key, url=item.url,
                                  outcome=Outcome.TIMEOUT, row_id=item.row_id,
                                  post_key=item.post_key, observed_at=now)
                if self.rng.random() < self.faults:
                    pass  # a transient fault: says nothing
                elif item.mode == "listing":
                    obs.outcome, obs.entries = Outcome.OK, []
                    for key, entry in self.listed.items():
                        token = f"t{len(self.issued)}"
                        self.issued[token] = (key, now)
                        obs.entries.append(PostContent(
                            key=key, url=entry.url, title=entry.title, text=entry.text,
                            author=entry.author, published_at=entry.published_at,
                            extra={"xsec_token": token, "type": "normal"}))
                else:
                    token = (item.known.get("xsec_token")
                             or dict(parse_qsl(urlsplit(item.url).query)).get("xsec_token"))
                    key, issued = self.issued.get(token or "", ("", now - timedelta(days=1)))
                    fresh = key == item.post_key and now - issued < timedelta(minutes=2)
                    if fresh and item.post_key in self.listed:
                        obs.outcome, obs.post = Outcome.OK, note(token=None)
                        obs.post.key = item.post_key
                    else:
                        obs.outcome, obs.signals = Outcome.UNAVAILABLE, dict(GENERIC)
                        obs.final_url = "https://www.xiaohongshu.com/404?error_code=300031"
                await sink(obs)
        return {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_expiring_tokens_make_no_false_disappearance_through_the_worker(
        db: Database, seed: int) -> None:
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=1))
    world = ExpiringTokens(clock, seed)
    worker = Worker(db, SETTINGS, world.crawl, clock=clock)
    worker.sync(_targets(("account", USER), ("post", LONE_URL)))
    began = clock.now()

    async def run(minutes: int) -> None:
        for _ in range(minutes):
            await worker.cycle()
            clock.advance(60)

    def events() -> list[dict[str, Any]]:
        with db.transaction() as conn:
            return conn.execute(
                "SELECT e.kind, e.cause, e.post_key, t.kind AS target_kind, e.detected_at "
                "FROM events e JOIN targets t ON t.id = e.target_id").fetchall()

    asyncio.run(run(90))
    assert events() == [], "an expired token is never an event"
    status = Store(db).status()
    assert status["post"]["attention"] is None  # the account's listing lends its token
    with db.transaction() as conn:
        checks = conn.execute("SELECT outcome, sum(repeats) AS n FROM observations "
                              "WHERE post_id IS NOT NULL GROUP BY outcome").fetchall()
    assert {r["outcome"] for r in checks} >= {"ok", "unavailable"}  # tokens did expire
    del world.listed[NOTE]  # the note is deleted: gone from the listing, the generic page
    deleted_at = clock.now()
    asyncio.run(run(90))
    found = events()
    assert [(e["kind"], e["cause"], e["post_key"], e["target_kind"]) for e in found] == [
        ("disappeared", "ambiguous", NOTE, "account")]
    assert found[0]["detected_at"] >= deleted_at > began
    # The lone note: no listing carries it any more, so its token cannot be refreshed.
    assert Store(db).status()["post"]["attention"] == "token_expired"
