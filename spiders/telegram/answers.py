"""One Telegram answer read for what it says before its messages are: a block of
the collector, a notice about the channel or the message, or a preview page.

Blocks are read from the status, the title and, only on a page without messages,
the body and the page's own words: a channel may post any text, so a message
quoting a notice or a flood-wait page never decides an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Response

from monitor.observation import Outcome
from monitor.platform import WordMatch, answer_said, base_path, match_words

from ..responses import text_of
from .parse import MAX_WORDS, Page, read_page
from .words import RETRY_AFTER_MARK, WORDS

#: Bytes of a page read at most (a channel page is ~100 KB); more is ``too_large``.
MAX_BYTES = 4 * 1024 * 1024
#: Longest pause a flood-wait page may ask for, in seconds.
MAX_FLOOD_WAIT = 3600


@dataclass(slots=True)
class Answer:
    """What one answer says: ``outcome`` None means a page to read (``page``)."""

    outcome: Outcome | None = None
    page: Page | None = None
    hit: WordMatch | None = None
    message: str | None = None
    detail: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)


def said_path(response: Response, base: str) -> str:
    """The final URL's path below the base_url ("" when it left the base)."""
    return base_path(response.url, base) or ""


def _matched(hit: WordMatch, detail: str | None = None) -> Answer:
    signals: dict[str, Any] = {"fingerprint": hit.rule.name}
    if hit.rule.notice:
        signals["notice"] = hit.rule.notice
    return Answer(Outcome(hit.rule.outcome), hit=hit, message=hit.text[:MAX_WORDS],
                  detail=detail, signals=signals)


def read_answer(response: Response, base: str, channel: str | None,
                status_outcome: Outcome | None) -> Answer:
    """Read ``response``: a block, a notice, a transient status, or a page."""
    if len(response.body) > MAX_BYTES:
        return Answer(Outcome.TOO_LARGE, detail=f"{len(response.body)} bytes, more than "
                      f"{MAX_BYTES}")
    first = match_words(WORDS, {"status": str(response.status)})
    if first is not None:
        return _matched(first, f"HTTP {response.status}")
    if status_outcome is not None:
        return Answer(status_outcome, detail=f"HTTP {response.status}")
    html = text_of(response)
    page = read_page(html, base, channel)
    if page.entries or page.tombstones:
        return Answer(page=page)
    said = answer_said(WORDS, status=response.status, body=html[:65536],
                       final_url=said_path(response, base))
    said["page_text"] = page.texts
    said["title"] = page.title
    hit = match_words(WORDS, said)
    if hit is not None:
        answer = _matched(hit)
        wait = flood_wait(html) if answer.outcome is Outcome.COLLECTOR_BLOCKED else None
        if wait is not None:
            answer.signals["retry_after"] = wait
        return answer
    if page.is_preview:
        return Answer(page=page)  # a channel with no message shown
    return Answer(Outcome.MALFORMED, detail="neither a channel preview, an embed nor a "
                  "known notice" + (f" (title {page.title!r})" if page.title else ""))


def flood_wait(html: str) -> int | None:
    """The seconds a flood-wait page asks for: the number after "retry after"."""
    head = html[:65536].lower()
    at = head.find(RETRY_AFTER_MARK)
    if at < 0:
        return None
    digits = ""
    for ch in head[at + len(RETRY_AFTER_MARK):at + len(RETRY_AFTER_MARK) + 20]:
        if ch.isdigit() and ch.isascii():
            digits += ch
        elif digits or not ch.isspace() and ch != ":":
            break
    if not digits or len(digits) > 6:
        return None
    return min(int(digits), MAX_FLOOD_WAIT)
