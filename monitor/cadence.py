"""When to look again: the re-check cadence of posts and the back-off of targets.

A post is probed at fixed offsets after first sight — dense while it is young,
when most censorship happens (about 30% of deletions within 30 minutes and 90%
within a day, per "The Velocity of Censorship") — then daily up to a horizon.
Offsets missed during downtime are coalesced: the next check is the first
offset still in the future, never a replay of every missed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

DAY = 86400.0
# Past this many doublings any sane cap has long been reached (and 2.0**n overflows).
_MAX_DOUBLINGS = 64


def next_post_check(
    first_seen: datetime,
    now: datetime,
    offsets: Sequence[float],
    horizon: float,
    max_gap: float | None = None,
) -> tuple[datetime | None, int]:
    """The next probe time for a post and the step index it corresponds to.

    Returns ``(None, step)`` once the horizon has passed. ``max_gap`` caps the wait
    (a single-post target's own interval).
    """
    age = (now - first_seen).total_seconds()
    due: float | None = None
    step = 0
    for step, offset in enumerate(offsets):  # noqa: B007 - step is used after the loop
        if offset > age:
            due = offset
            break
    else:
        step = len(offsets)
        last = offsets[-1] if offsets else 0.0
        if age < last:
            due = last
        else:
            days = int((age - last) // DAY) + 1
            due = last + days * DAY
            step += days - 1
    if due > horizon:
        if age >= horizon:
            return None, step
        due = horizon
    when = first_seen + timedelta(seconds=due)
    if max_gap is not None:
        when = min(when, now + timedelta(seconds=max_gap))
    return when, step


def backoff(streak: int, base: float, cap: float, *, jitter: float = 0.0,
            rand: float = 0.0) -> float:
    """Seconds to wait after ``streak`` failures in a row beyond the first: ``base``
    doubled ``streak`` times, at most ``cap``. The one back-off of the monitor: the
    recorder's retries, target and probe re-checks, host pauses, alert deliveries.

    ``jitter`` spreads the wait by ``rand`` (in [0, 1], drawn by the caller, so
    this stays pure): a positive one lengthens it by up to that fraction, still at
    most ``cap``; a negative one shortens it by up to that fraction ("equal
    jitter" is -0.5). ``rand`` 0 gives the shortest wait, 1 the longest.
    """
    wait = min(cap, base * 2.0 ** max(0, min(streak, _MAX_DOUBLINGS)))
    low, high = wait * (1 + min(jitter, 0.0)), wait * (1 + max(jitter, 0.0))
    return float(min(cap, low + (high - low) * rand))


def target_retry(streak: int, interval: float, cap: float, retry_after: float = 0.0,
                 patience: int = 0) -> float:
    """Seconds until a target that failed ``streak`` times in a row is checked again.

    The first retries come sooner than the interval (a blip should not cost a
    whole interval), then the wait doubles past it up to ``cap``
    (ERROR_BACKOFF_MAX): a failing target is fetched less often than a healthy
    one. A longer ``Retry-After`` from the server wins over both.

    Below two minutes the doubling starts past the interval at once; ``patience``
    failures in a row are retried within one interval all the same, so a few
    transient faults never leave a fast target unread for longer than its own
    pace (a post's short-lived state could pass unseen in the gap).
    """
    wait = backoff(streak, min(interval, 60.0), max(cap, min(interval, 60.0)))
    if streak <= patience:
        wait = min(wait, interval)
    return max(wait, retry_after)


def probe_retry(streak: int, confirm_retry: float, cap: float, retry_after: float = 0.0,
                until_scheduled: float | None = None) -> float:
    """Seconds until a post whose probe failed transiently ``streak`` times is probed again.

    CONFIRM_RETRY after the first failure, doubling up to ``cap``
    (ERROR_BACKOFF_MAX), and never later than the post's next scheduled re-check
    (``until_scheduled`` seconds away), so it keeps its place in the schedule;
    a longer ``Retry-After`` from the server wins over all of these.
    """
    wait = backoff(max(0, streak - 1), confirm_retry, max(cap, confirm_retry))
    if until_scheduled is not None:
        wait = min(wait, max(0.0, until_scheduled))
    return max(wait, retry_after)
