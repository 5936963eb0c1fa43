"""What RedNote's pages and error codes say when they do not show a note or a profile:
read against its words (:mod:`.words`) into an outcome, a notice and, on a profile
page, the account's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from monitor.observation import Outcome
from monitor.platform import match_words
from monitor.text import html_texts

from .words import WORDS

_MESSAGE_CHARS = 200


@dataclass(slots=True)
class Notice:
    """What an unavailable page or error envelope says."""

    outcome: Outcome
    notice: str | None = None
    error_code: str | None = None
    message: str | None = None
    detail: str | None = None
    extra_signals: dict[str, Any] = field(default_factory=dict)

    def signals(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra_signals)
        if self.notice:
            out["notice"] = self.notice
        if self.error_code:
            out["error_code"] = self.error_code
        return out


#: What a notice page's words leave out.
_UNSEEN = frozenset({"script", "style", "noscript"})


def page_texts(html: str) -> list[str]:
    """Title and visible text nodes, in order (scripts and styles left out)."""
    return html_texts(html, skip=_UNSEEN, part=("title", "body"))


def url_error_code(url: str) -> str | None:
    query = dict(parse_qsl(urlsplit(url).query))
    return query.get("error_code") or query.get("errorCode")


def read_notice(texts: list[str], error_code: str | None = None,
                error_msg: str | None = None, profile: bool = False) -> Notice | None:
    """Outcome and notice from a page's words and/or an error code; None if silent.
    On a ``profile`` page the texts are also read for the account's state."""
    if error_msg:
        texts = [error_msg, *texts]
    said: dict[str, Any] = {"page_text": texts, "error_code": error_code}
    if profile:
        said["profile_status"] = texts
    hit = match_words(WORDS, said)
    if hit is None:
        return None
    rule = hit.rule
    message = hit.text[:_MESSAGE_CHARS] if rule.scope in ("page_text", "profile_status") \
        else error_msg
    extra: dict[str, Any] = {"fingerprint": rule.name}
    if rule.account_state:
        extra["account_state"] = rule.account_state
    return Notice(Outcome(rule.outcome), notice=rule.notice, error_code=error_code,
                  message=message, extra_signals=extra)
