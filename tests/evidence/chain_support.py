"""A recording world for the chain tests: one Mastodon account target per group,
a Recorder, helpers to record listings and edits and to tamper as a superuser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.db import Database
from monitor.db import chain as chain_store
from monitor.db import tracking as store
from monitor.db.chain import ChainReport
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.signals import SignalManager
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m",
                          "flap_versions": 3}, environ={})


def entry(key: str, text: str, minutes_old: int) -> PostContent:
    return PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                       probe_url=f"https://ex.social/api/v1/statuses/{key}", text=text,
                       author="alice", published_at=T0 - timedelta(minutes=minutes_old))


def posts(second: str = "second post", prefix: str = "") -> list[PostContent]:
    return [entry(prefix + "3", "third post ✓ ثالث", 1), entry(prefix + "2", second, 10),
            entry(prefix + "1", "first post 第一", 20)]


class ChainWorld:
    """Targets in their own groups and a recorder; what the chain tests need."""

    def __init__(self, db: Database, group: str = "g", value: str = "alice",
                 signals: SignalManager | None = None) -> None:
        self.db = db
        self.recorder = Recorder(db, SETTINGS, signals=signals)
        target = Target(group=group, platform="mastodon", kind="account", value=value,
                        base_url="https://ex.social", interval=60.0, tags=())
        with db.transaction() as conn:
            store.sync_targets(conn, [target], 600, groups=[group])
            row = conn.execute("SELECT id, key FROM targets WHERE group_name = %s",
                               (group,)).fetchone()
        self.target_id, self.target_key = row["id"], row["key"]

    def listing(self, at: datetime, entries: list[PostContent]) -> list[Any]:
        obs = Observation(mode="listing", platform="mastodon", target_key=self.target_key,
                          url="alice", outcome=Outcome.OK, row_id=self.target_id,
                          entries=entries, observed_at=at, http_status=200)
        return self.recorder.record([obs])

    def history(self, start: datetime = T0, prefix: str = "") -> list[Any]:
        """A listing, re-checks that extend its run, an edit (one event)."""
        events = self.listing(start, posts(prefix=prefix))
        events += self.listing(start + timedelta(minutes=1), posts(prefix=prefix))
        events += self.listing(start + timedelta(minutes=2),
                               posts("second post, now edited", prefix=prefix))
        return events

    def sql(self, query: str, *args: Any, superuser: bool = False) -> list[dict[str, Any]]:
        """Run ``query``; ``superuser``: with triggers off, as a tamperer would."""
        with self.db.transaction() as conn:
            if superuser:
                conn.execute("SET LOCAL session_replication_role = replica")
            cur = conn.execute(query, args)
            return cur.fetchall() if cur.description else []

    def verify(self) -> ChainReport:
        with self.db.transaction() as conn:
            return chain_store.verify(conn)

    def chain(self) -> list[dict[str, Any]]:
        return self.sql("SELECT seq, kind, row_id FROM chain ORDER BY seq")
