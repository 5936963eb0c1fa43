"""Collector health's running counts decide exactly as a scan of the window would
(monitor/collector.py): random sequences of checks, in and out of time order, are fed
to the tracker and to the scan it replaced, kept here as the model."""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from collector_support import at, check

from monitor.collector import (
    MAX_CHECKS,
    CollectorState,
    HealthRules,
    Transition,
    _Check,
    _Kind,
    _kind,
    _outcomes,
    _Tally,
    _Tracker,
)
from monitor.observation import Observation, Outcome
from monitor.settings import format_duration

OK, NF, BOT = Outcome.OK, Outcome.NOT_FOUND, Outcome.ANTI_BOT


@dataclass(slots=True)
class ScanTracker:
    """The model: the tracker as it was, scanning the window at every check."""

    state: CollectorState
    checks: deque[_Check] = field(default_factory=deque)
    seen: OrderedDict[tuple[Any, ...], None] = field(default_factory=OrderedDict)
    blocked_run: int = 0
    ok_run: int = 0
    oks_since: int = 0
    exempt: set[str] = field(default_factory=set)

    def add(self, obs: Observation, kind: _Kind, rules: HealthRules) -> Transition | None:
        at = obs.observed_at
        ident = (obs.mode, obs.row_id, obs.target_key, obs.post_key, at, obs.outcome.value)
        if ident in self.seen:
            return None
        self.seen[ident] = None
        if len(self.seen) > 2 * MAX_CHECKS:
            self.seen.popitem(last=False)
        self.checks.append(_Check(at, obs.target_key, kind, obs.outcome.value,
                                  obs.mode == "listing"))
        while self.checks and (len(self.checks) > MAX_CHECKS
                               or self.checks[0].at <= at - rules.window):
            self.checks.popleft()
        if kind == "blocked":
            self.blocked_run, self.ok_run = self.blocked_run + 1, 0
        elif kind == "ok":
            self.blocked_run, self.ok_run = 0, self.ok_run + 1
            self.oks_since += self.state.paused
            self.exempt.discard(obs.target_key)
        else:
            self.blocked_run = self.ok_run = 0
        window = scan(self.checks, at, rules)
        self.state.updated = max(self.state.updated, at)
        if not self.state.paused:
            why = self._blocked(window, rules)
            if why is not None:
                return self._change("blocked", at, why)
            why = self._outage(window, rules)
            if why is not None:
                return self._change("outage", at, why)
            return None
        if self.state.state == "outage" and at - self.state.since >= rules.outage_max:
            gone = {t for t, c in latest(window, self.exempt).items() if c.kind == "absent"}
            self.exempt |= gone
            why = (f"the outage lasted {format_duration(rules.outage_max.total_seconds())}; "
                   f"the {len(gone)} target(s) still absent count as removals")
        elif self.ok_run >= rules.resume_after:
            why = f"{self.ok_run} answers about content in a row"
        elif (self.oks_since >= rules.resume_after
              and (self._blocked if self.state.state == "blocked" else self._outage)(
                  window, rules) is None):
            why = (f"the last {format_duration(rules.window.total_seconds())} no longer "
                   f"meet the rule; {self.oks_since} answers about content since "
                   f"{self.state.state}")
        else:
            return None
        self.checks.clear()
        self.blocked_run = 0
        return self._change("ok", at, f"resumed: {why}")

    def _blocked(self, window: list[_Check], rules: HealthRules) -> str | None:
        if self.blocked_run >= rules.block_streak:
            recent = list(self.checks)[-self.blocked_run:]
            return f"{self.blocked_run} blocked checks in a row ({_outcomes(recent)})"
        blocked = [c for c in window if c.kind == "blocked"]
        if len(window) >= rules.block_min and len(blocked) >= rules.block_share * len(window):
            return (f"{len(blocked)} of {len(window)} checks in "
                    f"{format_duration(rules.window.total_seconds())} were blocked "
                    f"({_outcomes(blocked)})")
        return None

    def _outage(self, window: list[_Check], rules: HealthRules) -> str | None:
        held = latest(window, self.exempt)
        out = [c for c in held.values() if c.kind == "absent"]
        if (len(out) >= rules.outage_min_targets
                and len(out) >= rules.outage_share * len(held)):
            return (f"{len(out)} of {len(held)} targets answered absent "
                    f"({_outcomes(out)}) within "
                    f"{format_duration(rules.window.total_seconds())}")
        return None

    def _change(self, to: Any, at: datetime, why: str) -> Transition:
        previous = self.state.state
        reason = why if to == "ok" else f"{to}: {why}"
        self.state.state, self.state.since, self.state.reason = to, at, reason
        self.oks_since = 0
        return Transition(self.state.platform, self.state.vantage, to, previous, at, reason)


def scan(checks: deque[_Check], at: datetime, rules: HealthRules) -> list[_Check]:
    return [c for c in checks if at - rules.window < c.at <= at]


def latest(window: list[_Check], exempt: set[str]) -> dict[str, _Check]:
    out: dict[str, _Check] = {}
    for c in window:
        if c.kind == "blocked" or not c.listing or c.target in exempt:
            continue
        held = out.get(c.target)
        if held is None or c.at >= held.at:
            out[c.target] = c
    return out


def scanned_tally(tracker: _Tracker, at: datetime, rules: HealthRules) -> _Tally:
    window = scan(tracker.checks, at, rules)
    held = latest(window, tracker.exempt)
    return _Tally(len(window), sum(c.kind == "blocked" for c in window), len(held),
                  sum(c.kind == "absent" for c in held.values()))


# --- random sequences -----------------------------------------------------------------

OUTCOMES = [OK, NF, Outcome.GONE, Outcome.LEGAL, BOT, Outcome.COLLECTOR_BLOCKED,
            Outcome.AUTH_REQUIRED]


def random_rules(rng: random.Random) -> HealthRules:
    return HealthRules(window=timedelta(seconds=rng.choice([30, 120, 600])),
                       block_min=rng.randint(2, 8), block_share=rng.choice([0.5, 0.8, 1.0]),
                       block_streak=rng.randint(2, 15),
                       outage_min_targets=rng.randint(2, 5),
                       outage_share=rng.choice([0.5, 0.8, 1.0]),
                       resume_after=rng.randint(1, 5),
                       outage_max=timedelta(seconds=rng.choice([60, 600, 3600])))


def random_checks(rng: random.Random, n: int, rules: HealthRules,
                  step: float | None = None) -> list[Observation]:
    """``n`` checks with a mix, pace and disorder of their own: some sequences are
    mostly blocked, some mostly absent; some in order, some with checks from the past
    (a late batch), from far in the future (a skewed clock), or sent twice."""
    weights = [rng.random() ** 2 for _ in OUTCOMES]
    targets = [f"t{i}" for i in range(rng.randint(1, 12))]
    listing = rng.choice([0.3, 0.8, 1.0])
    late, future, replay = rng.choice([(0, 0, 0), (0.02, 0.002, 0.02), (0.2, 0.01, 0.05)])
    step = step or rng.choice([1.0, 5.0, 20.0, 60.0])
    whole = rng.random() < 0.5  # whole seconds: checks at the same instant
    span = rules.window.total_seconds()
    now, out = 0.0, []
    for i in range(n):
        r = rng.random()
        if out and r < replay:
            out.append(rng.choice(out[-50:]))
            continue
        now += rng.expovariate(1 / step)
        when = now
        if r < replay + late:
            when = now - rng.uniform(0, 1.5 * span)
        elif r < replay + late + future:
            when = now + 1e7
        mode = "listing" if rng.random() < listing else "probe"
        out.append(check(rng.choices(OUTCOMES, weights)[0],
                         (round(when) if whole else when) / 60, target=rng.choice(targets),
                         mode=mode, post=None if mode == "listing" else str(i % 7), row_id=i))
    return out


def replay(rules: HealthRules, observations: list[Observation], label: str) -> int:
    """Feeds both trackers; asserts the same transition at every check, the same
    state, and counts equal to the window's. Returns the transitions seen."""
    state = CollectorState("youtube", "local", "ok", at(0), "", at(0))
    tracker = _Tracker(replace(state))
    model = ScanTracker(state)
    changes = 0
    for i, obs in enumerate(observations):
        kind = _kind(obs.outcome)
        assert kind is not None
        got, want = tracker.add(obs, kind, rules), model.add(obs, kind, rules)
        where = f"{label}, check {i} ({obs.outcome}, {obs.observed_at}, {obs.target_key})"
        assert got == want, where
        assert tracker.state == model.state, where
        assert (tracker.exempt, tracker.blocked_run, tracker.ok_run, tracker.oks_since) == (
            model.exempt, model.blocked_run, model.ok_run, model.oks_since), where
        assert len(tracker.checks) == len(model.checks), where
        if tracker.checks:  # as of the last check kept (a replayed one changes nothing)
            last = tracker.checks[-1].at
            assert tracker._tally(last, rules) == scanned_tally(tracker, last, rules), where
        changes += got is not None
    assert list(tracker.checks) == list(model.checks), label
    return changes


def test_random_sequences_decide_as_the_scan_did() -> None:
    rng = random.Random(20260801)
    changes = 0
    for seq in range(2000):
        rules = random_rules(rng)
        changes += replay(rules, random_checks(rng, rng.randint(1, 120), rules),
                          f"sequence {seq}")
    assert changes > 1000  # the rules fired (and resumed) often enough to be compared


@pytest.mark.parametrize("seed", range(6))
def test_long_sequences_past_max_checks_decide_as_the_scan_did(seed: int) -> None:
    """More checks in the window than ``MAX_CHECKS`` keeps: the oldest leave by count."""
    rng = random.Random(seed)
    rules = replace(random_rules(rng), window=timedelta(hours=1))
    observations = random_checks(rng, 3 * MAX_CHECKS, rules, step=1.0)
    replay(rules, observations, f"seed {seed}")


def test_a_late_check_is_judged_by_its_own_time() -> None:
    """After a check from later on, a late one sees only the window before it: the two
    blocks from "the future" do not count, so three checks are too few to judge."""
    rules = HealthRules(block_min=4, block_share=0.5)
    tracker = _Tracker(CollectorState("youtube", "local", "ok", at(0), "", at(0)))
    for obs in [check(OK, 0), check(BOT, 9), check(BOT, 9.5, target="b")]:
        assert tracker.add(obs, _kind(obs.outcome) or "ok", rules) is None
    late = [check(BOT, 1, target="c"), check(OK, 2, target="d")]
    assert [tracker.add(o, _kind(o.outcome) or "ok", rules) for o in late] == [None, None]
    assert tracker.state.state == "ok"
    # In time again (after every check): 4 blocked of 6 reach the share.
    t = tracker.add(check(BOT, 9.6, target="e"), "blocked", rules)
    assert t is not None and t.reason == "blocked: 4 of 6 checks in 10m were blocked (anti_bot)"
