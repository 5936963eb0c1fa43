"""The public-alert gate: a reviewed group's events reach private channels at once and
public channels only after approval (once), never after rejection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from access_helpers import TESTER, review_groups
from alerts_world import T0, Receiver, World, config, hook, outbox, start_receiver

from alerts.config import AlertConfig
from alerts.dispatcher import dispatch_once
from monitor.db import Database
from monitor.db.access import decide

M = timedelta(minutes=1)
GONE = "removed_by_platform"


@pytest.fixture
def hooks() -> Iterator[tuple[Receiver, Receiver]]:
    private, public = start_receiver(), start_receiver()
    yield private, public
    private.stop()
    public.stop()


def _config(private: Receiver, public: Receiver) -> AlertConfig:
    return config({"desk": hook(private.url()), "site": hook(public.url(), public=True)})


def _states(world: World, event_id: int) -> dict[str, str]:
    return {r["channel"]: r["state"] for r in world.rows(
        "SELECT channel, state FROM deliveries WHERE event_id = %s", event_id)}


def _event_ids(receiver: Receiver) -> list[int]:
    return [e["id"] for r in receiver.received for e in r.json()["events"]]


def test_public_channel_waits_for_approval(db: Database,
                                           hooks: tuple[Receiver, Receiver]) -> None:
    private, public = hooks
    cfg = _config(private, public)
    world = World(db)
    review_groups(db, journalists=True)
    post = world.post(world.target(), "101", "a post")
    (event,) = world.record(outbox(cfg), world.event("disappeared", post, T0, GONE))
    assert event.id is not None
    assert _states(world, event.id) == {"desk": "pending", "site": "held"}
    assert dispatch_once(db, cfg, now=T0 + M)["sent"] == 1
    assert _event_ids(private) == [event.id] and public.received == []
    assert dispatch_once(db, cfg, now=T0 + 60 * M)["sent"] == 0  # held stays held
    with db.transaction() as conn:
        assert decide(conn, TESTER, event.id, "approved")["deliveries"] == 1
    assert _states(world, event.id)["site"] == "pending"
    assert dispatch_once(db, cfg, now=T0 + 61 * M)["sent"] == 1
    assert _event_ids(public) == [event.id]
    # Recorded exactly once: a second approval or dispatch sends nothing more.
    with db.transaction() as conn:
        assert decide(conn, TESTER, event.id, "approved")["deliveries"] == 0
    assert dispatch_once(db, cfg, now=T0 + 62 * M)["sent"] == 0
    assert _event_ids(public) == [event.id] and _event_ids(private) == [event.id]


def test_rejected_event_never_reaches_the_public_channel(
        db: Database, hooks: tuple[Receiver, Receiver]) -> None:
    private, public = hooks
    cfg = _config(private, public)
    world = World(db)
    review_groups(db, journalists=True)
    post = world.post(world.target(), "102", "a post")
    (event,) = world.record(outbox(cfg), world.event("disappeared", post, T0, GONE))
    assert event.id is not None
    with db.transaction() as conn:
        decide(conn, TESTER, event.id, "rejected", "names a bystander")
        decide(conn, TESTER, event.id, "note", "a note changes nothing")
    assert _states(world, event.id) == {"desk": "pending", "site": "suppressed"}
    dispatch_once(db, cfg, now=T0 + M)
    assert public.received == [] and _event_ids(private) == [event.id]
    # Approved after all: the suppressed public alert goes out, once.
    with db.transaction() as conn:
        assert decide(conn, TESTER, event.id, "approved")["deliveries"] == 1
    assert dispatch_once(db, cfg, now=T0 + 2 * M)["sent"] == 1
    assert _event_ids(public) == [event.id]


def test_unreviewed_groups_reach_public_channels_at_once(
        db: Database, hooks: tuple[Receiver, Receiver]) -> None:
    private, public = hooks
    cfg = _config(private, public)
    world = World(db)
    review_groups(db, journalists=False, others=True)
    post = world.post(world.target(), "103", "a post")
    (event,) = world.record(outbox(cfg), world.event("disappeared", post, T0, GONE))
    assert event.id is not None
    assert _states(world, event.id) == {"desk": "pending", "site": "pending"}
    assert dispatch_once(db, cfg, now=T0 + M)["sent"] == 2


def test_public_flag_is_checked_as_a_boolean() -> None:
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match="public"):
        config({"site": hook("http://127.0.0.1:9/hook", public="yes")})
