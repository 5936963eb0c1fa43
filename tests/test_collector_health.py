"""Collector blocked: never about the post, always in the platform's health metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from monitor.db import Database
from monitor.metrics import HEALTH_WINDOW, Metrics
from monitor.observation import BLOCKED, Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.signals import SignalManager
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def check(outcome: Outcome, minutes: float = 0, platform: str = "rednote",
          mode: str = "probe") -> Observation:
    return Observation(mode=mode, platform=platform, target_key=f"{platform}:x",  # type: ignore[arg-type]
                       url="https://example.org/x", outcome=outcome, post_key="x",
                       observed_at=T0 + timedelta(minutes=minutes), elapsed_ms=5.0)


def ratio(registry: CollectorRegistry, platform: str) -> float | None:
    return registry.get_sample_value("takedown_collector_block_ratio", {"platform": platform})


def last_success(registry: CollectorRegistry, platform: str) -> float | None:
    return registry.get_sample_value("takedown_collector_last_success_timestamp_seconds",
                                     {"platform": platform})


def test_block_ratio_and_last_success_per_platform() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    assert ratio(registry, "rednote") is None  # no series before a platform's first check
    metrics.recorded([check(Outcome.OK, 0), check(Outcome.COLLECTOR_BLOCKED, 1),
                      check(Outcome.ANTI_BOT, 2), check(Outcome.TIMEOUT, 3),
                      check(Outcome.NOT_FOUND, 4, platform="mastodon")], [])
    assert ratio(registry, "rednote") == pytest.approx(2 / 4)  # a timeout is not a block
    assert last_success(registry, "rednote") == T0.timestamp()
    assert ratio(registry, "mastodon") == 0.0
    # not_found is an answer about content: the platform let us in.
    assert last_success(registry, "mastodon") == (T0 + timedelta(minutes=4)).timestamp()
    # Blocks are counted in the checks counter by outcome; there is no other counter.
    assert registry.get_sample_value("takedown_checks_total", {
        "platform": "rednote", "mode": "probe", "outcome": "collector_blocked"}) == 1
    assert registry.get_sample_value("takedown_collector_blocked_total", {
        "platform": "rednote", "outcome": "collector_blocked"}) is None


def test_the_ratio_covers_the_last_window_of_checks_only() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.recorded([check(Outcome.COLLECTOR_BLOCKED, i) for i in range(HEALTH_WINDOW)], [])
    assert ratio(registry, "rednote") == 1.0
    assert last_success(registry, "rednote") == 0.0  # never got in
    metrics.recorded([check(Outcome.OK, 200 + i) for i in range(HEALTH_WINDOW // 4)], [])
    assert ratio(registry, "rednote") == pytest.approx(0.75)
    # Every blocked outcome counts (each pushes out the oldest check, a block too);
    # a success recorded late with an older time never moves the time back.
    metrics.recorded([*(check(o, 300) for o in sorted(BLOCKED)), check(Outcome.OK, 50)], [])
    assert last_success(registry, "rednote") == (
        T0 + timedelta(minutes=200 + HEALTH_WINDOW // 4 - 1)).timestamp()
    assert ratio(registry, "rednote") == pytest.approx(0.74)


# --- through the recorder, into PostgreSQL ---------------------------------------------------

SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m"},
                         environ={})


@pytest.mark.parametrize("outcome", sorted(BLOCKED), ids=str)
def test_a_blocked_probe_leaves_a_suspect_post_untouched(db: Database, outcome: Outcome) -> None:
    """A suspect post probed into a block: its suspicion holds no new probe, no event is
    stored, its state and cause stay, and the health metric moves."""
    from monitor.db import tracking as store

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    signals = SignalManager()
    metrics.connect(signals)
    recorder = Recorder(db, SETTINGS, signals=signals)
    target = Target(group="g", platform="mastodon", kind="account", value="alice",
                    base_url="https://ex.social", interval=60.0, tags=())
    with db.transaction() as conn:
        store.sync_targets(conn, [target], 600)
        row = conn.execute("SELECT id, key FROM targets").fetchone()
    post = PostContent(key="1", url="https://ex.social/@alice/1", text="first post",
                       author="alice", published_at=T0 - timedelta(minutes=5))

    def record(o: Observation) -> list[object]:
        o.target_key, o.platform = row["key"], "mastodon"
        if o.mode == "listing":
            o.row_id = row["id"]
        else:
            with db.transaction() as conn:
                o.row_id = conn.execute("SELECT id FROM posts").fetchone()["id"]
        return recorder.record([o])  # type: ignore[return-value]

    listing = check(Outcome.OK, 0, mode="listing")
    listing.entries = [post]
    record(listing)
    record(check(Outcome.NOT_FOUND, 1))  # suspect now
    before = _post_row(db)
    assert before["state"] == "suspect" and len(before["suspicion"]["probes"]) == 1
    for minutes in (3, 6, 9, 12):  # well past CONFIRM_SPACING: only blocks
        assert record(check(outcome, minutes)) == []
    after = _post_row(db)
    assert (after["state"], after["gone_cause"]) == ("suspect", None)
    assert after["suspicion"]["probes"] == before["suspicion"]["probes"]
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0
    assert ratio(registry, "mastodon") == pytest.approx(4 / 6)


def _post_row(db: Database) -> dict[str, object]:
    with db.transaction() as conn:
        return dict(conn.execute("SELECT state, gone_cause, suspicion FROM posts").fetchone())
