"""The real hook: an Outbox connected to the recorder's events_stored signal writes
deliveries in the transaction that stores the events, from real observations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alerts_world import T0, ZH, Receiver, config, hook

from alerts import Outbox
from alerts.dispatcher import dispatch_once
from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.signals import SignalManager, events_stored
from monitor.snapshot import Recorder
from monitor.watchlist import Target

SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m"},
                         environ={})


def entry(key: str, text: str, minutes_old: int) -> PostContent:
    return PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                       probe_url=f"https://ex.social/api/v1/statuses/{key}", text=text,
                       author="alice", published_at=T0 - timedelta(minutes=minutes_old))


def one(conn: Any, query: str, *args: Any) -> dict[str, Any]:
    row = conn.execute(query, args).fetchone()
    assert row is not None
    return dict(row)


class Feed:
    def __init__(self, db: Database, outbox: Any) -> None:
        self.db = db
        signals = SignalManager()
        signals.connect(outbox, events_stored)
        self.recorder = Recorder(db, SETTINGS, signals=signals)
        target = Target(group="journalists", platform="mastodon", kind="account",
                        value="alice", base_url="https://ex.social", interval=60.0, tags=())
        with db.transaction() as conn:
            store.sync_targets(conn, [target], 600)
            row = one(conn, "SELECT id, key FROM targets")
        self.target_id, self.key = row["id"], row["key"]

    def listing(self, minute: int, entries: list[PostContent]) -> list[Any]:
        return self.recorder.record([Observation(
            mode="listing", platform="mastodon", target_key=self.key, url="alice",
            outcome=Outcome.OK, row_id=self.target_id, entries=entries,
            observed_at=T0 + timedelta(minutes=minute), http_status=200)])

    def probe(self, key: str, minute: int, status: int) -> list[Any]:
        with self.db.transaction() as conn:
            post_id = one(conn, "SELECT id FROM posts WHERE post_key = %s", key)["id"]
        return self.recorder.record([Observation(
            mode="probe", platform="mastodon", target_key=self.key,
            url=f"https://ex.social/api/v1/statuses/{key}", outcome=Outcome.GONE,
            row_id=post_id, post_key=key, http_status=status, body_hash="cd" * 32,
            message="This post is gone", observed_at=T0 + timedelta(minutes=minute))])


@pytest.fixture
def receiver_cfg(receiver: Receiver) -> Any:
    return config({"hook": hook(receiver.url())}, alert_on_edits=True)


def test_a_confirmed_disappearance_is_alerted_with_its_evidence(
        db: Database, receiver: Receiver, receiver_cfg: Any) -> None:
    feed = Feed(db, Outbox(receiver_cfg, clock=lambda: T0))
    feed.listing(0, [entry("2", f"second {ZH}", 14), entry("1", "first", 20)])
    feed.listing(1, [entry("2", f"second {ZH}, edited", 14), entry("1", "first", 20)])
    for minute in (2, 8):
        events = feed.probe("1", minute, 410)
    assert [e.kind for e in events] == ["disappeared"]
    with db.transaction() as conn:
        rows = conn.execute("SELECT d.state, e.kind FROM deliveries d "
                            "JOIN events e ON e.id = d.event_id ORDER BY d.id").fetchall()
    assert [(r["kind"], r["state"]) for r in rows] == [("edited", "pending"),
                                                       ("disappeared", "pending")]
    assert dispatch_once(db, receiver_cfg, now=T0 + timedelta(minutes=9))["sent"] == 2
    edit, gone = (r.json() for r in receiver.received)
    assert edit["event"]["kind"] == "edited"
    assert "{+, edited+}" in edit["event"]["edit"]["rendered"]
    assert "{+, edited+}" in edit["message"]["body"]
    observed = gone["event"]["evidence"]["observed"]
    assert observed["http_status"] == 410 and observed["body_hash"] == "cd" * 32
    assert observed["message"] == "This post is gone"
    assert len(gone["event"]["evidence"]["suspicion"]["probes"]) == 2
    body = gone["message"]["body"]
    assert "HTTP 410" in body and "This post is gone" in body and "cd" * 32 in body
    assert "after posting" in body  # published 20 min before T0


def test_events_and_deliveries_commit_together(db: Database, receiver_cfg: Any) -> None:
    """If the batch fails after the outbox ran, neither the event nor its alert stays."""

    def failing(conn: Any, events: list[Any]) -> None:
        Outbox(receiver_cfg, clock=lambda: T0)(conn, events)
        raise RuntimeError("crash after the outbox, before commit")

    feed = Feed(db, failing)
    feed.listing(0, [entry("1", "first", 20)])
    feed.probe("1", 2, 410)
    # The recorder isolates the failing observation: it is stored as malformed instead.
    assert feed.probe("1", 8, 410) == []
    with db.transaction() as conn:
        assert one(conn, "SELECT count(*) AS n FROM events")["n"] == 0
        assert one(conn, "SELECT count(*) AS n FROM deliveries")["n"] == 0


def test_a_bug_in_the_rules_still_leaves_a_plain_alert(db: Database, receiver_cfg: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from alerts import rules

    def broken(*args: Any, **kw: Any) -> bool:
        raise ValueError("bug")

    monkeypatch.setattr(rules, "is_flap", broken)
    feed = Feed(db, Outbox(receiver_cfg, clock=lambda: T0))
    feed.listing(0, [entry("1", "first", 20)])
    feed.probe("1", 2, 410)
    assert [e.kind for e in feed.probe("1", 8, 410)] == ["disappeared"]
    with db.transaction() as conn:
        rows = conn.execute("SELECT state, channel FROM deliveries").fetchall()
        marks = one(conn, "SELECT count(*) AS n FROM alert_marks")["n"]
    assert [(r["state"], r["channel"]) for r in rows] == [("pending", "hook")]
    assert marks == 0  # the savepoint rolled the half-done decision back


def test_a_connection_fault_in_the_outbox_retries_the_batch_not_the_fallback(
        db: Database, receiver_cfg: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The driver's fault inside the outbox comes out as StorageUnavailable: the whole
    batch (events and deliveries) is retried, never the plain-alert fallback."""
    import psycopg

    from alerts import store as alert_store

    real, faults = alert_store.has_mark, []

    def lost(conn: Any, event_id: int) -> bool:
        if not faults:
            faults.append(event_id)
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(conn, event_id)

    monkeypatch.setattr(alert_store, "has_mark", lost)
    feed = Feed(db, Outbox(receiver_cfg, clock=lambda: T0))
    feed.recorder.sleep = lambda seconds: None
    feed.listing(0, [entry("1", "first", 20)])
    feed.probe("1", 2, 410)
    assert [e.kind for e in feed.probe("1", 8, 410)] == ["disappeared"]
    assert len(faults) == 1 and feed.recorder.stats["db_retries"] == 1
    assert "alert rules failed" not in caplog.text
    with db.transaction() as conn:
        rows = conn.execute("SELECT state FROM deliveries").fetchall()
        marks = one(conn, "SELECT count(*) AS n FROM alert_marks")["n"]
    assert [r["state"] for r in rows] == ["pending"] and marks == 1


class InProcess:
    """A Feed's ``recorder`` that records through a recorder process (RECORDER =
    process): the outbox travels to the child and writes deliveries there."""

    def __init__(self, db: Database, outbox: Any, tmp_path: Any) -> None:
        from monitor.recorder_process import RecorderProcess
        from monitor.signals import batch_committed
        from monitor.spool import Spool

        signals = SignalManager()
        signals.connect(outbox, events_stored)
        self.events: list[Any] = []
        signals.connect(lambda observations, events: self.events.extend(events),
                        batch_committed)
        self.process = RecorderProcess(db, SETTINGS, signals=signals,
                                       spool=Spool(tmp_path / "spool"), batch_size=50)

    def record(self, observations: list[Observation]) -> list[Any]:
        self.events.clear()
        self.process.open()
        for obs in observations:
            assert self.process.put(obs)
        self.process.close()
        return list(self.events)


def test_the_outbox_writes_deliveries_from_a_recorder_process(
        db: Database, receiver_cfg: Any, tmp_path: Any) -> None:
    """The daemon's default: the outbox (its default clock included) is sent to the
    recorder process and writes each delivery in the events' own transaction there."""
    feed = Feed(db, Outbox(receiver_cfg))
    feed.recorder = InProcess(db, Outbox(receiver_cfg), tmp_path)  # type: ignore[assignment]
    try:
        feed.listing(0, [entry("1", "first", 20)])
        for minute in (2, 8):
            events = feed.probe("1", minute, 410)
        assert [e.kind for e in events] == ["disappeared"]
        with db.transaction() as conn:
            rows = conn.execute("SELECT d.state, e.kind FROM deliveries d "
                                "JOIN events e ON e.id = d.event_id").fetchall()
        assert [(r["kind"], r["state"]) for r in rows] == [("disappeared", "pending")]
    finally:
        feed.recorder.process.shutdown()  # type: ignore[attr-defined]
