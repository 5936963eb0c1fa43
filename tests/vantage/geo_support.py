"""Helpers of the vantage tests: a two-country target in memory (pure lifecycle) and
through the Recorder (real PostgreSQL), fed observations as if from each vantage point.

The target is a Mastodon account watched from ``de`` (home, Germany) and ``us``
(United States), its listing read every minute (so a cause waits at most 3 min for it).
Settings: a disappearance is confirmed by 2 absent answers in a row
from a vantage point, at least 5 minutes apart; VANTAGE_PATIENCE is one hour.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.db import Database
from monitor.db import tracking as store
from monitor.events import Event
from monitor.lifecycle import Changes, Lifecycle, PostRow, PostState, Rules, TargetRow
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.vantage import Vantage
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
RULES = Rules(confirm_probes=2, confirm_spacing=300.0, confirm_retry=120.0, flap_versions=3,
              offsets=[120.0, 300.0, 600.0, 1800.0, 3600.0], horizon=30 * 86400.0,
              error_backoff_max=3600.0, vantage_patience=3600.0)
SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m",
                          "flap_versions": 3, "vantage_patience": "1h"}, environ={})
COUNTRIES = {"de": "DE", "us": "US"}
DE = Vantage("de", "DE", "socks5://user:secret@127.0.0.1:1080", "Berlin line")
US = Vantage("us", "US", "http://127.0.0.1:3128")
#: What each answer looks like: outcome, HTTP status, the platform's words.
WITHHELD = (Outcome.LEGAL, 451, "Unavailable For Legal Reasons")
GONE_404 = (Outcome.NOT_FOUND, 404, "Record not found")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def entry(key: str, text: str = "a post", minutes_old: int = 10) -> PostContent:
    return PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                       probe_url=f"https://ex.social/api/v1/statuses/{key}", text=text,
                       author="alice", published_at=T0 - timedelta(minutes=minutes_old))


def probe_obs(key: str, row_id: int, vantage: str, when: datetime, outcome: Outcome,
              status: int | None = None, message: str | None = None,
              **signals: Any) -> Observation:
    """A probe of post ``key`` as the spider reports it through ``vantage``."""
    country = COUNTRIES.get(vantage)
    return Observation(
        mode="probe", platform="mastodon", target_key="mastodon:account:alice@ex.social",
        url=f"https://ex.social/api/v1/statuses/{key}", outcome=outcome, row_id=row_id,
        post_key=key, http_status=status, message=message, vantage=vantage,
        signals={**({"country": country} if country else {}), **signals},
        post=entry(key) if outcome is Outcome.OK else None, observed_at=when,
        body_hash="ab" * 32)


def listing_obs(row_id: int, when: datetime, entries: list[PostContent],
                vantage: str = "de") -> Observation:
    return Observation(mode="listing", platform="mastodon",
                       target_key="mastodon:account:alice@ex.social", url="alice",
                       outcome=Outcome.OK, row_id=row_id, entries=entries, observed_at=when,
                       http_status=200, vantage=vantage,
                       signals={"country": COUNTRIES.get(vantage, "??")})


class MemoryWorld:
    """One target and its posts in memory, the store's part played by hand."""

    def __init__(self, vantages: list[str] | None = None, rules: Rules = RULES) -> None:
        self.rules = rules
        self.target = TargetRow(id=1, key="mastodon:account:alice@ex.social", group_name="g",
                                platform="mastodon", kind="account", value="alice",
                                base_url="https://ex.social", interval_s=60.0,
                                vantages=vantages if vantages is not None else ["de", "us"])
        self._ids = itertools.count(100)
        self.posts: dict[str, PostRow] = {}
        self.events: list[Event] = []

    def listing(self, when: datetime, keys: list[str], vantage: str = "de") -> list[Event]:
        obs = listing_obs(1, when, [entry(k) for k in keys], vantage)
        life = self._life()
        life.listing(self.target, dict(self.posts), obs, lambda e: self._new_post(e, obs))
        return self._keep(life.changes)

    def probe(self, key: str, vantage: str, when: datetime,
              answer: tuple[Outcome, int | None, str | None] | Outcome,
              **signals: Any) -> list[Event]:
        outcome, status, message = (answer, None, None) if isinstance(answer, Outcome) \
            else answer
        if outcome is Outcome.OK:
            status = 200
        post = self.posts[key]
        life = self._life()
        life.probe(self.target, post, probe_obs(key, post.id, vantage, when, outcome, status,
                                                message, **signals))
        return self._keep(life.changes)

    def state(self, key: str) -> PostState:
        return self.posts[key].state

    def _life(self) -> Lifecycle:
        return Lifecycle(self.rules, lambda _table: next(self._ids), lambda _id: None)

    def _keep(self, changes: Changes) -> list[Event]:
        for p in changes.posts:
            p.is_new = False
            self.posts[p.post_key] = p
        self.events += changes.events
        return changes.events

    def _new_post(self, content: PostContent, obs: Observation) -> PostRow:
        return PostRow(id=next(self._ids), target_id=1, platform="mastodon",
                       post_key=content.key, first_seen=obs.observed_at,
                       state=PostState.UNSEEN, state_since=obs.observed_at, url=content.url,
                       probe_url=content.probe_url, is_new=True)


class StoredWorld:
    """The same target through the Recorder and a real database."""

    def __init__(self, db: Database, vantages: tuple[Vantage, ...] = (DE, US)) -> None:
        self.db = db
        self.recorder = Recorder(db, SETTINGS)
        target = Target(group="g", platform="mastodon", kind="account", value="alice",
                        base_url="https://ex.social", interval=600.0, tags=(),
                        vantages=vantages)
        with db.transaction() as conn:
            store.sync_targets(conn, [target], 600, now=T0)
            row = conn.execute("SELECT id FROM targets").fetchone()
        assert row is not None
        self.target_id = int(row["id"])

    def listing(self, when: datetime, keys: list[str], vantage: str = "de") -> list[Event]:
        return self.recorder.record([listing_obs(self.target_id, when,
                                                 [entry(k) for k in keys], vantage)])

    def probes(self, key: str, when: datetime,
               answers: dict[str, tuple[Outcome, int | None, str | None]]) -> list[Event]:
        """One round of fan-out probes of ``key``, one answer per vantage point, all in
        one batch (as a worker's writer would record them)."""
        post_id = self.post_id(key)
        batch = [probe_obs(key, post_id, v, when + timedelta(seconds=i), *answer)
                 for i, (v, answer) in enumerate(answers.items())]
        return self.recorder.record(batch)

    def post_id(self, key: str) -> int:
        return int(self.row("SELECT id FROM posts WHERE post_key = %s", key)["id"])

    def post(self, key: str) -> dict[str, Any]:
        return self.row("SELECT * FROM posts WHERE post_key = %s", key)

    def row(self, query: str, *args: Any) -> dict[str, Any]:
        with self.db.transaction() as conn:
            found = conn.execute(query, args).fetchone()
        assert found is not None
        return dict(found)

    def rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(query, args).fetchall()]


VISIBLE_ANSWER: tuple[Outcome, int | None, str | None] = (Outcome.OK, 200, None)
__all__ = ["DE", "GONE_404", "RULES", "SETTINGS", "T0", "US", "VISIBLE_ANSWER", "WITHHELD",
           "MemoryWorld", "StoredWorld", "at", "entry", "listing_obs", "probe_obs"]
