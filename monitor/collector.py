"""Collector health: per platform and vantage point, is the collector blocked or the
platform out?

An absence means something about a post only when the platform lets the collector in
and works. :class:`CollectorHealth` screens every batch before the lifecycle reads it
and keeps, per ``(platform, vantage)``, the checks of the last ``COLLECTOR_WINDOW``
(time comes from the observations' ``observed_at``, never the wall clock):

- **blocked**: at least ``COLLECTOR_BLOCK_MIN`` checks and a share of at least
  ``COLLECTOR_BLOCK_SHARE`` of them :data:`~monitor.observation.BLOCKED` (captcha,
  login wall, expired token, the platform's block), or ``COLLECTOR_BLOCK_STREAK``
  blocked checks in a row;
- **outage**: at least ``COLLECTOR_OUTAGE_MIN_TARGETS`` distinct targets whose latest
  *listing* answer in the window (an account's timeline, a feed) was a bare "not found"
  (``not_found``), and they are at least ``COLLECTOR_OUTAGE_SHARE`` of the targets whose
  listing got an answer there. Probes never count: posts watched one by one (or the
  posts of several accounts) removed in one sweep are removals a watchdog must hear
  of, not an outage; a platform that is out fails its listings too. A 410, a 451, a
  403, a tombstone or a notice is the platform's word about the item, which an outage
  does not send: an answer (so a country that withholds with 451 is no outage). A
  target is an account or a feed, so an account ban (many posts, one target) is never
  an outage, and an account whose timeline answers while a deleted post's probe says
  404 is not out. An outage that lasts ``COLLECTOR_OUTAGE_MAX`` ends: its targets still
  absent count as removals (a purge of nearly all that is watched looks the same).

Checks that say nothing either way (timeouts, 5xx, rate limits, refusals) neither
count nor break a run. While a platform and vantage point are blocked or out, every
absent observation of theirs in the batch gets ``signals["collector_paused"]`` (the
reason): recorded, never deciding (:func:`monitor.lifecycle._paused`). The batch is
screened as a whole first, so every absence of an outage is marked, not only those
after the threshold. The state resumes by itself after ``COLLECTOR_RESUME_AFTER``
answers about content in a row, or once the window no longer meets the rule and has
seen that many answers since the state began; the window then starts afresh.

With a connection, the state is loaded from :mod:`monitor.db.collector` at the first
batch (a restarted recorder keeps it) and written in a batch's transaction when it
changed (until a later batch finds it stored) or while paused; a healthy, settled
state costs a batch no query.
Each process screens its own batches: with several workers, each decides from the
checks it recorded, and the table holds the latest change any of them wrote.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .observation import Observation, Outcome
from .settings_values import format_duration

if TYPE_CHECKING:
    from .db import Connection

log = logging.getLogger(__name__)

__all__ = ["MAX_CHECKS", "MAX_KEYS", "PAUSED_STATES", "STATES", "CollectorHealth",
           "CollectorState", "HealthRules", "Transition"]

State = Literal["ok", "blocked", "outage"]
STATES: tuple[State, ...] = ("ok", "blocked", "outage")
PAUSED_STATES: tuple[State, ...] = ("blocked", "outage")
#: Checks kept per (platform, vantage), whatever the window: bounds memory and time.
MAX_CHECKS = 500
#: (platform, vantage) pairs tracked; beyond, the quietest healthy one is forgotten.
MAX_KEYS = 500

Key = tuple[str, str]
_Kind = Literal["ok", "absent", "blocked"]


@dataclass(frozen=True, slots=True)
class HealthRules:
    """The thresholds (``COLLECTOR_*`` settings)."""

    window: timedelta = timedelta(minutes=10)
    block_min: int = 5
    block_share: float = 0.8
    block_streak: int = 10
    outage_min_targets: int = 5
    outage_share: float = 0.8
    resume_after: int = 3
    outage_max: timedelta = timedelta(hours=6)

    @classmethod
    def from_settings(cls, settings: Any) -> HealthRules:
        return cls(window=timedelta(seconds=settings["COLLECTOR_WINDOW"]),
                   block_min=settings["COLLECTOR_BLOCK_MIN"],
                   block_share=settings["COLLECTOR_BLOCK_SHARE"],
                   block_streak=settings["COLLECTOR_BLOCK_STREAK"],
                   outage_min_targets=settings["COLLECTOR_OUTAGE_MIN_TARGETS"],
                   outage_share=settings["COLLECTOR_OUTAGE_SHARE"],
                   resume_after=settings["COLLECTOR_RESUME_AFTER"],
                   outage_max=timedelta(seconds=settings["COLLECTOR_OUTAGE_MAX"]))


@dataclass(slots=True)
class CollectorState:
    """The state of one platform at one vantage point, as stored."""

    platform: str
    vantage: str
    state: State
    since: datetime
    reason: str
    updated: datetime

    @property
    def paused(self) -> bool:
        return self.state in PAUSED_STATES


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of state: ``state`` from ``previous`` at ``at`` (an observation's time)."""

    platform: str
    vantage: str
    state: State
    previous: State
    at: datetime
    reason: str


@dataclass(slots=True)
class _Check:
    at: datetime
    target: str
    kind: _Kind
    outcome: str
    listing: bool


def _kind(outcome: Outcome) -> _Kind | None:
    if outcome is Outcome.OK:
        return "ok"
    if outcome is Outcome.NOT_FOUND:
        return "absent"
    if outcome.absent:
        # 410, 451, 403, a tombstone, a notice: the platform's words about the item,
        # which an outage does not send. An answer, and no outage evidence.
        return "ok"
    if outcome.blocked:
        return "blocked"
    return None  # timeouts, 5xx, refusals: say nothing about the collector or the post


def _outcomes(checks: Iterable[_Check]) -> str:
    return ", ".join(sorted({c.outcome for c in checks}))


class _Tally(NamedTuple):
    """What the rules read from the window: checks, blocked checks, targets whose latest
    listing answered there, and those of them that answered absent."""

    checks: int
    blocked: int
    listed: int
    absent: int


@dataclass(slots=True)
class _Tracker:
    """One (platform, vantage): its recent checks and state.

    The rules are judged after every check, so they read running counts of the checks
    kept (:meth:`_tally`) instead of scanning them: O(1) a check, where a scan of up to
    ``MAX_CHECKS`` made screening a large cycle slow. The counts are the window's only
    while the checks kept are in time order (then expiry from the front leaves exactly
    the window); a check older than the one before it (a skewed clock, a late batch)
    makes them scan the window until it has left. The texts that explain a change scan
    it too: they are written once per change.
    """

    state: CollectorState
    checks: deque[_Check] = field(default_factory=deque)
    #: Observations already counted (a window's worth and more, survives a resume).
    seen: OrderedDict[tuple[Any, ...], None] = field(default_factory=OrderedDict)
    blocked_run: int = 0
    ok_run: int = 0
    #: Answers about content since the current paused state began.
    oks_since: int = 0
    #: Targets still absent when an outage gave up: removals, not outage evidence,
    #: until they answer again (this process's memory only).
    exempt: set[str] = field(default_factory=set)
    #: Running counts over ``checks``: blocked ones, and adjacent pairs out of time order.
    n_blocked: int = 0
    n_disorder: int = 0
    #: Each target's last listing answer among ``checks`` (exempt ones too), and how
    #: many of those not exempt there are, and answered absent.
    last: dict[str, _Check] = field(default_factory=dict)
    n_listed: int = 0
    n_absent: int = 0

    def add(self, obs: Observation, kind: _Kind, rules: HealthRules) -> Transition | None:
        at = obs.observed_at
        ident = (obs.mode, obs.row_id, obs.target_key, obs.post_key, at, obs.outcome.value)
        if ident in self.seen:  # the same batch again, after a rollback or a split
            return None
        self.seen[ident] = None
        if len(self.seen) > 2 * MAX_CHECKS:
            self.seen.popitem(last=False)
        self._push(_Check(at, obs.target_key, kind, obs.outcome.value, obs.mode == "listing"))
        since = at - rules.window
        while self.checks and (len(self.checks) > MAX_CHECKS or self.checks[0].at <= since):
            self._pop()
        if kind == "blocked":
            self.blocked_run, self.ok_run = self.blocked_run + 1, 0
        elif kind == "ok":
            self.blocked_run, self.ok_run = 0, self.ok_run + 1
            self.oks_since += self.state.paused
            if obs.target_key in self.exempt:
                self.exempt.discard(obs.target_key)
                self._count(obs.target_key, 1)
        else:
            self.blocked_run = self.ok_run = 0
        self.state.updated = max(self.state.updated, at)
        if not self.state.paused:
            tally = self._tally(at, rules)
            if self._is_blocked(tally, rules):
                return self._change("blocked", at, self._why_blocked(at, rules))
            if self._is_out(tally, rules):
                return self._change("outage", at, self._why_out(at, rules))
            return None
        if self.state.state == "outage" and at - self.state.since >= rules.outage_max:
            # Nothing came back: these targets are gone, and a purge of most of what is
            # watched on a platform looks like an outage forever. Decide them again.
            gone = self._latest_absent(self._window(at, rules))
            self.exempt |= gone  # uncounted: the restart below drops the counts
            why = (f"the outage lasted {format_duration(rules.outage_max.total_seconds())}; "
                   f"the {len(gone)} target(s) still absent count as removals")
        elif self.ok_run >= rules.resume_after:
            why = f"{self.ok_run} answers about content in a row"
        elif (self.oks_since >= rules.resume_after
              and not (self._is_blocked if self.state.state == "blocked" else self._is_out)(
                  self._tally(at, rules), rules)):
            why = (f"the last {format_duration(rules.window.total_seconds())} no longer "
                   f"meet the rule; {self.oks_since} answers about content since "
                   f"{self.state.state}")
        else:
            return None
        self._restart()
        return self._change("ok", at, f"resumed: {why}")

    def _restart(self) -> None:
        """The window starts afresh (a resume): its checks and their counts go."""
        self.checks.clear()
        self.last.clear()
        self.n_blocked = self.n_disorder = self.n_listed = self.n_absent = 0
        self.blocked_run = 0

    def _push(self, c: _Check) -> None:
        if self.checks and self.checks[-1].at > c.at:
            self.n_disorder += 1
        self.checks.append(c)
        self.n_blocked += c.kind == "blocked"
        if c.listing and c.kind != "blocked":
            self._count(c.target, -1)
            self.last[c.target] = c
            self._count(c.target, 1)

    def _pop(self) -> None:
        c = self.checks.popleft()
        if self.checks and c.at > self.checks[0].at:
            self.n_disorder -= 1
        self.n_blocked -= c.kind == "blocked"
        if self.last.get(c.target) is c:  # its target's last check: no other is left
            self._count(c.target, -1)
            del self.last[c.target]

    def _count(self, target: str, sign: int) -> None:
        """Add (or take back) a target's last listing answer to the outage counts."""
        c = self.last.get(target)
        if c is not None and target not in self.exempt:
            self.n_listed += sign
            self.n_absent += sign * (c.kind == "absent")

    def _window(self, at: datetime, rules: HealthRules) -> list[_Check]:
        # Entries from "the future" (a skewed clock) never count for an earlier time.
        return [c for c in self.checks if at - rules.window < c.at <= at]

    def _tally(self, at: datetime, rules: HealthRules) -> _Tally:
        if not self.n_disorder:
            return _Tally(len(self.checks), self.n_blocked, self.n_listed, self.n_absent)
        window = self._window(at, rules)
        latest = self._latest(window)
        return _Tally(len(window), sum(c.kind == "blocked" for c in window), len(latest),
                      sum(c.kind == "absent" for c in latest.values()))

    def _is_blocked(self, tally: _Tally, rules: HealthRules) -> bool:
        return (self.blocked_run >= rules.block_streak
                or (tally.checks >= rules.block_min
                    and tally.blocked >= rules.block_share * tally.checks))

    def _why_blocked(self, at: datetime, rules: HealthRules) -> str:
        if self.blocked_run >= rules.block_streak:
            recent = list(self.checks)[-self.blocked_run:]
            return f"{self.blocked_run} blocked checks in a row ({_outcomes(recent)})"
        window = self._window(at, rules)
        blocked = [c for c in window if c.kind == "blocked"]
        return (f"{len(blocked)} of {len(window)} checks in "
                f"{format_duration(rules.window.total_seconds())} were blocked "
                f"({_outcomes(blocked)})")

    def _latest(self, window: list[_Check]) -> dict[str, _Check]:
        # Each target's latest listing answer: an account whose timeline answers while
        # a deleted post's probe says 404 is not out; a feed that answered before and
        # now says 404 is. Probes are removals to hear of, never outage evidence.
        latest: dict[str, _Check] = {}
        for c in window:
            if c.kind == "blocked" or not c.listing or c.target in self.exempt:
                continue
            held = latest.get(c.target)
            if held is None or c.at >= held.at:
                latest[c.target] = c
        return latest

    def _latest_absent(self, window: list[_Check]) -> set[str]:
        return {t for t, c in self._latest(window).items() if c.kind == "absent"}

    @staticmethod
    def _is_out(tally: _Tally, rules: HealthRules) -> bool:
        return (tally.absent >= rules.outage_min_targets
                and tally.absent >= rules.outage_share * tally.listed)

    def _why_out(self, at: datetime, rules: HealthRules) -> str:
        latest = self._latest(self._window(at, rules))
        out = [c for c in latest.values() if c.kind == "absent"]
        return (f"{len(out)} of {len(latest)} targets answered absent "
                f"({_outcomes(out)}) within "
                f"{format_duration(rules.window.total_seconds())}")

    def _change(self, to: State, at: datetime, why: str) -> Transition:
        previous = self.state.state
        reason = why if to == "ok" else f"{to}: {why}"
        self.state.state, self.state.since, self.state.reason = to, at, reason
        self.oks_since = 0
        return Transition(self.state.platform, self.state.vantage, to, previous, at, reason)


class CollectorHealth:
    """Screens each batch before the lifecycle reads it (see the module docstring)."""

    def __init__(self, rules: HealthRules | None = None) -> None:
        self.rules = rules or HealthRules()
        self._trackers: dict[Key, _Tracker] = {}
        self._loaded = False
        self._warned = False
        #: Pairs whose stored row may differ from their state (a change of state whose
        #: batch may yet roll back): written with each batch until a save finds them
        #: stored as they are. Healthy, settled pairs cost a batch no query.
        self._unsettled: set[Key] = set()

    @classmethod
    def from_settings(cls, settings: Any) -> CollectorHealth:
        return cls(HealthRules.from_settings(settings))

    def screen(self, observations: Sequence[Observation],
               conn: Connection | None = None) -> list[Transition]:
        """Mark ``signals["collector_paused"]`` on absent observations whose platform and
        vantage point are blocked or out; returns the changes of state. With ``conn``,
        the stored state is loaded first (once) and the batch's states are written."""
        if conn is not None and not self._loaded:
            from .db import collector as store

            self.restore(store.load(conn))
            self._loaded = True
        transitions, touched = self._screen(observations)
        for t in transitions:
            if t.state == "ok":
                log.info("collector %s via %s resumed at %s (%s)", t.platform, t.vantage,
                         t.at.isoformat(), t.reason)
            else:
                log.warning("collector %s via %s paused at %s: %s; its absences are "
                            "recorded but decide nothing until it resumes", t.platform,
                            t.vantage, t.at.isoformat(), t.reason)
        self._unsettled.update((t.platform, t.vantage) for t in transitions)
        due = sorted(k for k in touched if k in self._trackers
                     and (k in self._unsettled or self._trackers[k].state.paused))
        if conn is not None and due:
            from .db import collector as store

            self._unsettled -= store.save(conn, [self._trackers[k].state for k in due])
        return transitions

    def _screen(self, observations: Sequence[Observation]) -> tuple[list[Transition], set[Key]]:
        groups: dict[Key, list[Observation]] = {}
        for obs in observations:
            groups.setdefault((obs.platform, obs.vantage or "local"), []).append(obs)
        transitions: list[Transition] = []
        for key, group in groups.items():
            group.sort(key=lambda o: o.observed_at)
            tracker = self._tracker(key, group[0].observed_at)
            before: list[str | None] = []
            after: list[str | None] = []
            for obs in group:
                before.append(tracker.state.reason if tracker.state.paused else None)
                kind = _kind(obs.outcome)
                if kind is not None:
                    change = tracker.add(obs, kind, self.rules)
                    if change is not None:
                        transitions.append(change)
                after.append(tracker.state.reason if tracker.state.paused else None)
            # An absence is decided only in a healthy stretch that lasts to the batch's
            # end: any pause from it on takes it in (the outage's first absences too).
            later: str | None = None
            for i in range(len(group) - 1, -1, -1):
                later = after[i] or later
                reason = before[i] or later
                if reason and group[i].outcome.absent:
                    group[i].signals["collector_paused"] = reason
        return transitions, set(groups)

    def _tracker(self, key: Key, at: datetime) -> _Tracker:
        tracker = self._trackers.get(key)
        if tracker is None:
            if len(self._trackers) >= MAX_KEYS:
                self._forget_one()
            tracker = _Tracker(CollectorState(key[0], key[1], "ok", at, "", at))
            self._trackers[key] = tracker
        return tracker

    def _forget_one(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning("collector health tracks %d platform and vantage pairs; forgetting "
                        "the quietest healthy ones (are vantage names made up per target?)",
                        MAX_KEYS)
        healthy = [k for k, t in self._trackers.items() if not t.state.paused]
        victims = healthy or list(self._trackers)
        del self._trackers[min(victims, key=lambda k: self._trackers[k].state.updated)]

    def restore(self, states: Iterable[CollectorState]) -> None:
        """Take up stored states (at start): a paused one stays paused until it resumes."""
        for s in states:
            if s.state not in STATES:
                log.warning("collector state %r of %s via %s is unknown; taken as ok",
                            s.state, s.platform, s.vantage)
                s.state = "ok"
            self._trackers[(s.platform, s.vantage)] = _Tracker(s)

    def states(self) -> list[CollectorState]:
        """Every tracked (platform, vantage) state, sorted."""
        return [self._trackers[k].state for k in sorted(self._trackers)]

    def paused(self) -> dict[Key, str]:
        """(platform, vantage) → reason, for those blocked or out."""
        return {k: t.state.reason for k, t in sorted(self._trackers.items())
                if t.state.paused}


def counts(observations: Iterable[Observation]) -> Counter[tuple[str, str, str]]:
    """Paused observations by (platform, vantage, state), for the metrics."""
    out: Counter[tuple[str, str, str]] = Counter()
    for obs in observations:
        reason = obs.signals.get("collector_paused")
        if isinstance(reason, str) and reason:
            state = reason.split(":", 1)[0]
            out[(obs.platform, obs.vantage or "local",
                 state if state in PAUSED_STATES else "blocked")] += 1
    return out


def format_paused(rows: Sequence[dict[str, Any]]) -> str:
    """``takedown status``'s lines about paused collectors (rows from
    :func:`monitor.db.collector.paused`); empty when none is."""
    if not rows:
        return ""
    lines = [f"{len(rows)} collector(s) paused: absences seen there are recorded but decide "
             "nothing until they resume by themselves"]
    for r in rows:
        since = r["since"].isoformat(timespec="seconds") if r.get("since") else "?"
        lines.append(f"  {r['platform']} via {r['vantage']}: {r['state']} since {since}: "
                     f"{r['reason']}")
    return "\n".join(lines) + "\n"
