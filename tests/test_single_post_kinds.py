"""A single-post kind is what its platform declares, whatever its name.

The ``agora`` platform below is a third-party plug-in, registered through fake entry
points beside the real ones (the real registry is restored afterwards). Its
single-post kind is called ``thread``; the core must treat it exactly as the
built-ins' ``post``: stored with ``targets.single_post``, never given a listing to
walk, probed on the re-check schedule, decided by the state machine without
waiting for a listing — on real PostgreSQL, step by step beside a RedNote ``post``
target (a built-in single-post kind that, like ``agora``, declares a probe token).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pytest

from monitor import platforms
from monitor.db import Database, _migrate, claims
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent, WorkItem
from monitor.platform import Kind, Platform
from monitor.rows import TargetRow
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m",
                          "recheck_schedule": "2m,5m,10m,30m,1h"}, environ={})
THREAD = "https://agora.example/t/4711"
NOTE = "https://www.xiaohongshu.com/explore/66a1b2c3000000000d00e1f2?xsec_token=AB1"


def _check_thread(value: str, has_base_url: bool) -> tuple[str, str | None]:
    if "/t/" not in value:
        raise ValueError(f"{value!r} is not a thread URL; write it like {THREAD}")
    return value, "https://agora.example"


def _check_member(value: str, has_base_url: bool) -> tuple[str, str | None]:
    return value, "https://agora.example"


AGORA = Platform(
    name="agora",
    title="A forum that calls its posts threads",
    kinds={"board": Kind("board"),
           "member": Kind("member", check=_check_member, identity=lambda v, b: (v, b)),
           "thread": Kind("thread", check=_check_thread,
                          post_ref=lambda url, base: (url.rsplit("/", 1)[1], url))},
    spider="agora_plugin.NoSpider",  # never crawled here: the observations are made by hand
    probe_token="token",
)


@pytest.fixture
def agora(monkeypatch: pytest.MonkeyPatch) -> Iterator[platforms.Registry]:
    """The built-in platforms plus ``agora``, read from entry points."""
    module = types.ModuleType("agora_plugin")
    module.AGORA = AGORA  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agora_plugin", module)
    group = platforms.ENTRY_POINT_GROUP
    eps = [*entry_points(group=group), EntryPoint("agora", "agora_plugin:AGORA", group)]
    try:
        yield platforms.reload_platforms(eps)
    finally:
        platforms.reload_platforms()  # the real registry again


def target(platform: str, kind: str, value: str, base_url: str | None = None) -> Target:
    return Target(group="g", platform=platform, kind=kind, value=value, base_url=base_url,
                  interval=3600.0, tags=())


# --- the declaration, without a database ------------------------------------------------


def test_the_declaration_decides_single_post_and_url_values(agora: platforms.Registry) -> None:
    kinds = AGORA.kinds
    assert [kinds[k].value_is_url for k in ("board", "member", "thread")] == [True, False, True]
    row = {"id": 1, "key": "k", "group_name": "g", "value": "v", "base_url": None,
           "interval_s": 60.0}
    assert TargetRow(platform="agora", kind="thread", **row).single_post is True
    assert TargetRow(platform="agora", kind="board", **row).single_post is False
    # A stored row says so itself, whatever the installed declaration.
    assert TargetRow(platform="gone", kind="post", single_post=True, **row).single_post is True
    assert TargetRow(platform="gone", kind="post", **row).single_post is False


# --- through PostgreSQL -------------------------------------------------------------------


def _single_post_rows(db: Database) -> dict[str, Any]:
    with db.transaction() as conn:
        return {r["kind"]: r for r in conn.execute(
            "SELECT kind, single_post, next_due FROM targets").fetchall()}


def test_sync_stores_the_declared_single_post_kind(db: Database,
                                                   agora: platforms.Registry) -> None:
    with db.transaction() as conn:
        store.sync_targets(conn, [target("agora", "thread", THREAD),
                                  target("agora", "board", "https://agora.example/b/news")], 60)
        posts = conn.execute("SELECT post_key, state FROM posts").fetchall()
    rows = _single_post_rows(db)
    assert (rows["thread"]["single_post"], rows["thread"]["next_due"]) == (True, None)
    assert rows["board"]["single_post"] is False
    assert rows["board"]["next_due"] is not None  # a listing: due at once
    assert [(p["post_key"], p["state"]) for p in posts] == [("4711", "unseen")]


def test_the_migration_backfills_the_post_kind(db: Database) -> None:
    """Targets stored before version 7 (every single-post kind was ``post``) come out of
    the migration marked; the others do not."""
    (sql,) = [text for version, _, text in _migrate.available() if version == 7]
    with db.transaction() as conn:
        conn.execute("ALTER TABLE targets DROP COLUMN single_post")
        for kind in ("post", "account", "feed"):
            conn.execute("INSERT INTO targets (key, group_name, platform, kind, value, "
                         "interval_s) VALUES (%s, 'g', 'rss', %s, 'v', 60)", (f"k-{kind}", kind))
        conn.execute(sql)
        got = {r["kind"]: r["single_post"] for r in conn.execute(
            "SELECT kind, single_post FROM targets").fetchall()}
    assert got == {"post": True, "account": False, "feed": False}


class Pair:
    """An ``agora`` thread target and a RedNote post target, checked side by side."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.recorder = Recorder(db, SETTINGS)
        with db.transaction() as conn:  # one transaction: both posts share first_seen
            store.sync_targets(conn, [target("agora", "thread", THREAD),
                                      target("rednote", "post", NOTE)], 3600)
            (self.t0,) = {r["first_seen"] for r in conn.execute(
                "SELECT first_seen FROM posts").fetchall()}

    def at(self, minutes: float) -> datetime:
        return self.t0 + timedelta(minutes=minutes)

    def seat(self, name: str) -> int:
        """A worker's seat (its row; its lock is not needed to record as it)."""
        with self.db.transaction() as conn:
            row = conn.execute("INSERT INTO workers (name) VALUES (%s) RETURNING id",
                               (name,)).fetchone()
        assert row is not None
        return int(row["id"])

    def claim(self, minutes: float, worker: int | None = None) -> dict[str, WorkItem]:
        with self.db.transaction() as conn:
            items = claims.claim_due(conn, self.at(minutes), 10, 600, worker=worker)
        assert [i.mode for i in items] == ["probe"] * len(items), items  # never a listing
        return {i.platform: i for i in items}

    def probe(self, item: WorkItem, minutes: float, outcome: Outcome) -> list[Any]:
        content = (PostContent(key=item.post_key or "", url=item.url, text="The square at noon.",
                               extra={"token": "t2", "xsec_token": "t2"})
                   if outcome is Outcome.OK else None)
        status = {Outcome.OK: 200, Outcome.GONE: 410}.get(outcome)
        return self.recorder.record([Observation(
            mode="probe", platform=item.platform, target_key=item.target_key, url=item.url,
            outcome=outcome, row_id=item.row_id, post_key=item.post_key, post=content,
            http_status=status, observed_at=self.at(minutes), body_hash="ab" * 32,
            seat=item.seat)])  # answers the claim: under its seat, as a worker stamps it

    def rows(self) -> dict[str, tuple[Any, ...]]:
        """Per platform: the post's state and next check (minutes after first sight),
        and the target's last check, listing due time and error streak."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT p.platform, p.state, p.next_check, t.last_checked_at, t.next_due, "
                "t.error_streak FROM posts p JOIN targets t ON t.id = p.target_id"
            ).fetchall()

        def minutes(when: datetime | None) -> float | None:
            return None if when is None else (when - self.t0).total_seconds() / 60

        return {r["platform"]: (r["state"], minutes(r["next_check"]),
                                minutes(r["last_checked_at"]), r["next_due"], r["error_streak"])
                for r in rows}

    def holders(self) -> set[tuple[Any, ...]]:
        with self.db.transaction() as conn:
            return {(r["leased_by"], r["leased"]) for r in conn.execute(
                "SELECT leased_by, lease_until IS NOT NULL AS leased FROM posts").fetchall()}


#: (minutes, outcome, then: post state, next check, target last checked, target
#: next_due, target error streak), the same for both targets.
STEPS = [
    (0, Outcome.OK, ("visible", 2.0, 0.0, None, 0)),
    # An expired token on a single post backs off (no listing will bring a fresh
    # one): CONFIRM_RETRY, and a failed check of its target.
    (2, Outcome.TOKEN_EXPIRED, ("visible", 4.0, 2.0, None, 1)),
    (4, Outcome.OK, ("visible", 5.0, 4.0, None, 0)),
    # Gone: suspect, the confirming probe CONFIRM_SPACING after the first.
    (5, Outcome.GONE, ("suspect", 10.0, 5.0, None, 0)),
    # Confirmed at once: a single post has no listing whose tombstone to wait for.
    (10, Outcome.GONE, ("gone", 30.0, 10.0, None, 0)),
]


def test_a_thread_target_lives_exactly_like_a_post_target(db: Database,
                                                          agora: platforms.Registry) -> None:
    pair = Pair(db)
    events: dict[str, list[str]] = {"agora": [], "rednote": []}
    previous = 0.0
    for minutes, outcome, expected in STEPS:
        if minutes > previous:
            assert pair.claim(minutes - 0.01) == {}, f"nothing is due before {minutes} min"
        worker = pair.seat(f"w{minutes}")
        items = pair.claim(minutes, worker)
        assert sorted(items) == ["agora", "rednote"], f"both probes due at {minutes} min"
        assert {i.target_url for i in items.values()} == {THREAD, NOTE}  # the values: URLs
        assert pair.holders() == {(worker, True)}  # leased to the claiming worker
        for item in items.values():
            events[item.platform] += [e.kind for e in pair.probe(item, minutes, outcome)]
        assert pair.holders() == {(worker, False)}  # the lease ended with the observation
        assert pair.rows() == {"agora": expected, "rednote": expected}, f"at {minutes} min"
        previous = minutes
    assert events == {"agora": ["disappeared"], "rednote": ["disappeared"]}
    with db.transaction() as conn:  # and no listing was ever due for either
        assert claims.platforms_due(conn, pair.at(29)) == []
        assert claims.platforms_due(conn, pair.at(30)) == ["agora", "rednote"]


def test_a_listing_claim_carries_the_declared_own_url(db: Database,
                                                      agora: platforms.Registry) -> None:
    """The fetch policy's own URL: a URL-valued kind's value, else the base_url."""
    board = "https://agora.example/b/news"
    with db.transaction() as conn:
        store.sync_targets(conn, [target("agora", "board", board),
                                  target("agora", "member", "alice",
                                         "https://agora.example")], 60)
        items = claims.claim_due(conn, datetime.now().astimezone() + timedelta(seconds=5), 10,
                                600)
    assert sorted((i.mode, i.url, i.target_url) for i in items) == [
        ("listing", "alice", "https://agora.example"), ("listing", board, board)]
