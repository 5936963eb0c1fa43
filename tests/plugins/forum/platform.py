"""The forum platform's declaration (Scrapy-free, as the core requires)."""

from __future__ import annotations

from monitor.platform import Kind, Platform, url_post_ref

from .words import WORDS

PLATFORM = Platform(
    name="forum",
    title="A forum with a Reddit-like /api/info",
    kinds={"post": Kind("post", post_ref=url_post_ref,
                        example="https://forum.example/api/info?id=t3_abc")},
    spider="tests.plugins.forum.spider.ForumSpider",
    has_listing=False,
    remover="removed_by_moderator",
    words=WORDS,
)
