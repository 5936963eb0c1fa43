"""The rules as tables: routing, flaps, bursts, digest periods, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts import rules
from alerts.config import load_config
from alerts.rules import BurstDecision, Facts, Mark, OpenBurst

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def facts(kind: str = "disappeared", cause: str | None = "removed_by_platform", *,
          event_id: int = 100, post: int = 1, target: int = 1, group: str = "journalists",
          platform: str = "mastodon", at: datetime = T0, detail: str | None = None,
          candidates: tuple[str, ...] = ()) -> Facts:
    return Facts(event_id=event_id, kind=kind, post_id=post, target_id=target, group=group,
                 platform=platform, detected_at=at, cause=cause, cause_detail=detail,
                 candidates=candidates)


CONFIG = load_config({
    "alert_on_edits": False,
    "channels": {"desk": {"url": "json://127.0.0.1:9/d"}, "legal": {"url": "json://127.0.0.1:9/l"},
                 "all": {"url": "json://127.0.0.1:9/a"}, "rss": {"url": "json://127.0.0.1:9/r"}},
    "routes": [
        {"channels": ["desk"], "groups": ["journalists"], "kinds": ["disappeared", "hidden"]},
        {"channels": ["legal"], "causes": ["removed_by_platform"]},
        {"channels": ["all"]},
        {"channels": ["rss"], "platforms": ["feed"]},  # an alias of rss
    ]}, environ={})

ROUTES: list[tuple[str, Facts, list[str]]] = [
    ("journalist removed by platform", facts(), ["desk", "legal", "all"]),
    ("other group", facts(group="activists"), ["legal", "all"]),
    ("author deletion: not legal's", facts(cause="deleted_by_author"), ["desk", "all"]),
    ("legal detail matches its cause", facts(detail="legal"), ["desk", "legal", "all"]),
    ("ambiguous with platform removal as a candidate",
     facts(cause="ambiguous", candidates=("removed_by_platform", "deleted_by_author")),
     ["desk", "legal", "all"]),
    ("ambiguous without it", facts(cause="ambiguous",
                                   candidates=("deleted_by_author", "account_deleted")),
     ["desk", "all"]),
    ("restored goes to the catch-all only", facts("restored", None), ["all"]),
    ("edits are off", facts("edited", None), []),
    ("platform alias", facts(platform="rss", cause="deleted_by_author"), ["desk", "all", "rss"]),
]


@pytest.mark.parametrize(("f", "channels"), [c[1:] for c in ROUTES], ids=[c[0] for c in ROUTES])
def test_route(f: Facts, channels: list[str]) -> None:
    assert rules.route(CONFIG, f) == channels


@pytest.mark.parametrize(("option", "f"), [
    ("alert_on_ambiguous", facts(cause="ambiguous", candidates=("a", "b"))),
    ("alert_on_restorations", facts("restored", None)),
])
def test_toggles_switch_kinds_off(option: str, f: Facts) -> None:
    cfg = load_config({option: False, "channels": {"all": {"url": "json://h/x"}}}, environ={})
    assert rules.route(cfg, f) == []
    cfg = load_config({"channels": {"all": {"url": "json://h/x"}}}, environ={})
    assert rules.route(cfg, f) == ["all"]


def test_no_routes_means_every_channel() -> None:
    cfg = load_config({"alert_on_edits": True, "channels": {"a": {"url": "json://h/a"},
                                                            "b": {"url": "json://h/b"}}},
                      environ={})
    assert rules.route(cfg, facts("edited", None)) == ["a", "b"]


def mark(kind: str, minutes: float, verdict: str = "alert", cause: str | None = "x", *,
         event_id: int | None = None, target: int = 1, group: str = "journalists",
         burst_id: int | None = None, post: int = 1) -> Mark:
    return Mark(event_id=event_id if event_id is not None else int(minutes * 10) + 1,
                post_id=post, target_id=target, group=group, kind=kind, cause=cause,
                detected_at=T0 + minutes * M, verdict=verdict, burst_id=burst_id)


HOUR = 60
FLAPS: list[tuple[str, list[Mark], Facts, bool]] = [
    ("first disappearance", [], facts(cause="x", at=T0 + 90 * M), False),
    ("gone, back, gone again within the cool-down",
     [mark("disappeared", 0), mark("restored", 30, cause=None)],
     facts(cause="x", at=T0 + 90 * M), True),
    ("gone again after the cool-down",
     [mark("disappeared", 0), mark("restored", 30, cause=None)],
     facts(cause="x", at=T0 + 7 * HOUR * M), False),
    ("gone again with a new cause is news",
     [mark("disappeared", 0, cause="geo_blocked"), mark("restored", 30, cause=None)],
     facts(cause="removed_by_platform", at=T0 + 90 * M), False),
    ("the return of a suppressed disappearance is not news either",
     [mark("disappeared", 0), mark("restored", 30, cause=None),
      mark("disappeared", 60, verdict="flap")], facts("restored", None, at=T0 + 90 * M), True),
    ("the return of an alerted disappearance is news, even inside the cool-down",
     [mark("disappeared", 0), mark("restored", 30, cause=None),
      mark("disappeared", 60, cause="geo_blocked")],
     facts("restored", None, at=T0 + 90 * M), False),
    ("the return of a disappearance nobody was told of is not news",
     [mark("disappeared", 0, verdict="off")], facts("restored", None, at=T0 + 90 * M), True),
    ("a return with no removal on record alerts", [], facts("restored", None, at=T0), False),
    ("suppressed repeats do not extend the cool-down",
     [mark("disappeared", 0), mark("disappeared", 5 * HOUR, verdict="flap")],
     facts(cause="x", at=T0 + 6 * HOUR * M + M), False),
    ("an earlier disappearance nobody was alerted to does not count",
     [mark("disappeared", 0, verdict="off")], facts(cause="x", at=T0 + 90 * M), False),
    ("a burst member counts as alerted",
     [mark("disappeared", 0, verdict="burst")], facts(cause="x", at=T0 + 90 * M), True),
    ("edits never flap here", [mark("edited", 0, cause=None)],
     facts("edited", None, at=T0 + M), False),
]


@pytest.mark.parametrize(("history", "f", "flap"), [c[1:] for c in FLAPS],
                         ids=[c[0] for c in FLAPS])
def test_is_flap(history: list[Mark], f: Facts, flap: bool) -> None:
    assert rules.is_flap(f, history, cooldown=6 * 3600) is flap


def gone(minutes: float, target: int = 1, event_id: int | None = None, **kw: Any) -> Mark:
    return mark("disappeared", minutes, target=target, event_id=event_id, **kw)


BURSTS: list[tuple[str, list[Mark], list[OpenBurst], Facts, BurstDecision | None]] = [
    ("below the threshold", [gone(1, event_id=1), gone(2, event_id=2)], [],
     facts(event_id=3, at=T0 + 3 * M), None),
    ("K-th from one account starts a target burst",
     [gone(1, event_id=1), gone(2, event_id=2), gone(3, event_id=3)], [],
     facts(event_id=4, at=T0 + 4 * M),
     BurstDecision(scope="target", key="1", members=(1, 2, 3, 4))),
    ("old ones fall out of the window",
     [gone(-40, event_id=1), gone(2, event_id=2), gone(3, event_id=3)], [],
     facts(event_id=4, at=T0 + 4 * M), None),
    ("K-th from a group, across accounts, starts a group burst",
     [gone(1, target=1, event_id=1), gone(2, target=2, event_id=2),
      gone(3, target=3, event_id=3)], [], facts(event_id=4, target=4, at=T0 + 4 * M),
     BurstDecision(scope="group", key="journalists", members=(1, 2, 3, 4))),
    ("an open target burst is joined",
     [gone(1, event_id=1, burst_id=7)], [OpenBurst(7, "target", "1", T0 + 20 * M)],
     facts(event_id=9, at=T0 + 45 * M), BurstDecision(join=7)),
    ("a burst quiet for longer than W is closed",
     [], [OpenBurst(7, "target", "1", T0)], facts(event_id=9, at=T0 + 31 * M), None),
    ("another account's burst is not joined, and its members do not count",
     [gone(1, target=2, event_id=1, burst_id=7), gone(2, target=2, event_id=2, burst_id=7),
      gone(3, target=2, event_id=3, burst_id=7), gone(4, target=2, event_id=5, burst_id=7)],
     [OpenBurst(7, "target", "2", T0 + 4 * M)], facts(event_id=6, target=1, at=T0 + 5 * M),
     None),
    ("an open group burst is joined from any account",
     [], [OpenBurst(8, "group", "journalists", T0 + 10 * M)],
     facts(event_id=9, target=5, at=T0 + 11 * M), BurstDecision(join=8)),
    ("the target's burst wins over the group's",
     [], [OpenBurst(8, "group", "journalists", T0 + 10 * M),
          OpenBurst(7, "target", "1", T0 + 9 * M)],
     facts(event_id=9, at=T0 + 11 * M), BurstDecision(join=7)),
    ("suppressed flaps do not count",
     [gone(1, event_id=1, verdict="flap"), gone(2, event_id=2), gone(3, event_id=3)], [],
     facts(event_id=4, at=T0 + 4 * M), None),
    ("only disappearances burst", [gone(1, event_id=1), gone(2, event_id=2),
                                   gone(3, event_id=3)], [],
     facts("hidden", "hidden_from_feed", event_id=4, at=T0 + 4 * M), None),
]


@pytest.mark.parametrize(("recent", "bursts", "f", "decision"), [c[1:] for c in BURSTS],
                         ids=[c[0] for c in BURSTS])
def test_burst(recent: list[Mark], bursts: list[OpenBurst], f: Facts,
               decision: BurstDecision | None) -> None:
    assert rules.burst(f, recent, bursts, threshold=4, window=1800) == decision


def test_bursts_off_with_threshold_zero() -> None:
    recent = [gone(i, event_id=i) for i in range(1, 10)]
    assert rules.burst(facts(event_id=20, at=T0 + 10 * M), recent, [], 0, 1800) is None


HK = ZoneInfo("Asia/Hong_Kong")
KOLKATA = ZoneInfo("Asia/Kolkata")
BERLIN = ZoneInfo("Europe/Berlin")
PERIODS = [
    ("hourly UTC", T0 + 17 * M, "hourly", UTC, T0, T0 + 60 * M),
    ("hourly at +05:30 closes at half past UTC", T0 + 17 * M, "hourly", KOLKATA,
     T0 - 30 * M, T0 + 30 * M),
    ("daily Hong Kong: local midnight is 16:00 UTC", T0 + 5 * 60 * M, "daily", HK,
     datetime(2026, 8, 1, 16, 0, tzinfo=UTC), datetime(2026, 8, 2, 16, 0, tzinfo=UTC)),
    ("daily over the autumn clock change is 25 hours",
     datetime(2026, 10, 25, 9, 0, tzinfo=UTC), "daily", BERLIN,
     datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("now", "digest", "tz", "start", "end"), [p[1:] for p in PERIODS],
                         ids=[p[0] for p in PERIODS])
def test_digest_period(now: datetime, digest: str, tz: Any, start: datetime,
                       end: datetime) -> None:
    got = rules.digest_period(now, digest, tz)
    assert got == (start, end)
    assert got[0] <= now < got[1]


@pytest.mark.parametrize(("tries", "rand", "wait"), [
    (1, 0.0, 5.0), (1, 0.999999, 10.0), (2, 0.0, 10.0), (3, 0.5, 30.0), (10, 0.0, 30.0),
    (10, 1.0, 60.0),
])
def test_backoff_doubles_with_jitter_and_a_cap(tries: int, rand: float, wait: float) -> None:
    assert rules.backoff(tries, base=10, cap=60, rand=rand) == pytest.approx(wait, abs=1e-4)
