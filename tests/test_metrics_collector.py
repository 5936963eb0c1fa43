"""Metrics: the gauges the collector reads from the database at scrape time, and
how a scrape survives a failing, unreachable, busy or locked database (real
PostgreSQL; the data is ``metrics_support.track``, as the ``tracked`` fixture)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import psycopg
import pytest
from metrics_support import obs, targets, value
from prometheus_client import CollectorRegistry

from monitor.db import Database
from monitor.db import tracking as store
from monitor.metrics import Metrics


def test_collector_gauges(tracked: Database) -> None:
    registry = CollectorRegistry()
    Metrics(registry, tracked)

    def g(name: str, **labels: str) -> float | None:
        return value(registry, name, **labels)

    assert g("takedown_collector_up") == 1
    assert g("takedown_tracked_targets", platform="mastodon") == 3
    assert g("takedown_tracked_targets", platform="rss") == 1  # the inactive one left out
    assert g("takedown_tracked_posts", platform="mastodon", state="visible") == 2
    assert g("takedown_tracked_posts", platform="mastodon", state="unseen") == 1
    assert g("takedown_tracked_posts", platform="mastodon", state="gone") == 1
    assert g("takedown_tracked_posts", platform="mastodon", state="suspect") == 1
    assert g("takedown_tracked_posts", platform="mastodon", state="hidden") == 0
    assert g("takedown_tracked_posts", platform="rss", state="hidden") == 1
    assert g("takedown_tracked_posts", platform="rss", state="visible") == 0
    # bob + the feed + post 2 + the post target's post.
    assert g("takedown_checks_overdue") == 4
    assert g("takedown_group_last_success_timestamp_seconds", group="journalists") == (
        datetime(2026, 8, 1, 11, 30, tzinfo=UTC).timestamp())
    assert g("takedown_group_last_success_timestamp_seconds", group="activists") == (
        datetime(2026, 8, 1, 10, 0, tzinfo=UTC).timestamp())
    assert g("takedown_group_last_success_timestamp_seconds", group="archive") is None
    assert g("takedown_platform_error_streak", platform="mastodon") == 4
    assert g("takedown_platform_error_streak", platform="rss") == 0


def test_group_that_never_succeeded_reads_zero(db: Database) -> None:
    with db.transaction() as conn:
        store.sync_targets(conn, targets()[:1], 600)
    registry = CollectorRegistry()
    Metrics(registry, db)
    assert value(registry, "takedown_group_last_success_timestamp_seconds",
                 group="journalists") == 0
    assert value(registry, "takedown_checks_overdue") == 0  # next_due = now()


def test_deliveries_gauge_only_when_the_table_exists(db: Database) -> None:
    registry = CollectorRegistry()
    Metrics(registry, db)
    with db.transaction() as conn:  # whether or not 002_alerts.sql is in this tree yet
        conn.execute("DROP TABLE IF EXISTS deliveries CASCADE")
    assert value(registry, "takedown_collector_up") == 1
    assert not [f for f in registry.collect() if f.name == "takedown_alert_delivery_queue"]

    with db.transaction() as conn:
        conn.execute("CREATE TABLE deliveries (id bigserial PRIMARY KEY, state text NOT NULL)")
        conn.execute("INSERT INTO deliveries (state) VALUES ('pending'), ('pending'), "
                     "('sent'), ('dead')")
    assert value(registry, "takedown_alert_delivery_queue", state="pending") == 2
    assert value(registry, "takedown_alert_delivery_queue", state="failed") == 0
    assert value(registry, "takedown_alert_delivery_queue", state="sending") == 0
    # The queue is what waits to be sent: sent rows (which only grow), folded and
    # suppressed ones are not in it; dead letters have their own gauge.
    for state in ("sent", "dead", "folded", "suppressed"):
        assert value(registry, "takedown_alert_delivery_queue", state=state) is None, state
    assert value(registry, "takedown_alert_dead_letters") == 1
    with db.transaction() as conn:
        conn.execute("INSERT INTO deliveries (state) VALUES ('folded'), ('sent'), ('sending')")
    assert value(registry, "takedown_alert_delivery_queue", state="sending") == 1
    assert value(registry, "takedown_alert_delivery_queue", state="folded") is None
    with db.transaction() as conn:
        conn.execute("DELETE FROM deliveries WHERE state = 'dead'")
    assert value(registry, "takedown_alert_dead_letters") == 0  # retried: none left


def test_failing_query_exports_collector_down_then_recovers(
        tracked: Database, caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, tracked)
    metrics.recorded([obs()], [])
    with tracked.transaction() as conn:
        conn.execute("ALTER TABLE posts RENAME TO posts_moved")
    with caplog.at_level(logging.WARNING, logger="monitor.metrics"):
        assert value(registry, "takedown_collector_up") == 0
    assert "reading the database failed" in caplog.text
    assert value(registry, "takedown_tracked_targets", platform="mastodon") is None
    # The counters still scrape.
    assert value(registry, "takedown_checks_total", platform="mastodon", mode="probe",
                 outcome="ok") == 1
    with tracked.transaction() as conn:
        conn.execute("ALTER TABLE posts_moved RENAME TO posts")
    assert value(registry, "takedown_collector_up") == 1
    assert value(registry, "takedown_tracked_targets", platform="mastodon") == 3


def test_unreachable_database_exports_collector_down(db_url: str) -> None:
    broken = Database(db_url)
    broken.close()  # every connection attempt now fails at once
    # An auto-describing registry (like the default one) asks for names, not data.
    registry = CollectorRegistry(auto_describe=True)
    Metrics(registry, broken)
    assert value(registry, "takedown_collector_up") == 0
    database = [f.name for f in registry.collect() if f.type == "gauge"
                and f.name != "takedown_build_info" and not f.name.startswith("process_")]
    assert database == ["takedown_collector_up"]


def test_busy_pool_does_not_hang_the_scrape(db_url: str) -> None:
    one = Database(db_url, min_size=1, max_size=1)
    try:
        metrics = Metrics(CollectorRegistry(), one)
        assert metrics.collector is not None
        metrics.collector.timeout = 0.3
        with one.transaction():  # the recorder holds the only connection
            started = time.monotonic()
            assert value(metrics.registry, "takedown_collector_up") == 0
            assert time.monotonic() - started < 2
        assert value(metrics.registry, "takedown_collector_up") == 1
    finally:
        one.close()


def test_locked_table_does_not_hang_the_scrape(db: Database) -> None:
    metrics = Metrics(CollectorRegistry(), db)
    assert metrics.collector is not None
    metrics.collector.timeout = 0.3
    with psycopg.connect(db.url) as other:
        other.execute("LOCK TABLE targets IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        assert value(metrics.registry, "takedown_collector_up") == 0  # statement_timeout
        assert time.monotonic() - started < 2
    assert value(metrics.registry, "takedown_collector_up") == 1
