"""Reading one Weibo answer: a block, a transient status, an error envelope, or data.

Pure functions over Scrapy responses and page text. What each code, status and
text means is in ``words.py``; nothing here names a pattern.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Response

from monitor.observation import Outcome
from monitor.platform import WordMatch, json_said, match_words
from monitor.text import html_texts

from .. import fields as f
from ..responses import outcome_for_status, page_message, text_of
from .words import WORDS

_RENDER_DATA = "$render_data"
_UNSEEN = frozenset({"script", "style", "noscript"})
_TEXTS = 200
#: :func:`json_envelope` of a JSON object without block words.
ENVELOPE = "an API envelope"


@dataclass(slots=True)
class Answer:
    """What one API answer says: its data (``ok: 1``), or the outcome and words."""

    data: dict[str, Any] | None = None
    outcome: Outcome | None = None
    hit: WordMatch | None = None
    message: str | None = None
    errno: str | None = None
    detail: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)


def read_answer(response: Response) -> Answer:
    """Read an API answer: a block, a transient status, an error envelope, or data."""
    said: dict[str, Any] = {"status": str(response.status), "final_url": response.url}
    if hit := block(said):
        return _blocked(hit, f"HTTP {response.status} at {response.url}")
    status = outcome_for_status(response.status)
    if status is Outcome.FORBIDDEN:
        status = Outcome.ANTI_BOT  # Weibo's 403 turns clients away; it is no notice
    if status is not None and (status.transient or response.status >= 300):
        if not status.transient:  # a 404 from an API path: not a Weibo answer
            return Answer(outcome=Outcome.MALFORMED,
                          detail=f"HTTP {response.status} is not a Weibo API answer")
        return Answer(outcome=status, detail=f"HTTP {response.status}")
    text = text_of(response)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        if hit := block({"title": page_message(response) or ""}):
            return _blocked(hit, "visitor system page")
        # A non-JSON body where JSON belongs is what a refused session gets.
        return Answer(outcome=Outcome.COLLECTOR_BLOCKED, message=(page_message(response) or None),
                      detail="non-JSON body from the JSON API")
    if not isinstance(data, dict):
        return Answer(outcome=Outcome.MALFORMED, detail="API answer is not a JSON object")
    if f.count(data.get("ok")) == 1 and isinstance(data.get("data"), dict):
        return Answer(data=data)
    msg = f.text(data.get("msg"))
    errno = f.text(data.get("errno"))
    said = {**json_said(data, WORDS), "error_code": errno, "page_text": [msg] if msg else []}
    hit = match_words(WORDS, said)
    if hit is None:
        return Answer(outcome=Outcome.MALFORMED, message=msg, errno=errno,
                      detail=f"unknown Weibo answer (ok={data.get('ok')!r}, errno={errno})")
    answer = Answer(outcome=Outcome(hit.rule.outcome), hit=hit, message=msg, errno=errno,
                    signals={"fingerprint": hit.rule.name})
    if hit.rule.notice:
        answer.signals["notice"] = hit.rule.notice
    if errno:
        answer.signals["error_code"] = errno
    answer.data = data
    return answer


def block(said: dict[str, Any]) -> WordMatch | None:
    hit = match_words(WORDS, said)
    return hit if hit is not None and Outcome(hit.rule.outcome).blocked else None


def _blocked(hit: WordMatch, detail: str) -> Answer:
    return Answer(outcome=Outcome(hit.rule.outcome), hit=hit, detail=detail,
                  signals={"fingerprint": hit.rule.name})


def json_envelope(body: str) -> str | None:
    """What a body that is a JSON object is, in brief (its block's fingerprint, else
    :data:`ENVELOPE`; never its words), or None when it is no JSON object (a page).
    Weibo's pages are HTML: a JSON object where one belongs is an API answer, such as
    the rate limit's ``ok:-100``."""
    text = body.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    hit = block(json_said(data, WORDS))
    return hit.rule.name if hit is not None else ENVELOPE


def render_data(html: str) -> dict[str, Any] | None:
    """The ``$render_data`` object of a ``/detail/`` page (no regex over the page)."""
    at = html.find(_RENDER_DATA)
    start = html.find("[", at) if at >= 0 else -1
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(html, start)
    except (ValueError, RecursionError):
        return None
    first = value[0] if isinstance(value, list) and value else value
    return first if isinstance(first, dict) else None


def page_texts(html: str) -> list[str]:
    return html_texts(html, skip=_UNSEEN, part=("title", "body"))[:_TEXTS]


def stub_texts(data: dict[str, Any]) -> list[str]:
    """The short texts of a timeline or profile answer (msg, card descriptions, the
    user's description): where an account placeholder is written."""
    out = [f.text(data.get("msg")) or ""]
    body = f.obj(data.get("data"))
    out.append(f.text(body.get("msg")) or "")
    for card in f.items(body.get("cards"))[:_TEXTS]:
        card = f.obj(card)
        out += [f.text(card.get(k)) or "" for k in ("desc", "name", "title_sub", "desc1")]
    user = f.obj(body.get("userInfo"))
    out += [f.text(user.get(k)) or "" for k in ("description", "desc")]
    return [t for t in out if t]
