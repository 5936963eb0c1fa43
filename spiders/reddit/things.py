"""Reddit's JSON things (``t3`` submissions, ``t1`` comments) read as posts, and what
each one says about its own removal (:data:`.words.ITEM_WORDS`).

Every field is hostile: an odd one reads as absent (:mod:`spiders.fields`), one
unreadable thing never fails its listing, and comment trees are walked
iteratively with bounds, so a deep or huge tree costs no more than the bounds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.errors import ParseError
from monitor.observation import PostContent
from monitor.platform import WordMatch, join_base, json_said, match_words

from .. import fields as f
from ..links import html_links
from .platform import permalink
from .words import ITEM_WORDS

logger = logging.getLogger(__name__)

#: Things read from one answer; real listings hold at most 100 (a thread ~500).
MAX_THINGS = 1000
#: Most comments one ``more`` stub is taken to hold back: a larger count is hostile
#: (the fuzz run's 1e308) and is read as this many, still more than its keys.
MAX_MORE = 1_000_000
#: Kinds of thing that are posts.
POST_KINDS = ("t3", "t1")


@dataclass(slots=True)
class Thing:
    """One submission or comment as served, and its removal words if any."""

    fullname: str
    post: PostContent
    removal: WordMatch | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)


def _when(raw: Any) -> datetime | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _join(web: str, path: str | None, fallback: str) -> str:
    """A site-relative permalink under ``web`` (path prefix kept); absolute ones and
    odd values give the ``fallback`` we built ourselves."""
    if path and path.startswith("/") and not path.startswith("//") and len(path) < 2048:
        return join_base(web, path)
    return fallback


def read_thing(child: Any, web: str) -> Thing:
    """A ``{"kind": "t3"|"t1", "data": {…}}`` child as a :class:`Thing`; ParseError
    for anything else (a ``more`` stub, a subreddit, junk)."""
    if not isinstance(child, dict) or child.get("kind") not in POST_KINDS:
        raise ParseError("not a submission or comment")
    kind = child["kind"]
    data = f.obj(child.get("data"))
    thing_id = f.key(data.get("id"))
    if thing_id is None or not thing_id.isalnum() or len(thing_id) > 16:
        raise ParseError(f"a {kind} without a usable id")
    thing_id = thing_id.lower()
    fullname = f"{kind}_{thing_id}"
    author = f.text(data.get("author"))
    title = f.text(data.get("title"))
    extra: dict[str, Any] = {"subreddit": f.text(data.get("subreddit"))}
    edited = _when(data.get("edited"))
    counters: dict[str, int | str]
    if kind == "t3":
        text = f.text(data.get("selftext")) or ""
        probe = permalink(web, thing_id)
        links = [u for u in [f.text(data.get("url"))] if u and u.startswith(("http://",
                                                                              "https://"))]
        if data.get("is_self") is True:
            links = []
        counters = {k: v for k in ("score", "num_comments")
                    if (v := f.count(data.get(k))) is not None}
    else:
        text = f.text(data.get("body")) or ""
        link = (f.text(data.get("link_id")) or "").removeprefix("t3_").lower()
        if not link.isalnum():
            raise ParseError(f"comment {fullname} names no submission (link_id)")
        extra["link_id"] = f"t3_{link}"
        probe = permalink(web, link, thing_id)
        links = html_links(f.text(data.get("body_html")) or "") if data.get("body_html") else []
        counters = {k: v for k in ("score",) if (v := f.count(data.get(k))) is not None}
    if edited is not None:
        extra["edited"] = edited.isoformat()
    post = PostContent(
        key=fullname,
        url=_join(web, f.text(data.get("permalink")), probe),
        probe_url=probe,
        title=title,
        text=text,
        author=author,
        published_at=_when(data.get("created_utc")),
        updated_at=edited,
        links=links[:50],
        counters=counters,
        extra=extra,
    )
    said: dict[str, Any] = {"title": title, "page_text": f"{text} {author or ''}".strip(),
                            **json_said(data, ITEM_WORDS)}
    return Thing(fullname, post, match_words(ITEM_WORDS, said), data)


@dataclass(slots=True)
class Read:
    """What one answer's things came to."""

    live: list[Thing] = field(default_factory=list)
    removed: list[Thing] = field(default_factory=list)
    #: Things that could not be read (with their fullname when it could be).
    skipped: int = 0
    skipped_keys: list[str] = field(default_factory=list)
    #: Comments the answer holds back behind ``more`` stubs: not listed, not gone.
    more: int = 0
    more_keys: list[str] = field(default_factory=list)
    after: str | None = None


def listing_children(data: Any) -> tuple[list[Any], str | None]:
    """A ``Listing``'s children and its ``after`` cursor; ParseError if not a Listing."""
    if not isinstance(data, dict) or data.get("kind") != "Listing":
        raise ParseError("expected a Reddit Listing")
    body = f.obj(data.get("data"))
    return f.items(body.get("children")), f.text(body.get("after"))


def read_children(children: list[Any], web: str, read: Read | None = None) -> Read:
    """Read a list of things, and the replies under each comment (breadth first,
    at most MAX_THINGS in all)."""
    read = read or Read()
    queue = list(children)
    seen = 0
    i = 0
    while i < len(queue):
        child = queue[i]
        i += 1
        seen += 1
        if seen > MAX_THINGS:
            read.skipped += len(queue) - i + 1
            break
        if isinstance(child, dict) and child.get("kind") == "more":
            ids = [c for c in f.items(f.obj(child.get("data")).get("children"))
                   if isinstance(c, str) and c.isalnum()]
            read.more_keys += [f"t1_{c.lower()}" for c in ids[:MAX_THINGS]]
            count = f.count(f.obj(child.get("data")).get("count")) or 0
            read.more += max(min(count, MAX_MORE), len(ids))
            continue
        try:
            thing = read_thing(child, web)
        except Exception as exc:  # one thing's failure, whatever it is, is that thing's
            read.skipped += 1
            name = f.text(f.obj(f.obj(child).get("data")).get("name"))
            if name:
                read.skipped_keys.append(name)
            logger.warning("Skipped an unreadable Reddit thing (%s): %s", name or "no name", exc,
                           exc_info=not isinstance(exc, ParseError))
            continue
        (read.removed if thing.removal else read.live).append(thing)
        replies = f.obj(thing.data.get("replies"))
        if replies.get("kind") == "Listing" and len(queue) < 4 * MAX_THINGS:
            queue.extend(f.items(f.obj(replies.get("data")).get("children")))
    return read
