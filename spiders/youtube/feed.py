"""Reading a channel's uploads feed (Atom with ``yt:`` and ``media:``): pure functions.

The feed lists the latest 15 uploads, newest first: a window, as any feed's
(:func:`monitor.window.window_start` reads it from the entries' ``published``).
Each entry is keyed on ``yt:videoId``; its title and ``media:description`` are
its content (a change is an edit), its view count and rating are counters
(never an edit). One unreadable entry is skipped (``skipped_entries``), never
the feed. The parser expands no entity and fetches nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from monitor.errors import ParseError
from monitor.observation import PostContent

from .ids import VIDEO_ID
from .platform import watch_url

logger = logging.getLogger(__name__)

ATOM = "http://www.w3.org/2005/Atom"
YT = "http://www.youtube.com/xml/schemas/2015"
MEDIA = "http://search.yahoo.com/mrss/"
#: What YouTube serves at most; a longer feed is read only this far.
MAX_ENTRIES = 50
#: Longest title and description kept (YouTube's own limits are 100 and 5,000).
MAX_TITLE, MAX_DESCRIPTION = 1000, 20_000
#: Longest body read as a feed (the real one is ~40 KB).
MAX_FEED_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class Feed:
    channel: str | None = None
    title: str | None = None
    entries: list[PostContent] = field(default_factory=list)
    skipped: int = 0
    skipped_keys: list[str] = field(default_factory=list)
    #: Entries beyond MAX_ENTRIES, not read.
    dropped: int = 0

    def signals(self) -> dict[str, Any]:
        if not self.skipped:
            return {}
        return {"skipped_entries": self.skipped, "skipped_keys": list(self.skipped_keys)}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           remove_comments=True)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(el: etree._Element | None, cap: int = MAX_TITLE) -> str | None:
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value[:cap] if value else None


def _when(raw: str | None) -> datetime | None:
    if not raw or len(raw) > 64:
        return None
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _count(raw: str | None) -> int | None:
    if raw is None or not raw.isdecimal() or len(raw) > 18:
        return None
    return int(raw)


def parse_feed(body: bytes, base: str) -> Feed:
    """The channel's uploads as PostContent, newest first as served. ParseError when
    the body is not an Atom feed."""
    if not body.strip():
        raise ParseError("empty body where the uploads feed was expected")
    if len(body) > MAX_FEED_BYTES:
        raise ParseError(f"a feed of {len(body)} bytes is no uploads feed")
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not well-formed XML: {exc}") from None
    if root.tag != _q(ATOM, "feed"):
        raise ParseError(f"not an Atom feed: root element is <{etree.QName(root).localname}>")
    feed = Feed(channel=_text(root.find(_q(YT, "channelId"))),
                title=_text(root.find(_q(ATOM, "title"))))
    for n, el in enumerate(root.iterchildren(_q(ATOM, "entry"))):
        if n >= MAX_ENTRIES:
            feed.dropped += 1
            continue
        try:
            feed.entries.append(parse_entry(el, base))
        except Exception as exc:  # one entry's failure, whatever it is, is that entry's
            feed.skipped += 1
            key = _text(el.find(_q(YT, "videoId")))
            if key and VIDEO_ID.fullmatch(key):
                feed.skipped_keys.append(key)
            logger.warning("Skipped an unreadable YouTube feed entry (%s): %s",
                           key or "no video id", exc, exc_info=not isinstance(exc, ParseError))
    return feed


def parse_entry(el: etree._Element, base: str) -> PostContent:
    vid = _text(el.find(_q(YT, "videoId")))
    if vid is None or not VIDEO_ID.fullmatch(vid):
        raise ParseError(f"feed entry without an 11-character yt:videoId ({vid!r:.40})")
    group = el.find(_q(MEDIA, "group"))
    title = _text(el.find(_q(ATOM, "title")))
    description = ""
    counters: dict[str, int | str] = {}
    if group is not None:
        title = _text(group.find(_q(MEDIA, "title"))) or title
        description = _text(group.find(_q(MEDIA, "description")), MAX_DESCRIPTION) or ""
        community = group.find(_q(MEDIA, "community"))
        if community is not None:
            stats = community.find(_q(MEDIA, "statistics"))
            rating = community.find(_q(MEDIA, "starRating"))
            views = _count(stats.get("views") if stats is not None else None)
            ratings = _count(rating.get("count") if rating is not None else None)
            if views is not None:
                counters["views"] = views
            if ratings is not None:
                counters["ratings"] = ratings
    published = _when(_text(el.find(_q(ATOM, "published"))))
    if published is None:
        raise ParseError(f"feed entry {vid} without a readable <published>")
    author = el.find(_q(ATOM, "author"))
    url = watch_url(base, vid)
    return PostContent(
        key=vid,
        url=url,
        probe_url=url,
        title=title,
        text=description,
        author=_text(author.find(_q(ATOM, "name"))) if author is not None else None,
        published_at=published,
        # ``updated`` also moves without a visible change: kept as served, never
        # an edit marker (the diff reads the title and description).
        media=[f"youtube:video:{vid}"],
        counters=counters,
        extra={"channel_id": _text(el.find(_q(YT, "channelId"))),
               "updated_raw": _text(el.find(_q(ATOM, "updated")))},
    )
