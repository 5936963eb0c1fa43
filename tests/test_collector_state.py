"""Collector health, pure: when a platform at a vantage point is blocked or out, and
when it resumes (monitor/collector.py). The clock is the observations' time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from collector_support import at, check

from monitor.collector import (
    MAX_CHECKS,
    MAX_KEYS,
    CollectorHealth,
    CollectorState,
    HealthRules,
    counts,
)
from monitor.observation import BLOCKED, Observation, Outcome
from monitor.settings import Settings

OK, NF, BOT, TIMEOUT = Outcome.OK, Outcome.NOT_FOUND, Outcome.ANTI_BOT, Outcome.TIMEOUT


def paused(obs: Observation) -> str | None:
    return obs.signals.get("collector_paused")


def feeds(outcome: Outcome, n: int, minutes: float = 0, **kw: object) -> list[Observation]:
    return [check(outcome, minutes + i * 0.1, target=f"t{i}", **kw) for i in range(n)]  # type: ignore[arg-type]


# --- blocked --------------------------------------------------------------------------


@pytest.mark.parametrize(("outcomes", "state"), [
    # 4 of 5 blocked reaches COLLECTOR_BLOCK_SHARE (0.8) at COLLECTOR_BLOCK_MIN checks.
    ([BOT, BOT, OK, BOT, BOT], "blocked"),
    ([BOT, BOT, OK, OK, BOT], "ok"),  # 3 of 5
    ([BOT, BOT, BOT, BOT], "ok"),  # too few checks to judge
    # Timeouts and 5xx say nothing about the collector: neither counted nor a break.
    ([BOT, TIMEOUT, BOT, Outcome.SERVER_ERROR, BOT, TIMEOUT, BOT], "ok"),
    ([BOT, TIMEOUT, BOT, TIMEOUT, BOT, OK, BOT, BOT], "blocked"),
    # Every blocked outcome counts: captcha, login wall, expired token, the platform's block.
    (sorted(BLOCKED) + [OK], "blocked"),  # 4 of 5
])
def test_blocked_by_share(outcomes: list[Outcome], state: str) -> None:
    health = CollectorHealth()
    health.screen([check(o, i, target=f"t{i}") for i, o in enumerate(outcomes)])
    assert [s.state for s in health.states()] == [state]


def test_blocked_by_a_streak_whatever_the_share() -> None:
    """Ten blocked checks in a row pause even when the window's share is lower (slow
    checks: the window holds few of them)."""
    health = CollectorHealth(HealthRules(block_streak=4, block_min=50))
    health.screen([check(OK, i) for i in range(6)])
    transitions = health.screen([check(BOT, 6 + i * 4) for i in range(4)])
    assert [(t.previous, t.state) for t in transitions] == [("ok", "blocked")]
    assert transitions[0].reason == "blocked: 4 blocked checks in a row (anti_bot)"
    assert transitions[0].at == at(18)


def test_while_blocked_absences_are_marked_and_nothing_else() -> None:
    health = CollectorHealth()
    health.screen([check(BOT, i, target=f"t{i}") for i in range(5)])
    batch = [check(NF, 6, target="a"), check(OK, 7, target="b"), check(BOT, 8, target="c"),
             check(Outcome.FORBIDDEN, 9, target="d", mode="probe", post="p")]
    health.screen(batch)
    assert paused(batch[0]) == "blocked: 5 of 5 checks in 10m were blocked (anti_bot)"
    assert paused(batch[3]) == paused(batch[0])
    assert paused(batch[1]) is None and paused(batch[2]) is None  # not absences


def test_resumes_after_answers_about_content_in_a_row() -> None:
    health = CollectorHealth()
    health.screen([check(BOT, i * 0.25) for i in range(20)])
    # 20 of 24 still blocked, and the absence broke the run.
    assert health.screen([check(OK, 6), check(NF, 7), check(OK, 8), check(OK, 9)]) == []
    batch = [check(OK, 10), check(NF, 11, target="gone")]
    [resumed] = health.screen(batch)
    assert (resumed.previous, resumed.state, resumed.at) == ("blocked", "ok", at(10))
    assert resumed.reason == "resumed: 3 answers about content in a row"
    # The absence after the resume is decided (the trailing healthy stretch) ...
    assert paused(batch[1]) is None
    # ... and the window starts afresh: the old blocks do not pause it again.
    health.screen([check(BOT, 12)])
    assert health.paused() == {}


def test_an_absence_before_a_resume_in_the_same_batch_stays_paused() -> None:
    health = CollectorHealth()
    health.screen([check(BOT, i) for i in range(5)])
    batch = [check(NF, 6, target="x"), check(OK, 7), check(OK, 8), check(OK, 9)]
    health.screen(batch)
    assert health.paused() == {}
    assert paused(batch[0]) is not None


def test_resumes_when_the_window_no_longer_meets_the_rule() -> None:
    """Answers interleaved with real absences never make a run; once the blocks have
    left the window and enough answers came since, it resumes."""
    health = CollectorHealth(HealthRules(resume_after=3))
    health.screen([check(BOT, i * 0.125) for i in range(40)])
    mixed = [check(OK if i % 2 else NF, 5 + i * 0.5, target=f"t{i % 4}") for i in range(8)]
    health.screen(mixed)
    assert set(health.paused()) == {("youtube", "local")}  # blocks still in the window
    [resumed] = health.screen([check(NF, 16, target="t0"), check(OK, 17, target="t1")])
    assert resumed.reason.startswith("resumed: the last 10m no longer meet the rule")


# --- outage ---------------------------------------------------------------------------


def test_ten_feeds_answering_404_at_once_are_an_outage_every_one_marked() -> None:
    health = CollectorHealth()
    health.screen(feeds(OK, 10, 0))
    batch = feeds(NF, 10, 3)
    [t] = health.screen(batch)
    # The eighth: 8 of the 10 targets answering there, COLLECTOR_OUTAGE_SHARE.
    assert (t.state, t.at) == ("outage", batch[7].observed_at)
    assert t.reason == "outage: 8 of 10 targets answered absent (not_found) within 10m"
    # The first seven came before the threshold: the batch is screened as a whole.
    assert all(paused(o) == t.reason for o in batch)


def test_the_outage_needs_a_share_of_the_answering_targets() -> None:
    health = CollectorHealth()
    batch = feeds(OK, 20, 0) + feeds(NF, 6, 1)  # 6 of 20 targets absent now
    health.screen(batch)
    assert health.paused() == {}
    # 12 of 26 targets absent: 46% < COLLECTOR_OUTAGE_SHARE.
    more = [check(NF, 2 + i * 0.1, target=f"n{i}") for i in range(6)]
    health.screen(more)
    assert health.paused() == {}
    assert not any(paused(o) for o in batch + more)


def test_an_account_ban_with_fifty_posts_is_not_an_outage() -> None:
    """One account's many posts are one target: its ban is decided post by post."""
    health = CollectorHealth()
    batch = [check(Outcome.GONE, 0, target="banned")]
    batch += [check(NF, 0.1 + i * 0.01, target="banned", mode="probe", post=str(i))
              for i in range(50)]
    batch += feeds(OK, 3, 1)
    assert health.screen(batch) == []
    assert not any(paused(o) for o in batch)


def test_posts_watched_one_by_one_removed_in_one_sweep_are_not_an_outage() -> None:
    """Ten single posts (or posts of ten accounts whose listings were not read in the
    window) answering 404 at once are removals a watchdog must hear of: probes never
    count toward an outage, only listings do."""
    health = CollectorHealth()
    health.screen([check(OK, i * 0.1, target=f"post{i}", mode="probe", post=str(i))
                   for i in range(10)])
    batch = [check(NF, 3 + i * 0.1, target=f"post{i}", mode="probe", post=str(i))
             for i in range(10)]
    assert health.screen(batch) == []
    assert health.paused() == {}
    assert not any(paused(o) for o in batch)


@pytest.mark.parametrize("outcome", [Outcome.LEGAL, Outcome.GONE, Outcome.FORBIDDEN,
                                     Outcome.TOMBSTONE, Outcome.UNAVAILABLE], ids=str)
def test_the_platforms_words_about_an_item_are_never_an_outage(outcome: Outcome) -> None:
    """A country withholding ten posts with 451 (probed from its vantage point only
    because they are suspect) is geo-blocking to decide, not an outage."""
    health = CollectorHealth()
    batch = [check(outcome, i * 0.1, target=f"t{i}", vantage="de", mode="probe", post="p")
             for i in range(10)]
    assert health.screen(batch) == []
    assert not any(paused(o) for o in batch)


def test_five_targets_in_a_small_watchlist_and_spread_over_time() -> None:
    rules = HealthRules(window=timedelta(minutes=10))
    health = CollectorHealth(rules)
    # Absences 11 minutes apart never share a window.
    health.screen([check(NF, i * 11, target=f"t{i}") for i in range(8)])
    assert health.paused() == {}
    health.screen([check(NF, 100 + i, target=f"t{i}") for i in range(5)])
    assert health.states()[0].state == "outage"


def test_an_outage_resumes_and_real_removals_then_count() -> None:
    health = CollectorHealth()
    health.screen(feeds(NF, 10, 0))
    back = feeds(OK, 8, 20) + [check(NF, 21, target="t8"), check(NF, 21.1, target="t9")]
    [t] = health.screen(back)
    assert (t.previous, t.state) == ("outage", "ok")
    assert [paused(o) for o in back[-2:]] == [None, None]  # two feeds really gone


def test_an_outage_that_never_ends_gives_up_and_its_targets_count_as_removals() -> None:
    """A purge of everything watched on a platform looks like an outage that never
    ends: after COLLECTOR_OUTAGE_MAX the targets still absent are decided again."""
    health = CollectorHealth(HealthRules(outage_max=timedelta(hours=6)))
    health.screen(feeds(NF, 6, 0))
    assert health.states()[0].state == "outage"
    for minutes in range(30, 6 * 60, 30):
        health.screen(feeds(NF, 6, minutes))
    assert health.states()[0].state == "outage"
    batch = feeds(NF, 6, 6 * 60)
    [t] = health.screen(batch)
    # Six hours after it began (the fifth feed's first 404, 0.4 min in).
    assert (t.state, t.at) == ("ok", batch[4].observed_at)
    assert t.reason == "resumed: the outage lasted 6h; the 5 target(s) still absent count " \
        "as removals"
    assert [bool(paused(o)) for o in batch] == [True] * 5 + [False]
    later = feeds(NF, 6, 6 * 60 + 5)
    assert health.screen(later) == [] and not any(paused(o) for o in later)
    # A target that answers again is outage evidence again.
    health.screen(feeds(OK, 6, 6 * 60 + 10))
    health.screen(feeds(NF, 6, 6 * 60 + 11))
    assert health.states()[0].state == "outage"


def test_outage_with_min_targets_two() -> None:
    settings = Settings.load({"collector_outage_min_targets": 2,
                              "collector_outage_share": 0.5}, environ={})
    health = CollectorHealth.from_settings(settings)
    health.screen([check(OK, 0, target="a"), check(NF, 1, target="b"), check(NF, 2, target="c")])
    assert health.states()[0].state == "outage"


# --- isolation and odd inputs ------------------------------------------------------


def test_a_blocked_vantage_does_not_pause_another() -> None:
    health = CollectorHealth()
    health.screen([check(BOT, i, vantage="de") for i in range(5)])
    batch = [check(NF, 6, vantage="de"), check(NF, 6, vantage="us"),
             check(NF, 6, platform="rss", vantage="de")]
    health.screen(batch)
    assert [bool(paused(o)) for o in batch] == [True, False, False]
    assert set(health.paused()) == {("youtube", "de")}


def test_a_replayed_batch_is_not_counted_twice() -> None:
    """After a rollback (or a split to isolate a poison observation) the recorder
    screens the same observations again: four blocks stay four."""
    health = CollectorHealth(HealthRules(block_min=10, block_share=0.6))
    batch = [check(BOT, i) for i in range(4)] + [check(OK, 4.5), check(OK, 4.6)]
    for _ in range(3):
        health.screen(batch)
    assert health.paused() == {}


def test_a_replay_after_a_resume_does_not_pause_again() -> None:
    health = CollectorHealth()
    batch = feeds(NF, 5, 0) + feeds(OK, 5, 1)
    assert [t.state for t in health.screen(batch)] == ["outage", "ok"]
    assert health.screen(batch) == []  # the recorder retrying the same batch
    assert health.paused() == {}


def test_a_clock_from_the_future_does_not_freeze_the_window() -> None:
    health = CollectorHealth()
    far = check(OK, 60 * 24 * 365 * 50, target="skewed")
    health.screen([far])
    health.screen(feeds(NF, 5, 0))
    assert health.states()[0].state == "outage"


def test_observations_out_of_order_are_screened_in_time_order() -> None:
    health = CollectorHealth()
    batch = list(reversed(feeds(NF, 5, 0)))
    health.screen(batch)
    assert all(paused(o) for o in batch)


def test_odd_keys_and_bounds() -> None:
    health = CollectorHealth()
    weird = [check(NF, 0, platform="", vantage=""), check(NF, 0, platform="x" * 10_000,
                                                           vantage="de\x00\u202e")]
    health.screen(weird)  # no crash; empty vantage is "local"
    assert {s.vantage for s in health.states()} == {"local", "de\x00\u202e"}
    for i in range(MAX_KEYS + 20):
        health.screen([check(OK, 1, vantage=f"v{i}")])
    assert len(health.states()) <= MAX_KEYS
    one = CollectorHealth()
    one.screen([check(OK, i / 100, target=f"t{i}") for i in range(MAX_CHECKS * 3)])
    tracker = next(iter(one._trackers.values()))
    assert len(tracker.checks) <= MAX_CHECKS


def test_a_paused_state_is_kept_across_a_restart() -> None:
    health = CollectorHealth()
    health.restore([CollectorState("youtube", "local", "outage", at(0), "outage: stored", at(1)),
                    CollectorState("rss", "local", "bogus", at(0), "", at(0))])  # type: ignore[arg-type]
    batch = [check(NF, 5, target="new")]
    health.screen(batch)
    assert paused(batch[0]) == "outage: stored"
    assert health.paused() == {("youtube", "local"): "outage: stored"}


def test_counts_for_the_metrics() -> None:
    health = CollectorHealth()
    batch = feeds(NF, 6, 0) + [check(OK, 2)]
    health.screen(batch)
    assert counts(batch) == {("youtube", "local", "outage"): 6}


def test_settings_reject_nonsense() -> None:
    from monitor.errors import ConfigError

    for bad in ({"collector_block_share": 1.5}, {"collector_outage_min_targets": 1},
                {"collector_window": "0s"}, {"collector_resume_after": 0}):
        with pytest.raises(ConfigError):
            Settings.load(bad, environ={})
