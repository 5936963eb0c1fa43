"""Hostile values never stop recording (issue 6, defect 1), against real PostgreSQL.

A batch mixes poison observations (NUL in text, in a signal, in a JSON key, a
counter far beyond bigint, naive datetimes, values JSON cannot hold) with healthy
observations of other targets: every healthy one is stored, each poison one is
stored sanitised (or as ``malformed`` when even that cannot be stored), the
recorder keeps running and the next batch records normally.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent, sanitise
from monitor.settings import Settings
from monitor.snapshot import BackgroundRecorder, Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings.load({}, environ={})
ACCOUNTS = ["poison", "alice", "bob", "carol"]


class Accounts:
    """Four Mastodon account targets, one recorder."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.recorder = Recorder(db, SETTINGS)
        targets = [Target(group="g", platform="mastodon", kind="account", value=name,
                          base_url="https://ex.social", interval=60.0, tags=())
                   for name in ACCOUNTS]
        with db.transaction() as conn:
            store.sync_targets(conn, targets, 600)
            rows = conn.execute("SELECT id, key, value FROM targets").fetchall()
        self.rows = {r["value"]: (r["id"], r["key"]) for r in rows}

    def listing(self, account: str, entries: list[PostContent], at: datetime = T0,
                **kw: Any) -> Observation:
        row_id, key = self.rows[account]
        kw.setdefault("http_status", 200)
        return Observation(mode="listing", platform="mastodon", target_key=key,
                           url=account, outcome=Outcome.OK, row_id=row_id, entries=entries,
                           observed_at=at, **kw)

    def healthy(self, at: datetime = T0) -> list[Observation]:
        return [self.listing(name, [post(f"{name}-1", f"hello from {name}")], at)
                for name in ACCOUNTS[1:]]

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return conn.execute(sql, args).fetchall()

    def posts_of(self, account: str) -> dict[str, dict[str, Any]]:
        rows = self.query("SELECT p.post_key, v.raw_text, v.content, p.published_at "
                          "FROM posts p JOIN targets t ON t.id = p.target_id "
                          "LEFT JOIN versions v ON v.id = p.current_version_id "
                          "WHERE t.value = %s", account)
        return {r["post_key"]: r for r in rows}

    def target(self, account: str) -> dict[str, Any]:
        return self.query("SELECT * FROM targets WHERE value = %s", account)[0]

    def last_observation(self, account: str) -> dict[str, Any]:
        return self.query("SELECT o.* FROM observations o JOIN targets t ON t.id = o.target_id "
                          "WHERE t.value = %s AND o.post_id IS NULL ORDER BY o.id DESC LIMIT 1",
                          account)[0]


def post(key: str, text: str, **kw: Any) -> PostContent:
    kw.setdefault("published_at", T0 - timedelta(minutes=5))
    return PostContent(key=key, url=f"https://ex.social/@x/{key}", text=text, **kw)


@pytest.fixture
def accounts(db: Database) -> Accounts:
    return Accounts(db)


POISONS: dict[str, Any] = {
    "nul in content": lambda a: a.listing("poison", [post("p1", "bad\x00text")]),
    "nul in a signal": lambda a: a.listing("poison", [post("p1", "fine")],
                                           signals={"notice": "x\x00y"}),
    "nul in a json key": lambda a: a.listing("poison", [post("p1", "fine",
                                                             extra={"k\x00ey": "v"})]),
    "lone surrogate": lambda a: a.listing("poison", [post("p1", "bad \ud800 text")]),
    "counter beyond bigint": lambda a: a.listing(
        "poison", [post("p1", "fine", counters={"favourites_count": 10**30})]),
    "huge counter string": lambda a: a.listing(
        "poison", [post("p1", "fine", counters={"favourites_count": "9" * 5000})]),
    "naive datetime": lambda a: a.listing(
        "poison", [post("p1", "fine", published_at=datetime(2026, 7, 31, 12, 0))]),
    "naive observed_at": lambda a: a.listing("poison", [post("p1", "fine")],
                                             at=datetime(2026, 8, 1, 12, 0)),
    "not json": lambda a: a.listing("poison", [post("p1", "fine")],
                                    signals={"when": datetime(2026, 1, 1), (1, 2): {3},
                                             "nan": float("nan")}),
    "status beyond smallint": lambda a: a.listing("poison", [post("p1", "fine")],
                                                  http_status=10**6),
}


#: Poisons that sanitising leaves alone, and the start of the reason they fail with.
#: A 5,000-digit counter string is a valid string; diff.parse_count reads it as an int,
#: which Python refuses beyond 4,300 digits.
UNFIXABLE = {"huge counter string": "Exceeds the limit (4300 digits)"}


@pytest.mark.parametrize("name", list(POISONS))
def test_a_poison_value_never_stops_the_rest_of_the_batch(accounts: Accounts,
                                                          name: str) -> None:
    batch = [accounts.healthy()[0], POISONS[name](accounts), *accounts.healthy()[1:]]
    accounts.recorder.record(batch)
    for account in ACCOUNTS[1:]:
        stored = accounts.posts_of(account)
        assert stored[f"{account}-1"]["raw_text"] == f"hello from {account}"
        assert accounts.target(account)["last_outcome"] == "ok"
    if name in UNFIXABLE:  # isolated: recorded as malformed, with the reason
        observation = accounts.last_observation("poison")
        assert observation["outcome"] == "malformed"
        assert observation["detail"].startswith(f"could not be stored: {UNFIXABLE[name]}")
    else:  # stored sanitised, and its evidence says so
        stored = accounts.posts_of("poison")["p1"]
        assert "\x00" not in stored["raw_text"]
        assert "\ud800" not in stored["raw_text"]
        assert stored["published_at"].tzinfo is not None
        assert accounts.target("poison")["last_outcome"] == "ok"
        assert accounts.last_observation("poison")["signals"]["sanitised"]
    # The next batch records normally.
    later = T0 + timedelta(minutes=1)
    accounts.recorder.record([accounts.listing(name, [post(f"{name}-2", "again")], later)
                              for name in ACCOUNTS])
    for account in ACCOUNTS:
        assert f"{account}-2" in accounts.posts_of(account)


def test_sanitise_cleans_every_string_and_says_so() -> None:
    obs = Observation(
        mode="listing", platform="mastodon", target_key="k\x00", url="u\x00",
        outcome=Outcome.OK, message="m\x00", detail="d\ud800", signals={"a\x00": ["b\x00"]},
        entries=[PostContent(key="e\x00", title="t\x00", text="x\x00",
                             media=["m\x00"], links=["l\x00"],
                             counters={"n": 2**63}, extra={"x": {"y\x00": 1}})],
        tombstones=[("t\x00", {"s": "v\x00"}, "c\x00")],
        observed_at=datetime(2026, 1, 1))
    clean = sanitise(obs)
    text = repr(clean)
    assert "\\x00" not in text and "\\ud800" not in text
    assert clean.observed_at.tzinfo is UTC
    assert clean.entries is not None
    assert clean.entries[0].counters == {"n": str(2**63)}
    assert clean.entries[0].extra == {"x": {"y": 1}}
    assert clean.signals["sanitised"] == ["naive_datetime", "out_of_range", "unsafe_text"]
    assert "\x00" in obs.message  # the input is left as it was
    # Clean input passes through untouched and unmarked.
    again = sanitise(clean)
    assert again is clean
    ok = Observation(mode="probe", platform="rss", target_key="t", url="u",
                     outcome=Outcome.OK, signals={"n": 2**63 - 1})
    assert sanitise(ok) is ok


def test_an_unstorable_observation_is_recorded_as_malformed_with_the_reason(
        accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_id = accounts.rows["poison"][0]
    real_apply = store.apply

    def apply(conn: Any, changes: Any, answered: Any = None) -> Any:
        if any(t.id == poison_id and t.last_outcome == "ok" for t in changes.targets):
            raise psycopg.errors.InvalidTextRepresentation("refused by the test")
        return real_apply(conn, changes, answered)

    monkeypatch.setattr(store, "apply", apply)
    batch = [*accounts.healthy()[:2], accounts.listing("poison", [post("p1", "fine")]),
             *accounts.healthy()[2:]]
    accounts.recorder.record(batch)
    for account in ACCOUNTS[1:]:
        assert f"{account}-1" in accounts.posts_of(account)
    assert accounts.posts_of("poison") == {}
    row = accounts.last_observation("poison")
    assert row["outcome"] == "malformed"
    assert row["detail"].startswith("could not be stored: ")
    assert "refused by the test" in row["detail"]
    target = accounts.target("poison")
    assert target["last_outcome"] == "malformed" and target["lease_until"] is None


def test_when_even_malformed_cannot_be_stored_the_lease_is_released_and_logged(
        accounts: Accounts, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    poison_id = accounts.rows["poison"][0]
    with accounts.db.transaction() as conn:
        conn.execute("UPDATE targets SET lease_until = now() + interval '1 hour'")
    real_apply = store.apply

    def apply(conn: Any, changes: Any, answered: Any = None) -> Any:
        if any(t.id == poison_id for t in changes.targets):
            raise psycopg.errors.InvalidTextRepresentation("refused by the test")
        return real_apply(conn, changes, answered)

    monkeypatch.setattr(store, "apply", apply)
    accounts.recorder.record([accounts.listing("poison", [post("p1", "fine")]),
                              *accounts.healthy()])
    assert accounts.target("poison")["lease_until"] is None
    assert accounts.target("poison")["last_outcome"] is None
    for account in ACCOUNTS[1:]:
        assert accounts.target(account)["last_outcome"] == "ok"
    lines = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(lines) == 1
    assert accounts.rows["poison"][1] in lines[0].getMessage()
    assert "refused by the test" in lines[0].getMessage()


def test_the_background_recorder_survives_a_poison_and_keeps_recording(
        accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_key = accounts.rows["poison"][1]
    real = accounts.recorder._record_once

    def record_once(batch: Any) -> Any:
        if any(o.target_key == poison_key for o in batch):
            raise TypeError("a bug the lifecycle did not expect")
        return real(batch)

    monkeypatch.setattr(accounts.recorder, "_record_once", record_once)
    writer = BackgroundRecorder(accounts.recorder, batch_size=10, max_wait=0.01)
    assert writer.put(accounts.listing("poison", [post("p1", "x")]))
    for obs in accounts.healthy():
        assert writer.put(obs)
    writer.close()  # raises if the writer thread died
    for account in ACCOUNTS[1:]:
        assert f"{account}-1" in accounts.posts_of(account)
    later = BackgroundRecorder(accounts.recorder, batch_size=10, max_wait=0.01)
    assert later.put(accounts.listing("alice", [post("alice-2", "again")], T0 + timedelta(1)))
    later.close()
    assert "alice-2" in accounts.posts_of("alice")
