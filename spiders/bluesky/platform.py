"""Bluesky (AT Protocol): the platform declaration (a placeholder until the package is written)."""

from __future__ import annotations

from monitor.platform import Kind, Platform, url_post_ref

PLATFORM = Platform(
    name="bluesky",
    title="Bluesky (AT Protocol)",
    kinds={"post": Kind("post", post_ref=url_post_ref, example="https://...")},
    spider="spiders.bluesky.spider.Spider",
    has_listing=False,
)
