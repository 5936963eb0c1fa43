"""The hash chain against real PostgreSQL, through the Recorder: what it chains, and
that every way of removing or editing a stored row is caught."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from chain_support import T0, ChainWorld

from monitor.captures import import_captures
from monitor.chain import GENESIS, verify_entries
from monitor.clock import ManualClock
from monitor.db import Database, tracking
from monitor.db import chain as chain_store
from monitor.settings import Settings
from monitor.signals import SignalManager, events_stored
from monitor.watchlist import load_watchlist
from spiders.cli.imports import READERS


@pytest.fixture
def world(db: Database) -> ChainWorld:
    return ChainWorld(db)


def test_a_recorded_history_is_chained_and_verifies(world: ChainWorld) -> None:
    events = world.history()
    assert [e.kind for e in events] == ["edited"]
    observations = [r["id"] for r in world.sql("SELECT id FROM observations ORDER BY id")]
    chained = world.chain()
    assert [c["seq"] for c in chained] == list(range(1, len(chained) + 1))
    assert sorted(c["row_id"] for c in chained if c["kind"] == "observation") == observations
    assert [c["row_id"] for c in chained if c["kind"] == "event"] == [events[0].id]
    # The re-check extended runs in place (last_at, repeats): still valid.
    assert world.sql("SELECT max(repeats) AS n FROM observations")[0]["n"] >= 2
    report = world.verify()
    assert report.ok, report.problems
    assert report.entries == len(chained) and report.head is not None
    assert report.head.seq == len(chained)


def test_the_bundle_view_of_an_event_verifies(world: ChainWorld) -> None:
    event = world.history()[0]
    with world.db.transaction() as conn:
        refs = [("event", event.id)] + [("observation", r["id"]) for r in conn.execute(
            "SELECT id FROM observations WHERE post_id = %s", (event.post_id,)).fetchall()]
        entries = chain_store.entries_for(conn, refs)
        rows = chain_store.rows_for(conn, refs)
        head = chain_store.head(conn)
    assert entries and head is not None and entries[-1].seq <= head.seq
    assert verify_entries(entries, rows) == []
    assert verify_entries(entries, {}) != []  # the rows are what the entries commit to


def test_deleting_an_observation_row_is_rejected(world: ChainWorld) -> None:
    world.history()
    victim = world.sql("SELECT id FROM observations WHERE outcome = 'ok' ORDER BY id DESC "
                       "LIMIT 1")[0]["id"]
    world.sql("DELETE FROM observations WHERE id = %s", victim, superuser=True)
    report = world.verify()
    assert not report.ok
    assert any(f"(observation {victim}): row missing and never retired" in p
               for p in report.problems), report.problems


def test_editing_a_message_or_an_event_is_rejected(world: ChainWorld) -> None:
    event = world.history()[0]
    obs = world.sql("SELECT id FROM observations ORDER BY id LIMIT 1")[0]["id"]
    world.sql("UPDATE observations SET message = 'nothing to see' WHERE id = %s", obs)
    world.sql("UPDATE events SET cause = 'deleted_by_author' WHERE id = %s", event.id)
    problems = world.verify().problems
    assert any(f"(observation {obs}): row edited" in p for p in problems), problems
    assert any(f"(event {event.id}): row edited" in p for p in problems), problems


def test_the_chain_refuses_update_delete_and_truncate(world: ChainWorld) -> None:
    world.history()
    for query in ("UPDATE chain SET digest = 'x' WHERE seq = 1", "DELETE FROM chain",
                  "TRUNCATE chain", "DELETE FROM chain_head"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            world.sql(query)
    assert world.verify().ok


def test_removing_a_chain_row_is_rejected(world: ChainWorld) -> None:
    world.history()
    world.sql("DELETE FROM chain WHERE seq = 2", superuser=True)
    problems = world.verify().problems
    assert any("seq 3" in p and "gap: seq 2..2 missing" in p for p in problems), problems
    assert any("rows not in the chain" in p for p in problems), problems


def test_cutting_the_end_of_the_chain_is_rejected(world: ChainWorld) -> None:
    world.history()
    last = world.sql("SELECT max(seq) AS n FROM chain")[0]["n"]
    world.sql("DELETE FROM chain WHERE seq = %s", last, superuser=True)
    problems = world.verify().problems
    assert any(f"head is seq {last} but the chain ends at seq {last - 1}" in p
               for p in problems), problems


def test_rewriting_an_entry_with_its_row_breaks_the_next_link(world: ChainWorld) -> None:
    world.history()
    with world.db.transaction() as conn:
        entry = chain_store.entries_for(conn, [("observation", 1)])[0]
    world.sql("UPDATE observations SET outcome = 'absent' WHERE id = 1")
    with world.db.transaction() as conn:
        row = chain_store.rows_for(conn, [("observation", 1)])[("observation", 1)]
    from monitor.chain import link, row_digest
    forged = link(entry.prev, entry.seq, "observation", 1, row_digest("observation", row))
    world.sql("UPDATE chain SET digest = %s, hash = %s WHERE seq = %s", forged.digest,
              forged.hash, entry.seq, superuser=True)
    problems = world.verify().problems
    assert problems and all(f"seq {entry.seq + 1}" in p for p in problems[:1]), problems
    assert "does not link" in problems[0]


def test_rows_inserted_behind_the_recorders_back_are_reported(world: ChainWorld) -> None:
    world.history()
    world.sql("INSERT INTO observations (target_id, mode, first_at, last_at, outcome, vantage)"
              " VALUES (%s, 'listing', now(), now(), 'ok', 'default')", world.target_id)
    problems = world.verify().problems
    assert len(problems) == 1 and problems[0].startswith("observation rows not in the chain")


def archived(world: ChainWorld, obs_id: int) -> int:
    with world.db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO archive_records (observation_id, captured_at, target_uri, "
            "payload_sha256, warc_sha256, size, warc) VALUES (%s, now(), 'https://x/1', "
            "repeat('a', 64), repeat('b', 64), 3, '\\x1f8b00') RETURNING id", (obs_id,),
        ).fetchone()
        chain_store.append(conn, [("capture", row["id"])])
    return int(row["id"])


def test_a_retired_capture_is_accepted_an_unretired_one_is_not(world: ChainWorld) -> None:
    world.history()
    obs = world.sql("SELECT min(id) AS id FROM observations")[0]["id"]
    kept, expired = archived(world, obs), archived(world, obs)
    with world.db.transaction() as conn:
        conn.execute("DELETE FROM archive_records WHERE id = %s", (expired,))
        retired = chain_store.retire(conn, "capture", [expired], "retention (30 days)")
    assert [e.kind for e in retired] == ["retire:capture"]
    assert world.verify().ok, world.verify().problems
    world.sql("DELETE FROM archive_records WHERE id = %s", kept)
    problems = world.verify().problems
    assert problems == [f"seq {problems[0].split()[1]} (capture {kept}): row missing and "
                        "never retired (row removed)"]


def test_forgetting_a_group_retires_what_it_removes(db: Database) -> None:
    kept, gone = ChainWorld(db, "kept", "alice"), ChainWorld(db, "demo", "bob")
    kept.history()
    gone.history(prefix="b")
    archived(gone, gone.sql("SELECT min(id) AS id FROM observations WHERE target_id = %s",
                            gone.target_id)[0]["id"])
    with db.transaction() as conn:
        assert tracking.forget_group(conn, "demo") == 1
    assert not gone.sql("SELECT 1 FROM observations WHERE target_id = %s", gone.target_id)
    kinds = {r["kind"] for r in kept.sql("SELECT DISTINCT kind FROM chain")}
    assert {"retire:observation", "retire:event", "retire:capture"} <= kinds
    assert kept.verify().ok, kept.verify().problems


def test_concurrent_recorders_make_one_valid_chain(db: Database) -> None:
    worlds = [ChainWorld(db, f"g{i}", f"user{i}") for i in range(2)]
    errors: list[BaseException] = []

    def run(w: ChainWorld, n: int) -> None:
        try:
            for step in range(6):
                w.history(T0 + timedelta(hours=step), prefix=f"{n}-{step}-")
        except BaseException as exc:  # reported below: a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w, i)) for i, w in enumerate(worlds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    report = worlds[0].verify()
    assert report.ok, report.problems
    counts = worlds[0].sql("SELECT (SELECT count(*) FROM observations) AS o, "
                           "(SELECT count(*) FROM events) AS e, "
                           "(SELECT count(*) FROM chain) AS c")[0]
    assert counts["e"] == 12 and counts["c"] == counts["o"] + counts["e"]


def test_a_failing_transaction_leaves_no_chain_entry(db: Database) -> None:
    signals = SignalManager()

    def refuse(conn: Any, events: Any) -> None:
        raise RuntimeError("the alerts outbox is full")

    signals.connect(refuse, events_stored)
    world = ChainWorld(db, signals=signals)
    assert world.history() == []  # the edit's batch rolled back, recorded as malformed
    assert not world.sql("SELECT 1 FROM events")
    assert not world.sql("SELECT 1 FROM chain WHERE kind = 'event'")
    report = world.verify()
    assert report.ok, report.problems
    with pytest.raises(RuntimeError), db.transaction() as conn:
        chain_store.append(conn, [("observation", 1)])
        raise RuntimeError("crash after the append")
    assert world.verify().entries == report.entries


def test_appending_an_unknown_row_fails_loudly(world: ChainWorld) -> None:
    from monitor.chain import ChainError

    with pytest.raises(ChainError, match="no such row"), world.db.transaction() as conn:
        chain_store.append(conn, [("observation", 999_999)])
    with pytest.raises(ChainError, match="unknown chain kind"), world.db.transaction() as conn:
        chain_store.append(conn, [("post", 1)])


def test_verify_walks_in_chunks_and_bounds_its_problems(world: ChainWorld,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(chain_store, "CHUNK", 3)
    world.history()
    assert world.verify().ok
    world.sql("UPDATE observations SET url = 'https://evil.example/'")
    with world.db.transaction() as conn:
        report = chain_store.verify(conn, limit=2)
    assert len(report.problems) == 3 and report.problems[-1].startswith("... and ")


def test_an_empty_chain_verifies(db: Database) -> None:
    with db.transaction() as conn:
        report = chain_store.verify(conn)
        assert chain_store.head(conn) is None
        assert conn.execute("SELECT hash FROM chain_head").fetchone()["hash"] == GENESIS
    assert report.ok and report.entries == 0


def test_imported_browser_captures_are_chained(db: Database, tmp_path: Path) -> None:
    fixture = Path(__file__).parent.parent / "fixtures" / "captures" / \
        "zeeschuimer-rednote.ndjson"
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text('[groups.journalists]\n[[groups.journalists.targets]]\n'
                         'platform = "rednote"\naccount = "5c315a550000000006031475"\n',
                         encoding="utf-8")
    with db.transaction() as conn:
        tracking.sync_targets(conn, load_watchlist(watchlist).targets, 600)
    settings = Settings.load({"import_captures": True}, environ={})
    report = import_captures(db, settings, fixture, READERS, watchlist=watchlist,
                             clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC)))
    assert report.recorded == 7 and report.problems  # the hostile lines are refused
    with db.transaction() as conn:
        imported = [r["id"] for r in conn.execute(
            "SELECT id FROM observations WHERE mode = 'import' ORDER BY id").fetchall()]
        chained = [e.row_id for e in chain_store.entries_for(
            conn, [("observation", i) for i in imported])]
        result = chain_store.verify(conn)
    assert len(imported) == 7 and chained == imported
    assert result.ok, result.problems


def test_verify_while_recorders_write_and_groups_are_forgotten(db: Database) -> None:
    writer, doomed = ChainWorld(db, "live", "carol"), ChainWorld(db, "demo", "dave")
    doomed.history(prefix="d")
    done = threading.Event()
    errors: list[BaseException] = []

    def record() -> None:
        try:
            for step in range(8):
                writer.history(T0 + timedelta(hours=step), prefix=f"{step}-")
            with db.transaction() as conn:
                tracking.forget_group(conn, "demo")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=record)
    thread.start()
    reports = []
    while not done.is_set():
        reports.append(writer.verify())
    thread.join(60)
    reports.append(writer.verify())
    assert not errors
    assert all(r.ok for r in reports), [r.problems for r in reports if not r.ok][:1]
    assert len(reports) > 1 and reports[-1].entries >= reports[0].entries
