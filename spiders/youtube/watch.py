"""Reading the watch page, oEmbed and channel page answers: pure functions.

The watch page carries ``var ytInitialPlayerResponse = {...};`` inline; it is read
with one ``raw_decode`` from the first ``{`` after the name (no regex over the page).
What its ``playabilityStatus`` says is matched against ``words.py``: the
``status``, the names of the ``errorScreen`` renderers (``error_code``) and the
reason and subreason texts (``page_text``). Nothing here names a wording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.observation import PostContent
from monitor.platform import WordMatch, match_words
from monitor.text import html_texts

from .. import fields as f
from .platform import watch_url
from .words import WORDS

_PLAYER = "ytInitialPlayerResponse"
_UNSEEN = frozenset({"script", "style", "noscript"})
#: Texts of a page read for words; characters of one reason kept as evidence.
_TEXTS, _CHARS = 200, 500
#: Longest page searched for the player response (a real watch page is ~1.5 MB).
MAX_PAGE_CHARS = 8 * 1024 * 1024
#: Quoted phrases kept as evidence: what follows "policy on" / "claim by".
_POLICY_MARK, _CLAIM_MARK, _FROM_MARK = " policy on ", " claim by ", " content from "


def player_response(html: str) -> dict[str, Any] | None:
    """The ``ytInitialPlayerResponse`` object of a watch page, or None."""
    at = html.find(_PLAYER, 0, MAX_PAGE_CHARS)
    start = html.find("{", at, at + 200) if at >= 0 else -1
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(html, start)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def runs_text(value: Any) -> str | None:
    """A renderer text: ``{"simpleText": …}`` or ``{"runs": [{"text": …}, …]}``."""
    if isinstance(value, str):
        return value or None
    data = f.obj(value)
    simple = f.text(data.get("simpleText"))
    if simple:
        return simple[:_CHARS]
    runs = [f.text(f.obj(r).get("text")) or "" for r in f.items(data.get("runs"))[:50]]
    joined = "".join(runs).strip()
    return joined[:_CHARS] or None


@dataclass(slots=True)
class Playability:
    """What ``playabilityStatus`` says."""

    status: str | None = None
    texts: list[str] = field(default_factory=list)
    renderers: list[str] = field(default_factory=list)

    @property
    def message(self) -> str | None:
        return " ".join(self.texts)[:_CHARS] or None


def playability(player: dict[str, Any]) -> Playability:
    status = f.obj(player.get("playabilityStatus"))
    out = Playability(status=f.text(status.get("status")))
    reason = f.text(status.get("reason"))
    if reason:
        out.texts.append(reason[:_CHARS])
    screen = f.obj(status.get("errorScreen"))
    out.renderers = [str(k)[:100] for k in list(screen)[:20]]
    for renderer in list(screen.values())[:20]:
        body = f.obj(renderer)
        for name in ("reason", "subreason", "title", "text"):
            text = runs_text(body.get(name))
            if text and text not in out.texts:
                out.texts.append(text)
    for message in f.items(status.get("messages"))[:10]:
        if (text := f.text(message)) and text not in out.texts:
            out.texts.append(text[:_CHARS])
    return out


def read_playability(p: Playability) -> WordMatch | None:
    codes = [c for c in (p.status, *p.renderers) if c]
    return match_words(WORDS, {"error_code": codes, "page_text": p.texts})


def evidence(texts: list[str]) -> dict[str, str]:
    """The policy named in a policy removal, the claimant of a copyright one."""
    out: dict[str, str] = {}
    for text in texts:
        for mark, name, stop in ((_POLICY_MARK, "policy", "."), (_CLAIM_MARK, "claimant", "."),
                                 (_FROM_MARK, "claimant", ",")):
            at = text.find(mark)
            if at >= 0 and name not in out:
                rest = text[at + len(mark):]
                end = rest.find(stop)
                phrase = (rest[:end] if end >= 0 else rest).strip()[:200]
                if phrase:
                    out[name] = phrase
    return out


def video_post(player: dict[str, Any], base: str, vid: str) -> PostContent:
    """The video as the watch page serves it (``videoDetails``, ``microformat``)."""
    details = f.obj(player.get("videoDetails"))
    micro = f.obj(f.obj(player.get("microformat")).get("playerMicroformatRenderer"))
    published = None
    raw = f.text(micro.get("publishDate"))
    if raw and len(raw) <= 64:
        try:
            published = datetime.fromisoformat(raw)
        except ValueError:
            published = None
    if published is not None and published.tzinfo is None:
        published = None
    counters: dict[str, int | str] = {}
    views = f.count(details.get("viewCount"))
    if views is not None:
        counters["views"] = views
    url = watch_url(base, vid)
    return PostContent(
        key=vid, url=url, probe_url=url,
        title=(f.text(details.get("title")) or "")[:1000] or None,
        text=(f.text(details.get("shortDescription")) or "")[:20_000],
        author=f.text(details.get("author")),
        published_at=published,
        media=[f"youtube:video:{vid}"],
        counters=counters,
        extra={"channel_id": f.text(details.get("channelId")),
               "unlisted": micro.get("isUnlisted") is True},
    )


def page_texts(html: str) -> list[str]:
    return html_texts(html[:MAX_PAGE_CHARS], skip=_UNSEEN, part=("title", "body"))[:_TEXTS]


def oembed_ok(body: str) -> dict[str, Any] | None:
    """An oEmbed 200 that is what it says: a JSON object with ``html``. A 200 that is
    no such thing (``Forbidden``, a page) is None: the watch page decides."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not f.text(data.get("html")):
        return None
    return data
