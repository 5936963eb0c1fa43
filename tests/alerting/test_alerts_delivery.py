"""Real deliveries through Apprise (JSON to a local HTTP server, e-mail to a local SMTP
server), and receivers that fail: retries with backoff, dead letters, the attempts log."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from alerts_world import AR, EMOJI, HE, T0, ZH, Mailbox, Receiver, World, config, hook, outbox

from alerts.dispatcher import dispatch_once
from alerts.store import attempts, delivery_summary

S = timedelta(seconds=1)


class Metrics:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def delivery(self, channel_type: str, result: str) -> None:
        self.calls.append((channel_type, result))


def one_event(world: World, cfg: Any, text: str = f"{ZH} {EMOJI} {AR} {HE}") -> int:
    p = world.post(world.target(), "109", text, published_at=T0 - 20 * 60 * S)
    (e,) = world.record(outbox(cfg), world.event("disappeared", p, T0, "removed_by_platform"))
    assert e.id is not None
    return e.id


def test_apprise_json_to_a_local_receiver(world: World, receiver: Receiver) -> None:
    cfg = config({"desk": {"url": receiver.url("/notify", scheme="json"), "format": "text"}})
    metrics = Metrics()
    one_event(world, cfg)
    assert dispatch_once(world.db, cfg, now=T0, metrics=metrics)["sent"] == 1
    (got,) = receiver.received
    doc = got.json()  # Apprise's json:// plugin: {"title", "message", "type", …}
    assert doc["title"].startswith("Post disappeared: alice on mastodon")
    message = doc["message"]
    for text in (ZH, EMOJI, AR, HE, "HTTP 410", "This post was removed", "ab" * 32,
                 "vantage de-fra", "gone 15 min after posting"):
        assert text in message, text
    assert doc["type"] == "warning"
    assert metrics.calls == [("apprise", "sent")]
    (row,) = world.deliveries()
    assert row["state"] == "sent" and row["tries"] == 1
    assert T0 <= row["sent_at"] < T0 + 5 * S


def test_apprise_email_to_a_local_smtp_server(world: World, smtp: Mailbox) -> None:
    url = (f"mailto://127.0.0.1:{smtp.port}?mode=insecure&from=monitor@example.org"
           "&to=desk@example.org")
    cfg = config({"mail": {"url": url, "format": "markdown"}})
    one_event(world, cfg)
    assert dispatch_once(world.db, cfg, now=T0)["sent"] == 1
    (msg,) = smtp.wait_for(1)
    assert msg["To"] == "desk@example.org"
    assert "Post disappeared" in msg["Subject"]
    parts = [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
    text = "\n".join(parts)
    for expected in (ZH, EMOJI, AR, HE, "HTTP 410", "This post was removed", "ab" * 32):
        assert expected in text, expected


@pytest.mark.parametrize("failure", ["500", "drop", "stall", "refused"])
def test_failing_receivers_are_retried_with_backoff_then_dead(
        world: World, receiver: Receiver, refused: str, failure: str,
        caplog: pytest.LogCaptureFixture) -> None:
    url = refused if failure == "refused" else receiver.url()
    cfg = config({"hook": hook(url, timeout="0.3s")}, max_tries=3, retry_base="10s",
                 retry_max="1h", lease="5s")
    if failure == "stall":
        receiver.answer(default="stall:2")
    elif failure != "refused":
        receiver.answer(default=failure)
    metrics = Metrics()
    one_event(world, cfg)
    caplog.set_level(logging.INFO, logger="alerts")
    now = T0
    results = []
    waits = []
    for _ in range(3):
        counts = dispatch_once(world.db, cfg, now=now, metrics=metrics)
        results.append(counts)
        (row,) = world.deliveries()
        waits.append((row["next_attempt_at"] - now).total_seconds())
        now = row["next_attempt_at"]
    assert results == [{"sent": 0, "failed": 1, "dead": 0}] * 2 + [
        {"sent": 0, "failed": 0, "dead": 1}]
    # Backoff: 10 s doubling, half of it jitter: [5, 10) then [10, 20).
    assert 5 <= waits[0] < 10.5 and 10 <= waits[1] < 20.5
    (row,) = world.deliveries()
    assert row["state"] == "dead" and row["tries"] == 3
    with world.db.transaction() as conn:
        log = attempts(conn, row["id"])
    assert [(a["try"], a["result"]) for a in log] == [(1, "failed"), (2, "failed"), (3, "dead")]
    expected = {"500": "HTTP 500", "drop": "no answer", "stall": "no answer",
                "refused": "no answer"}[failure]
    assert all(expected in a["error"] for a in log), [a["error"] for a in log]
    assert row["last_error"] == log[-1]["error"]
    assert metrics.calls == [("webhook", "failed"), ("webhook", "failed"), ("webhook", "dead")]
    # Never "sent" in the log for a delivery that was not delivered.
    assert not [r for r in caplog.records if " sent to channel" in r.getMessage()]
    assert any("dead letter" in r.getMessage() and "hook" in r.getMessage()
               for r in caplog.records)
    # Nothing more is due: a dead letter waits for `takedown alerts retry`.
    assert dispatch_once(world.db, cfg, now=now + timedelta(days=1)) == {
        "sent": 0, "failed": 0, "dead": 0}
    with world.db.transaction() as conn:
        summary = delivery_summary(conn)
    assert summary["states"]["dead"] == 1
    assert summary["last_failure"]["channel"] == "hook"


def test_apprise_failure_is_a_failed_attempt_with_apprise_s_reason(
        world: World, receiver: Receiver) -> None:
    receiver.answer(default="500")
    token = "tok3nSECRETvalue"
    cfg = config({"desk": {"url": receiver.url(f"/{token}", scheme="json")}}, max_tries=2)
    one_event(world, cfg)
    assert dispatch_once(world.db, cfg, now=T0)["failed"] == 1
    (row,) = world.deliveries()
    assert row["state"] == "failed"
    assert "500" in row["last_error"]
    assert token not in row["last_error"]


def test_a_recovered_receiver_gets_the_alert_once(world: World, receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, retry_base="30s")
    receiver.answer("500", "500")
    one_event(world, cfg)
    now: datetime = T0
    for _ in range(3):
        dispatch_once(world.db, cfg, now=now)
        now += timedelta(hours=1)
    assert len(receiver.received) == 3
    (row,) = world.deliveries()
    assert row["state"] == "sent" and row["tries"] == 3 and row["last_error"] is None
    with world.db.transaction() as conn:
        assert [a["result"] for a in attempts(conn, row["id"])] == ["failed", "failed", "sent"]


def test_a_removed_channel_leaves_its_deliveries_pending(world: World,
                                                         receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())})
    one_event(world, cfg)
    other = config({"other": hook(receiver.url("/other"))})
    assert dispatch_once(world.db, other, now=T0) == {"sent": 0, "failed": 0, "dead": 0}
    assert world.deliveries()[0]["state"] == "pending"


def test_an_interrupted_last_try_becomes_a_dead_letter(world: World, receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, max_tries=2)
    one_event(world, cfg)
    with world.db.transaction() as conn:  # as a dispatcher killed on its last try leaves it
        conn.execute("UPDATE deliveries SET state = 'sending', tries = 2, "
                     "claimed_at = %s, claimed_by = 'host:123', next_attempt_at = %s",
                     (T0, T0 + 120 * S))
    assert dispatch_once(world.db, cfg, now=T0 + 60 * S)["dead"] == 0  # lease still running
    metrics = Metrics()
    assert dispatch_once(world.db, cfg, now=T0 + 121 * S, metrics=metrics) == {
        "sent": 0, "failed": 0, "dead": 1}
    assert metrics.calls == [("webhook", "dead")]
    (row,) = world.deliveries()
    assert row["state"] == "dead" and "host:123 claimed try 2" in row["last_error"]
    with world.db.transaction() as conn:
        assert [a["result"] for a in attempts(conn, row["id"])] == ["interrupted"]
    assert receiver.received == []


def interrupt(world: World, tries: int = 1) -> None:
    """Leave the delivery as a dispatcher killed mid-send leaves it."""
    with world.db.transaction() as conn:
        conn.execute("UPDATE deliveries SET state = 'sending', tries = %s, "
                     "claimed_at = %s, claimed_by = 'host:123', next_attempt_at = %s",
                     (tries, T0, T0 + 120 * S))


def test_a_send_after_an_interrupted_try_is_counted_as_resent(world: World,
                                                              receiver: Receiver) -> None:
    """The interrupted try may have arrived: its re-send is a possible duplicate, counted
    apart from first sends so at-least-once duplicates show in the metrics."""
    from monitor.metrics import Metrics as Real

    cfg = config({"hook": hook(receiver.url())})
    one_event(world, cfg)
    interrupt(world)
    metrics = Metrics()
    assert dispatch_once(world.db, cfg, now=T0 + 121 * S, metrics=metrics)["sent"] == 1
    assert metrics.calls == [("webhook", "resent")]
    # The real counter.
    real = Real()
    interrupt(world)
    dispatch_once(world.db, cfg, now=T0 + 121 * S, metrics=real)
    get = real.registry.get_sample_value
    labels = {"channel_type": "webhook"}
    assert get("takedown_alert_delivery_attempts_total", {**labels, "result": "resent"}) == 1
    assert get("takedown_alert_delivery_attempts_total", {**labels, "result": "sent"}) == 0
    assert get("takedown_alert_delivery_attempts_total", {**labels, "result": "failed"}) == 0


def test_a_later_success_after_an_interrupted_try_is_still_resent(world: World,
                                                                  receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, retry_base="1s")
    one_event(world, cfg)
    interrupt(world)
    receiver.answer("500")
    metrics = Metrics()
    assert dispatch_once(world.db, cfg, now=T0 + 121 * S, metrics=metrics)["failed"] == 1
    assert dispatch_once(world.db, cfg, now=T0 + 200 * S, metrics=metrics)["sent"] == 1
    assert metrics.calls == [("webhook", "failed"), ("webhook", "resent")]
    # A delivery never interrupted is plainly sent.
    other = Metrics()
    p = world.post(world.target("bob"), "110", "text")
    world.record(outbox(cfg), world.event("disappeared", p, T0, "deleted_by_author"))
    assert dispatch_once(world.db, cfg, now=T0 + 300 * S, metrics=other)["sent"] == 1
    assert other.calls == [("webhook", "sent")]


def test_a_send_that_outlives_its_lease_is_taken_over(world: World, receiver: Receiver,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The slow first dispatcher finishes after a second one took the row over: the row
    is sent once, the receiver gets it twice, and the log says so."""
    from alerts.channels import sender
    from alerts.dispatcher import Dispatcher

    cfg = config({"hook": hook(receiver.url())}, lease="10s")
    one_event(world, cfg)
    real = sender(cfg.channels["hook"])
    other = Dispatcher(world.db, cfg)

    class Slow:
        channel = real.channel

        def send(self, content: Any) -> None:
            assert other.step(now=T0 + 11 * S) == "sent"  # the lease ran out meanwhile
            real.send(content)

    caplog.set_level(logging.WARNING, logger="alerts")
    assert dispatch_once(world.db, cfg, now=T0, senders={"hook": Slow()})["sent"] == 1
    (row,) = world.deliveries()
    assert row["state"] == "sent" and row["tries"] == 2
    assert len(receiver.received) == 2
    with world.db.transaction() as conn:
        log = [(a["try"], a["result"]) for a in attempts(conn, row["id"])]
    assert log == [(1, "interrupted"), (2, "sent"), (1, "sent")]
    assert any("after the lease ran out" in r.getMessage() for r in caplog.records)
