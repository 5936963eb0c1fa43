"""Shared data for the metrics tests (``tests/test_metrics*.py``): observations,
events, registry look-ups and a tracked database. The fixtures ``registry`` and
``tracked`` built from it live in ``tests/conftest.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.utils import floatToGoString

from monitor.db import Database
from monitor.db import tracking as store
from monitor.events import Event
from monitor.observation import Observation, Outcome
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
POST_URL = "https://ex.social/@alice/110000000000000001"


def obs(platform: str = "mastodon", mode: Any = "probe", outcome: Outcome = Outcome.OK,
        elapsed_ms: float | None = 120.0) -> Observation:
    return Observation(mode=mode, platform=platform, target_key="mastodon:account:alice@ex.social",
                       url=POST_URL, outcome=outcome, post_key="110000000000000001",
                       observed_at=T0, elapsed_ms=elapsed_ms)


def event(kind: str = "disappeared", cause: str | None = "removed_by_platform",
          lifetime: timedelta | None = timedelta(minutes=12), platform: str = "mastodon",
          group: str = "journalists") -> Event:
    return Event(kind=kind, post_id=7, target_id=3, platform=platform, group=group,
                 post_key="110000000000000001", detected_at=T0, cause=cause,
                 first_seen_gone=T0, published_at=T0 - lifetime if lifetime else None)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def bucket(le: float) -> str:
    return floatToGoString(le)


def targets() -> list[Target]:
    return [
        Target("journalists", "mastodon", "account", "alice", "https://ex.social", 60.0, ()),
        Target("journalists", "mastodon", "account", "bob", "https://ex.social", 60.0, ()),
        Target("journalists", "mastodon", "post", POST_URL, None, 60.0, ()),
        Target("activists", "rss", "feed", "https://news.example.org/feed.xml", None, 60.0, ()),
        Target("archive", "rss", "feed", "https://old.example.org/feed.xml", None, 60.0, ()),
    ]


def track(db: Database) -> Database:
    """Five targets (one inactive), a few posts, some overdue, one failing."""
    with db.transaction() as conn:
        store.sync_targets(conn, targets(), 600)
        ids = {r["value"]: r["id"] for r in conn.execute("SELECT id, value FROM targets")}
        conn.execute("UPDATE targets SET active = false WHERE value = %s",
                     ("https://old.example.org/feed.xml",))
        conn.execute("UPDATE targets SET next_due = now() + interval '5 min'")
        # Overdue: bob's listing (10 min late) and the feed (2 min late); alice is 30 s
        # late, inside the grace period; the inactive feed is late but not checked.
        conn.execute("UPDATE targets SET next_due = now() - interval '10 min', "
                     "error_streak = 4 WHERE value = 'bob'")
        conn.execute("UPDATE targets SET next_due = now() - interval '30 s', error_streak = 1,"
                     " last_ok_at = '2026-08-01T11:00:00Z' WHERE value = 'alice'")
        conn.execute("UPDATE targets SET next_due = now() - interval '2 min', "
                     "last_ok_at = '2026-08-01T10:00:00Z' WHERE kind = 'feed'")
        conn.execute("UPDATE targets SET last_ok_at = '2026-08-01T11:30:00Z' "
                     "WHERE kind = 'post'")  # the post target's own post is 'unseen', due now
        posts = [
            (ids["alice"], "mastodon", "1", "visible", "now() + interval '1 h'"),
            (ids["alice"], "mastodon", "2", "visible", "now() - interval '2 h'"),  # overdue
            (ids["alice"], "mastodon", "3", "gone", "NULL"),
            (ids["bob"], "mastodon", "4", "suspect", "now() - interval '10 s'"),  # in grace
            (ids["https://news.example.org/feed.xml"], "rss", "a", "hidden", "NULL"),
            (ids["https://old.example.org/feed.xml"], "rss", "b", "visible",
             "now() - interval '1 day'"),  # inactive target: neither tracked nor overdue
        ]
        for target_id, platform, key, state, next_check in posts:
            conn.execute(
                "INSERT INTO posts (target_id, platform, post_key, first_seen, state, "
                f"state_since, next_check) VALUES (%s, %s, %s, now(), %s, now(), {next_check})",
                (target_id, platform, key, state))
        conn.execute("UPDATE posts SET next_check = now() - interval '5 min' "
                     "WHERE post_key = '110000000000000001'")  # overdue
    return db
