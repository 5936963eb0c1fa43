"""The platforms the monitor knows, and what can be watched on each.

This is the one list the watchlist validates against and the crawler maps to
spiders. Adding a platform means adding an entry here and a spider in
``spiders/``.
"""

from __future__ import annotations

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
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return PLATFORMS[key]
    except KeyError:
        raise UnknownPlatform(name, sorted(PLATFORMS)) from None
