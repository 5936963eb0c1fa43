"""Metrics: counters from committed batches, gauges from the database, the HTTP endpoint.

Each test builds its own ``CollectorRegistry`` and reads values with
``get_sample_value``; the database tests run against real PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from monitor.db import Database
from monitor.db import tracking as store
from monitor.errors import ConfigError
from monitor.events import Event
from monitor.metrics import LABELS, METRICS, Metrics, parse_address
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


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


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


# --- the database collector -------------------------------------------------------------


def targets() -> list[Target]:
    return [
        Target("journalists", "mastodon", "account", "alice", "https://ex.social", 60.0, ()),
        Target("journalists", "mastodon", "account", "bob", "https://ex.social", 60.0, ()),
        Target("journalists", "mastodon", "post", POST_URL, None, 60.0, ()),
        Target("activists", "rss", "feed", "https://news.example.org/feed.xml", None, 60.0, ()),
        Target("archive", "rss", "feed", "https://old.example.org/feed.xml", None, 60.0, ()),
    ]


@pytest.fixture
def tracked(db: Database) -> Database:
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


# --- names, labels and docs ----------------------------------------------------------------


def test_every_metric_is_named_and_labelled_as_documented(tracked: Database) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, tracked)
    with tracked.transaction() as conn:
        conn.execute("DROP TABLE IF EXISTS deliveries CASCADE")
        conn.execute("CREATE TABLE deliveries (id bigserial PRIMARY KEY, state text NOT NULL)")
    metrics.recorded([obs(), obs(mode="listing")], [event(), event(kind="edited", cause=None)])
    metrics.delivery("webhook", "sent")

    names = set()
    forbidden = {POST_URL, "110000000000000001", "alice", "mastodon:account:alice@ex.social",
                 "https://news.example.org/feed.xml"}
    for family in registry.collect():
        if family.name.startswith("process_"):  # prometheus_client's ProcessCollector
            continue
        # prometheus_client strips _total from a counter family's name.
        names.add(family.name + "_total" if family.type == "counter" else family.name)
        assert family.name.startswith("takedown_")
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= LABELS, sample
            assert not forbidden & set(sample.labels.values()), sample
            assert not any("://" in v for v in sample.labels.values()), sample
    assert names == set(METRICS)
    assert all(text.strip() for text in METRICS.values())


def test_build_info_and_process_metrics(registry: CollectorRegistry) -> None:
    import platform

    from monitor import __version__

    Metrics(registry)
    assert value(registry, "takedown_build_info", version=__version__,
                 python_version=platform.python_version()) == 1
    assert value(registry, "process_cpu_seconds_total") is not None
    assert (value(registry, "process_resident_memory_bytes") or 0) > 0
    assert (value(registry, "process_start_time_seconds") or 0) > 0


def test_the_default_registry_keeps_its_own_process_collector() -> None:
    """prometheus_client.REGISTRY has process_* already: no second collector (it would
    raise on duplicate names)."""
    from platform import python_version

    from prometheus_client import REGISTRY

    from monitor import __version__

    metrics = Metrics(REGISTRY)
    try:
        assert REGISTRY.get_sample_value("process_cpu_seconds_total") is not None
        assert REGISTRY.get_sample_value("takedown_build_info", {
            "version": __version__, "python_version": python_version()}) == 1
    finally:
        for collector in (*metrics.collectors, metrics.checks, metrics.events,
                          metrics.deliveries, metrics.check_duration, metrics.time_to_takedown):
            REGISTRY.unregister(collector)


# --- the HTTP endpoint -------------------------------------------------------------------


def scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.fixture
def no_multiproc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.mark.usefixtures("no_multiproc")
def test_serve_scrape_and_stop(tracked: Database) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, tracked)
    metrics.recorded([obs(outcome=Outcome.NOT_FOUND)], [event()])
    stop = metrics.serve("127.0.0.1:0")
    try:
        assert stop.host == "127.0.0.1" and stop.port > 0
        families = scrape(stop.port)
        checks = families["takedown_checks"]
        assert checks.type == "counter"
        assert [s.value for s in checks.samples if s.name == "takedown_checks_total"
                and s.labels["outcome"] == "not_found"] == [1.0]
        assert families["takedown_collector_up"].samples[0].value == 1.0
        assert families["takedown_time_to_takedown_seconds"].type == "histogram"
        assert {s.labels["platform"] for s in families["takedown_tracked_targets"].samples} == {
            "mastodon", "rss"}
        # No _created series: they double the series count and no rule reads them.
        samples = [s.name for f in families.values() for s in f.samples]
        assert samples and not [n for n in samples if n.endswith("_created")]
        assert families["takedown_build_info"].samples[0].value == 1.0
        assert "process_cpu_seconds" in families
    finally:
        stop()
    stop()  # idempotent
    with pytest.raises(urllib.error.URLError):
        scrape(stop.port)


@pytest.mark.usefixtures("no_multiproc")
def test_serve_port_in_use_is_a_config_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="Choose a free port"):
            Metrics().serve(f"127.0.0.1:{port}")


@pytest.mark.parametrize("address", ["9464", "localhost", "127.0.0.1:http", "127.0.0.1:70000",
                                     "::1:9464", "", "http://127.0.0.1:9464"])
def test_bad_address_is_a_config_error(address: str) -> None:
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:9464"):
        Metrics().serve(address)


@pytest.mark.parametrize("address,expected", [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)),
    (":9464", ("0.0.0.0", 9464)),
    ("[::1]:9464", ("::1", 9464)),
    (" localhost:0 ", ("localhost", 0)),
])
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


# --- several processes -------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys, urllib.request
    from monitor.metrics import Metrics
    from monitor.observation import Observation, Outcome

    metrics = Metrics()
    o = Observation(mode="probe", platform="rss", target_key="k", url="u", outcome=Outcome.OK,
                    elapsed_ms=50.0)
    metrics.recorded([o] * int(sys.argv[1]), [])
    if sys.argv[2] == "serve":
        stop = metrics.serve("127.0.0.1:0")
        with urllib.request.urlopen(f"http://127.0.0.1:{stop.port}/metrics") as resp:
            print(resp.read().decode())
        stop()
""")


def test_multiprocess_mode_adds_up_across_processes(tmp_path: Path) -> None:
    shared = tmp_path / "prom"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def child(count: int, mode: str) -> str:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(count), mode], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    child(2, "count")
    child(3, "count")
    families = {f.name: f for f in text_string_to_metric_families(child(1, "serve"))}
    ok = [s.value for s in families["takedown_checks"].samples
          if s.name == "takedown_checks_total" and s.labels.get("outcome") == "ok"]
    assert ok == [6.0]
    count = [s.value for s in families["takedown_check_duration_seconds"].samples
             if s.name == "takedown_check_duration_seconds_count"]
    assert count == [6.0]
