"""RSS 2.0 / RSS 1.0 / Atom 1.0 feeds, and reachability probes of their links.

Listing work: ``url`` is the feed. Probe work: ``url`` is an entry's link; a
200 only says the page is served (generic HTML is not parsed into content).
A watchlist ``post`` target (``known["kind"] == "post"``) is walked as a probe.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lxml import etree
from scrapy.http import Response

from monitor.errors import ParseError
from monitor.observation import Outcome, PostContent

from ..base import Job, MonitorSpider, Output
from ..links import html_links
from ..responses import first_entries, join_url, page_message

logger = logging.getLogger(__name__)

ATOM = "http://www.w3.org/2005/Atom"
TOMBSTONES = "http://purl.org/atompub/tombstones/1.0"
RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
XHTML = "http://www.w3.org/1999/xhtml"

Tombstone = tuple[str, dict[str, Any], str | None]


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
        links=html_links(text, link or base_url),
    )


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
    """RFC 6721 ``at:deleted-entry`` records, as (ref, signals, comment)."""
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
        out.append((ref, signals, _text(el.find(f"{{{TOMBSTONES}}}comment"))))
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
        yield self.conclude(job, Outcome.OK, response, post=None)
