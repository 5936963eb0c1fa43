"""The RSS/Atom platform declaration (Scrapy-free; the core imports it)."""

from __future__ import annotations

from monitor.platform import Kind, Platform, url_post_ref

from .words import WORDS

PLATFORM = Platform(
    name="rss",
    title="RSS/Atom feed",
    aliases=("atom", "feed"),
    kinds={
        "feed": Kind("feed", example="https://example.org/feed.xml"),
        "post": Kind("post", post_ref=url_post_ref, example="https://example.org/2024/a-post"),
    },
    spider="spiders.rss.spider.RssSpider",
    fake="spiders.rss.fake.FAKE",
    # A feed's owner or its host removes entries; a feed never says which.
    remover="removed_by_moderator",
    words=WORDS,
)
