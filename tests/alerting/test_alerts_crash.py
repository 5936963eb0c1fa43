"""A dispatcher killed mid-delivery loses no alert; run_dispatcher on an asyncio loop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from alerts_world import SECRET, Receiver, World, config, hook, outbox

from alerts import verify
from alerts.dispatcher import dispatch_once, run_dispatcher
from alerts.store import attempts

DISPATCHER = """
import asyncio, json, logging, sys
from alerts.config import load_config
from alerts.dispatcher import run_dispatcher
from monitor.db import Database
logging.basicConfig(level=logging.INFO)
db = Database(sys.argv[1])
cfg = load_config(json.loads(sys.argv[2]), environ={"HOOK_SECRET": sys.argv[3]})
asyncio.run(run_dispatcher(db, cfg, asyncio.Event()))
"""


def start(db_url: str, raw: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", DISPATCHER, db_url, json.dumps(raw), SECRET],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def output_of(proc: subprocess.Popen[bytes]) -> str:
    """The dispatcher's log, for a failure message (stops it first)."""
    proc.kill()
    _, err = proc.communicate(timeout=10)
    return err.decode(errors="replace")[-5000:]


def wait_until(predicate: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_delivery_loses_no_alert(world: World, receiver: Receiver,
                                             db_url: str) -> None:
    raw: dict[str, Any] = {"channels": {"hook": hook(receiver.url(), timeout="1s")}, "lease": "3s",
           "poll": "0.1s", "max_tries": 5}
    cfg = config(raw["channels"], **{k: v for k, v in raw.items() if k != "channels"})
    now = datetime.now(UTC)
    post = world.post(world.target(), "109", "警方清场 🚨")
    (event,) = world.record(outbox(cfg, now), world.event("disappeared", post, now,
                                                          "removed_by_platform"))
    receiver.answer("stall:30")  # the first request hangs: the dispatcher is mid-send

    first = start(db_url, raw)
    try:
        assert receiver.wait_for(1, timeout=15), output_of(first)
        (row,) = world.deliveries()
        assert row["state"] == "sending" and row["tries"] == 1
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    assert first.returncode == -signal.SIGKILL
    (row,) = world.deliveries()
    assert row["state"] == "sending"  # nobody finished it: the lease will run out

    second = start(db_url, raw)
    try:
        assert wait_until(lambda: world.deliveries()[0]["state"] == "sent"), output_of(second)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=10)

    (row,) = world.deliveries()
    assert row["state"] == "sent" and row["tries"] == 2
    with world.db.transaction() as conn:
        log = attempts(conn, row["id"])
    assert [(a["try"], a["result"]) for a in log] == [(1, "interrupted"), (2, "sent")]
    assert "did not finish within the lease" in log[0]["error"]
    # At least once: the receiver saw it twice, under one idempotency key, signed.
    assert len(receiver.received) == 2
    keys = {r.headers["Idempotency-Key"] for r in receiver.received}
    assert keys == {f"event-{event.id}"}
    assert all(verify(r.body, r.headers, SECRET) for r in receiver.received)
    # And the row is sent exactly once: nothing is due any more.
    assert dispatch_once(world.db, cfg) == {"sent": 0, "failed": 0, "dead": 0}


def test_run_dispatcher_sends_on_the_loop_and_stops(world: World, receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, poll="0.05s")
    now = datetime.now(UTC)
    posts = [world.post(world.target(f"acct{i}"), f"p{i}", f"post {i}") for i in range(3)]
    world.record(outbox(cfg, now), *[world.event("disappeared", p, now, "deleted_by_author")
                                     for p in posts])
    calls: list[tuple[str, str]] = []

    class Metrics:
        def delivery(self, channel_type: str, result: str) -> None:
            calls.append((channel_type, result))

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_dispatcher(world.db, cfg, stop, Metrics()))
        for _ in range(200):
            if len(receiver.received) >= 3:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert sorted(r.json()["event"]["post_key"] for r in receiver.received) == ["p0", "p1", "p2"]
    assert [r["state"] for r in world.deliveries()] == ["sent"] * 3
    assert calls == [("webhook", "sent")] * 3


def test_run_dispatcher_waits_out_a_database_outage(world: World, receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, poll="0.05s")

    class Broken:
        def transaction(self) -> Any:
            from monitor.errors import StorageUnavailable

            raise StorageUnavailable("the database is unavailable (server closed the "
                                     "connection)")

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_dispatcher(Broken(), cfg, stop))
        await asyncio.sleep(0.2)
        assert not task.done()  # still polling, not crashed
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
