"""The web page platform declaration (Scrapy-free; the core imports it).

A target is one ``post``: the page's URL with the CSS selector of the watched
part in its fragment, ``https://example.org/notice#css=main .article``. The
fragment is never sent to the server; the selector travels with the probe URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from monitor.platform import Kind, Platform, check_url, origin

from .words import WORDS

MARK = "#css="
EXAMPLE = "https://example.org/notice#css=main .article"


def split_target(value: str) -> tuple[str, str]:
    """The page URL and the CSS selector of ``URL#css=SELECTOR``; ValueError if not one."""
    url, mark, selector = value.strip().partition(MARK)
    if not mark or not selector.strip():
        raise ValueError(f"{value!r} names no CSS selector; write the page's URL and the "
                         f"selector of the part to watch, like {EXAMPLE}")
    return check_url(url), selector.strip()


def check_page(value: str, has_base_url: bool) -> tuple[str, str | None]:
    url, selector = split_target(value)
    _check_selector(selector)
    value = f"{url}{MARK}{selector}"
    return value, page_identity(value, None)[1]


def _check_selector(selector: str) -> None:
    from cssselect import GenericTranslator, SelectorError  # parsel's own parser, no Scrapy

    try:
        GenericTranslator().css_to_xpath(selector)
    except SelectorError as exc:
        raise ValueError(f"{selector!r} is not a CSS selector ({exc}); write one like "
                         "main .article or #content > p") from None


def page_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """Scheme and host in lower case; path, query and selector as written."""
    try:
        url, selector = split_target(value)
    except ValueError:
        return value, None
    parts = urlsplit(url)
    url = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/",
                      parts.query, ""))
    return f"{url}{MARK}{selector}", origin(url)


def page_ref(value: str, base_url: str | None) -> tuple[str, str]:
    """The post key is the page and selector; the probe URL carries both."""
    key, _ = page_identity(value, base_url)
    split_target(value)  # a clear error for a value without a selector
    return key, value.strip()


PLATFORM = Platform(
    name="webpage",
    title="A single web page, watched through a CSS selector",
    aliases=("web",),
    kinds={"post": Kind("post", check=check_page, identity=page_identity, post_ref=page_ref,
                        example=EXAMPLE)},
    spider="spiders.webpage.spider.WebpageSpider",
    fake="spiders.webpage.fake.FAKE",
    has_listing=False,
    # A site's owner or host edits its pages; a page never says who removed a part.
    remover="removed_by_moderator",
    words=WORDS,
)
