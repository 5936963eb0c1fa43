"""Reading Weibo's JSON: posts (``mblog``), timeline pages, repost stubs.

Pure functions over parsed JSON; every field is read tolerantly
(:mod:`spiders.fields`), and one bad card never fails its page.

- A timeline page's posts are its ``card_type == 9`` cards. A pinned post is
  listed without ``published_at``: it is not in date order, so it must not
  stretch the listing's window (:func:`monitor.lifecycle.window_start`).
- A repost's ``retweeted_status`` is another post. When it is live it is
  listed as its own entry, also without ``published_at`` (its place in this
  timeline is the repost's, not its own); when it is a stub (``user: null``,
  ``deleted: "1"``, a ``state`` code) it becomes a tombstone with the stub's
  words, signed ``state:<n>`` when the stub has a state (see ``words.py``).
- ``isLongText`` posts are truncated here; the spider reads their full text.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from monitor.errors import ParseError
from monitor.observation import PostContent
from monitor.platform import join_base, match_words
from monitor.text import html_text

from .. import fields as f
from ..links import html_links
from ..responses import first_entries
from .ids import MID, mid_to_bid
from .words import WORDS

logger = logging.getLogger(__name__)

#: The card type of a post on a timeline page (others wrap groups, ads, users).
POST_CARD = 9
#: ``mblogtype`` of a pinned post.
PINNED_TYPE = 2
_PINNED_TITLE = "置顶"
_COUNTERS = ("reposts_count", "comments_count", "attitudes_count")
_STUB_CHARS = 300
#: Who signs a stub without a state code: the platform's own placeholder.
STUB_SIGNER = "weibo"


def created(raw: Any) -> datetime | None:
    """``Sun Sep 08 10:00:00 +0800 2019``; relative forms ("5分钟前", "08-16") are None."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        return datetime.strptime(raw.strip(), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def mid_of(mblog: Any) -> str | None:
    """The post's mid (``mid``, else ``id``), checked to be one."""
    data = f.obj(mblog)
    for name in ("mid", "id"):
        value = f.key(data.get(name))
        if value and MID.fullmatch(value):
            return value
    return None


def is_pinned(mblog: dict[str, Any]) -> bool:
    return (f.count(mblog.get("mblogtype")) == PINNED_TYPE or bool(mblog.get("isTop"))
            or f.text(f.obj(mblog.get("title")).get("text")) == _PINNED_TITLE)


def is_stub(status: dict[str, Any]) -> bool:
    """A ``retweeted_status`` that stands for a post no longer shown."""
    return (not isinstance(status.get("user"), dict) or f.text(status.get("deleted")) == "1"
            or status.get("state") is not None)


def parse_mblog(mblog: Any, base: str, *, in_order: bool = True) -> PostContent:
    """An ``mblog`` object as PostContent. ``in_order``: its date places it in the
    listing (False for a pinned post or a repost's original). ParseError when it
    is not a post."""
    if not isinstance(mblog, dict):
        raise ParseError(f"expected a Weibo mblog object, got a {type(mblog).__name__}")
    mid = mid_of(mblog)
    if mid is None:
        raise ParseError("Weibo mblog without a numeric mid")
    bid = f.text(mblog.get("bid")) or f.text(mblog.get("mblogid")) or mid_to_bid(mid)
    user = f.obj(mblog.get("user"))
    text = f.text(mblog.get("text")) or ""
    edit_config = f.obj(mblog.get("edit_config"))
    counters: dict[str, int | str] = {}
    for name in _COUNTERS:
        value = mblog.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            counters[name] = value
        elif isinstance(value, str) and len(value) < 40:
            counters[name] = value  # "100万+": as served, never an edit
    media = [pid for pid in (f.key(f.obj(p).get("pid")) for p in f.items(mblog.get("pics")))
             if pid]
    video = f.key(f.obj(mblog.get("page_info")).get("object_id"))
    if video:
        media.append(video)
    edit_at = f.text(mblog.get("edit_at"))
    retweeted = mblog.get("retweeted_status")
    return PostContent(
        key=mid,
        url=join_base(base, f"status/{bid}"),
        probe_url=join_base(base, f"statuses/show?id={mid}"),
        text=text,
        author=f.text(user.get("screen_name")),
        published_at=created(mblog.get("created_at")) if in_order else None,
        updated_at=created(edit_at),
        media=media,
        links=html_links(text, base) if text else [],
        counters=counters,
        extra={
            "bid": bid,
            "user_id": f.key(user.get("id")),
            "edit_count": f.count(mblog.get("edit_count")),
            "edited": edit_config.get("edited") is True,
            "edit_at": edit_at,
            "long_text": mblog.get("isLongText") is True,
            "pinned": is_pinned(mblog),
            "repost_of": mid_of(retweeted) if isinstance(retweeted, dict) else None,
            "visible_type": f.count(f.obj(mblog.get("visible")).get("type")),
        },
    )


def stub_tombstone(status: dict[str, Any]) -> tuple[str, dict[str, Any], str | None] | None:
    """A repost stub as a listing tombstone: (the original's mid, signals, its words).

    The stub is signed ``state:<n>`` (or :data:`STUB_SIGNER`) only when the
    platform's words read its state or text; an unknown stub is a tombstone with
    no signer, which makes the original suspect without saying who removed it."""
    mid = mid_of(status)
    if mid is None:
        return None
    raw = (f.text(status.get("text")) or "")[:_STUB_CHARS * 8]
    words = (html_text(raw) if "<" in raw else raw).strip()[:_STUB_CHARS] or None
    state = f.count(status.get("state"))
    signer = f"state:{state}" if state is not None else STUB_SIGNER
    signals: dict[str, Any] = {"stub_state": state,
                               "stub_deleted": f.text(status.get("deleted")) == "1"}
    hit = match_words(WORDS, {"tombstone": [signer, *([words] if words else [])]})
    if hit is not None:
        signals["tombstone_by"] = signer
        signals["fingerprint"] = hit.rule.name
    return mid, signals, words


class Page:
    """What one timeline page holds."""

    __slots__ = ("entries", "tombstones", "skipped", "skipped_keys", "since_id", "cards")

    def __init__(self) -> None:
        self.entries: list[PostContent] = []
        self.tombstones: list[tuple[str, dict[str, Any], str | None]] = []
        self.skipped = 0
        self.skipped_keys: list[str] = []
        self.since_id: str | None = None
        #: Post cards read (own posts; originals and stubs not counted).
        self.cards = 0


def timeline_page(data: dict[str, Any], base: str, seen: set[str]) -> Page:
    """The posts, repost originals and stubs of one ``container/getIndex`` answer.
    ``seen`` holds the keys listed so far in this walk (an original also posted by
    the account, or on an earlier page, is listed once)."""
    page = Page()
    body = f.obj(data.get("data"))
    page.since_id = f.key(f.obj(body.get("cardlistInfo")).get("since_id"))
    cards, page.skipped = first_entries(c for c in f.items(body.get("cards"))
                                        if isinstance(c, dict)
                                        and f.count(c.get("card_type")) == POST_CARD)
    originals: list[PostContent] = []
    for card in cards:
        mblog = card.get("mblog")
        try:
            own = parse_mblog(mblog, base, in_order=not is_pinned(f.obj(mblog)))
        except Exception as exc:  # one card's failure, whatever it is, is that card's
            page.skipped += 1
            key = mid_of(mblog)
            if key:
                page.skipped_keys.append(key)
            logger.warning("Skipped an unreadable Weibo card (%s): %s", key or "no mid", exc,
                           exc_info=not isinstance(exc, ParseError))
            continue
        page.cards += 1
        if own.key not in seen:
            seen.add(own.key)
            page.entries.append(own)
        retweeted = f.obj(f.obj(mblog).get("retweeted_status"))
        if not retweeted:
            continue
        if is_stub(retweeted):
            stub = stub_tombstone(retweeted)
            if stub is not None:
                page.tombstones.append(stub)
            continue
        try:
            original = parse_mblog(retweeted, base, in_order=False)
        except Exception as exc:  # the repost stands; its original is unread this time
            key = mid_of(retweeted)
            if key:
                page.skipped_keys.append(key)
            logger.warning("Skipped an unreadable Weibo original (%s): %s", key or "no mid",
                           exc, exc_info=not isinstance(exc, ParseError))
            continue
        original.extra["listed_via"] = "repost"
        originals.append(original)
    for original in originals:  # after the page's own posts: an own post wins
        if original.key not in seen:
            seen.add(original.key)
            page.entries.append(original)
    return page
