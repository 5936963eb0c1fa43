"""The outbox: pending alert deliveries, written in the same transaction as their events.

An :class:`Outbox` is a receiver of the ``events_stored`` signal
(:mod:`monitor.signals`): the recorder sends it the events a batch has just
stored, inside the batch's transaction. For each event the outbox decides,
once, what the rules make of it (:mod:`alerts.rules`), records that in
``alert_marks``, and writes one delivery row per matching channel
(``UNIQUE (event_id, channel)``):

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

from monitor.db import access
from monitor.errors import StorageUnavailable
from monitor.events import Event
from monitor.signals import SignalManager, events_stored

from . import rules, store
from .config import AlertConfig, Channel
from .rules import BurstDecision, Facts
from .store import Conn

log = logging.getLogger(__name__)

__all__ = ["Outbox"]

HELD_NOTE = "held for review: a public channel gets it once a reviewer approves it"


def _utcnow() -> datetime:
    """The default clock (a module function: the outbox travels to the recorder process)."""
    return datetime.now(UTC)


class Outbox:
    """``Outbox(config)(conn=conn, events=events)``: write the deliveries of newly
    stored events; connect it with :meth:`connect` (or to ``events_stored``).

    ``clock`` gives "now" for due times and digest periods (tests pass a fixed one);
    bursts and flaps go by the events' own ``detected_at``.
    """

    def __init__(self, config: AlertConfig, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.clock = clock or _utcnow

    def connect(self, signals: SignalManager) -> None:
        """Write deliveries in the transaction of every batch that stores events."""
        signals.connect(self, events_stored)

    def __call__(self, conn: Conn, events: Sequence[Event]) -> None:
        stored = sorted((e for e in events if e.id is not None),
                        key=lambda e: (e.detected_at, e.id or 0))
        if not stored:
            return
        now = self.clock()
        try:
            with store.savepoint(conn):  # a bug here must not lose the events
                store.lock_scopes(conn, self._scopes(stored))
                for event in stored:
                    self._one(conn, event, now)
        except StorageUnavailable:
            raise  # the connection is gone: the recorder retries the whole batch
        except Exception:
            log.exception("alert rules failed for events %s; falling back to one plain alert "
                          "per event and channel", [e.id for e in stored])
            with store.savepoint(conn):
                for f in map(Facts.of, stored):
                    held = self._held(conn, f)
                    for name in rules.route(self.config, f):
                        if name in held:
                            store.insert_delivery(conn, f.event_id, name, now, state="held",
                                                  note=HELD_NOTE)
                        else:
                            store.insert_delivery(conn, f.event_id, name, now)

    def _scopes(self, events: Sequence[Event]) -> set[str]:
        """The burst scopes (account and group) whose decisions these events take."""
        keys: set[str] = set()
        for e in events:
            if e.kind == "disappeared" and self.config.burst_threshold:
                keys |= {f"target:{e.target_id}", f"group:{e.group}"}
        return keys

    def _one(self, conn: Conn, event: Event, now: datetime) -> None:
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
        held = self._held(conn, f) if names else set()
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
            elif name in held:
                # Alone, not folded: it goes out when approved, by then past any burst.
                store.insert_delivery(conn, f.event_id, name, now, state="held",
                                      note=HELD_NOTE)
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

    def _held(self, conn: Conn, f: Facts) -> set[str]:
        """The public channels that must wait for the event's review (none when its
        group needs no review)."""
        public = {n for n, c in self.config.channels.items() if c.public}
        if not public or access.is_published(conn, f.event_id):
            return set()
        return public

    def _burst(self, conn: Conn, channel: Channel, burst_id: int,
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
            scope, key = store.burst_scope(conn, burst_id)
            payload.update(scope=scope, key=key)
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

    def _digest(self, conn: Conn, channel: Channel, now: datetime) -> int:
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
