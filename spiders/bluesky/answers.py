"""What one XRPC answer says before its content is read: a collector block, a rate
limit, an error the words table knows; and the host's rate-limit window.

Pure functions over a response (no spider state). XRPC errors are HTTP 400 with
``{"error": <Name>, "message": <text>}`` (notes §10).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Response

from monitor.observation import Outcome
from monitor.platform import WordMatch, match_words

from ..responses import header, is_challenge, json_body, page_message
from .words import REMAINING_HEADER, RESET_HEADER, WORDS

#: Longest pause a rate-limit window may ask for (the PDS window is 5 minutes).
MAX_RESET = 600.0
#: Characters of an error message kept.
MESSAGE_CHARS = 300
#: Scopes read from every answer; the others are asked by name (follow-ups).
_ANSWER_SCOPES = ("status", "error_code", "page_text", "title")


@dataclass(slots=True)
class Answer:
    """One answer, read: ``outcome`` None means a JSON object to read (``data``)."""

    status: int
    data: dict[str, Any] | None = None
    error: str | None = None
    message: str | None = None
    hit: WordMatch | None = None
    outcome: Outcome | None = None
    detail: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)


def _short(value: Any) -> str | None:
    return value[:MESSAGE_CHARS] if isinstance(value, str) and value else None


def number(raw: str | None) -> float | None:
    """A header's number, or None (NaN, infinities and long strings included)."""
    if raw is None or len(raw) > 32:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def reset_wait(response: Response, now: float | None = None) -> float | None:
    """Seconds until the host's rate-limit window resets (``ratelimit-reset`` is Unix
    seconds on Bluesky hosts; a small number is read as seconds), at most MAX_RESET."""
    reset = number(header(response, RESET_HEADER))
    if reset is None or reset <= 0:
        return None
    if reset > 1e9:  # an epoch time
        reset -= time.time() if now is None else now
    return min(max(reset, 1.0), MAX_RESET)


def ratelimit_wait(response: Response, limited: bool = False,
                   now: float | None = None) -> float | None:
    """Seconds to leave the host alone: its window is used up
    (``ratelimit-remaining`` below 1), or it said so (``limited``: the words read a
    rate limit); None otherwise."""
    remaining = number(header(response, REMAINING_HEADER))
    if limited or (remaining is not None and remaining < 1):
        return reset_wait(response, now)
    return None


def answer_error(response: Response) -> str | None:
    """The XRPC ``error`` name of a JSON answer, or None."""
    try:
        data = json_body(response)
    except ValueError:
        return None
    return _short(data.get("error")) if isinstance(data, dict) else None


def read_answer(response: Response, scopes: dict[str, Any] | None = None,
                now: float | None = None) -> Answer:
    """Read an answer: JSON, its XRPC error, and the first words rule it matches
    (``scopes`` adds what a follow-up knows, e.g. ``account_status``)."""
    status = response.status
    answer = Answer(status)
    try:
        data = json_body(response)
    except ValueError:
        data = None
    if isinstance(data, dict):
        answer.data = data
        answer.error = _short(data.get("error"))
        answer.message = _short(data.get("message"))
    said: dict[str, Any] = {"status": str(status), "error_code": answer.error,
                            "page_text": answer.message}
    if data is None and status >= 400:  # an HTML or text page: its title, else its text
        said["title"] = said["page_text"] = _short(page_message(response))
    said.update(scopes or {})
    rules = [r for r in WORDS if r.scope in said]
    hit = match_words(rules, said)
    if hit is not None:
        answer.hit = hit
        answer.outcome = Outcome(hit.rule.outcome)
        answer.signals["fingerprint"] = hit.rule.name
        if hit.rule.notice:
            answer.signals["notice"] = hit.rule.notice
        if hit.rule.account_state:
            answer.signals["account_state"] = hit.rule.account_state
        if answer.error:
            answer.signals["error_code"] = answer.error
        if answer.outcome is Outcome.RATE_LIMITED and (wait := reset_wait(response, now)):
            answer.signals["retry_after"] = int(wait)
        answer.detail = f"HTTP {status}: {answer.error or hit.text[:MESSAGE_CHARS]}"
        return answer
    if is_challenge(response):
        answer.outcome, answer.detail = Outcome.ANTI_BOT, f"HTTP {status}: a challenge page"
    elif status >= 500:
        answer.outcome, answer.detail = Outcome.SERVER_ERROR, f"HTTP {status}"
    elif not 200 <= status < 300:
        # An XRPC error no rule knows: nothing to classify, never an absence.
        answer.outcome = Outcome.MALFORMED
        answer.detail = f"HTTP {status}: unknown answer {answer.error or ''}".strip()
    elif answer.data is None:
        answer.outcome, answer.detail = Outcome.MALFORMED, "the answer is not a JSON object"
    return answer


__all__ = ["Answer", "MAX_RESET", "answer_error", "number", "ratelimit_wait", "read_answer",
           "reset_wait"]
