"""``takedown alerts``: test, list, retry, dispatch, status, through spiders.cli.Ctx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from alerts_world import SECRET, T0, Receiver, World, config, hook, outbox
from click.testing import CliRunner

from alerts import delivery_summary, verify
from alerts.cli import alerts_group, format_summary
from alerts.dispatcher import dispatch_once
from spiders.cli import Ctx


def runner_for(path: Path) -> tuple[CliRunner, click.Group]:
    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Ctx(path, 0)

    root.add_command(alerts_group)
    return CliRunner(), root


@pytest.fixture
def watchlist(tmp_path: Path, db_url: str, receiver: Receiver,
              monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    path = tmp_path / "watchlist.toml"
    path.write_text(f"""
[settings]
database_url = "{db_url}"

[groups.journalists]

[alerts]
max_tries = 2
retry_base = "1h"
[alerts.channels.hook]
type = "webhook"
url = "{receiver.url()}"
secret_env = "HOOK_SECRET"
timeout = "2s"
""", encoding="utf-8")
    return path


def test_alerts_test_sends_a_signed_test_message(watchlist: Path, receiver: Receiver) -> None:
    runner, root = runner_for(watchlist)
    result = runner.invoke(root, ["alerts", "test", "hook"])
    assert result.exit_code == 0, result.output
    assert "test message delivered to channel hook (http)" in result.output
    (got,) = receiver.received
    assert verify(got.body, got.headers, SECRET)
    doc = got.json()
    assert doc["type"] == "test" and "测试 🚨" in doc["message"]["body"]


def test_alerts_test_reports_a_failure(watchlist: Path, receiver: Receiver) -> None:
    receiver.answer("500")
    runner, root = runner_for(watchlist)
    result = runner.invoke(root, ["alerts", "test", "hook"])
    assert result.exit_code == 1
    assert "the test message was not delivered: HTTP 500" in result.output


def test_alerts_test_unknown_channel(watchlist: Path) -> None:
    runner, root = runner_for(watchlist)
    result = runner.invoke(root, ["alerts", "test", "newsroom"])
    assert result.exit_code == 1
    assert "no channel 'newsroom'; channels: hook" in result.output


def test_list_retry_dispatch_and_status(watchlist: Path, world: World,
                                        receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, max_tries=2, retry_base="1h")
    posts = [world.post(world.target(f"acct{i}"), f"p{i}", "text") for i in range(2)]
    world.record(outbox(cfg), *[world.event("disappeared", p, T0, "deleted_by_author")
                                for p in posts])
    receiver.answer(default="500")
    dispatch_once(world.db, cfg, now=T0)
    dispatch_once(world.db, cfg, now=T0 + timedelta(hours=3))
    assert [r["state"] for r in world.deliveries()] == ["dead", "dead"]

    runner, root = runner_for(watchlist)
    listed = runner.invoke(root, ["alerts", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("dead") == 2 and "HTTP 500" in listed.output
    assert "disappeared mastodon:p0" in listed.output
    assert "2 deliveries" in listed.output

    status = runner.invoke(root, ["alerts", "status"])
    assert "0 pending, 0 sending, 0 failed, 2 dead, 0 sent" in status.output
    assert "last failure:" in status.output and "HTTP 500" in status.output

    first = world.deliveries()[0]["id"]
    retried = runner.invoke(root, ["alerts", "retry", str(first)])
    assert retried.exit_code == 0 and "1 delivery back to pending" in retried.output
    assert [(r["state"], r["tries"]) for r in world.deliveries()] == [("pending", 0),
                                                                     ("dead", 2)]
    retried = runner.invoke(root, ["alerts", "retry"])
    assert "1 delivery back to pending" in retried.output

    receiver.answer(default="200")
    sent = runner.invoke(root, ["alerts", "dispatch"])
    assert sent.exit_code == 0, sent.output
    assert "sent 2, failed 0, dead 0" in sent.output
    assert [r["state"] for r in world.deliveries()] == ["sent", "sent"]
    listed = runner.invoke(root, ["alerts", "list"])
    assert "0 deliveries" in listed.output


def test_delivery_summary_and_its_line(world: World, receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())})
    with world.db.transaction() as conn:
        empty = delivery_summary(conn)
    assert empty["oldest_pending"] is None and empty["last_failure"] is None
    assert set(empty["states"].values()) == {0}
    post = world.post(world.target(), "p1", "text")
    world.record(outbox(cfg), world.event("disappeared", post, T0, "deleted_by_author"))
    with world.db.transaction() as conn:
        summary = delivery_summary(conn)
    assert summary["states"]["pending"] == 1
    created = summary["oldest_pending"]
    line = format_summary(summary, now=created + timedelta(minutes=14))
    assert line == "alerts: 1 pending, 0 sending, 0 failed, 0 dead, 0 sent; oldest unsent " \
                   "14 min old"
    assert created <= datetime.now(UTC)


def test_alerts_list_rejects_a_negative_limit(watchlist: Path) -> None:
    runner, root = runner_for(watchlist)
    result = runner.invoke(root, ["alerts", "list", "--limit", "-1"])
    assert result.exit_code == 2, result.output
    assert "--limit" in result.output and "-1" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
