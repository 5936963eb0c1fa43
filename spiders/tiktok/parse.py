"""Reading TikTok's answers: the oEmbed JSON, the web page's hydration JSON
(``__UNIVERSAL_DATA_FOR_REHYDRATION__``), its video items and profile.

Pure functions over text and parsed JSON; every field is read tolerantly
(:mod:`spiders.fields`) and one bad item never fails its list. The hydration
script is found with plain string searches (no regex over hostile HTML) in the
first :data:`MAX_PAGE` characters, and parsed only up to :data:`MAX_HYDRATION`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.observation import PostContent

from .. import fields as f
from ..responses import first_entries
from .platform import MAX_ID_DIGITS, video_url

#: Characters of a page searched for the hydration script (real pages: ~300 KB).
MAX_PAGE = 4 * 1024 * 1024
#: Characters of hydration JSON parsed (real ones: ~100-250 KB).
MAX_HYDRATION = 2 * 1024 * 1024
_SCRIPT_ID = 'id="__UNIVERSAL_DATA_FOR_REHYDRATION__"'
_SCRIPT_END = "</script>"
SCOPE = "__DEFAULT_SCOPE__"
VIDEO_DETAIL, USER_DETAIL = "webapp.video-detail", "webapp.user-detail"
#: Counters kept apart from the content: they move all the time and are never an edit.
_STATS = ("playCount", "diggCount", "commentCount", "shareCount", "collectCount")
#: The latest createTime believed (seconds): anything larger is a hostile value.
_MAX_EPOCH = 32_503_680_000  # year 3000


class HydrationError(ValueError):
    """The page carries hydration JSON that cannot be read."""


def hydration(html: str) -> dict[str, Any] | None:
    """The ``__DEFAULT_SCOPE__`` object of a page's hydration script; None when the
    page has no such script (a bot check's shell). Raises HydrationError for a
    script that is there but not a JSON object, or too large to read."""
    head = html[:MAX_PAGE]
    at = head.find(_SCRIPT_ID)
    if at < 0:
        return None
    start = head.find(">", at)
    if start < 0:
        raise HydrationError("the hydration script tag is not closed")
    end = head.find(_SCRIPT_END, start)
    if end < 0:
        raise HydrationError("the hydration script has no end")
    raw = head[start + 1:end]
    if len(raw) > MAX_HYDRATION:
        raise HydrationError(f"hydration JSON of {len(raw)} characters (at most {MAX_HYDRATION})")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HydrationError(f"hydration JSON does not parse: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise HydrationError("hydration JSON is not an object")
    scope = data.get(SCOPE)
    return scope if isinstance(scope, dict) else {}


def when(raw: Any) -> datetime | None:
    """``createTime``: epoch seconds as a string (or a number); None when odd."""
    seconds = f.count(raw)
    if seconds is None or not 0 < seconds < _MAX_EPOCH:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def video_key(raw: Any) -> str | None:
    """A video id: digits only, kept as a string (19-digit ids lose precision as floats)."""
    key = f.key(raw)
    if key is None or not (key.isdecimal() and key.isascii()) or len(key) > MAX_ID_DIGITS:
        return None
    return key


def item_post(item: Any, base: str | None) -> PostContent | None:
    """A video item (``itemStruct`` or an item-list entry) as a post; None if it has no id."""
    data = f.obj(item)
    key = video_key(data.get("id"))
    if key is None:
        return None
    author = f.obj(data.get("author"))
    user = f.text(author.get("uniqueId"))
    url = video_url(base, key, user.lower() if user else None)
    stats = f.obj(data.get("stats"))
    counters: dict[str, int | str] = {}
    for name in _STATS:
        value = f.count(stats.get(name))
        if value is not None:
            counters[name] = value
    extra: dict[str, Any] = {}
    published = when(data.get("createTime"))
    if data.get("isPinnedItem") is True:
        # A pinned video heads the profile out of date order: it must not stretch
        # the listing's window back to its own date (monitor.window.window_start).
        extra["pinned"] = True
        published = None
    if data.get("isContentClassified") is True:
        extra["content_classified"] = True
    if isinstance(author.get("privateAccount"), bool):
        extra["private_account"] = author["privateAccount"]
    return PostContent(key=key, url=url, probe_url=url, text=f.text(data.get("desc")) or "",
                       author=user, published_at=published,
                       counters=counters, extra=extra)


@dataclass(slots=True)
class ItemList:
    """The video items a profile's hydration carries, where it carries any."""

    present: bool = False
    entries: list[PostContent] = field(default_factory=list)
    skipped: int = 0
    skipped_keys: list[str] = field(default_factory=list)


def profile_items(detail: dict[str, Any], base: str | None) -> ItemList:
    """The ``itemList`` of ``webapp.user-detail``, newest first. Logged out, the
    2025-2026 profile page carries none (the videos load from a signed API), so
    ``present`` is usually False: the listing then reads only the account."""
    raw = detail.get("itemList")
    if not isinstance(raw, list):
        return ItemList()
    out = ItemList(present=True)
    items, beyond = first_entries(raw)
    out.skipped += beyond
    seen: set[str] = set()
    for item in items:
        post = item_post(item, base)
        if post is None or post.key in seen:
            out.skipped += 1
            key = video_key(f.obj(item).get("id"))
            if key is not None and post is None:
                out.skipped_keys.append(key)
            continue
        seen.add(post.key)
        out.entries.append(post)
    return out


def oembed_post(data: Any, vid: str, base: str | None) -> PostContent | None:
    """The post an oEmbed answer serves, when it is one: ``html`` present and naming
    this video (``data-video-id``). Anything else is no answer about the video."""
    body = f.obj(data)
    html = f.text(body.get("html"))
    if html is None or f'data-video-id="{vid}"' not in html:
        return None
    user = f.text(body.get("author_unique_id"))
    if user is None:
        author_url = f.text(body.get("author_url")) or ""
        tail = author_url.rstrip("/").rsplit("/", 1)[-1]
        user = tail[1:] if tail.startswith("@") else None
    user = user.lower() if user else None
    url = video_url(base, vid, user)
    return PostContent(key=vid, url=url, probe_url=url, text=f.text(body.get("title")) or "",
                       author=user, extra={"via": "oembed"})
