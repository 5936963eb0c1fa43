"""The X (Twitter) platform declaration (Scrapy-free; the core imports it).

A post is known by its numeric status id: ``x.com/<u>/status/<id>``,
``twitter.com/...``, ``mobile.twitter.com/...``, ``/i/web/status/<id>`` (and a
mirror or sandbox serving those paths under a prefix) all resolve to one key.
It is probed logged out on the syndication endpoint (``tweet-result``), and an
absence is confirmed on the oEmbed endpoint (:mod:`.spider`).

Accounts are not offered: no logged-out listing path (timeline) is documented
to answer in the platform notes, so an ``account`` target is refused when the
watchlist is checked, with what to write instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.platform import Kind, Platform, check_url, join_base

from .words import WORDS

#: The logged-out syndication host: ``tweet-result?id=…&token=…``.
BASE_URL = "https://cdn.syndication.twimg.com"
#: The oEmbed endpoint, the second access path that confirms an absence.
OEMBED_URL = "https://publish.twitter.com/oembed"
#: Hosts whose post URLs mean the real platform (its requests go to BASE_URL).
X_HOSTS = frozenset({"x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com",
                     "www.x.com", "www.twitter.com", "m.twitter.com"})
#: A status id is a snowflake: at most 19 digits (64 bits); 20 leaves room, no more.
MAX_ID_DIGITS = 20
POST_HINT = "https://x.com/<user>/status/<numeric id>"
_STATUS_SEGMENTS = frozenset({"status", "statuses"})
_MAX_URL = 2048


def status_id(url: str) -> tuple[str, str] | None:
    """``(id, path prefix before the post path)`` of a post URL in any spelling, or None.

    The post path is ``/<user>/status/<id>``, ``/i/web/status/<id>`` or
    ``/i/status/<id>``, optionally followed by ``/photo/1`` and the like."""
    if len(url) > _MAX_URL:
        return None
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if segment.lower() not in _STATUS_SEGMENTS or i + 1 >= len(segments) or i < 2:
            continue
        candidate = segments[i + 1]
        if not (candidate.isascii() and candidate.isdigit()) or len(candidate) > MAX_ID_DIGITS:
            continue
        if candidate.lstrip("0") == "":
            continue
        owner = segments[i - 1]
        start = i - 1
        if owner == "web" and i >= 3 and segments[i - 2] == "i":
            start = i - 2
        elif not owner:
            continue
        return candidate.lstrip("0"), "/".join(segments[:start])
    return None


def implied_base(url: str) -> str | None:
    """Where the probes of ``url`` go: None (the default syndication host) for the
    platform's own hosts; else the URL's origin and path prefix (a mirror, the sandbox)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host in X_HOSTS:
        return None
    found = status_id(url)
    if found is None or not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{found[1]}".rstrip("/")


def check_post(value: str, has_base_url: bool) -> tuple[str, str | None]:
    url = check_url(value)
    if status_id(url) is None:
        raise ValueError(f"{value!r} is not an X post URL; copy the post's address, like "
                         f"{POST_HINT} (twitter.com and /i/web/status/<id> work too)")
    return url, implied_base(url)


def post_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """A post is its status id, whichever host or path spells it."""
    found = status_id(value)
    return (found[0] if found else value), implied_base(value)


def probe_url(base: str, post_id: str) -> str:
    """The syndication URL of a post (the token is added by the spider, see
    :func:`spiders.x.spider.syndication_token`)."""
    return join_base(base, f"tweet-result?id={post_id}&lang=en")


def post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    found = status_id(url)
    if found is None:
        raise ValueError(f"{url!r} is not an X post URL ({POST_HINT})")
    return found[0], probe_url(base_url or implied_base(url) or BASE_URL, found[0])


def check_account(value: str, has_base_url: bool) -> tuple[str, str | None]:
    if "/status" in value:  # a post URL gone wrong: say what a post URL looks like
        check_post(value, has_base_url)
    raise ValueError(
        f"{value!r}: X accounts cannot be watched logged out: no logged-out timeline "
        "answers (the platform notes document none for 2025-2026), so a post falling out "
        "of view could not be seen. Watch the account's posts one by one instead, as "
        f'post = "{POST_HINT}"')


PLATFORM = Platform(
    name="x",
    title="X (Twitter) (logged out: syndication and oEmbed)",
    aliases=("twitter",),
    # The refused account kind comes first: a value no kind accepts (a profile URL, a
    # user name) gets its message, which says why and what to write instead.
    kinds={
        "account": Kind("account", check=check_account, value_is_url=False,
                        example="not available logged out: watch posts by URL"),
        "post": Kind("post", check=check_post, identity=post_identity, post_ref=post_ref,
                     example=POST_HINT),
    },
    spider="spiders.x.spider.XSpider",
    fake="spiders.x.fake.FAKE",
    default_base_url=BASE_URL,
    has_listing=False,
    words=WORDS,
)
