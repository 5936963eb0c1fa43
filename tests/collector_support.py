"""Shared data for the collector-health tests (``tests/test_collector_state*.py``):
observations for the pure screen, and a world of RSS feeds recorded into PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)

SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m"},
                         environ={})


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def check(outcome: Outcome, minutes: float = 0, *, target: str = "t0",
          platform: str = "youtube", vantage: str = "local", mode: str = "listing",
          post: str | None = None, row_id: int = 0) -> Observation:
    """One check; targets are distinct by name, posts by ``post``."""
    return Observation(mode=mode, platform=platform, target_key=f"{platform}:{target}",  # type: ignore[arg-type]
                       url=f"https://example.org/{target}", outcome=outcome, row_id=row_id,
                       post_key=post, observed_at=at(minutes), vantage=vantage)


def feed_url(i: int) -> str:
    return f"https://feeds.example.org/channel{i}.xml"


class Feeds:
    """``n`` RSS feeds of one platform, two posts each, and a recorder."""

    def __init__(self, db: Database, n: int = 10, settings: Settings = SETTINGS) -> None:
        self.db = db
        self.settings = settings
        self.recorder = Recorder(db, settings)
        targets = [Target("g", "rss", "feed", feed_url(i), None, 60.0, ()) for i in range(n)]
        with db.transaction() as conn:
            store.sync_targets(conn, targets, 600)
            rows = conn.execute("SELECT id, key, value FROM targets").fetchall()
        by_url = {r["value"]: r for r in rows}
        self.targets = [(by_url[feed_url(i)]["id"], by_url[feed_url(i)]["key"])
                        for i in range(n)]

    @staticmethod
    def entries(i: int) -> list[PostContent]:
        return [PostContent(key=f"c{i}-{k}", url=f"https://feeds.example.org/c{i}/{k}",
                            text=f"post {k} of channel {i}", author=f"channel{i}",
                            published_at=T0 - timedelta(minutes=30 + k)) for k in (1, 2)]

    def listing(self, i: int, minutes: float, outcome: Outcome = Outcome.OK,
                vantage: str = "local") -> Observation:
        row_id, key = self.targets[i]
        return Observation(mode="listing", platform="rss", target_key=key, url=feed_url(i),
                           outcome=outcome, row_id=row_id,
                           entries=self.entries(i) if outcome is Outcome.OK else None,
                           http_status=200 if outcome is Outcome.OK else 404,
                           observed_at=at(minutes), vantage=vantage)

    def probe(self, i: int, k: int, minutes: float, outcome: Outcome,
              vantage: str = "local") -> Observation:
        _, key = self.targets[i]
        post_key = f"c{i}-{k}"
        return Observation(mode="probe", platform="rss", target_key=key,
                           url=f"https://feeds.example.org/c{i}/{k}", outcome=outcome,
                           row_id=self.post_id(post_key), post_key=post_key,
                           post=(self.entries(i)[k - 1] if outcome is Outcome.OK else None),
                           http_status=200 if outcome is Outcome.OK else 404,
                           observed_at=at(minutes), vantage=vantage, body_hash="ab" * 32)

    def record(self, observations: list[Observation]) -> list[Any]:
        return self.recorder.record(observations)

    def post_id(self, post_key: str) -> int:
        return int(self.one("SELECT id FROM posts WHERE post_key = %s", post_key)["id"])

    def one(self, query: str, *args: Any) -> dict[str, Any]:
        with self.db.transaction() as conn:
            row = conn.execute(query, args).fetchone()
        assert row is not None
        return dict(row)

    def all(self, query: str, *args: Any) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(query, args).fetchall()]

    def states(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.all("SELECT state FROM posts"):
            out[r["state"]] = out.get(r["state"], 0) + 1
        return out

    def events(self) -> int:
        return int(self.one("SELECT count(*) AS n FROM events")["n"])
