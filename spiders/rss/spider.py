"""RSS 2.0 / RSS 1.0 / Atom 1.0 feeds, and probes of their entries' article pages.

Listing work: ``url`` is the feed; each entry's text, links and media
(enclosures, Media RSS) are its content. Probe work: ``url`` is an entry's link.
A watchlist ``post`` target's probe reads its article page as the post
(:mod:`.article`: the ``article_selector`` part, or the main text), so a
silent edit of the article is an edit. A feed entry's probe says whether its
page is served; its article is read as a second content source only where the
core compares it with earlier readings of the article alone
(:data:`.article.FEED_ARTICLES`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from lxml import etree
from scrapy.http import Response, TextResponse

from monitor.errors import ParseError
from monitor.observation import Outcome, PostContent
from monitor.platform import SOURCE_FIELD

from ..base import Job, MonitorSpider, Output
from ..links import html_links
from ..responses import first_entries, join_url, page_message
from . import article as articles
from .article import read_article

logger = logging.getLogger(__name__)

ATOM = "http://www.w3.org/2005/Atom"
TOMBSTONES = "http://purl.org/atompub/tombstones/1.0"
RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
XHTML = "http://www.w3.org/1999/xhtml"
MRSS = "http://search.yahoo.com/mrss/"

#: Media kept per entry (enclosures, ``media:content``, ``media:thumbnail``), like
#: links per post (``spiders.responses.MAX_LINKS``): an entry of 100,000
#: enclosures costs no more than one of 50; the rest are never read.
MAX_MEDIA = 50
#: A media URL longer than this is read as absent (a ``data:`` URI, a hostile attribute).
MAX_MEDIA_URL = 2048
#: Query parameters of signed or expiring URLs (S3, CloudFront, Google Cloud
#: Storage, Azure SAS, Akamai, Facebook's CDN, generic ``token``/``expires``): a
#: URL carrying one is the same object with a new signature on every render.
SIGNED_PARAMS = frozenset({
    "signature", "sig", "hmac", "token", "expires", "exp", "policy", "key-pair-id",
    "x-amz-signature", "x-amz-credential", "x-amz-date", "x-amz-expires",
    "x-amz-security-token", "x-goog-signature", "x-goog-credential", "x-goog-expires",
    "se", "sv", "sp", "hdnts", "hdnea", "oh", "oe",
})
#: Elements read as media, by (namespace, local name).
_MEDIA_TAGS = {f"{{{MRSS}}}content", f"{{{MRSS}}}thumbnail", "enclosure"}

Tombstone = tuple[str, dict[str, Any], str | None]

#: The target option (and ``WorkItem.known`` key) naming the article's text part.
ARTICLE_SELECTOR = "article_selector"


@dataclass(slots=True)
class Feed:
    """A parsed feed: entries newest first as served, and deletion records."""

    kind: str  # "atom" | "rss" | "rdf"
    title: str | None = None
    entries: list[PostContent] = field(default_factory=list)
    tombstones: list[Tombstone] = field(default_factory=list)
    #: Entries that could not be read or lay past MAX_ENTRIES, and the keys of
    #: the unreadable ones whose key could be read (entries past the cap have none).
    skipped: int = 0
    skipped_keys: list[str] = field(default_factory=list)

    def signals(self) -> dict[str, Any]:
        if not self.skipped:
            return {}
        return {"skipped_entries": self.skipped, "skipped_keys": list(self.skipped_keys)}


def _parser() -> etree.XMLParser:
    # No entity expansion and no network: a feed is untrusted input (XXE,
    # billion laughs).
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           remove_comments=True)


def parse_feed(body: bytes, base_url: str | None = None) -> Feed:
    """Parse a feed document; raise ParseError with the parser's message."""
    if not body.strip():
        raise ParseError("empty body where a feed was expected")
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not well-formed XML: {exc}") from None
    if root.tag == f"{{{ATOM}}}feed":
        return _parse_atom(root, base_url)
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise ParseError("RSS document without a <channel>")
        return _parse_rss(channel, channel.iterchildren("item"), "rss", base_url)
    if root.tag == f"{{{RDF}}}RDF":
        channel = root.find(f"{{{RSS1}}}channel")
        items = root.iterchildren(f"{{{RSS1}}}item")
        return _parse_rss(channel if channel is not None else root, items, "rdf", base_url)
    raise ParseError(f"not a feed: root element is <{etree.QName(root).localname}>")


# --- Atom --------------------------------------------------------------------


def _parse_atom(feed_el: etree._Element, base_url: str | None) -> Feed:
    feed = Feed(kind="atom", title=_text(feed_el.find(f"{{{ATOM}}}title")))
    feed_author = _atom_author(feed_el)
    _add_entries(feed, feed_el.iterchildren(f"{{{ATOM}}}entry"),
                 lambda el: _atom_entry(el, base_url, feed_author),
                 lambda el: _text(el.find(f"{{{ATOM}}}id")) or _atom_link(el, base_url))
    feed.tombstones = _tombstones(feed_el)
    return feed


def _atom_entry(entry: etree._Element, base_url: str | None,
                feed_author: str | None) -> PostContent:
    child = _children(entry)
    link = _atom_link(entry, base_url)
    title = _text(child.get(f"{{{ATOM}}}title"))
    published_raw = _text(child.get(f"{{{ATOM}}}published"))
    updated_raw = _text(child.get(f"{{{ATOM}}}updated"))
    content_el = child.get(f"{{{ATOM}}}content")
    if content_el is None:
        content_el = child.get(f"{{{ATOM}}}summary")
    text = _atom_text(content_el)
    key = _text(child.get(f"{{{ATOM}}}id")) or link or _hash_key(title, updated_raw
                                                                 or published_raw)
    extra: dict[str, Any] = {}
    if updated_raw:
        extra["updated_raw"] = updated_raw
    return PostContent(
        key=key,
        url=link,
        title=title,
        text=text,
        author=_atom_author(entry) or feed_author,
        published_at=_iso_date(published_raw),
        updated_at=_iso_date(updated_raw),
        media=entry_media(entry, link or base_url),
        links=html_links(text, link or base_url),
        extra=extra,
    )


def _atom_link(entry: etree._Element, base_url: str | None) -> str | None:
    for link in entry.iterchildren(f"{{{ATOM}}}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return join_url(base_url, link.get("href", ""))
    return None


def _atom_author(el: etree._Element) -> str | None:
    # The first <name> of the first <author> that has one: find("author/name")
    # without ElementPath's per-call cost.
    for author in el.iterchildren(f"{{{ATOM}}}author"):
        for name in author.iterchildren(f"{{{ATOM}}}name"):
            return _text(name)
    return None
def _atom_text(el: etree._Element | None) -> str:
    """Atom text construct as served: html/text as is, xhtml serialised."""
    if el is None:
        return ""
    if el.get("type") == "xhtml":
        div = el.find(f"{{{XHTML}}}div")
        node = div if div is not None else el
        inner = (node.text or "") + "".join(
            etree.tostring(child, encoding="unicode", with_tail=True) for child in node
        )
        return inner.strip()
    return (el.text or "").strip()


# --- RSS ---------------------------------------------------------------------


def _parse_rss(channel: etree._Element, items: Iterable[etree._Element], kind: str,
               base_url: str | None) -> Feed:
    ns = RSS1 if kind == "rdf" else None
    feed = Feed(kind=kind, title=_text(channel.find(_q(ns, "title"))))
    _add_entries(feed, items, lambda el: _rss_item(el, ns, base_url),
                 lambda el: _rss_guid(el, ns) or _rss_link(el, ns, base_url))
    feed.tombstones = _tombstones(channel)
    return feed


def _rss_item(item: etree._Element, ns: str | None, base_url: str | None) -> PostContent:
    child = _children(item)
    link_raw = _text(child.get(_q(ns, "link")))
    link = join_url(base_url, link_raw) if link_raw else None
    title = _text(child.get(_q(ns, "title")))
    date_raw = _text(child.get("pubDate")) or _text(child.get(f"{{{DC}}}date"))
    modified_raw = _text(child.get(f"{{{DCTERMS}}}modified"))
    guid = _text(child.get("guid"))
    if guid is None and ns:
        guid = (item.get(f"{{{RDF}}}about") or "").strip() or None
    encoded = _text(child.get(f"{{{CONTENT}}}encoded"))
    text = encoded or _text(child.get(_q(ns, "description"))) or ""
    author = _text(child.get("author")) or _text(child.get(f"{{{DC}}}creator"))
    return PostContent(
        key=guid or link or _hash_key(title, date_raw),
        url=link,
        title=title,
        text=text,
        author=author,
        published_at=_any_date(date_raw),
        updated_at=_any_date(modified_raw),
        media=entry_media(item, link or base_url),
        links=html_links(text, link or base_url),
    )


# --- media -------------------------------------------------------------------


def entry_media(entry: etree._Element, base_url: str | None) -> list[str]:
    """The stable ids of an entry's media, in order, without duplicates: RSS
    ``<enclosure url>``, Atom ``<link rel="enclosure" href>`` and Media RSS
    ``media:content``/``media:thumbnail`` (also inside ``media:group``). At most
    :data:`MAX_MEDIA` elements are read; an element without a usable URL is absent."""
    out: dict[str, None] = {}
    read = 0
    for el in _media_elements(entry):
        read += 1
        if read > MAX_MEDIA:
            break
        media_id = _media_id(el, base_url)
        if media_id:
            out[media_id] = None
    return list(out)


def _media_elements(entry: etree._Element) -> Iterable[etree._Element]:
    """Media elements among the entry's children and its ``media:group``s' children
    (one level, so a deep nest costs nothing)."""
    for child in entry.iterchildren(tag=etree.Element):
        tag = child.tag
        if tag in _MEDIA_TAGS:
            yield child
        elif tag == f"{{{ATOM}}}link" and child.get("rel") == "enclosure":
            yield child
        elif tag == f"{{{MRSS}}}group":
            yield from (c for c in child.iterchildren(tag=etree.Element)
                        if c.tag in _MEDIA_TAGS)


def _media_id(el: etree._Element, base_url: str | None) -> str | None:
    raw = (el.get("href") if el.tag == f"{{{ATOM}}}link" else el.get("url")) or ""
    if not raw.strip() or len(raw) > MAX_MEDIA_URL:
        return None  # (a blank URL would join to the entry's own link)
    url = join_url(base_url, raw)
    return stable_media_id(url) if url else None


def stable_media_id(url: str) -> str | None:
    """A media URL as a stable id: scheme and host lower-cased, no fragment, and no
    query when the query signs the URL or makes it expire (one object, a new
    signature on every render); other queries (``?w=800``) name a rendition and
    stay. None for anything but an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        query = parts.query
        if query and any(name.lower() in SIGNED_PARAMS or name.lower().startswith(
                ("x-amz-", "x-goog-")) for name, _ in parse_qsl(query, keep_blank_values=True)):
            query = ""
        return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, query, ""))
    except ValueError:  # a broken IPv6 host, a bad port
        return None


# --- shared ------------------------------------------------------------------


def _rss_guid(item: etree._Element, ns: str | None) -> str | None:
    guid = _text(item.find("guid"))
    if guid is None and ns:
        guid = (item.get(f"{{{RDF}}}about") or "").strip() or None
    return guid


def _rss_link(item: etree._Element, ns: str | None, base_url: str | None) -> str | None:
    link_raw = _text(item.find(_q(ns, "link")))
    return join_url(base_url, link_raw) if link_raw else None


def _add_entries(feed: Feed, elements: Iterable[etree._Element],
                 parse: Callable[[etree._Element], PostContent],
                 key_of: Callable[[etree._Element], str | None]) -> None:
    """Parse the first MAX_ENTRIES entries; count the rest as skipped, without keys
    (so this feed vouches for no absence: nothing becomes suspect from it)."""
    head, more = first_entries(elements)
    for el in head:
        _add_entry(feed, el, parse, key_of)
    feed.skipped += more


def _add_entry(feed: Feed, el: etree._Element, parse: Callable[[etree._Element], PostContent],
               key_of: Callable[[etree._Element], str | None]) -> None:
    """Parse one entry into ``feed``; an entry that cannot be read is skipped and
    counted (with its key when the key itself is readable), never the whole feed."""
    try:
        feed.entries.append(parse(el))
    except Exception as exc:  # one entry's failure, whatever it is, is that entry's
        feed.skipped += 1
        try:
            key = key_of(el)  # the key the entry would have had, where it can be read
        except Exception:
            key = None
        if key:
            feed.skipped_keys.append(key)
        logger.warning("Skipped an unreadable feed entry (%s): %s", key or "no key", exc,
                       exc_info=True)


def _tombstones(container: etree._Element) -> list[Tombstone]:
    """RFC 6721 ``at:deleted-entry`` records, as (ref, signals, comment): the signals
    say who signed it (``tombstone_by``, the ``at:by`` name), when, and why
    (``tombstone_comment``, the ``at:comment``)."""
    out: list[Tombstone] = []
    for el in container.iterchildren(f"{{{TOMBSTONES}}}deleted-entry"):
        ref = (el.get("ref") or "").strip()
        if not ref:
            continue
        signals: dict[str, Any] = {}
        by = el.find(f"{{{TOMBSTONES}}}by")
        if by is not None:
            # at:by is an Atom person construct; accept <name> in any namespace.
            names = [c for c in by if etree.QName(c).localname == "name"]
            name = _text(names[0]) if names else _text(by)
            if name:
                signals["tombstone_by"] = name
        if el.get("when"):
            signals["tombstone_when"] = el.get("when", "").strip()
        comment = _text(el.find(f"{{{TOMBSTONES}}}comment"))
        if comment:
            # Why it was withdrawn, in the feed's words: the platform's words
            # (spiders/rss/words.py) read it with the signer to decide the cause.
            signals["tombstone_comment"] = comment
        out.append((ref, signals, comment))
    return out


def _children(el: etree._Element) -> dict[Any, etree._Element]:
    """Each tag's first child element: one walk over an entry instead of a
    ``find`` (and its ElementPath overhead) per field."""
    first: dict[Any, etree._Element] = {}
    for child in el:
        first.setdefault(child.tag, child)
    return first


def _q(ns: str | None, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    # A leaf's text is its .text; itertext() only for mixed content.
    value = (el.text or "" if len(el) == 0 else "".join(el.itertext())).strip()
    return value or None


def _hash_key(title: str | None, date: str | None) -> str:
    digest = hashlib.sha256(f"{title or ''}\x00{date or ''}".encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def _iso_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _any_date(raw: str | None) -> datetime | None:
    """RFC 822 (RSS) or ISO 8601 (dc:date); None when neither parses."""
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return _iso_date(raw)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- spider ------------------------------------------------------------------


class RssSpider(MonitorSpider):
    """Feeds (listing) and entry links (probe)."""

    name = "rss"
    platform = "rss"

    def start_job(self, job: Job) -> Output:
        item = job.item
        if item.mode == "listing" and item.known.get("kind") != "post":
            yield self.request(job, item.url, self.parse_listing,
                               headers={"Accept": "application/atom+xml, application/rss+xml, "
                                        "application/xml;q=0.9, */*;q=0.5"})
        else:
            yield self.request(job, item.url, self.parse_probe)

    def parse_listing(self, response: Response, job: Job) -> Output:
        outcome = self.status_outcome(response)
        if outcome is not None:
            yield self.conclude(job, outcome, response, message=page_message(response))
            return
        try:
            feed = parse_feed(response.body, response.url)
        except ParseError as exc:
            yield self.conclude(job, Outcome.MALFORMED, response, detail=str(exc))
            return
        yield self.conclude(job, Outcome.OK, response, entries=feed.entries,
                            tombstones=feed.tombstones, signals=feed.signals())

    def parse_probe(self, response: Response, job: Job) -> Output:
        outcome = self.status_outcome(response)
        if outcome is not None:
            yield self.conclude(job, outcome, response, message=page_message(response))
            return
        yield self.conclude(job, Outcome.OK, response, **self.article_content(response, job))

    def article_content(self, response: Response, job: Job) -> dict[str, Any]:
        """The probe's content: the article page read as the post where the article is
        the post's content source; else (or when nothing could be read) no content:
        the page is served, so the post is visible, and nothing more is said."""
        item = job.item
        if not (is_single_post(item.known, item.url, item.target_url)
                or articles.FEED_ARTICLES):
            return {"post": None}
        if not isinstance(response, TextResponse):
            return {"post": None, "detail": "the article page is not text: served, but no "
                    "content to compare"}
        selector = item.known.get(ARTICLE_SELECTOR)
        article = read_article(response.text, selector if isinstance(selector, str) else None,
                               response.url)
        if not article.found:
            return {"post": None, "detail": article.problem}
        return {"post": PostContent(
            key=item.post_key or item.url, url=response.url, title=article.title,
            text=article.html, links=html_links(article.html, response.url),
            extra={SOURCE_FIELD: "article", "article_method": article.method})}


def is_single_post(known: dict[str, Any], url: str, target_url: str | None) -> bool:
    """Whether a probe is of a watchlist ``post`` target (its URL is the target's own),
    not of a feed's entry."""
    return known.get("kind") == "post" or (target_url is not None and url == target_url)
