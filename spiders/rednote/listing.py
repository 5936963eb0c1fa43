"""RedNote account listings: the profile page's notes, then the ``user_posted`` API.

Which first, and why: **the profile page**. ``/user/profile/<user_id>`` is served
to a logged-out visitor with its first page of notes in ``__INITIAL_STATE__``
(``user.notes[0]``, ``user.noteQueries[0]`` with ``hasMore`` and ``cursor``), and it
is the only answer that carries the account's own words (该用户已注销, a ban).
The web API ``/api/sns/web/v1/user_posted`` wants a signature (``x-s``/``x-t``)
and a session: logged out it mostly answers 300015 (signature), -100 (no session)
or a 461 captcha. So the API is asked only for what the page cannot give: the
pages after the first (``has_more``), and the first page when the profile page
itself was blocked (captcha, login wall, a page without state). An API answer
that is not a listing (a block, an error code, HTML where JSON was expected) never
makes the walk fail: the pages read so far are the listing, without
``listing_end``, so the core vouches only for their window.

Every card carries its note's fresh ``xsec_token`` (``PostContent.extra``), which
the core hands to the next probe. A card has no ``time``: its ``published_at`` is
read from the note id, ObjectId-like (first 8 hex digits: creation epoch
seconds), when that time is plausible (:func:`id_time`).

A card shows only a note's title and cover, never its text: its reading is kept
as its own source (``content_source = "card"``, with no comparable content), so
a card is never diffed against the note page a probe reads, and its title waits
in ``extra["display_title"]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from monitor.errors import ParseError
from monitor.observation import PostContent
from monitor.platform import join_base

from .. import fields as f
from ..responses import MAX_ENTRIES, first_entries
from .platform import BASE_URL, NOTE_ID

logger = logging.getLogger(__name__)

#: The content source of a listing card (see the module docstring).
CARD_SOURCE = "card"
#: Notes a ``user_posted`` page asks for (the web app's own ``num``).
PAGE_SIZE = 30
#: ``user_posted`` pages one walk may read after the profile page.
MAX_API_PAGES = MAX_ENTRIES // PAGE_SIZE
#: The web API's host for the real site (a mirror or the sandbox serves both).
API_BASE = "https://edith.xiaohongshu.com"
USER_POSTED = "/api/sns/web/v1/user_posted"
#: No RedNote note predates the app (2013); none is from the future.
EARLIEST = datetime(2013, 1, 1, tzinfo=UTC)
_SLACK = timedelta(days=1)


@dataclass(slots=True)
class Listing:
    """One page (or several, merged) of an account's notes."""

    entries: list[PostContent] = field(default_factory=list)
    #: Keys of cards that could not be read; ``skipped`` counts them and cards
    #: past the cap (those without keys).
    skipped_keys: list[str] = field(default_factory=list)
    skipped: int = 0
    has_more: bool = False
    cursor: str | None = None

    def extend(self, other: Listing) -> None:
        seen = {e.key for e in self.entries}
        self.entries += [e for e in other.entries if e.key not in seen]
        self.skipped_keys += other.skipped_keys
        self.skipped += other.skipped
        self.has_more, self.cursor = other.has_more, other.cursor


def id_time(note_id: str, now: datetime) -> datetime | None:
    """The creation time in an ObjectId-like note id (first 8 hex digits, epoch
    seconds), or None when the id is not 24 hex digits or the time is implausible
    (before 2013, or after ``now`` plus a day)."""
    if not NOTE_ID.fullmatch(note_id):  # ASCII hex only: int() reads "６" too
        return None
    try:
        when = datetime.fromtimestamp(int(note_id[:8], 16), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return when if EARLIEST <= when <= now + _SLACK else None


def note_url(base: str, key: str) -> str:
    """The note page of ``key`` under ``base`` (path prefix kept; a hostile key, even
    one with a lone surrogate, stays one quoted path segment)."""
    return join_base(base, "/explore/" + quote(key, safe="", errors="surrogatepass"))


def api_base(base: str) -> str:
    """Where the web API answers for ``base``: its own host on the real site,
    else ``base`` itself (a mirror, the sandbox), path prefix kept."""
    return API_BASE if base.rstrip("/") == BASE_URL else base.rstrip("/")


def user_posted_url(base: str, user_id: str, cursor: str = "") -> str:
    query = urlencode({"num": PAGE_SIZE, "cursor": cursor, "user_id": user_id,
                       "image_formats": "jpg,webp,avif"})
    return join_base(api_base(base), f"{USER_POSTED}?{query}")


def profile_listing(state: dict[str, Any], base: str, now: datetime) -> Listing | None:
    """The notes on a profile page (first tab: the user's own), or None if absent."""
    user = f.obj(state.get("user"))
    tabs = user.get("notes")
    if not isinstance(tabs, list):
        return None
    listing = read_cards(tabs[0] if tabs and isinstance(tabs[0], list) else [], base, now)
    queries = f.items(user.get("noteQueries"))
    query = f.obj(queries[0]) if queries else {}
    listing.has_more = _more(query.get("hasMore"), listing)
    listing.cursor = f.text(query.get("cursor"))
    return listing


def _more(said: Any, listing: Listing) -> bool:
    """Whether notes may follow: the page's own ``hasMore`` / ``has_more``; without
    it, a full page may have more behind it, and an empty one vouches for nothing
    (the web app may fill it in later)."""
    if isinstance(said, bool):
        return said
    cards = len(listing.entries) + listing.skipped
    return cards == 0 or cards >= PAGE_SIZE


def api_listing(data: Any, base: str, now: datetime) -> Listing:
    """The notes of a ``user_posted`` answer with ``code`` 0; ParseError when it is
    not one (the caller reads error codes first)."""
    body = f.obj(f.obj(data).get("data"))
    notes = body.get("notes")
    if not isinstance(notes, list):
        raise ParseError("user_posted answer has no data.notes list")
    listing = read_cards(notes, base, now)
    listing.has_more = _more(body.get("has_more"), listing)
    listing.cursor = f.text(body.get("cursor"))
    return listing


def read_cards(cards: list[Any], base: str, now: datetime) -> Listing:
    """Every readable card as an entry; an unreadable one is skipped and counted
    (its key kept when it has one), never the end of the others."""
    head, skipped = first_entries(cards)
    listing = Listing(skipped=skipped)
    for card in head:
        try:
            listing.entries.append(card_entry(card, base, now))
        except ParseError as exc:
            listing.skipped += 1
            key = _card_key(card) if isinstance(card, dict) else None
            if key:
                listing.skipped_keys.append(key)
            logger.info("Skipped a RedNote listing card (%s): %s", key or "no key", exc)
    return listing


def _card_key(card: dict[str, Any]) -> str | None:
    note = f.obj(card.get("noteCard"))
    return (f.key(card.get("id")) or f.key(card.get("note_id")) or f.key(note.get("noteId"))
            or f.key(note.get("note_id")))


def card_entry(card: Any, base: str, now: datetime) -> PostContent:
    """A card of either shape: the page's ``{id, xsecToken, noteCard: {…camelCase}}``
    or the API's ``{note_id, xsec_token, display_title, …snake_case}``."""
    if not isinstance(card, dict):
        raise ParseError(f"listing card is a {type(card).__name__}, not an object")
    key = _card_key(card)
    if not key:
        raise ParseError("listing card without a note id")
    if len(key) > 64:
        raise ParseError("listing card id is not a note id (too long)")
    note = f.obj(card.get("noteCard")) or card

    def get(camel: str, snake: str) -> Any:
        value = note.get(camel)
        return value if value is not None else note.get(snake)

    user = f.obj(note.get("user"))
    interact = f.obj(get("interactInfo", "interact_info"))
    published = _ms(note.get("time")) or id_time(key, now)
    return PostContent(
        key=key,
        url=note_url(base, key),
        author=f.text(user.get("nickname")) or f.text(user.get("nickName"))
        or f.text(user.get("nick_name")),
        published_at=published,
        counters={k: v for k, v in interact.items() if k.lower().endswith("count")
                  and isinstance(v, int | str) and not isinstance(v, bool)},
        extra={
            "xsec_token": f.text(card.get("xsecToken")) or f.text(card.get("xsec_token"))
            or f.text(get("xsecToken", "xsec_token")),
            "user_id": f.text(user.get("userId")) or f.text(user.get("user_id")),
            "type": f.text(note.get("type")),
            "display_title": f.text(get("displayTitle", "display_title")),
            "content_source": CARD_SOURCE,
        },
    )


def _ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
