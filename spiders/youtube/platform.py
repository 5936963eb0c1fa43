"""YouTube: the platform declaration (a placeholder until the package is written)."""

from __future__ import annotations

from monitor.platform import Kind, Platform, url_post_ref

PLATFORM = Platform(
    name="youtube",
    title="YouTube",
    kinds={"post": Kind("post", post_ref=url_post_ref, example="https://...")},
    spider="spiders.youtube.spider.Spider",
    has_listing=False,
)
