"""Telegram public channels: the platform declaration (a placeholder)."""

from __future__ import annotations

from monitor.platform import Kind, Platform, url_post_ref

PLATFORM = Platform(
    name="telegram",
    title="Telegram public channels",
    kinds={"post": Kind("post", post_ref=url_post_ref, example="https://...")},
    spider="spiders.telegram.spider.Spider",
    has_listing=False,
)
