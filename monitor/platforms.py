"""The platforms the monitor knows, and what can be watched on each.

This is the one list the watchlist validates against and the crawler maps to
spiders. Adding a platform means adding an entry here and a spider in
``spiders/``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .errors import UnknownPlatform


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    title: str
    #: Target kinds a watchlist may use: account, feed, post.
    kinds: frozenset[str]
    #: Where requests go when a target names no base_url.
    default_base_url: str | None
    #: The platform publishes listings (timelines, feeds) a post can fall out of.
    has_listing: bool = True


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            name="rss",
            title="RSS/Atom feed",
            kinds=frozenset({"feed", "post"}),
            default_base_url=None,
        ),
        Platform(
            name="mastodon",
            title="Mastodon (any instance)",
            kinds=frozenset({"account", "post"}),
            default_base_url=None,
        ),
        Platform(
            name="rednote",
            title="RedNote / Xiaohongshu note pages",
            kinds=frozenset({"post", "account"}),
            default_base_url="https://www.xiaohongshu.com",
        ),
    )
}

#: Accepted spellings that map onto a canonical platform name.
ALIASES = {"atom": "rss", "feed": "rss", "xiaohongshu": "rednote", "xhs": "rednote"}


def get_platform(name: str) -> Platform:
    """The platform called ``name`` (or one of its aliases).

    Raises UnknownPlatform naming the known platforms and, for a typo such as
    ``mastodn``, the closest one.
    """
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return PLATFORMS[key]
    except KeyError:
        raise UnknownPlatform(name, sorted(PLATFORMS), closest_platform(key)) from None


def closest_platform(name: str) -> str | None:
    """The canonical platform a misspelt ``name`` most likely means, if any is close."""
    spellings = {**{p: p for p in PLATFORMS}, **ALIASES}
    close = difflib.get_close_matches(name.strip().lower(), list(spellings), n=1, cutoff=0.6)
    return spellings[close[0]] if close else None


def post_ref(platform: str, url: str, base_url: str | None) -> tuple[str, str]:
    """The post key and probe URL of a single-post target's URL.

    Raises ValueError with a message for the user when the URL is not a post URL.
    """
    from urllib.parse import urlsplit

    name = get_platform(platform).name
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if name == "rednote":
        for marker in ("explore", "item"):
            if marker in segments[:-1]:
                note_id = segments[segments.index(marker) + 1]
                if re.fullmatch(r"[0-9a-f]{24}", note_id):
                    return note_id, url
        raise ValueError(f"{url!r} is not a RedNote note URL (…/explore/<24 hex id>)")
    if name == "mastodon":
        status_id = segments[-1] if segments else ""
        if not status_id.isdigit():
            raise ValueError(f"{url!r} is not a Mastodon status URL (…/@user/<id>)")
        base = (base_url or f"{parts.scheme}://{parts.netloc}").rstrip("/")
        return status_id, f"{base}/api/v1/statuses/{status_id}"
    return url, url
