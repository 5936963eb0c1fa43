"""Reading Telegram's web preview HTML: channel pages (``/s/<channel>``) and the
embed widget (``/<channel>/<id>?embed=1``), in the shapes of the platform notes §1-2.

The HTML is hostile input: it is parsed by lxml (linear, no regex over the page),
only the first :data:`MAX_MESSAGES` message blocks of a page are read, each field is
capped, and a message block that cannot be read is skipped (counted, its key kept
when its ``data-post`` could be read), never failing the rest of the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from parsel import Selector

from monitor.observation import PostContent
from monitor.platform import join_base, match_words

from ..links import html_links
from .platform import CHANNEL, MESSAGE_ID, embed_path, post_key, post_ref_of
from .words import EDITED_MARK, WORDS

logger = logging.getLogger(__name__)

#: Message blocks read from one page (a page holds about 20).
MAX_MESSAGES = 100
#: Characters of one message's HTML kept (Telegram's own limit is 4,096 characters
#: of text; markup can triple it).
MAX_TEXT = 64 * 1024
#: Characters of a notice or label kept.
MAX_WORDS = 500
MAX_MEDIA = 20


def _cls(name: str) -> str:
    """An XPath test for an element with the CSS class ``name``."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


_MESSAGE = f"//div[{_cls('tgme_widget_message')}][@data-post]"
_TEXT = (f".//div[{_cls('tgme_widget_message_text')}]"
         f"[not(ancestor::a[{_cls('tgme_widget_message_reply')}])]")
_MEDIA = (f".//a[{_cls('tgme_widget_message_photo_wrap')} or "
          f"{_cls('tgme_widget_message_video_player')} or "
          f"{_cls('tgme_widget_message_document_wrap')}]/@href")


class ParseError(ValueError):
    """A message block that is not one."""


@dataclass(slots=True)
class Page:
    """What one channel page or embed holds."""

    #: The page's messages, oldest first (as served).
    entries: list[PostContent] = field(default_factory=list)
    #: Messages served in place of their content with a restriction label:
    #: (post key, signals, the label's words).
    tombstones: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    skipped: int = 0
    skipped_keys: list[str] = field(default_factory=list)
    #: The id of the ``tme_messages_more`` link to older messages, if any.
    before: int | None = None
    #: The page is a channel preview (``tgme_channel_info`` or messages).
    is_preview: bool = False
    #: The page's own words: channel description, embed error, labels.
    texts: list[str] = field(default_factory=list)
    title: str | None = None


def _squash(text: str, limit: int = MAX_WORDS) -> str:
    return " ".join(text[: limit * 4].split())[:limit]


def _all_text(sel: Selector) -> str:
    return _squash(" ".join(sel.xpath(".//text()").getall()))


def read_page(html: str, base: str, channel: str | None = None) -> Page:
    """A channel page or an embed. ``channel``: the channel this page must be
    about (a message of another channel in it is skipped)."""
    page = Page()
    if not html.strip():
        return page
    sel = Selector(text=html, type="html")
    page.title = _squash(" ".join(sel.xpath("//title//text()").getall())) or None
    page.is_preview = bool(sel.xpath(f"//div[{_cls('tgme_channel_info')}]"))
    for path in (f"//div[{_cls('tgme_page_description')}]",
                 f"//div[{_cls('tgme_channel_info_description')}]",
                 f"//div[{_cls('tgme_widget_message_error')}]"):
        page.texts.extend(t for t in (_all_text(s) for s in sel.xpath(path)[:5]) if t)
    blocks = sel.xpath(_MESSAGE)
    page.skipped = max(0, len(blocks) - MAX_MESSAGES)
    for block in blocks[:MAX_MESSAGES]:
        _read_block(page, block, base, channel)
    if page.entries or page.tombstones or page.skipped:
        page.is_preview = True
    for raw in sel.xpath(f"//a[{_cls('tme_messages_more')}]/@data-before").getall()[:3]:
        if MESSAGE_ID.fullmatch(raw.strip()):
            page.before = int(raw.strip())
            break
    return page


def _read_block(page: Page, block: Selector, base: str, channel: str | None) -> None:
    raw = (block.attrib.get("data-post") or "")[:80]
    key = _key_of(raw)
    try:
        if key is None:
            raise ParseError(f"data-post {raw!r} is not <channel>/<id>")
        if channel is not None and key.partition("/")[0] != channel.lower():
            raise ParseError(f"message {key} is not of channel {channel}")
        label = _restriction(block)
        if label is not None:
            page.tombstones.append(label_tombstone(key, label))
            return
        page.entries.append(parse_message(block, key, raw.partition("/")[0], base))
    except Exception as exc:  # one block's failure, whatever it is, is that block's
        page.skipped += 1
        if key:
            page.skipped_keys.append(key)
        logger.warning("Skipped an unreadable Telegram message (%s): %s", key or "no id", exc,
                       exc_info=not isinstance(exc, ParseError))


def _key_of(raw: str) -> str | None:
    name, _, ident = raw.strip().partition("/")
    if not CHANNEL.fullmatch(name) or not MESSAGE_ID.fullmatch(ident):
        return None
    return post_key(name, ident)


def labels(block: Selector) -> list[str]:
    """A message's "not supported" labels (where Telegram also puts a block's words)."""
    found = block.xpath(f".//div[{_cls('message_media_not_supported_label')}]")[:5]
    return [t for t in (_all_text(s) for s in found) if t]


def _restriction(block: Selector) -> tuple[str, Any] | None:
    """The label of a message restricted by Telegram, with the rule it matched."""
    texts = labels(block)
    hit = match_words(WORDS, {"page_text": texts}) if texts else None
    if hit is None or not hit.rule.notice or hit.rule.outcome != "unavailable":
        return None
    return hit.text, hit


def label_tombstone(key: str, label: tuple[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    text, hit = label
    return key, {"notice": hit.rule.notice, "fingerprint": hit.rule.name}, text[:MAX_WORDS]


def parse_message(block: Selector, key: str, canonical: str, base: str) -> PostContent:
    """One message block as PostContent (ParseError when it is none)."""
    ident = key.partition("/")[2]
    texts = block.xpath(_TEXT)
    html = "".join(texts[0].xpath("node()").getall()).strip()[:MAX_TEXT] if texts else ""
    when = block.xpath(f".//a[{_cls('tgme_widget_message_date')}]//time/@datetime").get()
    published = _iso(when)
    meta = block.xpath(f".//span[{_cls('tgme_widget_message_meta')}]/text()").getall()
    edited = _squash(" ".join(meta[:1])).lower().startswith(EDITED_MARK)
    views = _squash(block.xpath(f".//span[{_cls('tgme_widget_message_views')}]//text()").get()
                    or "", 20)
    author = _squash(" ".join(block.xpath(
        f".//a[{_cls('tgme_widget_message_owner_name')}]//text()").getall()), 200) or None
    signed = _squash(" ".join(block.xpath(
        f".//span[{_cls('tgme_widget_message_from_author')}]//text()").getall()), 200) or None
    media = [_squash(h, 300) for h in block.xpath(_MEDIA).getall()[:MAX_MEDIA]]
    extra: dict[str, Any] = {"channel": canonical, "message_id": int(ident),
                             "edited": edited, "signature": signed}
    forward = forward_of(block, base)
    if forward is not None:
        extra["forward_of"] = forward
    unsupported = labels(block)
    if unsupported:
        extra["unsupported"] = unsupported[0]
    if not html and not media and not unsupported and published is None:
        raise ParseError(f"message {key} has no text, media, label or date")
    return PostContent(
        key=key,
        url=join_base(base, f"{canonical}/{ident}"),
        probe_url=join_base(base, embed_path(canonical, ident)),
        text=html,
        author=signed or author,
        published_at=published,
        # The preview marks an edit but gives no time: the diff sees the new text.
        updated_at=None,
        media=[m for m in media if m],
        links=html_links(html, base) if html else [],
        counters={"views": views} if views else {},
        extra=extra,
    )


def forward_of(block: Selector, base: str) -> dict[str, str] | None:
    """The original a forwarded message names: its key and URL when the link
    names a message, else only its channel."""
    box = block.xpath(f".//div[{_cls('tgme_widget_message_forwarded_from')}]")
    if not box:
        return None
    href = (box[0].xpath(".//a/@href").get() or "")[:300]
    name = _squash(" ".join(box[0].xpath(".//text()").getall()), 200)
    ref = post_ref_of(href) if href else None
    if ref is not None:
        return {"key": post_key(*ref), "url": join_base(base, f"{ref[0]}/{ref[1]}"),
                "name": name}
    return {"url": href, "name": name} if href or name else None


def _iso(raw: str | None) -> datetime | None:
    if not raw or len(raw) > 40:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def id_gaps(entries: list[PostContent]) -> int:
    """Ids missing between the smallest and largest listed id (service messages,
    album items and deletions alike: evidence, never a verdict)."""
    ids = sorted(int(e.extra["message_id"]) for e in entries if "message_id" in e.extra)
    return sum(b - a - 1 for a, b in zip(ids, ids[1:], strict=False) if b - a > 1)
