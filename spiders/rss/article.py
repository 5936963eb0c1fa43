"""The text of an article page: what the RSS spider's probe reads as the post.

A target may name the part of its article pages that is the text
(``article_selector``, CSS); without one, the page's main text is found by
readability-lxml (a port of Arc90's Readability, the algorithm behind Firefox's
reader view: it scores paragraphs by their text and commas and keeps the best
block with its siblings, dropping navigation, sidebars and footers).

Every page is hostile. Scripts, styles and comments are dropped first (most of a
modern page's weight, and never its text), in one linear scan; then only the first
:data:`MAX_ARTICLE_HTML` characters and :data:`MAX_ARTICLE_TAGS` tags are read.
Readability runs on the reactor loop and costs per element (~30 µs for a tiny
``<div>``): the tag budget bounds a hostile page at ~0.15 s, while a real article
page (a few thousand tags once its scripts are gone) is read whole; a selector
costs a few ms. ``python -m bench.parsers`` has the figures. Nothing here raises,
and a page where nothing is found is an :class:`Article` with a ``problem`` —
served, but no content; never a deletion.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from lxml import etree
from parsel import Selector

from monitor.text import html_text

logger = logging.getLogger(__name__)
# Its INFO lines ("ruthless removal did not work") narrate its heuristics on
# every odd page: noise in a monitor's log, where a page it cannot read is a detail.
logging.getLogger("readability.readability").setLevel(logging.WARNING)

#: Read a *feed entry's* article page as a second content source: the core compares
#: it only with earlier readings of the article (never with the feed entry's text, a
#: summary without byline: ``monitor.rows.SOURCES_KEY``), so an entry that
#: rotated out of its feed is still found edited. A ``post`` target's article is its
#: only source and is always read. The sandbox's ``edit_article`` action goes with it.
FEED_ARTICLES = True
#: Characters of an article page read. A real article's text lies well within
#: its first 256 KiB; readability's cost on a hostile page is kept under ~0.4 s.
MAX_ARTICLE_HTML = 256 * 1024
#: Tags (``<``) of an article page read, after its scripts, styles and comments are
#: dropped: readability's cost is per element. A real article page has a few thousand.
MAX_ARTICLE_TAGS = 8000
#: Elements a selector may match that are kept (a selector as broad as ``p``).
MAX_MATCHES = 200
#: Fewest characters of text (spaces aside) for an extraction to count.
MIN_TEXT = 1


@dataclass(slots=True)
class Article:
    """What was read from an article page: its title and its text as HTML."""

    title: str | None = None
    html: str = ""
    #: How the text was found: ``selector`` or ``readability``.
    method: str = ""
    #: Why nothing was found, when nothing was (a message for the observation's detail).
    problem: str | None = None

    @property
    def found(self) -> bool:
        return self.problem is None


def read_article(page: str, selector: str | None, url: str | None = None) -> Article:
    """The article in ``page`` (HTML as text): the parts ``selector`` matches, or the
    main text. Never raises; ``problem`` says why nothing was found."""
    head = _budget(_without_inert(page))
    if not head.strip():
        return Article(problem="the article page is empty")
    try:
        doc = Selector(text=head, type="html")
        title = _title(doc)
        if selector:
            html = "\n".join(doc.css(selector)[:MAX_MATCHES].getall())
            method = "selector"
        else:
            html = _readability(head)
            method = "readability"
    except Exception as exc:  # any extractor failure is this page's, never the crawl's
        logger.info("Could not read the article page %s: %s", url, exc)
        return Article(problem=f"the article page could not be read: {exc}")
    text = html_text(html) if html else ""
    if sum(not c.isspace() for c in text) < MIN_TEXT:
        found = (f"the selector {selector!r} matches no text" if selector
                 else "no main text was found")
        return Article(title=title, method=method,
                       problem=f"{found} on the article page (served, but no content)")
    return Article(title=title, html=html, method=method)


_INERT = re.compile(r"<(script|style)\b|<!--", re.IGNORECASE)
_INERT_END = {"script": re.compile(r"</script\s*>", re.IGNORECASE),
              "style": re.compile(r"</style\s*>", re.IGNORECASE), None: re.compile("-->")}


def _without_inert(page: str) -> str:
    """``page`` without its scripts, styles and comments, up to MAX_ARTICLE_HTML
    characters of what is left. One forward scan: an element left open drops the rest."""
    kept: list[str] = []
    size = pos = 0
    while size < MAX_ARTICLE_HTML and (start := _INERT.search(page, pos)) is not None:
        kept.append(page[pos:start.start()][: MAX_ARTICLE_HTML - size])
        size += len(kept[-1])
        end = _INERT_END[start.group(1) and start.group(1).lower()].search(page, start.end())
        if end is None:
            return "".join(kept)
        pos = end.end()
    if size < MAX_ARTICLE_HTML:
        kept.append(page[pos:pos + MAX_ARTICLE_HTML - size])
    return "".join(kept)


def _budget(head: str) -> str:
    """``head`` up to its MAX_ARTICLE_TAGS-th tag."""
    pos = -1
    for _ in range(MAX_ARTICLE_TAGS):
        pos = head.find("<", pos + 1)
        if pos < 0:
            return head
    return head[:pos]


def _title(doc: Selector) -> str | None:
    title = doc.css("title::text").get()
    return " ".join(title.split()) or None if title else None


def _readability(page: str) -> str:
    """The main text block's HTML, as readability finds it ('' when it finds none).
    A page with no body is handed back whole: its ``<head>`` (the title) is no text."""
    from readability import Document  # imported on first use: the listing path never needs it
    from readability.readability import Unparseable

    try:
        found = str(Document(page).summary(html_partial=True))
    except (Unparseable, etree.ParserError, ValueError):
        return ""
    return _HEAD.sub("", found, count=1)


#: The head readability's own serialisation may carry (one, where a page has no body).
_HEAD = re.compile(r"<head\b.*?</head>", re.DOTALL)
