"""Bluesky post views (``app.bsky.feed.defs#postView``) and their labels, as PostContent.

A view that cannot be read (no ``uri``, a URI that is not a post's, a record that is
not an object) is None: the listing counts it in ``skipped_entries``. Moderation
labels go in ``extra["labels"]`` (:mod:`monitor.labels`): only those of the
labelers asked for (Bluesky's own and the operator's ``BLUESKY_LABELERS``), never
the author's self-labels; a ``neg`` label retracts the earlier one of the same
source and value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from monitor.labels import LABELS_FIELD, MAX_LABELS
from monitor.observation import PostContent

from .. import fields as f
from .platform import post_uri, split_uri, web_url
from .words import MOD_LABELER, NEG_FIELD, REPOST_REASON

#: Items of a feed page, facets, images, labels read from one view.
MAX_ITEMS = 100
_TEXT_CHARS = 100_000


def when(value: Any) -> datetime | None:
    """An ISO time (``2026-08-01T09:59:58.000Z``), or None."""
    raw = f.text(value)
    if raw is None or len(raw) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_repost(item: Any) -> bool:
    return f.obj(f.obj(item).get("reason")).get("$type") == REPOST_REASON


def labels(raw: Any, uri: str, author: str | None,
           labelers: Iterable[str]) -> list[dict[str, Any]]:
    """The moderation labels of one post view, retractions folded in."""
    allowed = set(labelers) | {MOD_LABELER}
    rows = []
    for item in f.items(raw)[: MAX_LABELS * 4]:
        label = f.obj(item)
        src, val = f.text(label.get("src")), f.text(label.get("val"))
        if src is None or val is None or src not in allowed or src == author:
            continue  # not a labeler we listen to, or a self-label: not moderation
        if f.text(label.get("uri")) not in (None, uri):
            continue
        rows.append((f.text(label.get("cts")) or "", src, val, label.get(NEG_FIELD) is True))
    folded: dict[tuple[str, str], dict[str, Any]] = {}
    for cts, src, val, neg in sorted(rows):
        held = folded.get((src, val))
        if neg:
            if held is None:
                held = folded[(src, val)] = _label(src, val, None)
            held["retracted_at"] = cts or None
        else:
            folded[(src, val)] = _label(src, val, cts or None)
    return list(folded.values())[:MAX_LABELS]


def _label(src: str, val: str, applied: str | None) -> dict[str, Any]:
    return {"labeler": src, "value": val, "applied_at": applied, "retracted_at": None,
            "platform": src == MOD_LABELER}


def _media(record: dict[str, Any]) -> list[str]:
    embed = f.obj(record.get("embed"))
    found: list[str] = []
    for holder in (embed, f.obj(embed.get("media"))):
        for image in f.items(holder.get("images"))[:MAX_ITEMS]:
            ref = f.obj(f.obj(f.obj(image).get("image")).get("ref")).get("$link")
            if isinstance(ref, str) and ref:
                found.append(ref[:200])
        video = f.obj(f.obj(holder.get("video")).get("ref")).get("$link")
        if isinstance(video, str) and video:
            found.append(video[:200])
    return found


def _links(record: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for facet in f.items(record.get("facets"))[:MAX_ITEMS]:
        for feature in f.items(f.obj(facet).get("features"))[:MAX_ITEMS]:
            uri = f.text(f.obj(feature).get("uri"))
            if uri and uri.startswith(("http://", "https://")):
                found.append(uri[:2000])
    external = f.text(f.obj(f.obj(record.get("embed")).get("external")).get("uri"))
    if external and external.startswith(("http://", "https://")):
        found.append(external[:2000])
    return found


def post_view(view: Any, labelers: Iterable[str] = ()) -> PostContent | None:
    """One post view as PostContent (key: its at:// URI), or None if unreadable."""
    view = f.obj(view)
    raw_uri = f.text(view.get("uri"))
    uri = post_uri(raw_uri) if raw_uri and len(raw_uri) < 1024 else None
    record = view.get("record")
    if uri is None or not isinstance(record, dict):
        return None
    author = f.obj(view.get("author"))
    did = f.text(author.get("did")) or split_uri(uri)[0]
    text = f.text(record.get("text")) or ""
    counters: dict[str, int | str] = {
        name: n for name in ("replyCount", "repostCount", "likeCount", "quoteCount")
        if (n := f.count(view.get(name))) is not None}
    return PostContent(
        key=uri, url=web_url(uri), text=text[:_TEXT_CHARS], author=did,
        published_at=when(record.get("createdAt")), media=_media(record),
        links=_links(record), counters=counters,
        extra={"cid": f.text(view.get("cid")), "handle": f.text(author.get("handle")),
               LABELS_FIELD: labels(view.get("labels"), uri, did, labelers)})


__all__ = ["is_repost", "labels", "post_view", "when"]
