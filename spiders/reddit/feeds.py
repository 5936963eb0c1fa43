"""Reddit's public Atom feeds (the path without credentials): entries as posts.

Listing feeds (``/r/<sub>/new/.rss``, ``/user/<name>/.rss``) and a thread's feed
(``/comments/<id>/.rss``: the post, then its comments) share one shape: each
``<entry>``'s ``<id>`` is a fullname (``t3_…``/``t1_…``), ``<author><name>`` carries
a ``/u/`` prefix, and ``<content>`` is escaped HTML in which the post's own text is
the ``<!-- SC_OFF --><div class="md">…</div><!-- SC_ON -->`` part, followed by a
"submitted by … [link] [comments]" trailer that says nothing about the post. Only
the ``md`` part is kept (link posts have none). Parsing is the RSS platform's
(:func:`spiders.rss.spider.parse_feed`: no entities, no network).

What the feeds cannot say: who removed a post. And what a thread's feed serves
for a removed post is **not recorded** (notes §0), so :func:`probe_reading` reads
it conservatively (see there).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.observation import Outcome, PostContent

from ..rss.spider import Feed, parse_feed
from .platform import POST_ID, permalink
from .words import FEED_MARKERS, REMOVED_TITLE

SC_OFF = "<!-- SC_OFF -->"
SC_ON = "<!-- SC_ON -->"
#: A removed or deleted item's text, as the JSON views served it (§4); the feeds
#: are assumed to serve the same words in the ``md`` part.


def md_part(content: str) -> str:
    """The ``SC_OFF``…``SC_ON`` part of an entry's HTML (``""`` for a link post).
    str.find only: linear on any input."""
    start = content.find(SC_OFF)
    if start < 0:
        return ""
    start += len(SC_OFF)
    end = content.find(SC_ON, start)
    return content[start:end if end >= 0 else len(content)].strip()


def _fullname(key: str) -> str | None:
    key = key.strip().lower()
    kind, _, rest = key.partition("_")
    if kind in ("t1", "t3") and POST_ID.fullmatch(rest):
        return key
    return None


@dataclass(slots=True)
class FeedRead:
    entries: list[PostContent]
    skipped: int
    skipped_keys: list[str]


def read_feed(body: bytes, web: str) -> FeedRead:
    """A Reddit Atom feed's entries as posts (ParseError when it is no feed). Entries
    whose id is not a fullname are skipped (counted, so the feed vouches for no
    absence: a feed we cannot fully read cannot say what is missing)."""
    feed: Feed = parse_feed(body, web)
    if feed.kind != "atom":
        from monitor.errors import ParseError

        raise ParseError(f"expected Reddit's Atom feed, got {feed.kind}")
    entries: list[PostContent] = []
    skipped, skipped_keys = feed.skipped, list(feed.skipped_keys)
    thread: str | None = None
    for entry in feed.entries:
        name = _fullname(entry.key)
        if name is None:
            skipped += 1
            continue
        kind, _, the_id = name.partition("_")
        probe: str | None
        if kind == "t3":
            thread = the_id
            probe = permalink(web, the_id)
        else:
            link = thread or _thread_of(entry.url)
            probe = permalink(web, link, the_id) if link else None
            if link:
                entry.extra["link_id"] = f"t3_{link}"
        author = (entry.author or "").strip().removeprefix("/u/").removeprefix("u/") or None
        entry.extra.pop("updated_raw", None)  # whether <updated> moves on edits is unknown
        entries.append(PostContent(
            key=name, url=entry.url, probe_url=probe, title=entry.title, text=md_part(entry.text),
            author=author, published_at=entry.published_at, media=entry.media,
            links=entry.links, extra=entry.extra))
    return FeedRead(entries, skipped, skipped_keys)


def _thread_of(url: str | None) -> str | None:
    from .platform import post_id

    return post_id(url) if url else None


def is_marker(entry: PostContent) -> bool:
    """The entry's text or title is Reddit's replacement for a removed or deleted item."""
    text = " ".join(entry.text.replace("<p>", " ").replace("</p>", " ").replace(
        '<div class="md">', " ").replace("</div>", " ").split())
    return text in FEED_MARKERS or (entry.title or "").strip() == REMOVED_TITLE


def probe_reading(read: FeedRead, fullname: str) -> tuple[Outcome, PostContent | None, str]:
    """What a thread's feed says about one of its items, read conservatively:

    - the item is there with its text: OK;
    - the item is there with ``[removed]``/``[deleted]`` (or Reddit's title): gone,
      by whom unknown (notice ``deleted``: the classifier keeps it ambiguous);
    - a submission the feed does not hold at all: NOT_FOUND (its own feed lists it
      first whenever it is served);
    - a comment the feed does not hold: undecided (MALFORMED, transient): a thread
      feed lists a window of comments, and one outside it is not gone.
    """
    for entry in read.entries:
        if entry.key == fullname:
            if is_marker(entry):
                return Outcome.UNAVAILABLE, None, "the item's feed entry reads as removed"
            return Outcome.OK, entry, ""
    if fullname.startswith("t3_"):
        return Outcome.NOT_FOUND, None, "the post's own feed does not list it"
    return (Outcome.MALFORMED, None, "the comment is not in its thread's feed window; a "
            "feed cannot say it is gone")
