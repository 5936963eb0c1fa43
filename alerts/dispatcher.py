"""The dispatcher: claim due deliveries, send them, record every attempt.

One step claims one due row (``FOR UPDATE SKIP LOCKED``, so several
dispatchers share the queue), marks it ``sending`` with a lease (its
``next_attempt_at`` becomes the lease's end) and commits; then it sends,
outside any transaction; then it records the result and the attempt:

- delivered: ``sent`` (only now is "sent" logged);
- failed: ``failed``, due again after an exponential backoff with jitter, or
  ``dead`` once ``max_tries`` attempts have failed;
- the dispatcher died mid-send (SIGKILL, power loss): the lease runs out, the
  next step finds the row still ``sending``, logs the lost try as
  ``interrupted`` and sends again. Delivery is therefore at least once; the row
  becomes ``sent`` exactly once (finishing checks the try it claimed). The
  metrics count such a delivery ``resent``, not ``sent``: it may have arrived twice.

:func:`run_dispatcher` runs steps on the asyncio loop of ``takedown run`` (the
database and the sends go through :func:`asyncio.to_thread`);
:func:`dispatch_once` sends everything due now and returns the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from monitor.db import Database
from monitor.errors import TakedownError

from . import render, rules, store
from .channels import Content, DeliveryError, Sender, sender
from .config import AlertConfig
from .store import Conn

log = logging.getLogger(__name__)

__all__ = ["Dispatcher", "dispatch_once", "run_dispatcher", "build_content"]

WORKERS = 2  # concurrent sends in run_dispatcher


class Metrics(Protocol):
    def delivery(self, channel_type: str, result: str) -> None:
        """One attempt: sent, resent (sent after an interrupted try), failed or dead."""


class Dispatcher:
    def __init__(self, db: Database, config: AlertConfig, metrics: Metrics | None = None,
                 senders: Mapping[str, Sender] | None = None) -> None:
        self.db = db
        self.config = config
        self.metrics = metrics
        self.senders = dict(senders) if senders is not None else {
            name: sender(ch) for name, ch in config.channels.items()}
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def step(self, now: datetime | None = None) -> str | None:
        """Deliver one due row; returns sent, failed or dead, or None if nothing is due."""
        cfg = self.config
        now = now or datetime.now(UTC)
        with self.db.transaction() as conn:
            row = store.next_due(conn, now, list(self.senders))
            if row is None:
                return None
            channel = cfg.channels[row["channel"]]
            if row["state"] == "sending":
                claimed = row["claimed_at"] or now
                lost = (f"interrupted: {row['claimed_by']} claimed try {row['tries']} at "
                        f"{claimed:%Y-%m-%d %H:%M:%S} and did not finish within the lease")
                store.log_attempt(conn, row["id"], row["tries"], claimed, now, "interrupted",
                                  lost, row["claimed_by"])
                log.warning("alert %s to channel %s: %s", row["id"], channel.name, lost)
                if row["tries"] >= cfg.max_tries:
                    store.set_state(conn, row["id"], "dead", lost, now)
                    self._count(channel.type, "dead")
                    log.error("alert %s to channel %s is a dead letter after %d tries; "
                              "`takedown alerts retry` sends it again", row["id"],
                              channel.name, row["tries"])
                    return "dead"
            tries = store.start_sending(conn, row["id"], now,
                                        now + timedelta(seconds=cfg.lease), self.name)
            content: Content | None = None
            problem = None
            try:
                content = build_content(conn, row, cfg)
            except Exception as exc:  # a rendering bug: retried like a failed send
                log.exception("alert %s to channel %s could not be rendered", row["id"],
                              channel.name)
                problem = f"could not render the message: {exc!r}"
        started = time.monotonic()
        if content is not None:
            try:
                self.senders[channel.name].send(content)
            except DeliveryError as exc:
                problem = str(exc)
            except Exception as exc:  # never let one channel's bug stop the others
                log.exception("alert %s to channel %s: the sender crashed", row["id"],
                              channel.name)
                problem = f"sender crashed: {exc!r}"
        finished = now + timedelta(seconds=time.monotonic() - started)
        return self._finish(row, tries, channel.name, channel.type, problem, now, finished)

    def _finish(self, row: dict[str, Any], tries: int, name: str, kind: str,
                problem: str | None, now: datetime, finished: datetime) -> str:
        cfg = self.config
        if problem is None:
            result, due = "sent", None
        elif tries >= cfg.max_tries:
            result, due = "dead", finished
        else:
            wait = rules.backoff(tries, cfg.retry_base, cfg.retry_max, random.random())
            result, due = "failed", finished + timedelta(seconds=wait)
        with self.db.transaction() as conn:
            current = store.finish(conn, row["id"], tries, result, finished, due, problem)
            store.log_attempt(conn, row["id"], tries, now, finished, result, problem, self.name)
            # A re-send after an interrupted try that may have arrived: a possible
            # duplicate at the receiver, counted apart (the process that was cut off
            # counted nothing).
            resent = result == "sent" and current and store.was_interrupted(conn, row["id"])
        self._count(kind, "resent" if resent else result)
        what = f"{row['kind']} {row['event_id'] or row['id']}"
        if not current:
            log.warning("alert %s (%s) to channel %s: try %d ended (%s) after the lease ran "
                        "out; another dispatcher owns it now, so it may arrive twice",
                        row["id"], what, name, tries, result)
        elif result == "sent":
            log.info("alert %s (%s) sent to channel %s on try %d", row["id"], what, name, tries)
        elif result == "failed":
            log.warning("alert %s (%s) to channel %s failed on try %d of %d: %s; next try "
                        "at %s", row["id"], what, name, tries, cfg.max_tries, problem, due)
        else:
            log.error("alert %s (%s) to channel %s is a dead letter after %d tries: %s; "
                      "`takedown alerts retry` sends it again", row["id"], what, name, tries,
                      problem)
        return result

    def _count(self, kind: str, result: str) -> None:
        if self.metrics is not None:
            try:
                self.metrics.delivery(kind, result)
            except Exception:
                log.exception("metrics callback failed for a %s delivery", kind)


def build_content(conn: Conn, row: Mapping[str, Any], config: AlertConfig) -> Content:
    """Render one delivery row: an event, a burst message or a digest."""
    channel = config.channels[row["channel"]]
    fmt = channel.format
    payload = row["payload"] or {}
    if row["kind"] == "event":
        views = store.event_views(conn, [row["event_id"]])
        if not views:
            raise LookupError(f"event {row['event_id']} is gone from the database")
        v = views[0]
        return Content("event", f"event-{v['id']}", render.render_event(v, fmt), views,
                       urgent=v["kind"] in ("disappeared", "hidden"))
    if row["kind"] == "burst":
        ids = list(payload.get("members_before") or []) + store.members(conn, row["id"])
        views = store.event_views(conn, list(dict.fromkeys(ids)))
        info = {**payload, "earlier": payload.get("alerted") or [],
                "label": store.target_label(conn, payload.get("scope", ""),
                                            str(payload.get("key", "")))}
        extra = {"burst": {k: info.get(k) for k in ("burst", "scope", "key", "label",
                                                    "continued")}}
        return Content("burst", f"burst-{row['id']}", render.render_burst(views, info, fmt),
                       views, extra)
    views = store.event_views(conn, store.members(conn, row["id"]))
    tz = config.tz
    period = (datetime.fromisoformat(payload["start"]).astimezone(tz),
              datetime.fromisoformat(payload["end"]).astimezone(tz))
    extra = {"digest": {"period": payload.get("digest"), "start": payload["start"],
                        "end": payload["end"]}}
    return Content("digest", f"digest-{row['id']}",
                   render.render_digest(views, period, payload.get("digest", ""), fmt),
                   views, extra, urgent=any(v["kind"] in ("disappeared", "hidden")
                                            for v in views))


def dispatch_once(db: Database, config: AlertConfig, now: datetime | None = None,
                  metrics: Metrics | None = None, *,
                  senders: Mapping[str, Sender] | None = None) -> dict[str, int]:
    """Send every delivery due at ``now`` (default: the current time) once.

    Returns ``{"sent": n, "failed": n, "dead": n}``. A delivery that fails is
    due again only after its backoff, so this returns.
    """
    dispatcher = Dispatcher(db, config, metrics, senders)
    counts = {"sent": 0, "failed": 0, "dead": 0}
    while (result := dispatcher.step(now)) is not None:
        counts[result] += 1
    return counts


async def run_dispatcher(db: Database, config: AlertConfig, stop_event: asyncio.Event,
                         metrics: Metrics | None = None) -> None:
    """Deliver alerts until ``stop_event`` is set; sends in flight then finish.

    Polls every ``poll`` seconds when idle. A database outage is logged and
    waited out; it never ends the loop.
    """
    if not config.channels:
        log.info("no alert channels are configured; the dispatcher has nothing to do")
        await stop_event.wait()
        return
    dispatcher = Dispatcher(db, config, metrics)
    log.info("alert dispatcher %s started for channels %s", dispatcher.name,
             ", ".join(config.channels))

    async def worker() -> None:
        while not stop_event.is_set():
            try:
                result = await asyncio.to_thread(dispatcher.step)
            except TakedownError as exc:  # StorageUnavailable: the database is away
                log.warning("alert dispatcher %s: %s; retrying in %.0f s", dispatcher.name,
                            exc, config.poll)
                result = None
            except Exception:
                log.exception("alert dispatcher %s: unexpected error; retrying in %.0f s",
                              dispatcher.name, config.poll)
                result = None
            if result is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), config.poll)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    log.info("alert dispatcher %s stopped", dispatcher.name)
