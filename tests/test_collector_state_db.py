"""Collector health through the Recorder into real PostgreSQL: an outage pauses
classification, resumes by itself, survives a restart, and never hides a real removal."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from collector_support import SETTINGS, Feeds, at
from prometheus_client import CollectorRegistry

from monitor.db import Database
from monitor.db import collector as collector_store
from monitor.metrics import Metrics
from monitor.observation import Outcome
from monitor.signals import SignalManager
from monitor.snapshot import Recorder

OK, NF, BOT = Outcome.OK, Outcome.NOT_FOUND, Outcome.ANTI_BOT


def paused_gauge(registry: CollectorRegistry, state: str, platform: str = "rss",
                 vantage: str = "local") -> float | None:
    return registry.get_sample_value("takedown_collector_paused", {
        "platform": platform, "vantage": vantage, "state": state})


@pytest.fixture
def feeds(db: Database) -> Feeds:
    world = Feeds(db, 10)
    world.record([world.listing(i, i * 0.1) for i in range(10)])
    assert world.states() == {"visible": 20}
    return world


def test_ten_feeds_answering_404_at_once_are_an_outage_not_removals(feeds: Feeds) -> None:
    registry = CollectorRegistry()
    signals = SignalManager()
    metrics = Metrics(registry, feeds.db)
    metrics.connect(signals)
    feeds.recorder.signals = signals
    assert paused_gauge(registry, "outage") is None  # never paused: no series

    assert feeds.record([feeds.listing(i, 3 + i * 0.1, NF) for i in range(10)]) == []
    assert feeds.states() == {"visible": 20}  # not one post suspect
    state = feeds.one("SELECT state, since, reason FROM collector_state")
    assert state["state"] == "outage" and state["since"] == at(3.7)
    assert state["reason"] == "outage: 8 of 10 targets answered absent (not_found) within 10m"
    assert paused_gauge(registry, "outage") == 1
    assert paused_gauge(registry, "blocked") == 0
    assert registry.get_sample_value("takedown_collector_paused_observations_total", {
        "platform": "rss", "vantage": "local", "state": "outage"}) == 10
    stored = feeds.all("SELECT signals FROM observations WHERE outcome = 'not_found'")
    assert len(stored) == 10
    assert all(r["signals"]["collector_paused"] == state["reason"] for r in stored)

    # Probes that keep answering 404 during the outage decide nothing either.
    assert feeds.record([feeds.probe(i, 1, 5, NF) for i in range(10)]) == []
    assert feeds.record([feeds.probe(i, 1, 11, NF) for i in range(10)]) == []
    assert feeds.states() == {"visible": 20} and feeds.events() == 0

    # Back to normal: resumes by itself, still no event.
    assert feeds.record([feeds.listing(i, 14 + i * 0.1) for i in range(10)]) == []
    state = feeds.one("SELECT state, since, reason FROM collector_state")
    assert (state["state"], state["since"]) == ("ok", at(14.2))
    assert state["reason"] == "resumed: 3 answers about content in a row"
    assert [(r["previous"], r["state"]) for r in feeds.all(
        "SELECT previous, state FROM collector_state_changes ORDER BY at")] == [
        ("ok", "outage"), ("outage", "ok")]
    assert paused_gauge(registry, "outage") == 0
    assert feeds.states() == {"visible": 20} and feeds.events() == 0


def test_a_single_feed_404_with_confirmed_probes_still_makes_its_events(feeds: Feeds) -> None:
    batch = [feeds.listing(i, 3 + i * 0.1, NF if i == 3 else OK) for i in range(10)]
    assert feeds.record(batch) == []
    assert feeds.one("SELECT state FROM posts WHERE post_key = 'c3-1'")["state"] == "suspect"
    events = feeds.record([feeds.probe(3, k, 4, NF) for k in (1, 2)])
    events += feeds.record([feeds.probe(3, k, 10, NF) for k in (1, 2)])
    events += feeds.record([feeds.listing(3, 10.5, NF)])
    events += feeds.record([feeds.probe(3, k, 16, NF) for k in (1, 2)])
    assert sorted(e.post_key for e in events if e.kind == "disappeared") == ["c3-1", "c3-2"]
    assert feeds.all("SELECT * FROM collector_state") == []


def test_a_blocked_vantage_does_not_pause_another(feeds: Feeds) -> None:
    feeds.record([feeds.listing(i, 2 + i * 0.1, BOT, vantage="de") for i in range(5)])
    with feeds.db.transaction() as conn:
        [blocked] = collector_store.paused(conn)
    assert (blocked["state"], blocked["vantage"]) == ("blocked", "de")
    assert blocked["reason"] == "blocked: 5 of 5 checks in 10m were blocked (anti_bot)"
    feeds.record([feeds.listing(5, 3, NF, vantage="de"), feeds.listing(6, 3, NF)])
    states = {r["post_key"]: r["state"] for r in feeds.all("SELECT post_key, state FROM posts")}
    assert states["c5-1"] == states["c5-2"] == "visible"  # paused: blocked at "de"
    assert states["c6-1"] == states["c6-2"] == "suspect"  # "local" is healthy


def test_the_state_survives_a_new_recorder(feeds: Feeds) -> None:
    feeds.record([feeds.listing(i, 3 + i * 0.1, NF) for i in range(8)])
    assert feeds.states() == {"visible": 20}
    later = Recorder(feeds.db, SETTINGS)  # a restarted process
    feeds.recorder = later
    feeds.record([feeds.listing(9, 5, NF)])
    assert feeds.one("SELECT state FROM posts WHERE post_key = 'c9-1'")["state"] == "visible"
    assert later.health.paused() == {
        ("rss", "local"): "outage: 8 of 10 targets answered absent (not_found) within 10m"}


def test_a_rolled_back_batch_leaves_no_state_and_the_next_one_writes_it(feeds: Feeds) -> None:
    health = feeds.recorder.health
    batch = [feeds.listing(i, 3 + i * 0.1, NF) for i in range(10)]
    with pytest.raises(RuntimeError), feeds.db.transaction() as conn:
        health.screen(batch, conn)
        raise RuntimeError("the batch failed after screening")
    assert feeds.all("SELECT * FROM collector_state") == []
    assert feeds.record(batch) == []  # the same observations again, as the recorder retries
    assert feeds.one("SELECT state FROM collector_state")["state"] == "outage"
    assert len(feeds.all("SELECT * FROM collector_state_changes")) == 1


def test_status_lists_paused_collectors(feeds: Feeds, tmp_path: Path) -> None:
    from spiders.cli import cli

    feeds.record([feeds.listing(i, 3 + i * 0.1, NF) for i in range(10)])
    watchlist = tmp_path / "w.toml"
    watchlist.write_text('[groups.g]\n[[groups.g.targets]]\nplatform = "rss"\n'
                         'feed = "https://feeds.example.org/channel0.xml"\n', encoding="utf-8")
    env = {"TAKEDOWN_DATABASE_URL": feeds.db.url, "TAKEDOWN_WATCHLIST": str(watchlist)}
    result = CliRunner().invoke(cli, ["status"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 collector(s) paused" in result.output
    assert ("rss via local: outage since 2026-08-01T12:03:42+00:00: outage: 8 of 10 "
            "targets answered absent (not_found) within 10m") in result.output


def test_the_api_status_lists_paused_collectors(feeds: Feeds) -> None:
    from fastapi.testclient import TestClient

    from monitor.api import create_app
    from monitor.db.access import create_token
    from monitor.settings import Settings

    feeds.record([feeds.listing(i, 3 + i * 0.1, NF) for i in range(10)])
    with feeds.db.transaction() as conn:
        _, secret = create_token(conn, "collector-tests", "viewer")
    app = create_app(Settings.load({}, environ={}), feeds.db)
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as client:
        body = client.get("/api/v1/status").json()
        page = client.get("/status")
    [paused] = body["paused"]
    assert (paused["platform"], paused["vantage"], paused["state"]) == ("rss", "local",
                                                                         "outage")
    assert paused["since"] == "2026-08-01T12:03:42Z"
    # The status page shows it too, with its reason.
    assert page.status_code == 200
    assert 'id="paused-h"' in page.text and "outage: 8 of 10 targets answered absent" in page.text


def test_healthy_batches_cost_no_collector_state_query(feeds: Feeds) -> None:
    """Screening is on every batch's path: while every pair is healthy and its stored
    row settled, a batch neither reads nor writes collector_state (proved by taking the
    table away: a query would fail the batch). A change of state is still written."""
    feeds.record([feeds.listing(i, 1 + i * 0.1) for i in range(10)])  # loads, settles
    with feeds.db.transaction() as conn:
        conn.execute("ALTER TABLE collector_state RENAME TO collector_state_away")
    try:
        for round_ in range(3):
            feeds.record([feeds.listing(i, 2 + round_ + i * 0.01) for i in range(10)])
    finally:
        with feeds.db.transaction() as conn:
            conn.execute("ALTER TABLE collector_state_away RENAME TO collector_state")
    # A query would fail the batch: split, then each observation unstorable.
    stats = feeds.recorder.stats
    assert (stats["unstorable"], stats["malformed"]) == (0, 0) and stats["batches"] >= 4
    feeds.record([feeds.listing(i, 6 + i * 0.1, NF) for i in range(10)])
    assert feeds.one("SELECT state FROM collector_state")["state"] == "outage"
    # Resumed: written once, then settled again.
    feeds.record([feeds.listing(i, 8 + i * 0.1) for i in range(10)])
    assert feeds.one("SELECT state FROM collector_state")["state"] == "ok"
    assert [r["state"] for r in feeds.all(
        "SELECT state FROM collector_state_changes ORDER BY id")] == ["outage", "ok"]
