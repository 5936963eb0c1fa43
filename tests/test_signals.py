"""Signals: the manager's contract in memory, then the recorder sending them against a
real PostgreSQL (a failing receiver after commit is logged; one inside the
transaction rolls the batch back, which is retried or isolated)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import signals as signals_module
from monitor.db import Database
from monitor.db import tracking as store
from monitor.errors import StorageUnavailable
from monitor.events import Event
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.signals import ALL_SIGNALS, SignalManager, batch_committed, events_stored
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings.load({}, environ={})
README = Path(__file__).resolve().parent.parent / "README.md"


# --- the manager, in memory ------------------------------------------------------------


def test_a_receiver_gets_the_arguments_it_names() -> None:
    signals = SignalManager()
    got: list[tuple[str, Any]] = []

    def only_events(events: list[int]) -> None:
        got.append(("only_events", events))

    def everything(**kw: Any) -> None:
        got.append(("everything", kw))

    signals.connect(only_events, batch_committed)
    signals.connect(everything, batch_committed)
    signals.send(batch_committed, observations=["o"], events=[1])
    assert got == [("only_events", [1]),
                   ("everything", {"observations": ["o"], "events": [1]})]


def test_connect_twice_calls_once_and_disconnect_stops() -> None:
    signals = SignalManager()
    calls: list[object] = []

    def receiver(events: object) -> None:
        calls.append(events)

    signals.connect(receiver, batch_committed)
    signals.connect(receiver, batch_committed)
    signals.send(batch_committed, observations=[], events="a")
    signals.disconnect(receiver, batch_committed)
    signals.send(batch_committed, observations=[], events="b")
    assert calls == ["a"]
    assert signals.receivers(batch_committed) == []
    assert signals.receivers(events_stored) == []  # signals do not share receivers


def test_a_receiver_that_needs_what_the_signal_does_not_send_is_refused() -> None:
    def needs_conn(conn: object, events: object) -> None:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match=r"needs conn.*sends only observations, events"):
        SignalManager().connect(needs_conn, batch_committed)


def test_send_with_other_arguments_than_documented_is_a_bug() -> None:
    with pytest.raises(TypeError, match="sends conn, events; got events"):
        SignalManager().send(events_stored, events=[])


def test_a_raising_receiver_after_commit_is_logged_and_the_others_run(
        caplog: pytest.LogCaptureFixture) -> None:
    signals = SignalManager()
    calls: list[str] = []

    def broken(events: object) -> None:
        raise ValueError("bug in a receiver")

    signals.connect(broken, batch_committed)
    signals.connect(lambda events: calls.append("second"), batch_committed)
    with caplog.at_level(logging.ERROR, logger="monitor.signals"):
        signals.send(batch_committed, observations=[], events=[])
    assert calls == ["second"]
    (record,) = caplog.records
    assert "broken" in record.getMessage() and "batch_committed" in record.getMessage()
    assert record.exc_info is not None and "bug in a receiver" in str(record.exc_info[1])


def test_a_raising_receiver_inside_the_transaction_reaches_the_sender() -> None:
    signals = SignalManager()
    calls: list[str] = []

    def broken(conn: object, events: object) -> None:
        raise ValueError("bug in a receiver")

    signals.connect(broken, events_stored)
    signals.connect(lambda conn, events: calls.append("second"), events_stored)
    with pytest.raises(ValueError, match="bug in a receiver"):
        signals.send(events_stored, conn=None, events=[])
    assert calls == []  # the transaction is rolling back: nothing more is written


def test_every_signal_is_documented_with_its_arguments() -> None:
    found = [v for v in vars(signals_module).values() if isinstance(v, signals_module.Signal)]
    assert set(found) == set(ALL_SIGNALS) and len(ALL_SIGNALS) == 3
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Architecture\n(.*?)^## ", text, re.S | re.M)
    assert match is not None, "README.md has no Architecture section"
    architecture = match.group(1)
    for signal in ALL_SIGNALS:
        assert signal.__doc__ and signal.__doc__ != type(signal).__doc__, signal.name
        for arg in signal.args:
            assert f"``{arg}``" in signal.__doc__, (signal.name, arg)
        assert f"`{signal.name}`" in architecture, f"{signal.name} is not in the README"


# --- the recorder sending them, against PostgreSQL -------------------------------------


class Accounts:
    """Two Mastodon accounts, a recorder and its signals."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.signals = SignalManager()
        self.sleeps: list[float] = []
        self.recorder = Recorder(db, SETTINGS, signals=self.signals, sleep=self.sleeps.append)
        targets = [Target(group="g", platform="mastodon", kind="account", value=name,
                          base_url="https://ex.social", interval=60.0, tags=())
                   for name in ("alice", "bob")]
        with db.transaction() as conn:
            store.sync_targets(conn, targets, 600)
            rows = conn.execute("SELECT id, key, value FROM targets").fetchall()
        self.rows = {r["value"]: (r["id"], r["key"]) for r in rows}

    def listing(self, account: str, text: str, minute: int) -> Observation:
        row_id, key = self.rows[account]
        post = PostContent(key=f"{account}-1", url=f"https://ex.social/@{account}/1",
                           probe_url=f"https://ex.social/api/v1/statuses/{account}-1",
                           text=text, author=account, published_at=T0 - timedelta(minutes=9))
        return Observation(mode="listing", platform="mastodon", target_key=key, url=account,
                           outcome=Outcome.OK, row_id=row_id, entries=[post],
                           http_status=200, observed_at=T0 + timedelta(minutes=minute))

    def first_sight(self) -> None:
        self.recorder.record([self.listing("alice", "a first post", 0),
                              self.listing("bob", "hello", 0)])

    def edit(self) -> list[Observation]:
        """Alice edits her post (an ``edited`` event); bob's is unchanged."""
        return [self.listing("alice", "a first post, edited since", 1),
                self.listing("bob", "hello", 1)]

    def rows_of(self, query: str) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(query).fetchall()]


@pytest.fixture
def accounts(db: Database) -> Accounts:
    return Accounts(db)


def test_batch_committed_carries_the_stored_batch_and_a_raising_receiver_is_logged(
        accounts: Accounts, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[int, list[str]]] = []

    def broken(observations: list[Observation]) -> None:
        raise RuntimeError("metrics exporter crashed")

    accounts.signals.connect(broken, batch_committed)
    accounts.signals.connect(
        lambda observations, events: seen.append((len(observations),
                                                  [e.kind for e in events])),
        batch_committed)
    with caplog.at_level(logging.ERROR, logger="monitor.signals"):
        accounts.first_sight()
        events = accounts.recorder.record(accounts.edit())
    assert [e.kind for e in events] == ["edited"]
    assert seen == [(2, []), (2, ["edited"])]
    assert [r["kind"] for r in accounts.rows_of("SELECT kind FROM events")] == ["edited"]
    assert sum("metrics exporter crashed" in str(r.exc_info and r.exc_info[1])
               for r in caplog.records) == 2  # once per batch, and recording went on
    assert accounts.recorder.stats["observations"] == 4


def test_events_stored_runs_in_the_transaction_and_its_writes_commit_with_the_events(
        accounts: Accounts) -> None:
    got: list[tuple[str, int | None]] = []

    def receiver(conn: Any, events: list[Event]) -> None:
        # What the events look like from inside the batch's transaction: already there.
        for e in events:
            row = conn.execute("SELECT kind FROM events WHERE id = %s", (e.id,)).fetchone()
            got.append((row["kind"], e.id))

    accounts.signals.connect(receiver, events_stored)
    accounts.first_sight()
    assert got == []  # a batch without events sends nothing
    (event,) = accounts.recorder.record(accounts.edit())
    assert got == [("edited", event.id)]


def test_a_raising_events_stored_receiver_rolls_the_batch_back_and_is_isolated(
        accounts: Accounts) -> None:
    committed: list[list[Observation]] = []

    def broken(conn: Any, events: list[Event]) -> None:
        conn.execute("UPDATE targets SET tags = ARRAY['written by the receiver']")
        raise ValueError("alert rules crashed")

    accounts.first_sight()
    accounts.signals.connect(broken, events_stored)
    accounts.signals.connect(lambda observations: committed.append(list(observations)),
                             batch_committed)
    assert accounts.recorder.record(accounts.edit()) == []
    assert accounts.rows_of("SELECT * FROM events") == []
    assert accounts.rows_of("SELECT * FROM targets WHERE 'written by the receiver' = ANY(tags)"
                            ) == []  # the receiver's writes rolled back with the batch
    # Bob's observation committed; alice's, at fault, is stored as malformed with the reason.
    outcomes = {r["key"]: (r["outcome"], r["detail"]) for r in accounts.rows_of(
        "SELECT t.key, o.outcome, o.detail FROM targets t "
        "JOIN observations o ON o.id = t.last_obs_id")}
    alice, bob = accounts.rows["alice"][1], accounts.rows["bob"][1]
    assert outcomes[bob] == ("ok", None)
    assert outcomes[alice][0] == "malformed"
    assert "alert rules crashed" in outcomes[alice][1]
    assert sorted(o.outcome for o in committed[0]) == ["malformed", "ok"]
    assert accounts.recorder.stats["malformed"] == 1


def test_a_storage_fault_in_an_events_stored_receiver_is_retried_whole(
        accounts: Accounts) -> None:
    tries: list[list[int | None]] = []

    def flaky(conn: Any, events: list[Event]) -> None:
        tries.append([e.id for e in events])
        if len(tries) == 1:
            raise StorageUnavailable("the database is unavailable (test): retried")

    accounts.first_sight()
    accounts.signals.connect(flaky, events_stored)
    (event,) = accounts.recorder.record(accounts.edit())
    assert len(tries) == 2 and tries[1] == [event.id]
    assert accounts.recorder.stats["db_retries"] == 1 and accounts.sleeps == [0.5]
    assert accounts.recorder.stats["malformed"] == 0
    assert [r["id"] for r in accounts.rows_of("SELECT id FROM events")] == [event.id]
