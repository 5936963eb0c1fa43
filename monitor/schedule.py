"""Scheduling decisions: after each observation, when a post is probed next and when
a target's listing is walked next.

This module decides *which* wait applies to a row (a suspect post waits for its
confirming probe, a failing probe or target backs off, a healthy post follows its
re-check cadence) and writes it to the row. The arithmetic of those waits, pure
functions of times and streaks, is :mod:`monitor.cadence`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .cadence import next_post_check, probe_retry, target_retry
from .observation import Observation
from .platforms import value_is_url
from .rows import PostRow, PostState, TargetRow
from .tokens import TOKEN_WAIT, probe_token, token_wait

if TYPE_CHECKING:  # the rules are the lifecycle's settings; no import at run time
    from .lifecycle import Rules

__all__ = ["LISTING_PATIENCE", "PROBE_FAILURES", "TOKEN_WAIT", "first_check_error", "probe_token",
           "schedule_post", "target_checked"]

#: Key in ``PostRow.known``: transient probe failures in a row (for the back-off).
PROBE_FAILURES = "probe_failures"
#: Transient listing failures in a row retried within the target's interval before it
#: backs off past it: as many as a suspicion waits for (``lifecycle.LISTING_TRIES``).
LISTING_PATIENCE = 3


def schedule_post(rules: Rules, target: TargetRow, post: PostRow, obs: Observation,
                  token_problem: bool = False) -> None:
    """Set ``post.next_check`` after ``obs`` (a probe of it, or a listing that showed it).
    ``token_problem``: the probe's answer was about its access token
    (:func:`monitor.tokens.token_problem`): it waits for a fresh one."""
    now = obs.observed_at
    if (waiting := token_wait(target, post, obs, token_problem)) is not None:
        post.next_check = waiting
        return
    failed_probe = obs.mode == "probe" and obs.outcome.transient
    streak = _count_probe_failures(post, obs)
    retry_after = float(obs.signals.get("retry_after") or 0) if failed_probe else 0.0
    if post.state == PostState.SUSPECT and post.suspicion is not None:
        wait = rules.confirm_retry
        if failed_probe:
            wait = probe_retry(streak, rules.confirm_retry, rules.error_backoff_max, retry_after)
        when = now + timedelta(seconds=wait)
        probes = post.suspicion.probes
        if probes and len(probes) >= rules.confirm_probes - 1:
            # The confirming probe must come CONFIRM_SPACING after the first one.
            earliest = datetime.fromisoformat(probes[0]["at"]) + timedelta(
                seconds=rules.confirm_spacing)
            when = max(when, earliest)
        post.next_check = when
        return
    # A single-post target has no listing to show its post: its interval is the
    # longest its probes may wait, and past the horizon they go on at that pace.
    max_gap = target.interval_s if target.single_post else None
    due, _step = next_post_check(post.first_seen, now, rules.offsets, rules.horizon, max_gap)
    if due is None and target.single_post:
        due = now + timedelta(seconds=max_gap or 86400)
    if failed_probe:
        # Back off, but never past the post's next scheduled re-check: it keeps
        # its place in the schedule (the schedule counts from first sight).
        until = (due - now).total_seconds() if due is not None else None
        wait = probe_retry(streak, rules.confirm_retry, rules.error_backoff_max, retry_after,
                           until)
        post.next_check = now + timedelta(seconds=wait)
        return
    post.next_check = due


def _count_probe_failures(post: PostRow, obs: Observation) -> int:
    """Transient probe failures of ``post`` in a row, counted in ``post.known``; a
    probe that got an answer resets it. A listing leaves the count alone."""
    count = int(post.known.get(PROBE_FAILURES) or 0)
    if obs.mode != "probe":
        return count
    if obs.outcome.transient:
        post.known[PROBE_FAILURES] = count + 1
        return count + 1
    post.known.pop(PROBE_FAILURES, None)
    return 0


def target_checked(rules: Rules, target: TargetRow, obs: Observation) -> None:
    """Record a check of ``target`` (a listing, or the probe of a post target): its
    outcome, error streak, and when its listing is walked next."""
    now = obs.observed_at
    target.last_checked_at = now
    target.last_outcome = obs.outcome.value
    # A listing that is absent before it was ever read (a mistyped feed URL or
    # account) is the user's error to fix, not news about the target.
    never_read = (obs.mode == "listing" and obs.outcome.absent
                  and target.last_ok_at is None)
    if obs.outcome.transient or never_read:
        target.error_streak += 1
        target.last_error = (first_check_error(target, obs) if never_read else
                             f"{obs.outcome.value}: {obs.detail or obs.http_status or ''}")
        wait = target_retry(target.error_streak, target.interval_s, rules.error_backoff_max,
                            float(obs.signals.get("retry_after") or 0),
                            patience=0 if never_read else LISTING_PATIENCE)
    else:
        target.error_streak = 0
        target.last_error = None
        target.last_ok_at = now
        wait = target.interval_s
    if not target.single_post:  # a single post has no listing: its probes are its checks
        target.next_due = now + timedelta(seconds=wait)


def first_check_error(target: TargetRow, obs: Observation) -> str:
    """What the user sees when a listing was absent on its first check."""
    answer = f"HTTP {obs.http_status}" if obs.http_status else f"'{obs.outcome.value}'"
    if value_is_url(target.platform, target.kind):
        return f"the {target.kind} answered {answer} on its first check: check the URL"
    return (f"the {target.kind} {target.value!r} answered {answer} on its first check: "
            f"check its name and base_url")
