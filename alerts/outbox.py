"""The outbox: pending alert deliveries, written in the same transaction as their events.

``monitor.db.tracking.apply`` calls an :class:`Outbox` with the events it has
just stored. For each event the outbox decides, once, what the rules make of it
(:mod:`alerts.rules`), records that in ``alert_marks``, and writes one delivery
row per matching channel (``UNIQUE (event_id, channel)``):

- ``pending``: sent on its own, now (a disappearance: after ``grouping_delay``);
- ``folded`` into a burst message (mass deletion) or into the channel's digest;
- ``suppressed``: a flap inside ``flap_cooldown``; the row says so.

Because the rows commit with the events, an event is never stored without its
alerts, and a crash before commit loses neither. :mod:`alerts.dispatcher` sends
them.

Bursts: the first K-1 disappearances of an account (or group) are alerted one
by one as they come; the K-th starts a burst whose single message waits
``burst_hold`` to collect the rest of the wave, listing every post (those
already alerted are marked). A disappearance alert that has not gone out yet
when the burst starts is folded into it, so with ``grouping_delay`` ≥ the
time a wave takes, a wave is one message. Later disappearances while the burst
is open (each within W of the last) join the burst message while it waits, or
make one follow-up message per ``burst_hold`` after it was sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from . import rules, store
from .config import AlertConfig, Channel
from .rules import BurstDecision, Facts

log = logging.getLogger(__name__)

__all__ = ["Outbox"]

_LOCK_CLASS = 0x7A6B_3D02  # advisory locks of burst scopes: pg_advisory_xact_lock(class, hash)


class Outbox:
    """``Outbox(config)(conn, events)``: write the deliveries of newly stored events.

    ``clock`` gives "now" for due times and digest periods (tests pass a fixed one);
    bursts and flaps go by the events' own ``detected_at``.
    """

    def __init__(self, config: AlertConfig, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))

    def __call__(self, conn: psycopg.Connection[Any], events: Sequence[Any]) -> None:
        stored = sorted((e for e in events if e.id is not None),
                        key=lambda e: (e.detected_at, e.id))
        if not stored:
            return
        now = self.clock()
        try:
            with conn.transaction():  # a savepoint: a bug here must not lose the events
                self._lock_scopes(conn, stored)
                for event in stored:
                    self._one(conn, event, now)
        except psycopg.OperationalError:
            raise  # the connection is gone: the recorder retries the whole batch
        except Exception:
            log.exception("alert rules failed for events %s; falling back to one plain alert "
                          "per event and channel", [e.id for e in stored])
            with conn.transaction():
                for event in stored:
                    for name in rules.route(self.config, Facts.of(event)):
                        store.insert_delivery(conn, event.id, name, now)

    def _lock_scopes(self, conn: psycopg.Connection[Any], events: Sequence[Any]) -> None:
        """Serialise burst decisions per account and group across concurrent writers.

        Locks are taken in one sorted order, so two batches cannot deadlock here.
        """
        keys = set()
        for e in events:
            if e.kind == "disappeared" and self.config.burst_threshold:
                keys |= {f"target:{e.target_id}", f"group:{e.group}"}
        for key in sorted(keys):
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, key))

    def _one(self, conn: psycopg.Connection[Any], event: Any, now: datetime) -> None:
        cfg = self.config
        f = Facts.of(event)
        if store.has_mark(conn, f.event_id):
            return  # already decided: each event x channel is recorded once
        names = rules.route(cfg, f)
        verdict, burst_id, decision = "off", None, None
        if names:
            verdict = "alert"
            if rules.is_flap(f, store.post_marks(conn, f.post_id), cfg.flap_cooldown):
                verdict = "flap"
            elif f.kind == "disappeared" and cfg.burst_threshold:
                since = f.detected_at - timedelta(seconds=cfg.burst_window)
                decision = rules.burst(f, store.recent_gone(conn, f.group, since, f.detected_at),
                                       store.open_bursts(conn, f.target_id, f.group, since),
                                       cfg.burst_threshold, cfg.burst_window)
        if decision is not None:
            verdict = "burst"
        store.insert_mark(conn, f, verdict, decision.join if decision else None)
        if decision is not None:
            if decision.join is not None:
                burst_id = decision.join
                store.extend_burst(conn, burst_id, f.detected_at)
            else:
                burst_id = store.start_burst(conn, decision, f)
            log.info("event %s (%s:%s) is part of mass deletion %s", f.event_id, f.platform,
                     event.post_key, burst_id)
        for name in names:
            channel = cfg.channels[name]
            if verdict == "flap":
                note = ("flap: the removal it undoes was not alerted" if f.kind == "restored"
                        else f"flap: the same {f.kind} ({f.cause}) was alerted within "
                        "flap_cooldown")
                store.insert_delivery(conn, f.event_id, name, now, state="suppressed",
                                      note=note)
                log.info("event %s (%s:%s) not alerted on %s: %s", f.event_id, f.platform,
                         event.post_key, name, note)
            elif channel.digest != "none":
                parent = self._digest(conn, channel, now)
                store.insert_delivery(conn, f.event_id, name, now, state="folded",
                                      parent_id=parent, burst_id=burst_id)
            elif burst_id is not None and decision is not None:
                parent = self._burst(conn, channel, burst_id, decision, f, now)
                store.insert_delivery(conn, f.event_id, name, now, state="folded",
                                      parent_id=parent, burst_id=burst_id)
            else:
                delay = cfg.grouping_delay if f.kind == "disappeared" else 0.0
                store.insert_delivery(conn, f.event_id, name, now + timedelta(seconds=delay))

    def _burst(self, conn: psycopg.Connection[Any], channel: Channel, burst_id: int,
               decision: BurstDecision, f: Facts, now: datetime) -> int:
        """The burst's waiting message on ``channel``, made if there is none."""
        waiting = store.open_burst_delivery(conn, burst_id, channel.name)
        if waiting is not None:
            return waiting
        seq = store.burst_messages(conn, burst_id, channel.name)
        before = [m for m in store.burst_members(conn, burst_id) if m != f.event_id]
        payload: dict[str, Any] = {"burst": burst_id, "scope": decision.scope,
                                   "key": decision.key, "continued": seq > 0,
                                   "members_before": [] if seq else before, "alerted": []}
        if decision.join is not None:  # the scope of a joined burst is on its row
            row = conn.execute("SELECT scope, scope_key FROM alert_bursts WHERE id = %s",
                               (burst_id,)).fetchone()
            assert row is not None
            payload.update(scope=row["scope"], key=row["scope_key"])
        parent = store.insert_aggregate(
            conn, "burst", channel.name, now + timedelta(seconds=self.config.burst_hold),
            f"burst:{burst_id}:{channel.name}:{seq}", payload, burst_id)
        assert parent is not None  # the key is new: seq counts this channel's messages
        if not seq and before:
            folded = set(store.fold_pending(conn, parent, channel.name, before))
            payload["members_before"] = [m for m in before if m not in folded]
            payload["alerted"] = store.alerted_on(conn, channel.name, payload["members_before"])
            store.set_payload(conn, parent, payload)
        return parent

    def _digest(self, conn: psycopg.Connection[Any], channel: Channel, now: datetime) -> int:
        """This period's digest message for ``channel``; the next period's if this
        one is already being sent."""
        at = now
        for _ in range(3):
            start, end = rules.digest_period(at, channel.digest, self.config.tz)
            row = store.insert_aggregate(
                conn, "digest", channel.name, end, f"digest:{channel.name}:{start.isoformat()}",
                {"digest": channel.digest, "start": start.isoformat(), "end": end.isoformat()})
            if row is not None:
                return row
            at = end
        raise RuntimeError(f"no open digest period for channel {channel.name}")
