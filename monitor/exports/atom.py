"""Atom 1.0 feeds of events (RFC 4287), built with ElementTree.

Every value passes through the XML library, which escapes it; characters XML 1.0
cannot carry at all (most C0 controls, lone surrogates, U+FFFE/U+FFFF) are dropped
first, since a feed reader rejects the whole document for one of them. Entry ids are
``tag:`` URIs of the event id (RFC 4151), so a reader never shows an event twice.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ..query import human_duration, lifetime

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
#: The tag URI authority and date: fixed, so ids stay the same wherever the feed is served.
TAG = "tag:takedown-monitor,2026"
#: Entries in a feed unless asked otherwise, and at most.
DEFAULT_ENTRIES = 50
MAX_ENTRIES = 500

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TITLE_TEXT = 120
_SUMMARY_TEXT = 1000


def xml_safe(value: Any) -> str:
    """``value`` as text XML 1.0 can carry: forbidden characters are removed, and line
    ends are ``\n`` (a parser turns a bare CR into LF anyway)."""
    text = "" if value is None else str(value)
    return _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """What a feed is: its id and title, where it lives, where its entries link."""

    feed_id: str
    title: str
    self_url: str
    home_url: str
    #: The page an event links to (absolute URL).
    link: Callable[[dict[str, Any]], str]
    #: How an event's author is shown (a handle, a pseudonym, or None).
    author: Callable[[dict[str, Any]], str | None]


def feed_id(scope: str, group: str | None, platform: str | None) -> str:
    """A stable ``tag:`` id for the feed of ``scope`` (private, public) and filters."""
    parts = [f"{name}={quote(value, safe='')}"
             for name, value in (("group", group), ("platform", platform)) if value]
    return f"{TAG}:feed/{scope}/events" + ("?" + "&".join(parts) if parts else "")


def events_feed(base: str, self_url: str, group: str | None, platform: str | None, *,
                public: bool, author: Callable[[dict[str, Any]], str | None]) -> FeedSpec:
    """The feed of events (optionally of one group or platform) served under ``base``
    (the web interface's root URL, ending in ``/``). A private feed links each entry to
    its post page (``/posts/{id}``); a public one to its row in the public view."""
    scope = "public" if public else "private"
    title = "Takedown Monitor: " + ("published events" if public else "events") + "".join(
        f", {what} {value}" for what, value in (("group", group), ("platform", platform))
        if value)
    if public:
        return FeedSpec(feed_id(scope, group, platform), title, self_url, base + "public/",
                        lambda row: f"{base}public/#event-{int(row['id'])}", author)
    return FeedSpec(feed_id(scope, group, platform), title, self_url, base,
                    lambda row: f"{base}posts/{int(row['post_id'])}", author)


def entry_id(event_id: int) -> str:
    return f"{TAG}:event/{int(event_id)}"


def _add(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag,
                            {k: xml_safe(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_safe(text)
    return element


def _short(text: str | None, size: int) -> str:
    words = " ".join((text or "").split())
    return words if len(words) <= size else words[: size - 1] + "…"


def _cause(row: dict[str, Any]) -> str:
    cause = row.get("cause") or ""
    if row.get("cause_detail"):
        cause += f"/{row['cause_detail']}"
    if row.get("candidates"):
        cause += " (one of: " + ", ".join(row["candidates"]) + ")"
    return cause


def entry_title(row: dict[str, Any]) -> str:
    """``kind cause: what the post said`` (its title, else its text, else its key)."""
    about = _short(row.get("title") or row.get("text") or row.get("post_key"), _TITLE_TEXT)
    cause = _cause(row)
    return f"{row['kind']}{' ' + cause if cause else ''} on {row['platform']}: {about}"


def entry_summary(row: dict[str, Any]) -> str:
    observed = (row.get("evidence") or {}).get("observed") or {}
    lines = [f"{row['kind']} on {row['platform']} (group {row['group']})"]
    if cause := _cause(row):
        lines.append(f"cause: {cause}")
    if observed.get("http_status"):
        lines.append(f"HTTP status: {observed['http_status']}")
    if observed.get("message"):
        lines.append(f"the platform said: {_short(str(observed['message']), 300)}")
    if life := human_duration(lifetime(row)):
        lines.append(f"visible for: {life}")
    edit = row.get("edit") or {}
    if row["kind"] == "edited" and edit.get("classes"):
        lines.append("edit: " + ", ".join(str(c) for c in edit["classes"]))
    if row.get("text"):
        lines.append("text: " + _short(row["text"], _SUMMARY_TEXT))
    return "\n".join(lines)


def _time(value: datetime) -> str:
    return value.isoformat()


def build_feed(rows: Iterable[dict[str, Any]], spec: FeedSpec, now: datetime) -> bytes:
    """The Atom document of ``rows`` (events, newest first), as UTF-8 bytes."""
    rows = list(rows)
    # Unqualified names under a default xmlns: ElementTree's own namespace handling
    # would need a process-wide prefix registration (or ns0: prefixes readers dislike).
    feed = ET.Element("feed", {"xmlns": ATOM})
    _add(feed, "id", spec.feed_id)
    _add(feed, "title", spec.title)
    # The newest event, so a reader's conditional fetch sees nothing new when nothing is.
    updated = max((r["detected_at"] for r in rows), default=now)
    _add(feed, "updated", _time(updated))
    _add(feed, "link", rel="self", type="application/atom+xml", href=spec.self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=spec.home_url)
    author = _add(feed, "author")
    _add(author, "name", "Takedown Monitor")
    _add(feed, "generator", "Takedown Monitor")
    for row in rows:
        entry = _add(feed, "entry")
        _add(entry, "id", entry_id(row["id"]))
        _add(entry, "title", entry_title(row), type="text")
        _add(entry, "updated", _time(row["detected_at"]))
        _add(entry, "published", _time(row["detected_at"]))
        if name := spec.author(row):
            _add(_add(entry, "author"), "name", name)
        _add(entry, "link", rel="alternate", type="text/html", href=spec.link(row))
        for term in (row["kind"], row["platform"], row.get("cause")):
            if term:
                _add(entry, "category", term=term)
        _add(entry, "summary", entry_summary(row), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
