"""The fast paths of the statistics against the exact scans: the rate rollups
(migration 012, kept by triggers) and the cache of survival answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from analyst_world import XSS
from fastapi.testclient import TestClient
from stats_rows import T0, Rows, at

from monitor.api import create_app
from monitor.clock import ManualClock
from monitor.db import Database
from monitor.db import stats as store
from monitor.db.access import create_token
from monitor.db.stats import StatsFilter, _days
from monitor.settings import Settings
from monitor.stats import cache, report

PERIODS = (None, "day", "week", "month")
BYS = ("all", "platform", "group", "cause")


def _norm(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((tuple((k, int(v) if isinstance(v, int) else v)
                         for k, v in sorted(r.items())) for r in rows), key=repr)


def _assert_same(conn: Any, f: StatsFilter, by: str, period: str | None) -> None:
    """Rollup and scan agree, events and posts, for this filter."""
    assert _norm(store.event_counts(conn, f, by, period)) == _norm(
        store.event_counts(conn, f, by, period, rollup=False)), (f, by, period)
    if by != "cause":
        assert _norm(store.post_counts(conn, f, by, period)) == _norm(
            store.post_counts(conn, f, by, period, rollup=False)), (f, by, period)


def _assert_all_same(db: Database, filters: list[StatsFilter]) -> None:
    with db.transaction() as conn:
        for f in filters:
            for by in BYS:
                for period in PERIODS:
                    _assert_same(conn, f, by, period)


def _windows(db: Database) -> list[StatsFilter]:
    """No window, windows on and off midnight, a window inside one day, an empty one."""
    with db.transaction() as conn:
        row = conn.execute("SELECT min(detected_at) AS lo, max(detected_at) AS hi"
                           " FROM events").fetchone()
    lo, hi = row["lo"], row["hi"]
    mid = lo + (hi - lo) / 2
    midnight = datetime.combine(mid.date(), datetime.min.time(), UTC)
    return [StatsFilter(), StatsFilter(since=mid), StatsFilter(until=mid),
            StatsFilter(since=lo + timedelta(hours=7), until=hi - timedelta(hours=5)),
            StatsFilter(since=midnight, until=midnight + timedelta(days=1)),
            StatsFilter(since=midnight + timedelta(hours=1),
                        until=midnight + timedelta(hours=20)),
            StatsFilter(since=hi, until=lo)]


# --- the history of the analyst world ---------------------------------------------------


def test_rates_equal_the_scan_on_the_analyst_history(analyst_db: Database) -> None:
    _assert_all_same(analyst_db, _windows(analyst_db))


def test_rates_equal_the_scan_with_filters(analyst_db: Database, analyst_world: Any) -> None:
    with analyst_db.transaction() as conn:
        groups = [r["g"] for r in conn.execute(
            "SELECT DISTINCT group_name AS g FROM targets")]
    platforms = sorted(analyst_world.platforms)
    since = _windows(analyst_db)[1].since
    _assert_all_same(analyst_db, [
        StatsFilter(platforms=platforms[:2]), StatsFilter(groups=groups),
        StatsFilter(since=since, platforms=platforms[:1], groups=groups),
        StatsFilter(groups=[*XSS, "no such group"]), StatsFilter(platforms=["nowhere"])])


def test_account_breakdown_takes_the_scan(analyst_db: Database) -> None:
    with analyst_db.transaction() as conn:
        assert store.event_counts(conn, StatsFilter(), "account", None) == \
            store.event_counts(conn, StatsFilter(), "account", None, rollup=False)
        accounts = StatsFilter(accounts=["nobody"])
        assert store.post_counts(conn, accounts, "platform", "week") == []


def test_report_rates_are_unchanged(analyst_db: Database) -> None:
    """The public rates: the rollup's answer is the scan's, row for row."""
    with analyst_db.transaction() as conn:
        fast = report.rates(conn, StatsFilter(), "group", "week")
        store_ec, store_pc = store.event_counts, store.post_counts
        try:
            store.event_counts = (  # type: ignore[assignment]
                lambda c, f, by, p: store_ec(c, f, by, p, rollup=False))
            store.post_counts = (  # type: ignore[assignment]
                lambda c, f, by, p: store_pc(c, f, by, p, rollup=False))
            slow = report.rates(conn, StatsFilter(), "group", "week")
        finally:
            store.event_counts, store.post_counts = store_ec, store_pc
    assert fast == slow and fast


def test_rebuild_recounts_what_the_triggers_kept(analyst_db: Database) -> None:
    def tables(conn: Any) -> tuple[list[Any], ...]:
        return tuple(conn.execute(f"SELECT * FROM {t} WHERE events <> 0 ORDER BY 1, 2, 3, 4, 5"
                                  if t == "stats_event_days" else
                                  f"SELECT * FROM {t} WHERE posts <> 0 ORDER BY 1, 2, 3, 4"
                                  ).fetchall() for t in ("stats_event_days", "stats_post_days"))

    with analyst_db.transaction() as conn:
        before = tables(conn)
        store.rebuild_rollups(conn)
        assert tables(conn) == before and before[0] and before[1]


# --- hand-made rows, written after the migration: the triggers at work ---------------


def test_triggers_follow_every_kind_of_write(db: Database) -> None:
    late = StatsFilter(since=at(3600))  # off midnight: an edge and whole days
    windows = [StatsFilter(), late, StatsFilter(until=at(86400 * 3 + 5))]
    with db.transaction() as conn:
        rows = Rows(conn)
        t1 = rows.target("alice", platform="mastodon", group="g1")
        t2 = rows.target(XSS[0], platform="bluesky", group=XSS[1])
        a = rows.post(t1, last_visible=60)
        rows.event(a, cause="removed_by_platform", last_visible=60, first_gone=600)
        # A second disappearance of the same post, detected earlier than the first.
        rows.event(a, cause="deleted_by_author", last_visible=30, first_gone=90, detected=120)
        b = rows.post(t2, published=None, first_seen=at(86400 * 2))
        rows.event(b, cause=None, last_visible=86400 * 2, first_gone=86400 * 2 + 300)
        rows.event(b, "restored", detected=86400 * 3)
        rows.event(b, "edited", detected=86400 * 3 + 10)
        rows.post(t2, last_visible=86400 * 9)
    _assert_all_same(db, windows)
    with db.transaction() as conn:
        totals = store.post_counts(conn, StatsFilter(), "all", None)
        assert [(r["posts"], r["removed"]) for r in totals] == [(3, 2)]
        # The recording code fills a publication time in later: the post moves day.
        conn.execute("UPDATE posts SET published_at = %s WHERE id = %s", (at(-86400), b))
        # A group is renamed: posts count under the target's new group name.
        conn.execute("UPDATE targets SET group_name = 'renamed' WHERE id = %s", (t1,))
        # An event is corrected in place (moved to another day and group).
        conn.execute("UPDATE events SET detected_at = detected_at + interval '2 days',"
                     " group_name = 'renamed' WHERE post_id = %s AND kind = 'edited'", (b,))
    _assert_all_same(db, windows)
    with db.transaction() as conn:
        # The first disappearance goes: the post is still removed (its second stays).
        conn.execute("DELETE FROM events WHERE post_id = %s AND cause = 'deleted_by_author'",
                     (a,))
        # The only disappearance of b goes: b is no longer removed.
        conn.execute("DELETE FROM events WHERE post_id = %s AND kind = 'disappeared'", (b,))
    _assert_all_same(db, windows)
    with db.transaction() as conn:
        assert [(r["posts"], r["removed"]) for r in store.post_counts(
            conn, StatsFilter(), "all", None)] == [(3, 1)]
        # A whole target goes (its posts and events by cascade).
        conn.execute("DELETE FROM targets WHERE id = %s", (t2,))
        left = store.post_counts(conn, StatsFilter(), "group", None)
        assert [(r["key"], r["posts"], r["removed"]) for r in left] == [("renamed", 1, 1)]
        ev = store.event_counts(conn, StatsFilter(), "platform", None)
        assert [(r["key"], r["disappeared"]) for r in ev] == [("mastodon", 1)]
    _assert_all_same(db, windows)


def test_a_post_touched_by_rechecks_only_is_not_recounted(db: Database) -> None:
    """The hot path: updates that do not move a post's start leave the rollup alone."""
    with db.transaction() as conn:
        rows = Rows(conn)
        post = rows.post(rows.target())
        before = conn.execute("SELECT xmin::text AS x FROM stats_post_state"
                              " WHERE post_id = %s", (post,)).fetchone()
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET last_visible_at = %s, first_seen = least(first_seen,"
                     " %s), published_at = COALESCE(published_at, %s) WHERE id = %s",
                     (at(999), at(999), at(5), post))
        after = conn.execute("SELECT xmin::text AS x FROM stats_post_state"
                             " WHERE post_id = %s", (post,)).fetchone()
    assert before == after


def test_one_statement_recounts_just_the_posts_it_moved(db: Database) -> None:
    """The recorder writes a batch's posts in one UPDATE (a first check learns each new
    post's publication time): the statement trigger recounts the posts whose start
    moved, in their new day, and leaves the others' rows alone."""
    with db.transaction() as conn:
        rows = Rows(conn)
        target = rows.target()
        moved = [rows.post(target, published=None, first_seen=at(86400 * 2))
                 for _ in range(3)]
        kept = rows.post(target)
        before = conn.execute("SELECT xmin::text AS x FROM stats_post_state"
                              " WHERE post_id = %s", (kept,)).fetchone()
    with db.transaction() as conn:
        conn.execute("SET LOCAL track_functions = 'pl'")  # counts calls in this transaction
        updated = conn.execute(
            "UPDATE posts SET last_visible_at = %s, published_at = CASE WHEN id = ANY(%s)"
            " THEN %s ELSE published_at END WHERE target_id = %s",
            (at(999), moved, at(-86400), target)).rowcount
        assert updated == 4
        refreshes = conn.execute("SELECT pg_stat_get_xact_function_calls("
                                 "'stats_posts_refresh'::regproc) AS n").fetchone()["n"]
        assert refreshes == 1  # once for the statement, not once per moved post
        after = conn.execute("SELECT xmin::text AS x FROM stats_post_state"
                             " WHERE post_id = %s", (kept,)).fetchone()
        days = {r["post_id"]: r["day"] for r in conn.execute(
            "SELECT post_id, day FROM stats_post_state WHERE post_id = ANY(%s)", (moved,))}
    assert before == after
    assert days == {p: (T0 - timedelta(days=1)).date() for p in moved}
    _assert_all_same(db, [StatsFilter(), StatsFilter(since=at(-86400)),
                          StatsFilter(until=at(86400 * 2 + 5))])


@pytest.mark.parametrize(("since", "until", "first", "end", "edges"), [
    (None, None, None, None, 0),
    (T0.replace(hour=0), None, T0.date(), None, 0),
    (T0, None, T0.date() + timedelta(days=1), None, 1),
    (None, T0, None, T0.date(), 1),
    (T0, T0 + timedelta(days=3), T0.date() + timedelta(days=1), T0.date() + timedelta(days=3),
     2),
    (T0, T0 + timedelta(hours=2), None, None, 1),  # inside one day: all edge
    (T0, T0, None, None, 0),  # empty
])
def test_a_window_splits_into_whole_days_and_edges(since: datetime | None,
                                                   until: datetime | None, first: Any,
                                                   end: Any, edges: int) -> None:
    got_first, got_end, got_edges = _days(StatsFilter(since=since, until=until))
    assert len(got_edges) == edges
    if first is not None or end is not None:
        assert (got_first, got_end) == (first, end)
    if since and until and since < until and edges == 1 and first is None:
        assert got_edges[0].since == since and got_edges[0].until == until


# --- the survival cache -------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture
def client(analyst_db: Database, clock: ManualClock) -> Iterator[TestClient]:
    with analyst_db.transaction() as conn:
        _, secret = create_token(conn, "stats-viewer", "viewer")
    # Not entered (no lifespan): the background refresh would store answers of its own.
    c = TestClient(create_app(Settings(), analyst_db, clock=clock), base_url="http://127.0.0.1")
    c.headers["Authorization"] = f"Bearer {secret}"
    yield c


def test_a_served_app_refreshes_the_common_answers_in_the_background(
        analyst_db: Database, clock: ManualClock) -> None:
    """``takedown serve`` (any served app: its lifespan) computes a year of each common
    breakdown at once, so no analyst waits seconds for the first curve."""
    import time

    with TestClient(create_app(Settings(), analyst_db, clock=clock),
                    base_url="http://127.0.0.1"):
        deadline = time.monotonic() + 120
        keys: set[str] = set()
        while time.monotonic() < deadline and len(keys) < len(cache.COMMON):
            with analyst_db.transaction() as conn:
                keys = {r["key"] for r in conn.execute("SELECT key FROM stats_answers")}
            time.sleep(0.1)  # a real background thread: nothing to step
    assert keys == {cache.answer_key(spec) for spec in cache.COMMON}


def _remove_a_surviving_post(db: Database) -> None:
    with db.transaction() as conn:
        post = conn.execute(
            "SELECT p.id FROM posts p WHERE NOT EXISTS (SELECT 1 FROM events e"
            " WHERE e.post_id = p.id AND e.kind = 'disappeared') ORDER BY p.id LIMIT 1"
        ).fetchone()["id"]
        Rows(conn).event(post, cause="removed_by_platform", detected=0)


def test_survival_is_served_from_the_cache_until_it_is_too_old(
        client: TestClient, analyst_db: Database, clock: ManualClock) -> None:
    params = {"by": "platform", "group": [XSS[0]]}
    first = client.get("/api/v1/stats/survival", params={"by": "platform"}).json()
    assert first["computed_at"].startswith("2026-06-01T00:00:00")
    _remove_a_surviving_post(analyst_db)
    clock.advance(60)
    again = client.get("/api/v1/stats/survival", params={"by": "platform"}).json()
    assert again == first  # the stored answer, saying when it was computed
    fresh = client.get("/api/v1/stats/survival",
                       params={"by": "platform", "fresh": "true"}).json()
    assert fresh["computed_at"].startswith("2026-06-01T00:01:00")
    assert sum(c["removed"] for c in fresh["curves"]) == \
        sum(c["removed"] for c in first["curves"]) + 1
    clock.advance(cache.MAX_AGE.total_seconds() + 1)
    late = client.get("/api/v1/stats/survival", params={"by": "platform"}).json()
    assert late["computed_at"] > fresh["computed_at"]
    # Another filter (a hostile group name) is its own answer, not the cached one.
    other = client.get("/api/v1/stats/survival", params=params)
    assert other.status_code == 200 and other.json()["curves"] != late["curves"]


def test_survival_plot_uses_the_cached_answer(client: TestClient, analyst_db: Database,
                                               clock: ManualClock) -> None:
    first = client.get("/api/v1/stats/plots/survival.svg", params={"by": "platform"})
    assert first.status_code == 200 and first.headers["content-type"].startswith("image/svg")
    with analyst_db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM stats_answers").fetchone()["n"] == 1
    _remove_a_surviving_post(analyst_db)
    clock.advance(30)
    assert client.get("/api/v1/stats/plots/survival.svg",
                      params={"by": "platform"}).text == first.text


def test_cached_answer_is_the_computed_answer(analyst_db: Database,
                                              clock: ManualClock) -> None:
    f = StatsFilter(since=clock.now() - timedelta(days=3650))
    params = {"since": "3650d", "by": "group", "top": 5}
    with analyst_db.transaction() as conn:
        computed = report.survival(conn, f, "group", top=5)
        stored = cache.survival(conn, params, f, clock.now())
        served = cache.survival(conn, params, f, clock.now() + timedelta(minutes=1))
    assert served == stored
    assert {k: v for k, v in served.items() if k != "computed_at"} == \
        {**computed, "curves": [{**c, "key": str(c["key"])} for c in computed["curves"]]}


def test_refresh_stores_the_common_answers(analyst_db: Database, clock: ManualClock) -> None:
    assert cache.refresh(analyst_db, clock) == len(cache.COMMON)
    with analyst_db.transaction() as conn:
        for spec in cache.COMMON:
            hit = store.load_answer(conn, cache.answer_key(spec))
            assert hit is not None and hit["computed_at"] == clock.now()
            assert hit["answer"]["by"] == spec["by"]


def test_refresh_survives_a_failing_answer(analyst_db: Database, clock: ManualClock) -> None:
    bad = ({"kind": "survival", "since": "365d", "by": "no such key", "top": 3},
           *cache.COMMON[:1])
    assert cache.refresh(analyst_db, clock, specs=bad) == 1


def test_old_answers_are_forgotten(db: Database) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with db.transaction() as conn:
        store.save_answer(conn, "old", now - timedelta(days=2), {"a": 1}, now)
        store.save_answer(conn, "new", now, {"b": "<script>"}, now - cache.KEEP)
        assert store.load_answer(conn, "old") is None
        assert store.load_answer(conn, "new")["answer"] == {"b": "<script>"}  # type: ignore[index]


def test_survival_cache_keeps_auth(analyst_db: Database, clock: ManualClock) -> None:
    with TestClient(create_app(Settings(), analyst_db, clock=clock),
                    base_url="http://127.0.0.1") as c:
        response = c.get("/api/v1/stats/survival", params={"by": "platform"})
        assert response.status_code == 401 and "error" in response.json()
