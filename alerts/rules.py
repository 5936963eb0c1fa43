"""Which events become which alerts: pure functions over events and their history.

The outbox (:mod:`alerts.outbox`) reads the history from the database and
writes what these functions decide; the tests drive them with tables.

- :func:`route`: the channels an event goes to (toggles, then routes).
- :func:`is_flap`: a post that went, came back and went again with the same
  cause inside ``flap_cooldown`` is not alerted again (nor is its return).
- :func:`burst`: the K-th disappearance from one account (target), or from one
  group, within W starts a mass-deletion burst; later ones join it. Earlier
  ones were alerted on their own, unless they are still waiting (see
  ``grouping_delay``), in which case the burst message takes them over.
- :func:`digest_period`: the hour or day whose digest an alert goes into.
- :func:`backoff`: the wait before the next attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from monitor import cadence

from .config import AlertConfig

#: Verdicts of alert_marks that count as alerted.
ALERTED = ("alert", "burst")


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at in an event (an :class:`monitor.events.Event` or a row)."""

    event_id: int
    kind: str
    post_id: int
    target_id: int
    group: str
    platform: str
    detected_at: datetime
    cause: str | None = None
    cause_detail: str | None = None
    candidates: tuple[str, ...] = ()

    @classmethod
    def of(cls, event: Any) -> Facts:
        return cls(event_id=int(event.id), kind=event.kind, post_id=event.post_id,
                   target_id=event.target_id, group=event.group, platform=event.platform,
                   detected_at=event.detected_at, cause=event.cause,
                   cause_detail=event.cause_detail, candidates=tuple(event.candidates or ()))


@dataclass(frozen=True, slots=True)
class Mark:
    """An event as the rules saw it before (a row of alert_marks)."""

    event_id: int
    post_id: int
    target_id: int
    group: str
    kind: str
    cause: str | None
    detected_at: datetime
    verdict: str
    burst_id: int | None = None


@dataclass(frozen=True, slots=True)
class OpenBurst:
    id: int
    scope: str  # "target" | "group"
    key: str  # the target id or the group name
    last_at: datetime


@dataclass(frozen=True, slots=True)
class BurstDecision:
    """Join the open burst ``join``, or start one over ``scope``/``key`` with ``members``."""

    join: int | None = None
    scope: str | None = None
    key: str | None = None
    members: tuple[int, ...] = field(default=())


def wanted(config: AlertConfig, f: Facts) -> bool:
    """The global toggles: edits, restorations and ambiguous causes can be switched off."""
    if f.kind == "edited" and not config.alert_on_edits:
        return False
    if f.kind == "restored" and not config.alert_on_restorations:
        return False
    return not (f.cause == "ambiguous" and not config.alert_on_ambiguous)


def route(config: AlertConfig, f: Facts) -> list[str]:
    """Channel names for the event, in config order. No routes: every channel.

    A route's filters must all match. ``causes`` matches the cause, its detail
    (``legal``), or for an ambiguous event any of its candidates: a newsroom
    watching for platform removals hears of a possible one, marked ambiguous.
    """
    if not wanted(config, f):
        return []
    if not config.routes:
        return list(config.channels)
    names: dict[str, None] = {}
    for r in config.routes:
        if r.groups is not None and f.group not in r.groups:
            continue
        if r.platforms is not None and f.platform not in r.platforms:
            continue
        if r.kinds is not None and f.kind not in r.kinds:
            continue
        if r.causes is not None:
            said = {f.cause, f.cause_detail, *(f.candidates if f.cause == "ambiguous" else ())}
            if not r.causes & said:
                continue
        names.update(dict.fromkeys(r.channels))
    return [n for n in config.channels if n in names]


def is_flap(f: Facts, history: Sequence[Mark], cooldown: float) -> bool:
    """True when the event repeats what the post already alerted: it is flapping.

    A disappearance or hiding flaps when the post had the same kind with the same
    cause alerted within ``cooldown`` (a new cause is news; suppressed repeats do
    not extend the cool-down). A restoration is news only when the removal it
    undoes was alerted, so it flaps when that removal was suppressed or
    unrouted. ``history``: the post's earlier marks.
    """
    earlier = sorted((m for m in history if m.event_id != f.event_id),
                     key=lambda m: m.detected_at, reverse=True)
    if f.kind == "restored":
        removal = next((m for m in earlier if m.kind in ("disappeared", "hidden")), None)
        return removal is not None and removal.verdict not in ALERTED
    if f.kind not in ("disappeared", "hidden") or cooldown <= 0:
        return False
    for m in earlier:
        if m.kind != f.kind or m.verdict not in ALERTED:
            continue
        if m.cause != f.cause:
            return False
        return timedelta(0) <= f.detected_at - m.detected_at < timedelta(seconds=cooldown)
    return False


def burst(f: Facts, recent: Sequence[Mark], bursts: Sequence[OpenBurst], threshold: int,
          window: float) -> BurstDecision | None:
    """Whether a disappearance is part of a mass deletion.

    ``recent``: alerted disappearances of the event's group before it (any age;
    only those within ``window`` count). ``bursts``: bursts of its target or
    group. An open burst (its last member within ``window``) is joined, the
    target's before the group's. Otherwise a target with ``threshold`` - 1
    earlier disappearances in the window that are in no burst starts one; then
    the group, the same way.
    """
    if f.kind != "disappeared" or threshold < 2:
        return None
    since = f.detected_at - timedelta(seconds=window)
    for scope, key in (("target", str(f.target_id)), ("group", f.group)):
        for b in sorted(bursts, key=lambda b: b.last_at, reverse=True):
            if b.scope == scope and b.key == key and since < b.last_at <= f.detected_at:
                return BurstDecision(join=b.id)
    loose = [m for m in recent if m.kind == "disappeared" and m.verdict in ALERTED
             and m.burst_id is None and since < m.detected_at <= f.detected_at
             and m.event_id != f.event_id]
    mine = [m for m in loose if m.target_id == f.target_id]
    if len(mine) + 1 >= threshold:
        return BurstDecision(scope="target", key=str(f.target_id),
                             members=(*_ids(mine), f.event_id))
    if len(loose) + 1 >= threshold:
        return BurstDecision(scope="group", key=f.group, members=(*_ids(loose), f.event_id))
    return None


def _ids(marks: Sequence[Mark]) -> tuple[int, ...]:
    return tuple(m.event_id for m in sorted(marks, key=lambda m: (m.detected_at, m.event_id)))


def digest_period(now: datetime, digest: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """The [start, end) of the hourly or daily period holding ``now``, in ``tz``.

    Days start at local midnight; hours at the local hour (so +05:30 zones get
    their own half-past boundaries). Daylight-saving days are 23 or 25 hours.
    """
    local = now.astimezone(tz)
    if digest == "hourly":
        start = local.replace(minute=0, second=0, microsecond=0)
        # Aware arithmetic is wall-clock arithmetic: add the hour in UTC.
        end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    elif digest == "daily":
        start = datetime.combine(local.date(), time(0), tzinfo=tz)
        end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
    else:
        raise ValueError(f"no digest period for {digest!r}")
    return start, end


def backoff(tries: int, base: float, cap: float, rand: float) -> float:
    """Seconds before attempt ``tries`` + 1: ``base`` doubling per try, capped, with
    "equal jitter" (half fixed, half random by ``rand`` in [0, 1)) so that many
    deliveries failing together do not retry together."""
    return cadence.backoff(tries - 1, base, cap, jitter=-0.5, rand=rand)
