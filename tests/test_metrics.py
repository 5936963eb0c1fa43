"""Metrics: the counters and histograms fed by committed batches and by alert deliveries.

Each test builds its own ``CollectorRegistry`` and reads values with
``get_sample_value``. The database gauges are in ``test_metrics_collector.py``, what
a scrape shows and how it is served in ``test_metrics_exposition.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from metrics_support import T0, bucket, event, obs, value
from prometheus_client import CollectorRegistry

from monitor.db import Database
from monitor.db import tracking as store
from monitor.metrics import Metrics
from monitor.observation import Observation, Outcome
from monitor.watchlist import Target

# --- counters and histograms ------------------------------------------------------------


def test_checks_are_counted_by_platform_mode_and_outcome(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry)
    metrics.recorded([obs(), obs(), obs(outcome=Outcome.ANTI_BOT),
                      obs(mode="listing", outcome=Outcome.TIMEOUT, elapsed_ms=None),
                      obs(platform="rss", mode="listing")], [])
    metrics.recorded([obs()], [])

    assert value(registry, "takedown_checks_total", platform="mastodon", mode="probe",
                 outcome="ok") == 3
    assert value(registry, "takedown_checks_total", platform="mastodon", mode="probe",
                 outcome="anti_bot") == 1
    assert value(registry, "takedown_checks_total", platform="mastodon", mode="listing",
                 outcome="timeout") == 1
    assert value(registry, "takedown_checks_total", platform="rss", mode="listing",
                 outcome="ok") == 1
    # Every outcome any fetch can end in exists at 0 once its platform and mode were
    # seen, so increase() catches the first anti-bot wall instead of a series born at 1.
    assert value(registry, "takedown_checks_total", platform="rss", mode="listing",
                 outcome="anti_bot") == 0
    assert value(registry, "takedown_checks_total", platform="rss", mode="probe",
                 outcome="ok") is None


def test_only_outcomes_that_can_occur_are_pre_created(registry: CollectorRegistry) -> None:
    """A platform's own verdicts (a RedNote token expiring, a notice page, a tombstone)
    are not invented for every platform and mode: they appear when they happen."""
    from monitor.metrics import PRECREATED_OUTCOMES

    metrics = Metrics(registry)
    metrics.recorded([obs(platform="rss", mode="listing")], [])
    created = {s.labels["outcome"] for f in registry.collect() for s in f.samples
               if s.name == "takedown_checks_total"}
    assert created == {o.value for o in PRECREATED_OUTCOMES}
    for never in ("token_expired", "unavailable", "tombstone"):
        assert never not in created
        assert value(registry, "takedown_checks_total", platform="rss", mode="listing",
                     outcome=never) is None
    assert {"ok", "anti_bot", "timeout", "refused", "not_found"} <= created
    metrics.recorded([obs(platform="rednote", outcome=Outcome.TOKEN_EXPIRED)], [])
    assert value(registry, "takedown_checks_total", platform="rednote", mode="probe",
                 outcome="token_expired") == 1


def test_check_duration_histogram(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry)
    metrics.recorded([obs(elapsed_ms=8), obs(elapsed_ms=120), obs(elapsed_ms=3000),
                      obs(elapsed_ms=90_000), obs(elapsed_ms=None)], [])
    labels = {"platform": "mastodon", "mode": "probe"}

    def b(le: float) -> float | None:
        return registry.get_sample_value("takedown_check_duration_seconds_bucket",
                                         {**labels, "le": bucket(le)})

    assert b(0.01) == 1
    assert b(0.1) == 1
    assert b(0.25) == 2
    assert b(5.0) == 3
    assert b(60.0) == 3
    assert b(float("inf")) == 4
    assert value(registry, "takedown_check_duration_seconds_count", **labels) == 4  # None skipped
    assert value(registry, "takedown_check_duration_seconds_sum", **labels) == pytest.approx(
        0.008 + 0.12 + 3.0 + 90.0)


def test_events_and_time_to_takedown(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry)
    metrics.recorded([], [
        event(lifetime=timedelta(minutes=7)),
        event(lifetime=timedelta(minutes=25)),
        event(lifetime=timedelta(hours=20)),
        event(lifetime=None),  # published_at unknown: counted, not timed
        event(cause="deleted_by_author", lifetime=timedelta(days=40)),
        event(lifetime=-timedelta(minutes=1)),  # clock skew: counted, not timed
        event(kind="edited", cause=None),
        event(kind="restored", cause=None, group="activists"),
        event(kind="hidden", cause="hidden_from_feed", lifetime=timedelta(minutes=3)),
    ])

    def events(group: str, kind: str, cause: str) -> float | None:
        return value(registry, "takedown_events_total", platform="mastodon", group=group,
                     kind=kind, cause=cause)

    assert events("journalists", "disappeared", "removed_by_platform") == 5
    assert events("journalists", "disappeared", "deleted_by_author") == 1
    assert events("journalists", "edited", "") == 1
    assert events("activists", "restored", "") == 1
    assert events("journalists", "hidden", "hidden_from_feed") == 1

    labels = {"platform": "mastodon", "cause": "removed_by_platform"}

    def b(le: float) -> float | None:
        return registry.get_sample_value("takedown_time_to_takedown_seconds_bucket",
                                         {**labels, "le": bucket(le)})

    assert b(300) == 0
    assert b(480) == 1  # 7 min
    assert b(1800) == 2  # 25 min
    assert b(86400) == 3  # 20 h
    assert value(registry, "takedown_time_to_takedown_seconds_count", **labels) == 3
    assert value(registry, "takedown_time_to_takedown_seconds_sum", **labels) == (
        7 * 60 + 25 * 60 + 20 * 3600)
    author = {"platform": "mastodon", "cause": "deleted_by_author"}
    assert registry.get_sample_value("takedown_time_to_takedown_seconds_bucket",
                                     {**author, "le": bucket(30 * 86400)}) == 0
    assert registry.get_sample_value("takedown_time_to_takedown_seconds_bucket",
                                     {**author, "le": "+Inf"}) == 1
    # Only disappearances are timed.
    assert value(registry, "takedown_time_to_takedown_seconds_count", platform="mastodon",
                 cause="hidden_from_feed") is None


def test_delivery_attempts(registry: CollectorRegistry,
                           caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics(registry)
    metrics.delivery("webhook", "sent")
    metrics.delivery("webhook", "sent")
    metrics.delivery("webhook", "failed")
    metrics.delivery("webhook", "resent")
    metrics.delivery("email", "dead")
    with caplog.at_level(logging.WARNING, logger="monitor.metrics"):
        metrics.delivery("webhook", "retrying")
        metrics.delivery("https://hooks.example.org/T000/B000", "sent")

    def d(channel: str, result: str) -> float | None:
        return value(registry, "takedown_alert_delivery_attempts_total", channel_type=channel,
                     result=result)

    assert (d("webhook", "sent"), d("webhook", "failed"), d("webhook", "dead")) == (2, 1, 0)
    assert d("webhook", "resent") == 1  # a possible duplicate after an interrupted try
    assert (d("email", "sent"), d("email", "dead"), d("email", "resent")) == (0, 1, 0)
    assert value(registry, "takedown_alert_deliveries_total", channel_type="webhook",
                 result="sent") is None  # the old name is gone
    assert d("webhook", "retrying") is None
    assert d("invalid", "sent") == 1  # a URL never becomes a label value
    assert "retrying" in caplog.text and "not a short name" in caplog.text


def test_recorder_signal_counts_after_commit(db: Database) -> None:
    """The real integration point: metrics connected to the recorder's batch_committed."""
    from monitor.settings import Settings
    from monitor.signals import SignalManager
    from monitor.snapshot import Recorder

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    signals = SignalManager()
    metrics.connect(signals)
    recorder = Recorder(db, Settings.load({}, environ={}), signals=signals)
    with db.transaction() as conn:
        store.sync_targets(conn, [Target("journalists", "mastodon", "account", "alice",
                                         "https://ex.social", 60.0, ())], 600)
        row = conn.execute("SELECT id, key FROM targets").fetchone()
    assert row is not None
    recorder.record([Observation(mode="listing", platform="mastodon", target_key=row["key"],
                                 url="alice", outcome=Outcome.RATE_LIMITED, row_id=row["id"],
                                 observed_at=T0, elapsed_ms=40.0)])
    assert value(registry, "takedown_checks_total", platform="mastodon", mode="listing",
                 outcome="rate_limited") == 1
    assert value(registry, "takedown_check_duration_seconds_count", platform="mastodon",
                 mode="listing") == 1
