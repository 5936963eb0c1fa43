"""What one Reddit answer says before its posts are read: a collector block, a
subreddit's state, a rate-limit window; and how two listings become one window.
Pure functions over a response (no Scrapy state), shared by both paths."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from scrapy.http import Response

from monitor.observation import Outcome, PostContent
from monitor.platform import answer_said, match_words

from ..responses import header, json_body
from . import things
from .words import BLOCKS

#: Longest pause an ``X-Ratelimit-Reset`` may ask for (Reddit's window is 10 minutes).
MAX_RESET = 600.0
#: ``reason`` values of a subreddit's JSON 403/404 (§6): a state, not a block.
SUBREDDIT_STATES = frozenset({"private", "banned", "quarantined", "gated"})
#: Bytes of an HTML answer read for block words.
HEAD_BYTES = 65536


def number(raw: str | None) -> float | None:
    """A header's number, or None for anything else (NaN and infinities included)."""
    if raw is None or len(raw) > 32:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def block(response: Response, *, json_states: bool) -> tuple[Outcome, dict[str, Any]] | None:
    """A collector block or rate limit (:data:`.words.BLOCKS`), or a 403 that is not a
    subreddit's JSON state (``json_states``: the answer may carry one); None when
    the answer is Reddit's own."""
    ctype = header(response, "Content-Type") or ""
    # A block page is HTML: the words of a JSON or Atom answer are the posts', and
    # a post that quotes "whoa there, pardner!" must not block its own checks.
    head = None if ("json" in ctype or "xml" in ctype) else response.body[:HEAD_BYTES].decode(
        "utf-8", errors="replace")
    said = answer_said(BLOCKS, status=response.status, body=head, final_url=response.url,
                       headers={"Content-Type": ctype})
    if hit := match_words(BLOCKS, said):
        signals: dict[str, Any] = {"fingerprint": hit.rule.name}
        reset = number(header(response, "x-ratelimit-reset"))
        if hit.rule.outcome == Outcome.RATE_LIMITED.value and reset and reset > 0:
            signals["retry_after"] = int(min(reset, MAX_RESET))
        return Outcome(hit.rule.outcome), signals
    if response.status == 403 and not (json_states and state_reason(response)):
        return Outcome.COLLECTOR_BLOCKED, {"fingerprint": "reddit.block.http403"}
    return None


def ratelimit_wait(response: Response) -> float | None:
    """Seconds to leave the host alone: ``X-Ratelimit-Reset`` when
    ``X-Ratelimit-Remaining`` is used up (at most MAX_RESET), else None."""
    remaining = number(header(response, "x-ratelimit-remaining"))
    reset = number(header(response, "x-ratelimit-reset"))
    if remaining is not None and remaining < 1 and reset and reset > 0:
        return min(reset, MAX_RESET)
    return None


def state_reason(response: Response) -> str | None:
    """The ``reason`` of a subreddit's JSON 403/404 (``private``, ``banned``…), if any."""
    if response.status not in (403, 404) or "json" not in (header(response, "Content-Type")
                                                           or ""):
        return None
    try:
        data = json_body(response)
    except ValueError:
        return None
    reason = data.get("reason") if isinstance(data, dict) else None
    return reason if isinstance(reason, str) and reason in SUBREDDIT_STATES else None


def merge_windows(parts: list[tuple[things.Read, str | None]]
                  ) -> tuple[things.Read, list[PostContent], bool]:
    """Several listings read as one (a user's ``submitted`` and ``comments``): the
    merged read, the entries inside the window every part vouches for (a part that
    did not end reaches back only to its oldest entry), and whether all ended."""
    merged = things.Read()
    cut: datetime | None = None
    for read, after in parts:
        merged.live += read.live
        merged.removed += read.removed
        merged.skipped += read.skipped
        merged.skipped_keys += read.skipped_keys
        times = [t.post.published_at for t in read.live if t.post.published_at]
        if after is not None and times:
            cut = max(cut, min(times)) if cut else min(times)
    entries = [t.post for t in merged.live if cut is None or t.post.published_at is None
               or t.post.published_at >= cut]
    return merged, entries, all(after is None for _, after in parts)
