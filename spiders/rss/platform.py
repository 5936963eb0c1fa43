"""The RSS/Atom platform declaration (Scrapy-free; the core imports it)."""

from __future__ import annotations

from typing import Any

from cssselect import GenericTranslator, SelectorError

from monitor.platform import Kind, Platform, url_post_ref

from .words import WORDS

#: Longest ``article_selector`` accepted: a selector, not a document.
MAX_SELECTOR = 500


def article_selector(raw: Any) -> str:
    """The ``article_selector`` option: a CSS selector for the part of an entry's
    article page that is its text (without it, the main text is extracted)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_SELECTOR:
        raise ValueError("write the CSS selector of the article's text, like "
                         'article_selector = "main article .body"')
    try:
        GenericTranslator().css_to_xpath(raw.strip())
    except SelectorError as exc:
        raise ValueError(f"{raw!r} is not a CSS selector ({exc}); write one like "
                         '"main article .body"') from None
    return raw.strip()


#: Options of both kinds: how an entry's article page is read.
OPTIONS = {"article_selector": article_selector}

PLATFORM = Platform(
    name="rss",
    title="RSS/Atom feed",
    aliases=("atom", "feed"),
    kinds={
        "feed": Kind("feed", example="https://example.org/feed.xml", options=OPTIONS),
        "post": Kind("post", post_ref=url_post_ref, example="https://example.org/2024/a-post",
                     options=OPTIONS),
    },
    spider="spiders.rss.spider.RssSpider",
    fake="spiders.rss.fake.FAKE",
    # A feed's owner or its host removes entries; a feed never says which.
    remover="removed_by_moderator",
    words=WORDS,
)
