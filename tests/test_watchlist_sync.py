"""The watchlist sync against real PostgreSQL: set-based, writes only what changed,
skipped by hash, one worker at a time; and the daemon's reload that skips an
unchanged file (monitor.db.sync, monitor.watchlist_reload)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from monitor.clock import ManualClock
from monitor.db import Database, continuous, tracking
from monitor.db import sync as store
from monitor.errors import StorageUnavailable
from monitor.settings import Settings
from monitor.vantage import Vantage
from monitor.watchlist import Target, parse_watchlist
from monitor.watchlist_reload import Reloader, reload_and_sync
from monitor.worker import Worker

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
NOTE = "66a1b2c3000000000d00e1f2"
FEED = "https://news.example/feed.xml"


def account(name: str, group: str = "g", **kw: Any) -> Target:
    return Target(group=group, platform="mastodon", kind="account", value=name,
                  base_url="https://ex.social", interval=kw.pop("interval", 600.0),
                  tags=kw.pop("tags", ()), **kw)


def note(token: str, group: str = "g") -> Target:
    return Target(group=group, platform="rednote", kind="post",
                  value=f"https://www.xiaohongshu.com/explore/{NOTE}?xsec_token={token}",
                  base_url=None, interval=600.0, tags=())


def sync(db: Database, targets: Sequence[Target], groups: Sequence[str] | None = None,
         now: datetime = T0) -> dict[str, int]:
    with db.transaction() as conn:
        return store.sync_targets(conn, targets, 600, groups, now=now)


def versions(db: Database) -> dict[str, str]:
    """Each target's and post's row version and locker (xmin, xmax): a write makes a new
    version, a row lock (ON CONFLICT DO UPDATE locks even when it writes nothing) a new
    xmax."""
    with db.transaction() as conn:
        rows = conn.execute("SELECT 't' || id AS k, xmin || ':' || xmax AS v FROM targets "
                            "UNION ALL SELECT 'p' || id, xmin || ':' || xmax FROM posts"
                            ).fetchall()
    return {r["k"]: r["v"] for r in rows}


def targets_table(db: Database) -> dict[str, dict[str, Any]]:
    with db.transaction() as conn:
        return {r["key"]: r for r in conn.execute(
            "SELECT key, group_name, interval_s, tags, allow_hosts, options, vantages, active, "
            "next_due, single_post, base_url, value FROM targets").fetchall()}


def make_worker(db: Database, tmp_path: Path, groups: Sequence[str] | None = None) -> Worker:
    async def crawl(*_: Any) -> None:
        return None

    return Worker(db, Settings.load({}, environ={}), crawl, groups=groups,
                  spool_dir=tmp_path / "spool", clock=ManualClock(T0))


# --- set-based: only what changed is written ---------------------------------------------


def test_an_unchanged_resync_writes_no_row(db: Database) -> None:
    targets = [account(f"u{i}", tags=("a",)) for i in range(50)] + [note("AB1")]
    assert sync(db, targets) == {"targets": 51, "added": 51, "changed": 0, "deactivated": 0}
    before = versions(db)
    with db.transaction() as conn:
        counts = store.sync_targets(conn, list(reversed(targets)), 600, now=T0 + timedelta(1))
        stats = conn.execute("SELECT relname, n_tup_upd, n_tup_del "
                             "FROM pg_stat_xact_user_tables "
                             "WHERE relname IN ('targets', 'posts')").fetchall()
    assert counts == {"targets": 51, "added": 0, "changed": 0, "deactivated": 0}
    assert versions(db) == before  # no new row version: no dead tuple
    # Counts not yet flushed, of this session's earlier transactions too (PostgreSQL 15):
    # the first sync's inserts may show, but nothing was ever updated or deleted.
    assert {r["relname"] for r in stats} == {"targets", "posts"}  # both were read
    assert all(r["n_tup_upd"] == r["n_tup_del"] == 0 for r in stats), stats


CHANGES = {
    "group": {"group": "h"},
    "interval": {"interval": 60.0},
    "tags": {"tags": ("x", "y")},
    "allow_hosts": {"allow_hosts": ("media.ex.social",)},
    "options": {"options": {"article_selector": "main"}},
    "vantages": {"vantages": (Vantage("de", "DE"),)},
}
COLUMN = {"group": "group_name", "interval": "interval_s"}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_each_synced_column_that_changes_is_written(db: Database, field: str) -> None:
    base = [account("alice"), account("bob")]
    sync(db, base)
    before = versions(db)
    changed = dataclasses.replace(base[0], **CHANGES[field])
    assert sync(db, [changed, base[1]]) == {"targets": 2, "added": 0, "changed": 1,
                                            "deactivated": 0}
    after = versions(db)
    assert [k for k in before if before[k] != after[k]] == ["t1"]  # alice alone
    row = targets_table(db)[changed.key]
    want: Any = getattr(changed, field)
    if field == "vantages":
        want = [v.name for v in want]
    elif isinstance(want, tuple):
        want = list(want)
    assert row[COLUMN.get(field, field)] == want
    assert row["next_due"] == T0  # a listing keeps its schedule


def test_a_listing_without_a_schedule_gets_one(db: Database) -> None:
    sync(db, [account("alice")])
    with db.transaction() as conn:
        conn.execute("UPDATE targets SET next_due = NULL")
    assert sync(db, [account("alice")], now=T0 + timedelta(hours=1))["changed"] == 1
    assert targets_table(db)[account("alice").key]["next_due"] == T0 + timedelta(hours=1)


def test_deactivation_and_reactivation(db: Database) -> None:
    a, b = account("alice"), account("bob")
    sync(db, [a, b])
    with db.transaction() as conn:
        conn.execute("UPDATE targets SET next_due = %s", (T0 + timedelta(minutes=7),))
    assert sync(db, [a]) == {"targets": 1, "added": 0, "changed": 0, "deactivated": 1}
    assert not targets_table(db)[b.key]["active"]
    assert sync(db, [a]) == {"targets": 1, "added": 0, "changed": 0, "deactivated": 0}
    assert sync(db, [a, b]) == {"targets": 2, "added": 0, "changed": 1, "deactivated": 0}
    row = targets_table(db)[b.key]
    assert row["active"] and row["next_due"] == T0 + timedelta(minutes=7)  # its own schedule


def test_groups_scope_what_is_deactivated(db: Database) -> None:
    a, b, c = account("alice", "g1"), account("bob", "g2"), account("carol", "g1")
    sync(db, [a, b, c])
    assert sync(db, [a], groups=["g1"])["deactivated"] == 1  # carol, not bob
    table = targets_table(db)
    assert table[b.key]["active"] and not table[c.key]["active"]
    assert sync(db, [a], groups=[])["deactivated"] == 0  # [] deactivates nothing
    assert sync(db, [a])["deactivated"] == 1  # every group: bob goes too


# --- single posts --------------------------------------------------------------------------


def post_row(db: Database) -> dict[str, Any]:
    with db.transaction() as conn:
        row = conn.execute("SELECT id, probe_url, known, next_check, state, first_seen, url "
                           "FROM posts").fetchone()
    assert row is not None
    return dict(row)


def test_a_new_single_post_is_unseen_and_due_at_once(db: Database) -> None:
    assert sync(db, [note("AB1")])["added"] == 1
    row = post_row(db)
    assert row["state"] == "unseen" and row["next_check"] == row["first_seen"] == T0
    assert "xsec_token=AB1" in row["probe_url"] and row["url"] == note("AB1").value
    assert targets_table(db)[note("AB1").key]["next_due"] is None  # no listing


def test_an_unchanged_single_post_is_not_written(db: Database) -> None:
    sync(db, [note("AB1")])
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET next_check = %s, known = %s",
                     (T0 + timedelta(hours=2), Jsonb({"xsec_token": "from-answer"})))
    before = versions(db)
    sync(db, [note("AB1")], now=T0 + timedelta(hours=1))
    assert versions(db) == before
    row = post_row(db)
    assert row["next_check"] == T0 + timedelta(hours=2)
    assert row["known"] == {"xsec_token": "from-answer"}


def test_a_changed_probe_url_drops_the_token_and_is_due_at_once(db: Database) -> None:
    sync(db, [note("AB1")])
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET next_check = %s, known = %s",
                     (T0 + timedelta(hours=2),
                      Jsonb({"xsec_token": "from-answer", "other": 1})))
    later = T0 + timedelta(hours=1)
    counts = sync(db, [note("CD2")], now=later)  # same note, fresh token in the URL
    assert counts["added"] == 0 and counts["deactivated"] == 0
    row = post_row(db)
    assert "xsec_token=CD2" in row["probe_url"]
    assert row["known"] == {"other": 1}  # the URL's token wins
    assert row["next_check"] == later


# --- hostile values through COPY --------------------------------------------------------

HOSTILE = ["tab\there", "new\nline", "cr\rreturn", "back\\slash\\N", "\\.", "quote'\"",
           "ünïcödé 中文 🙂", "x" * 20_000, "", "comma,{brace}", "NULL"]


def test_hostile_values_round_trip_through_copy(db: Database) -> None:
    t = Target(group="g\t\\N\n中", platform="rss", kind="feed", value=FEED, base_url=None,
               interval=600.0, tags=tuple(HOSTILE), allow_hosts=("a\\b.example",),
               options={"article_selector": "\\t\t\n" + "é" * 5000})
    assert sync(db, [t])["added"] == 1
    row = targets_table(db)[t.key]
    assert row["group_name"] == t.group and row["tags"] == HOSTILE
    assert row["allow_hosts"] == ["a\\b.example"] and row["options"] == t.options
    before = versions(db)
    assert sync(db, [t]) == {"targets": 1, "added": 0, "changed": 0, "deactivated": 0}
    assert versions(db) == before  # read back equal: nothing to rewrite


# --- the hash: skipped when the same set was synced --------------------------------------


def test_worker_sync_skips_a_set_already_synced(db: Database, tmp_path: Path) -> None:
    worker = make_worker(db, tmp_path)
    targets = [account("alice"), account("bob")]
    assert worker.sync(targets)["skipped"] == 0
    before = versions(db)
    assert worker.sync(list(reversed(targets)))["skipped"] == 1  # order does not count
    assert versions(db) == before
    assert worker.sync([targets[0]]) == {"targets": 1, "added": 0, "changed": 0,
                                         "deactivated": 1, "skipped": 0}


def test_the_hash_is_per_scope_and_any_write_voids_it(db: Database, tmp_path: Path) -> None:
    everyone, g1 = make_worker(db, tmp_path), make_worker(db, tmp_path, groups=["g1"])
    a, b = account("alice", "g1"), account("bob", "g2")
    assert everyone.sync([a, b])["skipped"] == 0
    assert g1.sync([a])["skipped"] == 0  # its own scope: not synced yet
    assert g1.sync([a])["skipped"] == 1
    assert everyone.sync([a, b])["skipped"] == 1
    sync(db, [account("carol", "g1")], groups=[])  # an added target (a capture's)
    assert g1.sync([a])["deactivated"] == 1  # carol: the hash was voided
    assert everyone.sync([a, b])["skipped"] == 0
    with db.transaction() as conn:
        tracking.forget_group(conn, "g2")
    assert everyone.sync([a, b])["added"] == 1  # bob is back


def test_the_hash_covers_the_default_interval(db: Database) -> None:
    targets = [account("alice", interval=None)]
    assert store.watchlist_hash(targets, 600) != store.watchlist_hash(targets, 60)
    assert store.watchlist_hash(targets, 600) != store.watchlist_hash(targets, 600, ["g"])
    assert store.scope_of(["b", "a", "a"]) == store.scope_of(["a", "b"]) != store.scope_of(None)


def test_two_workers_syncing_at_once_one_does_the_work(db_url: str, tmp_path: Path) -> None:
    targets = [account(f"u{i}") for i in range(2000)] + [note("AB1")]
    dbs = [Database(db_url), Database(db_url)]
    workers = [make_worker(d, tmp_path / str(i)) for i, d in enumerate(dbs)]
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def run(worker: Worker) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(worker.sync(targets))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert sorted(r["skipped"] for r in results) == [0, 1]
        assert sorted(r["added"] for r in results) == [0, 2001]
        with dbs[0].transaction() as conn:
            row = conn.execute("SELECT count(*) AS n, count(*) FILTER (WHERE active) AS a "
                               "FROM targets").fetchone()
            posts = conn.execute("SELECT count(*) AS n FROM posts").fetchone()
        assert row == {"n": 2001, "a": 2001} and posts == {"n": 1}
    finally:
        for w in workers:
            w.close()
        for d in dbs:
            d.close()


# --- the daemon's reload -------------------------------------------------------------------

WATCHLIST = """
[groups.g]
[[groups.g.targets]]
platform = "mastodon"
account = "alice@ex.social"
"""


class Counting:
    """``parse`` for a Reloader that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> list[Target]:
        self.calls += 1
        return parse_watchlist(text).targets


def test_the_reload_skips_an_unchanged_file_and_picks_up_a_changed_one(
        db: Database, tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST, encoding="utf-8")
    worker, parse = make_worker(db, tmp_path), Counting()
    reload = Reloader(path, parse, salt="600|None")
    assert reload_and_sync(worker, reload) == {"targets": 1, "added": 1, "changed": 0,
                                               "deactivated": 0, "skipped": 0}
    before = versions(db)
    with db.transaction() as conn:
        stamp = conn.execute("SELECT synced_at FROM watchlist_sync").fetchone()
    assert reload_and_sync(worker, reload) is None and parse.calls == 1  # not even parsed
    with db.transaction() as conn:
        assert conn.execute("SELECT synced_at FROM watchlist_sync").fetchone() == stamp
    assert versions(db) == before
    path.write_text(WATCHLIST.replace("alice", "bob"), encoding="utf-8")
    counts = reload_and_sync(worker, reload)
    assert counts is not None and counts["added"] == 1 and counts["deactivated"] == 1
    assert parse.calls == 2


def test_the_reload_primed_with_the_first_read_skips_it(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST, encoding="utf-8")
    parse = Counting()
    reload = Reloader(path, parse)
    reload.prime(path.read_bytes())
    assert reload() is None and parse.calls == 0
    reload.prime(b"an older file")  # the file changed after the first read: synced again
    assert reload() is not None and parse.calls == 1


def test_a_bad_file_keeps_the_previous_targets(db: Database, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST, encoding="utf-8")
    worker, parse = make_worker(db, tmp_path), Counting()
    reload = Reloader(path, parse)
    reload_and_sync(worker, reload)
    for bad in (b"[groups.g\n", b"\xff\xfe not utf-8"):
        path.write_bytes(bad)
        with caplog.at_level(logging.ERROR, logger="monitor.watchlist_reload"):
            assert reload_and_sync(worker, reload) is None
        assert "keeping the previous targets" in caplog.text
        caplog.clear()
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="monitor.watchlist_reload"):
        assert reload_and_sync(worker, reload) is None
    assert "no such watchlist file" in caplog.text
    assert [k for k, r in targets_table(db).items() if r["active"]] == [
        "mastodon:account:alice@ex.social"]
    assert parse.calls == 2  # the good file and the bad TOML (the rest fail before)
    path.write_text(WATCHLIST, encoding="utf-8")  # fixed back: the one synced, skipped
    assert reload_and_sync(worker, reload) is None and parse.calls == 2


def test_a_reload_the_database_missed_is_synced_at_the_next(tmp_path: Path) -> None:
    class Away:
        """A worker whose database is unavailable once."""

        def __init__(self) -> None:
            self.calls: list[int] = []

        def sync(self, targets: Sequence[Target]) -> dict[str, int]:
            self.calls.append(len(targets))
            if len(self.calls) == 1:
                raise StorageUnavailable("database unavailable")
            return {"targets": len(targets), "added": 0}

    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST, encoding="utf-8")
    worker, reload = Away(), Reloader(path, Counting())
    assert reload_and_sync(worker, reload) is None  # type: ignore[arg-type]
    assert reload_and_sync(worker, reload) is not None  # type: ignore[arg-type]
    assert reload_and_sync(worker, reload) is None  # type: ignore[arg-type]
    assert worker.calls == [1, 1]


# --- the idle loop ------------------------------------------------------------------------


def test_the_idle_look_up_is_planned_for_its_platform_every_time(db: Database) -> None:
    """Prepared, its generic plan cannot know the platform and, for one with no targets,
    walks every target (bench.watchlist measures it at 100,000)."""
    sync(db, [account(f"u{i}") for i in range(20)] + [note("AB1")])
    with db.transaction() as conn:
        for _ in range(10):  # psycopg prepares a statement from its fifth run
            assert continuous.next_due(conn, T0, ["weibo"]) == {"weibo": None}
            assert continuous.next_due(conn, T0 - timedelta(1), ["mastodon"]) == {
                "mastodon": T0}
            # Several platforms in one read, each as it would be read alone.
            assert continuous.next_due(conn, T0, ["weibo", "mastodon", "weibo"]) == {
                "weibo": None, "mastodon": T0}
        assert continuous.next_due(conn, T0, []) == {}
        prepared = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert not [r for r in prepared if "least(" in r["statement"]]


def reltuples(db: Database) -> dict[str, float]:
    """The planner's row counts of targets and posts (-1: never analysed)."""
    with db.transaction() as conn:
        return {r["relname"]: r["reltuples"] for r in conn.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('targets', 'posts')")}


def single_posts(n: int) -> list[Target]:
    return [Target(group="g", platform="rss", kind="post", value=f"https://x.example/p/{i}",
                   base_url=None, interval=600.0, tags=()) for i in range(n)]


def test_a_sync_that_writes_many_rows_leaves_the_planner_fresh_statistics(
        db: Database) -> None:
    """Stale statistics made each claim read and sort every due post (a cycle quadratic
    in its posts): a sync writing more than autovacuum's threshold analyses the tables
    in its own transaction, and the claim then walks the ``next_check`` index."""
    assert reltuples(db) == {"targets": -1, "posts": -1}  # fresh: never analysed
    sync(db, single_posts(400))
    assert reltuples(db) == {"targets": 400, "posts": 400}
    with db.transaction() as conn:
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute(
            "EXPLAIN SELECT id FROM posts WHERE next_check <= %s "
            "ORDER BY next_check LIMIT 10", (T0,)))
    assert "posts_due" in plan and "Sort" not in plan, plan


def test_a_sync_of_a_few_rows_leaves_the_statistics_to_autovacuum(db: Database) -> None:
    sync(db, single_posts(20))  # 40 rows: not over the 50 autovacuum waits for
    assert reltuples(db) == {"targets": -1, "posts": -1}
    sync(db, single_posts(1000))
    sync(db, single_posts(1030))  # 60 rows more: under 50 + 10% of 1,000
    assert reltuples(db) == {"targets": 1000, "posts": 1000}
