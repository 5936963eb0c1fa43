"""Per-item access tokens (RedNote's ``xsec_token``): a probe uses the latest listing's
token, and a probe whose token expired waits for the next listing to refresh it.

Table-driven on in-memory rows first (no database), then once through PostgreSQL.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.db import Database, claims
from monitor.db import tracking as store
from monitor.lifecycle import Lifecycle, PostRow, PostState, Rules, TargetRow
from monitor.observation import Observation, Outcome, PostContent
from monitor.platforms import PLATFORMS
from monitor.schedule import PROBE_FAILURES, TOKEN_WAIT
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
RULES = Rules(confirm_probes=2, confirm_spacing=300.0, confirm_retry=120.0, flap_versions=3,
              offsets=[120.0, 300.0, 600.0, 1800.0, 3600.0], horizon=30 * 86400.0,
              error_backoff_max=3600.0)
INTERVAL = 600.0  # the target's listing interval
NOTE, OTHER = "66a1b2c3000000000d00e1f2", "66a0000000000000000000aa"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def note(key: str = NOTE, token: str | None = "tok-1") -> PostContent:
    # OTHER is the newer note: a listing of it alone has NOTE rotated out, not missing.
    published = T0 - timedelta(hours=1 if key == NOTE else 0)
    return PostContent(key=key, url=f"https://www.xiaohongshu.com/explore/{key}",
                       title="夜景", text="", author="daisy", published_at=published,
                       extra={"xsec_token": token, "type": "normal"})


@dataclass
class World:
    platform: str = "rednote"
    kind: str = "account"
    target: TargetRow = field(init=False)
    posts: dict[str, PostRow] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def __post_init__(self) -> None:
        self.target = TargetRow(id=1, key=f"{self.platform}:u", group_name="g",
                                platform=self.platform, kind=self.kind, value="u",
                                base_url=None, interval_s=INTERVAL)

    def listing(self, minutes: float, *entries: PostContent) -> None:
        obs = Observation(mode="listing", platform=self.platform, target_key=self.target.key,
                          url="u", outcome=Outcome.OK, entries=list(entries),
                          observed_at=at(minutes))
        life = self._life()
        life.listing(self.target, self.posts, obs, self._new_post)
        for p in self.posts.values():
            p.is_new = False

    def probe(self, minutes: float, outcome: Outcome, key: str = NOTE,
              post: PostContent | None = None, signals: dict[str, Any] | None = None
              ) -> list[Any]:
        obs = Observation(mode="probe", platform=self.platform, target_key=self.target.key,
                          url="https://www.xiaohongshu.com/explore/x", outcome=outcome,
                          post_key=key, post=post, observed_at=at(minutes),
                          http_status=200 if post else None, signals=dict(signals or {}))
        if key not in self.posts:  # a single-post target's one post, tracked unseen
            self.posts[key] = self._new_post(note(key))
            self.posts[key].is_new = False
        life = self._life()
        life.probe(self.target, self.posts[key], obs)
        return life.changes.events

    def _life(self) -> Lifecycle:
        return Lifecycle(RULES, lambda _table: next(self.ids), lambda _post_id: None)

    def _new_post(self, entry: PostContent) -> PostRow:
        return PostRow(id=next(self.ids), target_id=1, platform=self.platform,
                       post_key=entry.key, first_seen=self.now(), state=PostState.UNSEEN,
                       state_since=self.now(), is_new=True)

    def now(self) -> datetime:
        return self.target.last_checked_at or T0


def test_rednote_declares_its_probe_token() -> None:
    assert PLATFORMS["rednote"].probe_token == "xsec_token"
    assert PLATFORMS["mastodon"].probe_token is None


# (step, minutes, arguments) → (post state, next check in minutes or None, token known,
# waiting for a token). The listing at 0 shows the note with tok-1; the target's next
# listing is due at 10; probes are re-checks at 2, 5, 10 … minutes.
Step = tuple[str, float, Any]
CASES: dict[str, list[tuple[Step, tuple[str, float | None, str | None, bool]]]] = {
    "a fresh token from the next listing brings the probe forward": [
        (("probe", 2, Outcome.TOKEN_EXPIRED), ("visible", 10 + 10, "tok-1", True)),
        (("listing", 10, note(token="tok-2")), ("visible", 10, "tok-2", False)),
        (("probe", 10, Outcome.OK), ("visible", 30, "tok-2", False)),
    ],
    "an unchanged entry still refreshes the probe": [
        (("probe", 2, Outcome.TOKEN_EXPIRED), ("visible", 20, "tok-1", True)),
        (("listing", 10, note(token="tok-1")), ("visible", 10, "tok-1", False)),
    ],
    "a listing without the post keeps it waiting, until one interval after it": [
        (("probe", 2, Outcome.TOKEN_EXPIRED), ("visible", 20, "tok-1", True)),
        (("listing", 10, note(OTHER)), ("visible", 20, "tok-1", True)),
        (("probe", 20, Outcome.TOKEN_EXPIRED), ("visible", 30, "tok-1", True)),
        (("probe", 30, Outcome.OK), ("visible", 60, "tok-1", False)),
    ],
    "an entry without a token does not end the wait": [
        (("probe", 2, Outcome.TOKEN_EXPIRED), ("visible", 20, "tok-1", True)),
        (("listing", 10, note(token=None)), ("visible", 20, "tok-1", True)),
    ],
    "a listing overdue waits for the listing, not the back-off": [
        # The listing was due at 10 and has not run by 15: probe after it.
        (("probe", 15, Outcome.TOKEN_EXPIRED), ("visible", 15 + 10, "tok-1", True)),
        (("probe", 25, Outcome.TOKEN_EXPIRED), ("visible", 25 + 10, "tok-1", True)),
    ],
    "a suspect post waits for the token and gathers no probe": [
        # The confirming probe is due CONFIRM_SPACING after the first one.
        (("probe", 2, Outcome.NOT_FOUND), ("suspect", 7, "tok-1", False)),
        (("probe", 7, Outcome.TOKEN_EXPIRED), ("suspect", 20, "tok-1", True)),
        (("probe", 8, Outcome.TOKEN_EXPIRED), ("suspect", 20, "tok-1", True)),
        (("listing", 10, note(token="tok-3")), ("visible", 10, "tok-3", False)),
    ],
    "other transient failures back off as usual": [
        (("probe", 2, Outcome.TIMEOUT), ("visible", 4, "tok-1", False)),
        (("probe", 4, Outcome.COLLECTOR_BLOCKED), ("visible", 5, "tok-1", False)),
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_token_expired_probes_wait_for_the_next_listing(name: str) -> None:
    world = World()
    world.listing(0, note(), note(OTHER))
    world.target.next_due = at(10)
    for (step, minutes, arg), (state, due, token, waiting) in CASES[name]:
        if step == "listing":
            world.listing(minutes, arg)
            world.target.next_due = at(minutes + INTERVAL / 60)
        else:
            post = note(token=None) if arg is Outcome.OK else None
            assert world.probe(minutes, arg, post=post) == [], "a token never makes an event"
        row = world.posts[NOTE]
        got = (row.state.value, (row.next_check - T0).total_seconds() / 60
               if row.next_check else None, row.known.get("xsec_token"), TOKEN_WAIT in row.known)
        assert got == (state, due, token, waiting), f"after {step} at {minutes}"
        if arg is Outcome.TOKEN_EXPIRED:
            assert PROBE_FAILURES not in row.known  # a wait, not a failure streak


@pytest.mark.parametrize(("platform", "kind"), [("mastodon", "account"), ("rednote", "post")])
def test_without_a_listing_token_an_expired_token_backs_off(platform: str, kind: str) -> None:
    """Mastodon has no per-item token; a RedNote post target has no listing to refresh it."""
    world = World(platform=platform, kind=kind)
    if world.target.single_post:  # no listing: its probe saw it first
        world.probe(0, Outcome.OK, post=note())
    else:
        world.listing(0, note())
    world.target.next_due = at(10)
    world.probe(2, Outcome.TOKEN_EXPIRED)
    row = world.posts[NOTE]
    assert TOKEN_WAIT not in row.known
    assert row.next_check == at(4)  # CONFIRM_RETRY, never past the next re-check
    assert row.known[PROBE_FAILURES] == 1


# --- through PostgreSQL -----------------------------------------------------------------

SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m",
                          "recheck_schedule": "2m,5m,10m,30m,1h"}, environ={})


def test_the_latest_listing_token_reaches_the_probe_through_the_store(db: Database) -> None:
    user = "5c315a550000000006031475"
    recorder = Recorder(db, SETTINGS)
    target = Target(group="g", platform="rednote", kind="account", value=user, base_url=None,
                    interval=INTERVAL, tags=())
    with db.transaction() as conn:
        store.sync_targets(conn, [target], 600)
        row = conn.execute("SELECT id, key FROM targets").fetchone()

    def listing(minutes: float, token: str) -> None:
        recorder.record([Observation(mode="listing", platform="rednote", target_key=row["key"],
                                     url=user, outcome=Outcome.OK, row_id=row["id"],
                                     entries=[note(token=token)], observed_at=at(minutes))])

    def post() -> dict[str, Any]:
        with db.transaction() as conn:
            return dict(conn.execute("SELECT id, next_check, known, state FROM posts").fetchone())

    listing(0, "tok-1")
    recorder.record([Observation(mode="probe", platform="rednote", target_key=row["key"],
                                 url="https://www.xiaohongshu.com/explore/x",
                                 outcome=Outcome.TOKEN_EXPIRED, row_id=post()["id"],
                                 post_key=NOTE, observed_at=at(2), http_status=200)])
    waiting = post()
    assert waiting["state"] == "visible" and TOKEN_WAIT in waiting["known"]
    assert waiting["next_check"] == at(10 + 10)  # after the listing due at 10, not at 4
    with db.transaction() as conn:  # nothing to probe before the listing ran
        assert [i.mode for i in claims.claim_due(conn, at(9), 10, 60)] == []
        assert [i.mode for i in claims.claim_due(conn, at(10), 10, 60)] == ["listing"]
        claims.release(conn, claims.claim_due(conn, at(10), 10, 60))
    listing(10, "tok-2")
    refreshed = post()
    assert TOKEN_WAIT not in refreshed["known"] and refreshed["next_check"] == at(10)
    with db.transaction() as conn:
        (item,) = claims.claim_due(conn, at(10), 10, 60)
    assert item.mode == "probe" and item.known["xsec_token"] == "tok-2"
