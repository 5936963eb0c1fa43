"""Back-off of failing targets and of transiently failing probes (pure, no database).

Every case is a table of injected times: the lifecycle is fed observations
with their ``observed_at`` and the resulting ``next_due`` / ``next_check`` is
read back.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from monitor.cadence import backoff, probe_retry, target_retry
from monitor.db import Database
from monitor.errors import Aborted, StorageUnavailable
from monitor.lifecycle import Lifecycle, PostRow, PostState, Rules, Suspicion, TargetRow
from monitor.observation import Observation, Outcome, PostContent
from monitor.schedule import PROBE_FAILURES
from monitor.settings import Settings
from monitor.snapshot import Recorder

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0
RULES = Rules(confirm_probes=2, confirm_spacing=300.0, confirm_retry=120.0,
              offsets=[120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0],
              horizon=30 * 86400.0, error_backoff_max=HOUR)


def lifecycle() -> Lifecycle:
    counter = itertools.count(1)
    return Lifecycle(RULES, lambda _table: next(counter), lambda _post: None)


def target(kind: str = "account", interval: float = 600.0, **kw: Any) -> TargetRow:
    return TargetRow(id=1, key="mastodon:alice", group_name="g", platform=kw.pop("platform",
                     "mastodon"), kind=kind, value="alice", base_url=None, interval_s=interval,
                     **kw)


def post(first_seen: datetime, state: PostState = PostState.VISIBLE) -> PostRow:
    return PostRow(id=7, target_id=1, platform="mastodon", post_key="p1", first_seen=first_seen,
                   state=state, state_since=first_seen)


def obs(mode: str, outcome: Outcome, at: datetime, **kw: Any) -> Observation:
    return Observation(mode=mode, platform="mastodon", target_key="mastodon:alice", url="u",
                       outcome=outcome, observed_at=at, post_key="p1" if mode == "probe" else None,
                       **kw)


def wait_of(when: datetime | None, now: datetime) -> float:
    assert when is not None
    return (when - now).total_seconds()


# --- targets ---------------------------------------------------------------------

@pytest.mark.parametrize(("streak", "interval", "retry_after", "expected"), [
    (1, 600.0, 0.0, 120.0),      # a blip is retried sooner than the interval
    (2, 600.0, 0.0, 240.0),
    (3, 600.0, 0.0, 480.0),
    (4, 600.0, 0.0, 960.0),      # past the interval: the old code capped it at 600
    (5, 600.0, 0.0, 1920.0),
    (6, 600.0, 0.0, HOUR),       # ERROR_BACKOFF_MAX
    (30, 600.0, 0.0, HOUR),
    (1, 30.0, 0.0, 60.0),        # base is the interval when it is below a minute
    (3, 86400.0, 0.0, 480.0),
    (2, 600.0, 7200.0, 7200.0),  # a longer Retry-After is honoured too
])
def test_target_retry_table(streak, interval, retry_after, expected):
    assert target_retry(streak, interval, HOUR, retry_after) == expected


def test_failing_target_backs_off_beyond_its_interval_up_to_the_max():
    t = target(interval=600.0)
    now = T0
    waits = []
    for _ in range(8):
        life = lifecycle()
        life.listing(t, {}, obs("listing", Outcome.SERVER_ERROR, now, http_status=503),
                     new_post=lambda e: post(T0))
        waits.append(wait_of(t.next_due, now))
        now = t.next_due  # type: ignore[assignment]
    assert waits == [120.0, 240.0, 480.0, 960.0, 1920.0, HOUR, HOUR, HOUR]
    assert t.error_streak == 8
    # One success resets the streak and the cadence.
    life = lifecycle()
    life.listing(t, {}, obs("listing", Outcome.OK, now, entries=[]), new_post=lambda e: post(now))
    assert (t.error_streak, wait_of(t.next_due, now)) == (0, 600.0)


def test_long_retry_after_postpones_the_target():
    t = target(interval=600.0)
    lifecycle().listing(t, {}, obs("listing", Outcome.RATE_LIMITED, T0, http_status=429,
                                   signals={"retry_after": 5400}), new_post=lambda e: post(T0))
    assert wait_of(t.next_due, T0) == 5400.0


# --- a listing that is absent on its first check ------------------------------------

@pytest.mark.parametrize(("platform", "kind", "outcome", "status", "words"), [
    ("rss", "feed", Outcome.NOT_FOUND, 404,
     "the feed answered HTTP 404 on its first check: check the URL"),
    ("rss", "feed", Outcome.GONE, 410, "the feed answered HTTP 410 on its first check"),
    ("mastodon", "account", Outcome.NOT_FOUND, 404,
     "the account 'alice' answered HTTP 404 on its first check: check its name and base_url"),
])
def test_absent_listing_on_first_check_is_an_error(platform, kind, outcome, status, words):
    # The advice follows the kind's declaration (a URL, or a name on a server).
    t = target(kind=kind, platform=platform)
    lifecycle().listing(t, {}, obs("listing", outcome, T0, http_status=status),
                        new_post=lambda e: post(T0))
    assert t.last_ok_at is None
    assert t.error_streak == 1
    assert t.last_error is not None and words in t.last_error
    assert wait_of(t.next_due, T0) == 120.0  # retried with the error back-off


def test_absent_listing_after_a_good_check_is_a_signal_not_an_error():
    t = target()
    p = post(T0)
    p.state, p.last_listed_at = PostState.VISIBLE, T0
    entry = PostContent(key="p1", url="https://ex/p1", text="hi", published_at=T0)
    lifecycle().listing(t, {}, obs("listing", Outcome.OK, T0, entries=[entry]),
                        new_post=lambda e: p)
    later = T0 + timedelta(minutes=10)
    life = lifecycle()
    life.listing(t, {"p1": p}, obs("listing", Outcome.NOT_FOUND, later, http_status=404),
                 new_post=lambda e: p)
    assert (t.error_streak, t.last_error, t.last_ok_at) == (0, None, later)
    assert p.state == "suspect"


# --- probes ---------------------------------------------------------------------

@pytest.mark.parametrize(("streak", "until", "retry_after", "expected"), [
    (1, None, 0.0, 120.0),
    (2, None, 0.0, 240.0),
    (5, None, 0.0, 1920.0),
    (6, None, 0.0, HOUR),
    (40, None, 0.0, HOUR),
    (5, 1000.0, 0.0, 1000.0),   # never past the next scheduled re-check
    (1, 60.0, 0.0, 60.0),
    (1, 60.0, 900.0, 900.0),    # ... unless the server asked for longer
])
def test_probe_retry_table(streak, until, retry_after, expected):
    assert probe_retry(streak, 120.0, HOUR, retry_after, until) == expected


def test_transient_probe_failures_back_off_and_keep_the_schedule():
    """Old code: every CONFIRM_RETRY (120 s) forever. Now doubling, capped by the
    next scheduled re-check of the post (first seen 3 days ago: daily checks)."""
    t = target()
    first_seen = T0 - timedelta(days=3, hours=1)
    p = post(first_seen)
    now = T0
    waits = []
    for _ in range(9):
        life = lifecycle()
        life.probe(t, p, obs("probe", Outcome.TIMEOUT, now))
        waits.append(wait_of(p.next_check, now))
        now = p.next_check  # type: ignore[assignment]
    assert waits[:6] == [120.0, 240.0, 480.0, 960.0, 1920.0, HOUR]
    assert all(w <= HOUR for w in waits)
    # The daily re-check falls at first_seen + 4 days = T0 + 23 h: never overshot.
    scheduled = first_seen + timedelta(days=4)
    assert p.known[PROBE_FAILURES] == 9
    near = T0 + timedelta(hours=22, minutes=50)
    life = lifecycle()
    life.probe(t, p, obs("probe", Outcome.TIMEOUT, near))
    assert p.next_check == scheduled
    # A success resets the streak and the post is back on its daily schedule.
    life = lifecycle()
    life.probe(t, p, obs("probe", Outcome.OK, scheduled, http_status=200,
                         post=PostContent(key="p1", url="https://ex/p1", text="hi")))
    assert PROBE_FAILURES not in p.known
    assert p.next_check == first_seen + timedelta(days=5)


def test_suspect_post_probe_failures_back_off_too():
    t = target()
    p = post(T0 - timedelta(days=1))
    p.state = PostState.SUSPECT
    p.suspicion = Suspicion("missing_from_listing", "hiding", T0)
    now = T0
    waits = []
    for _ in range(4):
        lifecycle().probe(t, p, obs("probe", Outcome.SERVER_ERROR, now, http_status=503))
        waits.append(wait_of(p.next_check, now))
        now = p.next_check  # type: ignore[assignment]
    assert waits == [120.0, 240.0, 480.0, 960.0]
    assert p.state == "suspect"


# --- the one back-off --------------------------------------------------------------

@pytest.mark.parametrize(("streak", "kwargs", "wait"), [
    (0, {}, 10.0), (1, {}, 20.0), (3, {}, 60.0), (-2, {}, 10.0), (10**6, {}, 60.0),
    (0, {"jitter": 0.5, "rand": 0.0}, 10.0), (0, {"jitter": 0.5, "rand": 1.0}, 15.0),
    (2, {"jitter": 0.5, "rand": 1.0}, 60.0),  # lengthened, still capped
    (0, {"jitter": -0.5, "rand": 0.0}, 5.0), (0, {"jitter": -0.5, "rand": 1.0}, 10.0),
    (9, {"jitter": -0.5, "rand": 0.5}, 45.0),  # shortened from the cap
])
def test_backoff_doubles_per_failure_with_jitter_inside_the_cap(
        streak: int, kwargs: dict[str, float], wait: float) -> None:
    assert backoff(streak, 10.0, 60.0, **kwargs) == pytest.approx(wait)


def test_the_recorder_retries_an_outage_on_the_same_back_off() -> None:
    slept: list[float] = []
    left = iter(range(6))

    def attempt() -> str:
        if next(left) < 5:
            raise StorageUnavailable("down")
        return "ok"

    recorder = Recorder(cast(Database, None), Settings.load(environ={}), sleep=slept.append,
                        backoff=(0.5, 3.0))
    assert recorder._retrying(attempt) == "ok"
    assert slept == [backoff(n, 0.5, 3.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert recorder.stats["db_retries"] == 5


def test_an_aborted_recorder_stops_retrying() -> None:
    recorder = Recorder(cast(Database, None), Settings.load(environ={}), sleep=lambda s: None)
    recorder.abort.set()

    def attempt() -> str:
        raise StorageUnavailable("down")

    with pytest.raises(Aborted):
        recorder._retrying(attempt)
