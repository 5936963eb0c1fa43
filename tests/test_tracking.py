"""The tracking loop against real PostgreSQL: observations in, rows and events out.

Time is simulated through ``observed_at``; the settings confirm a disappearance
after 2 consistent probes at least 5 minutes apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from monitor.db import Database, claims
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m",
                          "flap_versions": 3}, environ={})


def entry(key: str, text: str, minutes_old: int, **kw: Any) -> PostContent:
    return PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                       probe_url=f"https://ex.social/api/v1/statuses/{key}", text=text,
                       author="alice", published_at=T0 - timedelta(minutes=minutes_old), **kw)


class World:
    """One Mastodon account target and a recorder; helpers to feed observations."""

    def __init__(self, db: Database, interval: float = 60.0) -> None:
        self.db = db
        self.recorder = Recorder(db, SETTINGS)
        target = Target(group="g", platform="mastodon", kind="account", value="alice",
                        base_url="https://ex.social", interval=interval, tags=())
        with db.transaction() as conn:
            store.sync_targets(conn, [target], 600)
            row = conn.execute("SELECT id, key FROM targets").fetchone()
        self.target_id, self.target_key = row["id"], row["key"]

    def listing(self, at: datetime, entries: list[PostContent], outcome: Outcome = Outcome.OK,
                **kw: Any) -> list[Any]:
        obs = Observation(mode="listing", platform="mastodon", target_key=self.target_key,
                          url="alice", outcome=outcome, row_id=self.target_id,
                          entries=entries if outcome is Outcome.OK else None,
                          observed_at=at, http_status=200, **kw)
        return self.recorder.record([obs])

    def probe(self, key: str, at: datetime, outcome: Outcome, post: PostContent | None = None,
              status: int | None = None, **kw: Any) -> list[Any]:
        obs = Observation(mode="probe", platform="mastodon", target_key=self.target_key,
                          url=f"https://ex.social/api/v1/statuses/{key}", outcome=outcome,
                          row_id=self.post_id(key), post_key=key, post=post,
                          http_status=status, observed_at=at, body_hash="ab" * 32, **kw)
        return self.recorder.record([obs])

    def post_id(self, key: str) -> int:
        return int(self.one("SELECT id FROM posts WHERE post_key = %s", key)["id"])

    def one(self, query: str, *args: Any) -> dict[str, Any]:
        with self.db.transaction() as conn:
            row = conn.execute(query, args).fetchone()
        assert row is not None
        return dict(row)

    def events(self) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return conn.execute("SELECT * FROM events ORDER BY id").fetchall()


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


def three(text2: str = "second post") -> list[PostContent]:
    return [entry("3", "third post", 1), entry("2", text2, 10), entry("1", "first post", 20)]


def test_first_listing_tracks_posts_and_schedules_probes(world: World) -> None:
    assert world.listing(T0, three()) == []
    post = world.one("SELECT state, next_check, first_seen FROM posts WHERE post_key = '2'")
    assert post["state"] == "visible"
    assert post["next_check"] == T0 + timedelta(seconds=SETTINGS["RECHECK_SCHEDULE"][0])
    assert world.one("SELECT count(*) AS n FROM versions")["n"] == 3


def test_unchanged_rechecks_extend_one_observation_row(world: World) -> None:
    world.listing(T0, three())
    before = world.one("SELECT count(*) AS n FROM observations")["n"]
    for i in range(1, 6):
        counters = {"favourites_count": i * 10}
        world.listing(T0 + timedelta(minutes=i),
                      [entry("3", "third post", 1, counters=counters),
                       entry("2", "second post", 10), entry("1", "first post", 20)])
    assert world.one("SELECT count(*) AS n FROM observations")["n"] == before
    row = world.one("SELECT repeats, last_at, counters FROM observations WHERE post_id = %s",
                    world.post_id("3"))
    assert row["repeats"] == 6
    assert row["last_at"] == T0 + timedelta(minutes=5)
    assert row["counters"] == {"favourites_count": 50}
    assert world.events() == []  # counters are not edits


def test_a_recheck_whose_signals_or_detail_differ_starts_a_new_row(world: World) -> None:
    """A run extends only what repeats: a probe whose second path failed and a later one
    where it answered are two observations, or the later one's evidence is lost (the X
    e2e test lost its oEmbed disagreement this way). Retry-After seconds, the size of
    the batch a probe rode in and the raw hash of its item in that batch (which moves
    with every like, as ``body_hash`` does) vary between identical checks and extend
    the run."""
    world.listing(T0, three())
    at = T0 + timedelta(minutes=1)
    failed = {"fingerprint": "x.tombstone.unavailable", "followup_failed": True,
              "followups": [{"name": "oembed", "url": "https://ex/oembed", "failed": True,
                             "status": 403}]}
    served = {"fingerprint": "x.tombstone.unavailable", "oembed": "served",
              "followups": [{"name": "oembed", "url": "https://ex/oembed", "status": 200}]}
    steps: list[tuple[dict[str, Any], str | None]] = [
        (failed, "oembed check: x.api.guest_token"),
        (failed, "oembed check: x.api.guest_token"),  # repeats: extends
        (served, "oembed check: x.api.guest_token"),  # signals differ: new row
        (served, "the two paths disagree"),  # detail differs: new row
        ({**served, "retry_after": 30, "batch_size": 7, "item_hash": "a" * 64},
         "the two paths disagree"),
        ({**served, "retry_after": 90, "batch_size": 3, "item_hash": "b" * 64},
         "the two paths disagree"),
    ]
    for i, (signals, detail) in enumerate(steps):
        world.probe("2", at + timedelta(seconds=10 * i), Outcome.MALFORMED, status=200,
                    message="This Post is unavailable.", signals=dict(signals),
                    detail=detail)
    with world.db.transaction() as conn:
        rows = conn.execute("SELECT repeats, signals, detail FROM observations"
                            " WHERE post_id = %s AND mode = 'probe' ORDER BY id",
                            (world.post_id("2"),)).fetchall()
    assert [(r["repeats"], r["signals"].get("oembed"), r["detail"]) for r in rows] == [
        (2, None, "oembed check: x.api.guest_token"),
        (1, "served", "oembed check: x.api.guest_token"),
        (3, "served", "the two paths disagree"),
    ]


def test_edit_produces_one_event_with_word_diff_and_flaps_are_suppressed(world: World) -> None:
    world.listing(T0, three())
    events = world.listing(T0 + timedelta(minutes=1), three("second post, now edited"))
    assert [e.kind for e in events] == ["edited"]
    assert events[0].edit["rendered"] == "second post{+, now edited+}"
    # Back to the old text, then to the new again: both are known versions.
    world.listing(T0 + timedelta(minutes=2), three())
    world.listing(T0 + timedelta(minutes=3), three("second post, now edited"))
    assert [e["kind"] for e in world.events()] == ["edited"]
    assert world.one("SELECT count(*) AS n FROM versions WHERE post_id = %s",
                     world.post_id("2"))["n"] == 2


def test_disappearance_needs_consistent_spaced_probes(world: World) -> None:
    world.listing(T0, three())
    # Post 2 vanishes from inside the window: suspect, not deleted.
    assert world.listing(T0 + timedelta(minutes=1), [entry("3", "third post", 1),
                                                     entry("1", "first post", 20)]) == []
    post = world.one("SELECT state, next_check FROM posts WHERE post_key = '2'")
    assert post["state"] == "suspect"
    assert post["next_check"] == T0 + timedelta(minutes=1)  # probe at once
    assert world.probe("2", T0 + timedelta(minutes=2), Outcome.NOT_FOUND, status=404,
                       message="Record not found") == []
    # Too soon for the second probe to confirm (spacing 5 min).
    assert world.probe("2", T0 + timedelta(minutes=4), Outcome.NOT_FOUND, status=404,
                       message="Not Found") == []
    events = world.probe("2", T0 + timedelta(minutes=8), Outcome.NOT_FOUND, status=404,
                         message="Not Found")
    assert len(events) == 1
    e = events[0]
    assert (e.kind, e.cause) == ("disappeared", "ambiguous")
    assert e.candidates == ["deleted_by_author", "removed_by_moderator"]
    assert e.last_seen_visible == T0
    assert e.first_seen_gone == T0 + timedelta(minutes=2)
    stored = world.events()[0]
    assert stored["evidence"]["observed"]["http_status"] == 404
    assert stored["evidence"]["observed"]["body_hash"] == "ab" * 32
    assert len(stored["evidence"]["suspicion"]["probes"]) == 3
    assert stored["evidence"]["observed"]["obs"] is not None


@pytest.mark.parametrize("outcome", [o for o in Outcome if o.transient])
def test_transient_outcomes_never_confirm_anything(world: World, outcome: Outcome) -> None:
    world.listing(T0, three())
    for i in range(1, 12):
        world.probe("2", T0 + timedelta(minutes=10 * i), outcome, status=503,
                    signals={"retry_after": 1})
        world.listing(T0 + timedelta(minutes=10 * i + 1), [], outcome=outcome)
    assert world.events() == []
    assert world.one("SELECT state FROM posts WHERE post_key = '2'")["state"] == "visible"
    target = world.one("SELECT error_streak, last_outcome FROM targets")
    assert target["error_streak"] == 11
    assert target["last_outcome"] == outcome.value


def test_a_single_absent_probe_followed_by_success_is_not_a_deletion(world: World) -> None:
    world.listing(T0, three())
    world.probe("2", T0 + timedelta(minutes=2), Outcome.NOT_FOUND, status=404)
    world.probe("2", T0 + timedelta(minutes=9), Outcome.OK, post=entry("2", "second post", 10))
    world.probe("2", T0 + timedelta(minutes=20), Outcome.NOT_FOUND, status=404)
    assert world.events() == []
    assert world.one("SELECT state FROM posts WHERE post_key = '2'")["state"] == "suspect"


def test_rotation_out_of_the_window_is_not_a_signal(world: World) -> None:
    world.listing(T0, three())
    # A new post arrives; the oldest (post 1) rotates out of a 3-item window.
    world.listing(T0 + timedelta(minutes=1), [entry("4", "fourth", 0), *three()[:2]])
    assert world.one("SELECT state FROM posts WHERE post_key = '1'")["state"] == "visible"


def test_hidden_from_feed_then_restored(world: World) -> None:
    world.listing(T0, three())
    world.listing(T0 + timedelta(minutes=1), [entry("3", "third post", 1),
                                              entry("1", "first post", 20)])
    world.probe("2", T0 + timedelta(minutes=2), Outcome.OK, post=entry("2", "second post", 10))
    events = world.probe("2", T0 + timedelta(minutes=8), Outcome.OK,
                         post=entry("2", "second post", 10))
    assert [(e.kind, e.cause) for e in events] == [("hidden", "hidden_from_feed")]
    events = world.listing(T0 + timedelta(minutes=9), three())
    assert [(e.kind, e.evidence["previous_cause"]) for e in events] == [
        ("restored", "hidden_from_feed")]


def test_account_suspension_decides_the_cause(world: World) -> None:
    world.listing(T0, three())
    world.listing(T0 + timedelta(minutes=1), [], signals={"account_state": "suspended"})
    # The profile check failed on this probe: no decision on incomplete signals.
    world.probe("3", T0 + timedelta(minutes=1, seconds=30), Outcome.NOT_FOUND, status=404,
                signals={"account_state": "suspended", "followup_failed": True})
    for minutes in (2, 8):
        events = world.probe("3", T0 + timedelta(minutes=minutes), Outcome.NOT_FOUND,
                             status=404, signals={"account_state": "suspended_temporary"})
    assert [(e.kind, e.cause) for e in events] == [("disappeared", "account_suspended")]


def test_restoration_after_confirmed_disappearance(world: World) -> None:
    world.listing(T0, three())
    for minutes in (2, 8):
        world.probe("1", T0 + timedelta(minutes=minutes), Outcome.GONE, status=410)
    events = world.probe("1", T0 + timedelta(minutes=30), Outcome.OK,
                         post=entry("1", "first post", 20))
    assert [e.kind for e in events] == ["restored"]
    assert [e["kind"] for e in world.events()] == ["disappeared", "restored"]


def test_replaying_a_batch_does_not_duplicate_events(world: World) -> None:
    world.listing(T0, three())
    world.probe("1", T0 + timedelta(minutes=2), Outcome.GONE, status=410)
    late = T0 + timedelta(minutes=8)
    world.probe("1", late, Outcome.GONE, status=410)
    world.probe("1", late, Outcome.GONE, status=410)  # the same probe delivered twice
    assert [e["kind"] for e in world.events()] == ["disappeared"]


def test_single_post_target_records_its_checks(db: Database) -> None:
    target = Target(group="g", platform="rss", kind="post", value="https://news.example/a",
                    base_url=None, interval=60.0, tags=())
    with db.transaction() as conn:
        store.sync_targets(conn, [target], 600)
        post = conn.execute("SELECT id, post_key, state FROM posts").fetchone()
    assert post["state"] == "unseen"
    recorder = Recorder(db, SETTINGS)
    obs = Observation(mode="probe", platform="rss", target_key=target.key, url=target.value,
                      outcome=Outcome.NOT_FOUND, row_id=post["id"], post_key=post["post_key"],
                      http_status=404, observed_at=T0)
    assert recorder.record([obs]) == []  # never seen visible: not a disappearance
    obs.outcome, obs.http_status, obs.observed_at = Outcome.OK, 200, T0 + timedelta(minutes=1)
    recorder.record([obs])
    with db.transaction() as conn:
        row = conn.execute("SELECT last_ok_at, last_checked_at, error_streak FROM targets"
                           ).fetchone()
        state = conn.execute("SELECT state FROM posts").fetchone()["state"]
    assert row["last_ok_at"] == T0 + timedelta(minutes=1) == row["last_checked_at"]
    assert state == "visible"


def test_claim_due_leases_work_once(world: World) -> None:
    world.listing(T0, three())
    now = T0 + timedelta(hours=1)
    with world.db.transaction() as conn:
        first = claims.claim_due(conn, now, 100, 600)
    with world.db.transaction() as conn:
        second = claims.claim_due(conn, now, 100, 600)
    assert sorted(i.post_key or "" for i in first if i.mode == "probe") == ["1", "2", "3"]
    assert second == []
    with world.db.transaction() as conn:  # the lease ran out: the work is due again
        third = claims.claim_due(conn, now + timedelta(minutes=11), 100, 600)
    assert len(third) == len(first)


def test_a_claim_leases_and_names_its_worker_in_one_write(world: World) -> None:
    """The lease and its holder are set by the claim's own UPDATE: each claimed row is
    written once (a trigger counts the writes), and a claim without a worker leaves
    the holder unknown (its lease runs out by time)."""
    world.listing(T0, three())
    with world.db.transaction() as conn:
        conn.execute("CREATE TABLE writes (tbl text, id bigint, leased_by integer)")
        conn.execute("CREATE FUNCTION count_write() RETURNS trigger LANGUAGE plpgsql AS $$ "
                     "BEGIN INSERT INTO writes VALUES (TG_TABLE_NAME, NEW.id, NEW.leased_by); "
                     "RETURN NEW; END $$")
        for table in ("targets", "posts"):
            conn.execute(f"CREATE TRIGGER count_write AFTER UPDATE ON {table} "
                         "FOR EACH ROW EXECUTE FUNCTION count_write()")
    now = T0 + timedelta(hours=1)
    with world.db.transaction() as conn:
        items = claims.claim_due(conn, now, 100, 600, worker=42)
        writes = conn.execute("SELECT tbl, id, leased_by FROM writes ORDER BY tbl, id").fetchall()
        conn.execute("DELETE FROM writes")
    assert sorted(i.mode for i in items) == ["listing", "probe", "probe", "probe"]
    assert sorted((w["tbl"], w["id"]) for w in writes) == sorted(
        ("targets" if i.mode == "listing" else "posts", i.row_id) for i in items)
    assert {w["leased_by"] for w in writes} == {42}
    with world.db.transaction() as conn:  # the leases ran out: claimed again, by nobody known
        again = claims.claim_due(conn, now + timedelta(minutes=11), 100, 600)
        holders = {r["leased_by"] for r in conn.execute(
            "SELECT leased_by FROM writes").fetchall()}
    assert len(again) == len(items)
    assert holders == {None}


def test_a_cause_waits_for_the_listing_that_may_carry_a_tombstone(db: Database) -> None:
    world = World(db, interval=3600.0)  # the listing is read hourly
    world.listing(T0, three())
    world.probe("2", T0 + timedelta(minutes=2), Outcome.GONE, status=410)
    # Consistent and spaced, but the listing has not been read since: no verdict yet.
    assert world.probe("2", T0 + timedelta(minutes=8), Outcome.GONE, status=410) == []
    # The listing brings a tombstone signed by the author ...
    world.listing(T0 + timedelta(minutes=9), [entry("3", "third post", 1),
                                              entry("1", "first post", 20)],
                  tombstones=[("2", {"tombstone_by": "alice"}, "Withdrawn by the author.")])
    events = world.probe("2", T0 + timedelta(minutes=10), Outcome.GONE, status=410)
    assert [(e.kind, e.cause) for e in events] == [("disappeared", "deleted_by_author")]
    assert events[0].evidence["suspicion"]["context"]["tombstone_comment"] == \
        "Withdrawn by the author."


def test_a_listing_absent_on_its_first_check_is_a_stored_error(world: World) -> None:
    """A mistyped account or feed URL: 404 before any good check is a failing target
    (the old code stored last_ok_at and 0 errors: healthy)."""
    world.recorder.record([Observation(
        mode="listing", platform="mastodon", target_key=world.target_key, url="alice",
        outcome=Outcome.NOT_FOUND, row_id=world.target_id, observed_at=T0, http_status=404)])
    row = world.one("SELECT last_ok_at, error_streak, last_error, next_due FROM targets")
    assert row["last_ok_at"] is None
    assert row["error_streak"] == 1
    assert "answered HTTP 404 on its first check" in row["last_error"]
    assert row["next_due"] == T0 + timedelta(minutes=2)  # the error back-off, not the interval
    world.listing(T0 + timedelta(minutes=2), three())
    row = world.one("SELECT last_ok_at, error_streak, last_error FROM targets")
    assert (row["last_ok_at"], row["error_streak"], row["last_error"]) == \
        (T0 + timedelta(minutes=2), 0, None)


def test_transient_probe_failures_back_off_through_the_store(world: World) -> None:
    """The per-post failure streak survives the round trip through PostgreSQL."""
    world.listing(T0, three())
    at = T0 + timedelta(days=2, hours=1)  # past the dense offsets: next re-check is daily
    waits = []
    for _ in range(4):
        world.probe("1", at, Outcome.TIMEOUT)
        due = world.one("SELECT next_check FROM posts WHERE post_key = '1'")["next_check"]
        waits.append((due - at).total_seconds())
        at = due
    assert waits == [120.0, 240.0, 480.0, 960.0]  # old code: 120 s forever
    world.probe("1", at, Outcome.OK, post=three()[0], status=200)
    row = world.one("SELECT next_check, known FROM posts WHERE post_key = '1'")
    assert "probe_failures" not in row["known"]
    assert row["next_check"] == datetime(2026, 8, 4, 12, 0, tzinfo=UTC)  # back on schedule


def test_a_vanished_account_makes_its_visible_posts_suspect(world: World) -> None:
    """Old code: the store handed the lifecycle only the posts that were not visible
    (an absent listing has no window), so a vanished feed or account changed nothing."""
    world.listing(T0, three())
    later = T0 + timedelta(minutes=10)
    assert world.listing(later, [], outcome=Outcome.NOT_FOUND) == []
    for key in "123":
        row = world.one("SELECT state, next_check, suspicion FROM posts WHERE post_key = %s",
                        key)
        assert (row["state"], row["next_check"]) == ("suspect", later)  # probe at once
        assert row["suspicion"]["reason"] == "listing_gone"


def test_the_stored_suspicion_holds_no_transient_flag(world: World) -> None:
    """Old code stored ``"fresh": true`` with a suspicion a probe raised, and the next
    listing then probed that post at once, out of its confirmation schedule."""
    world.listing(T0, three())
    world.probe("1", T0 + timedelta(minutes=3), Outcome.NOT_FOUND, status=404)
    world.listing(T0 + timedelta(minutes=4), three()[:2])  # "1" rotated out: nothing new
    row = world.one("SELECT state, suspicion, next_check FROM posts WHERE post_key = '1'")
    assert row["state"] == "suspect"
    assert set(row["suspicion"]) == {"reason", "kind", "since", "context", "probes"}
    assert row["next_check"] == T0 + timedelta(minutes=8)  # CONFIRM_SPACING after the probe


def test_a_suspicion_stored_by_an_older_version_is_read_and_decided(world: World) -> None:
    world.listing(T0, three())
    old = {"reason": "probe_absent", "kind": "absence", "since": T0.isoformat(),
           "context": {}, "fresh": True,
           "probes": [{"at": (T0 + timedelta(minutes=1)).isoformat(), "outcome": "not_found",
                       "http_status": 404, "signals": {}, "message": None}]}
    with world.db.transaction() as conn:
        conn.execute("UPDATE posts SET state = 'suspect', suspicion = %s WHERE post_key = '2'",
                     (Jsonb(old),))
    events = world.probe("2", T0 + timedelta(minutes=7), Outcome.NOT_FOUND, status=404)
    assert [(e.kind, e.cause) for e in events] == [("disappeared", "ambiguous")]
    assert "fresh" not in events[0].evidence["suspicion"]
    assert len(events[0].evidence["suspicion"]["probes"]) == 2
