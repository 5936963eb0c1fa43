"""Reading one X answer: a block, a transient status, a tombstone, or a post.

Pure functions over Scrapy responses and parsed JSON; what each code, status and
text means is in ``words.py`` (nothing here names a pattern). Every field is read
tolerantly (:mod:`spiders.fields`): a field of the wrong type reads as missing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scrapy.http import Response

from monitor.observation import Outcome, PostContent
from monitor.platform import WordMatch, answer_said, match_words

from .. import fields as f
from ..responses import header, json_text, outcome_for_status, page_message
from .words import INTERSTITIAL, WITHHELD_AFTERS, WITHHELD_BEFORE, WORDS

#: Bytes of an answer read at all: a post's JSON is a few KB; more is not X's answer.
MAX_BODY = 2 * 1024 * 1024
#: Longest pause an ``x-rate-limit-reset`` may ask for (X's windows are 15 minutes).
MAX_RESET = 900.0
_MESSAGE_CHARS = 300
_MAX_MEDIA = 20
_MAX_LINKS = 50
_MAX_COUNTRIES = 50
#: Where a syndication answer says it is no post: its typename, an unavailable reason.
_ABSENCE_SCOPES = frozenset({"json:__typename", "json:reason"})
_COUNTERS = ("favorite_count", "conversation_count", "retweet_count", "reply_count")


@dataclass(slots=True)
class Answer:
    """What one answer says: a post, or the outcome and the words that decided it."""

    data: dict[str, Any] | None = None
    outcome: Outcome | None = None
    hit: WordMatch | None = None
    message: str | None = None
    detail: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)


def reset_wait(response: Response, now: float) -> float | None:
    """Seconds until ``x-rate-limit-reset`` (an epoch second), at most MAX_RESET."""
    raw = header(response, "x-rate-limit-reset")
    if raw is None or len(raw) > 20 or not raw.isdigit():
        return None
    wait = float(raw) - now
    return min(wait, MAX_RESET) if math.isfinite(wait) and wait > 0 else None


def _said(response: Response, data: Any) -> dict[str, Any]:
    said = answer_said(WORDS, status=response.status, final_url=response.url, data=data)
    said["status"] = str(response.status)
    return said


def _decided(hit: WordMatch, detail: str, **signals: Any) -> Answer:
    outcome = Outcome(hit.rule.outcome)
    found: dict[str, Any] = {"fingerprint": hit.rule.name, **signals}
    if hit.rule.notice:
        found["notice"] = hit.rule.notice
    return Answer(outcome=outcome, hit=hit, message=hit.text[:_MESSAGE_CHARS], detail=detail,
                  signals=found)


def _parse(response: Response) -> tuple[Any, str | None]:
    """The body as JSON, or (None, why not)."""
    if len(response.body) > MAX_BODY:
        return None, f"answer of {len(response.body)} bytes is too large to be a post"
    try:
        return json.loads(json_text(response)), None
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON: {type(exc).__name__}"


def read_syndication(response: Response) -> Answer:
    """Read a ``tweet-result`` answer: a block, a status, a tombstone, or the post."""
    data, problem = _parse(response) if response.body.strip() else (None, "empty body")
    said = _said(response, data if isinstance(data, dict) else None)
    if data is None and response.body.strip():
        said["title"] = (page_message(response) or "").lower()
    if (hit := match_words(WORDS, said)) is not None and Outcome(hit.rule.outcome).transient:
        return _decided(hit, f"HTTP {response.status} at {response.url}")
    status = outcome_for_status(response.status)
    if status is not None and status.transient:
        return Answer(outcome=status, detail=f"HTTP {response.status}")
    if status is Outcome.NOT_FOUND:
        # The syndication's 404 for an id it does not serve: absent, by whom unknown.
        return Answer(outcome=status, detail="syndication answers 404",
                      signals={"notice": "not_found"})
    if status is not None:
        return Answer(outcome=Outcome.MALFORMED,
                      detail=f"HTTP {response.status} is not a syndication answer")
    if not isinstance(data, dict):
        return Answer(outcome=Outcome.MALFORMED, detail=problem or "not a JSON object")
    if hit is not None and hit.rule.scope in _ABSENCE_SCOPES:
        return _absence(data, hit)
    return Answer(data=data)


def _absence(data: dict[str, Any], kind: WordMatch) -> Answer:
    """A TweetTombstone (its text decides) or a TweetUnavailable (its reason)."""
    text = f.text(f.obj(f.obj(data.get("tombstone")).get("text")).get("text")) or ""
    text = text[:2000]
    signals: dict[str, Any] = {}
    countries = withheld_countries(data, text)
    if countries:
        signals["withheld_in_countries"] = countries
    words = match_words(WORDS, {"tombstone": text.lower()}) if text else None
    if words is not None:
        if words.rule.name == INTERSTITIAL or not Outcome(words.rule.outcome).absent \
                and not Outcome(words.rule.outcome).transient:
            return Answer(outcome=Outcome.MALFORMED, hit=words, message=text[:_MESSAGE_CHARS],
                          detail="a public-interest interstitial: the post stays visible",
                          signals={"fingerprint": words.rule.name})
        answer = _decided(words, "syndication tombstone", **signals)
        answer.message = text[:_MESSAGE_CHARS]
        return answer
    answer = _decided(kind, "syndication answer without a known text", **signals)
    answer.message = text[:_MESSAGE_CHARS] or kind.text
    return answer


def withheld_countries(data: dict[str, Any], text: str) -> list[str]:
    """Countries a post is withheld in: the legacy ``withheld_in_countries`` codes,
    else the country a tombstone text names ("withheld in Germany in response…")."""
    codes = [c for c in f.items(data.get("withheld_in_countries"))[:_MAX_COUNTRIES]
             if isinstance(c, str) and 0 < len(c) <= 8]
    if codes:
        return codes
    lowered = text.lower()
    start = lowered.find(WITHHELD_BEFORE)
    if start < 0:
        return []
    start += len(WITHHELD_BEFORE)
    ends = [e for e in (lowered.find(after, start) for after in WITHHELD_AFTERS) if e > start]
    if not ends:
        return []
    name = text[start:min(ends)].strip(" .")
    return [name] if 0 < len(name) <= 60 else []


def parse_tweet(data: dict[str, Any], post_id: str, base: str) -> PostContent:
    """A syndication ``Tweet`` as PostContent. ValueError when it is another post's."""
    got = f.key(data.get("id_str"))
    if got is not None and got != post_id:
        raise ValueError(f"the answer is post {got[:30]!r}, not {post_id}")
    user = f.obj(data.get("user"))
    screen = f.text(user.get("screen_name"))
    media = [m for m in (f.text(f.obj(d).get("media_key"))
                         for d in f.items(data.get("mediaDetails"))[:_MAX_MEDIA]) if m]
    links = [u for u in (f.text(f.obj(e).get("expanded_url"))
                         for e in f.items(f.obj(data.get("entities")).get("urls"))[:_MAX_LINKS])
             if u]
    counters: dict[str, int | str] = {}
    for name in _COUNTERS:
        value = f.count(data.get(name))
        if value is not None:
            counters[name] = value
    extra: dict[str, Any] = {}
    if data.get("possibly_sensitive") is True:
        extra["sensitive"] = True
    countries = withheld_countries(data, "")
    if countries:
        extra["withheld_in_countries"] = countries
    url = f"{base}/{screen}/status/{post_id}" if screen else None
    return PostContent(key=post_id, url=url, text=f.text(data.get("text")) or "",
                       author=screen, published_at=_created(data.get("created_at")),
                       media=media, links=links, counters=counters, extra=extra)


def _created(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_oembed(response: Response) -> tuple[str, WordMatch | None]:
    """What the oEmbed check says: ``served`` (it renders the post), ``absent`` (404,
    or an error whose words name a notice: ``hit``), or ``unknown``."""
    data, _ = _parse(response) if response.body.strip() else (None, None)
    said = _said(response, data if isinstance(data, dict) else None)
    hit = match_words(WORDS, said)
    if hit is not None and Outcome(hit.rule.outcome).transient:
        return "unknown", hit
    rendered = data.get("html") if isinstance(data, dict) else None
    if response.status == 200 and isinstance(rendered, str) and rendered.strip():
        return "served", None
    if hit is not None and hit.rule.notice:
        return "absent", hit
    if outcome_for_status(response.status) in (Outcome.NOT_FOUND, Outcome.GONE):
        return "absent", None
    return "unknown", None
