"""YouTube's ids and the URLs that spell them (Scrapy-free; the core imports it).

A video is its 11-character id (``[A-Za-z0-9_-]``): ``/watch?v=``, ``youtu.be/``,
``/shorts/``, ``/embed/``, ``/live/`` and ``/v/`` spellings are one key. A channel
is its ``UC`` id (``UC`` + 22 characters), written bare or as ``/channel/UC…``.
Every check is a fullmatch on a bounded string: nothing here can backtrack.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
CHANNEL_ID = re.compile(r"UC[A-Za-z0-9_-]{22}")
#: Path segments after which the next segment is the video id.
_VIDEO_SEGMENTS = frozenset({"shorts", "embed", "live", "v", "e"})
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
#: Longest URL read for an id: a URL, not a document.
MAX_URL = 2048


def _parts(url: str) -> tuple[str, str, str] | None:
    if len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), parts.path, parts.query


def video_id(url: str) -> str | None:
    """The video id of a video URL in any of its spellings, or None."""
    read = _parts(url)
    if read is None:
        return None
    host, path, query = read
    segments = [s for s in path.split("/") if s]
    if host in _SHORT_HOSTS:
        return segments[0] if len(segments) == 1 and VIDEO_ID.fullmatch(segments[0]) else None
    if segments and segments[-1] == "watch":
        values = parse_qs(query, max_num_fields=50).get("v", [])
        return values[0] if len(values) == 1 and VIDEO_ID.fullmatch(values[0]) else None
    # A base with a path prefix (``/mirror/youtube/shorts/<id>``): the last two segments.
    if len(segments) >= 2 and segments[-2] in _VIDEO_SEGMENTS \
            and VIDEO_ID.fullmatch(segments[-1]):
        return segments[-1]
    return None


def channel_id(value: str) -> str | None:
    """The ``UC…`` id of a bare id or a ``/channel/UC…`` URL (or a feed URL naming it)."""
    value = value.strip()
    if CHANNEL_ID.fullmatch(value):
        return value
    read = _parts(value)
    if read is None:
        return None
    _, path, query = read
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 2 and segments[-2] == "channel" and CHANNEL_ID.fullmatch(segments[-1]):
        return segments[-1]
    if segments and segments[-1] == "videos.xml":
        values = parse_qs(query, max_num_fields=50).get("channel_id", [])
        if len(values) == 1 and CHANNEL_ID.fullmatch(values[0]):
            return values[0]
    return None


def is_handle(value: str) -> bool:
    """``@name`` or a ``/@name`` URL: a handle, which is no channel id."""
    value = value.strip()
    if value.startswith("@"):
        return True
    read = _parts(value)
    return read is not None and any(s.startswith("@") for s in read[1].split("/"))
