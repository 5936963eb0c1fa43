"""The TikTok platform declaration (Scrapy-free; the core imports it).

A video is known by its numeric id, whichever way its URL spells it:
``/@user/video/<id>``, ``/embed/v2/<id>``, ``/embed/<id>`` and ``/video/<id>``
are one key. A ``vm.tiktok.com`` / ``vt.tiktok.com`` short link only names a
redirect, which this declaration cannot follow (it never fetches): it is refused
with a message that says to copy the address it opens. An account is its unique
id (``@user``), case-folded, or its profile URL. Every URL is built by joining a
path onto the base_url, so a mirror under ``/mirror/tiktok`` keeps its prefix.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from monitor.platform import Kind, Platform, check_url, join_base

from .words import WORDS

BASE_URL = "https://www.tiktok.com"
#: Hosts whose links are short-link redirects, not videos.
SHORT_HOSTS = ("vm.tiktok.com", "vt.tiktok.com")
#: Video ids are 19-digit integers today; allow some room, never unbounded.
MAX_ID_DIGITS = 25
#: TikTok unique ids: letters, digits, ``_`` and ``.``; 2-24 characters.
MAX_USER = 24
_USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.")
POST_HINT = "https://www.tiktok.com/@<user>/video/<numeric id>"
ACCOUNT_HINT = "@<user>, or https://www.tiktok.com/@<user>"


def user_name(value: str) -> str | None:
    """The case-folded unique id of ``user`` / ``@user``, or None."""
    name = value.strip().removeprefix("@").lower()
    if 2 <= len(name) <= MAX_USER and set(name) <= _USER_CHARS and not name.endswith("."):
        return name
    return None


def _segments(url: str) -> list[str] | None:
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    return [s for s in path.split("/") if s]


def _video_id(segment: str) -> str | None:
    return segment if segment.isdecimal() and segment.isascii() \
        and len(segment) <= MAX_ID_DIGITS else None


def video_ref(url: str) -> tuple[str, str | None] | None:
    """``(video id, author or None)`` of a video URL in any of its spellings, or None.
    The video part is read from the end of the path, so a base with a prefix works."""
    parts = _segments(url)
    if not parts:
        return None
    for i in range(len(parts) - 1, 0, -1):
        vid = _video_id(parts[i])
        if vid is None:
            continue
        kind = parts[i - 1]
        if kind == "video":
            user = user_name(parts[i - 2]) if i >= 2 and parts[i - 2].startswith("@") else None
            return vid, user
        if kind == "embed" or (kind == "v2" and i >= 2 and parts[i - 2] == "embed"):
            return vid, None
        return None
    return None


def video_url(base: str | None, vid: str, user: str | None) -> str:
    """The video's web page (TikTok redirects ``/@/video/<id>`` to its author's)."""
    return join_base(base or BASE_URL, f"@{user or ''}/video/{vid}")


def oembed_url(base: str | None, page: str) -> str:
    """The oEmbed answer for the video page ``page``."""
    return join_base(base or BASE_URL, f"oembed?url={quote(page, safe='')}")


def _short_link(url: str) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in SHORT_HOSTS


def check_post(value: str, has_base_url: bool) -> tuple[str, str | None]:
    url = check_url(value)
    if _short_link(url):
        raise ValueError(f"{value!r} is a short link, a redirect the monitor does not follow "
                         "at watchlist time; open it in a browser and copy the address it "
                         f"lands on, like {POST_HINT}")
    if video_ref(url) is None:
        raise ValueError(f"{value!r} is not a TikTok video URL; copy the video's address, "
                         f"like {POST_HINT} or https://www.tiktok.com/embed/v2/<id>")
    return url, None


def post_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """A video is its numeric id, whichever way its URL spells it."""
    ref = video_ref(value)
    return (ref[0] if ref else value), None


def post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    ref = video_ref(url)
    if ref is None or _short_link(url):
        raise ValueError(f"{url!r} is not a TikTok video URL ({POST_HINT})")
    return ref[0], video_url(base_url, ref[0], ref[1])


def account_user(value: str) -> str | None:
    """The unique id of ``@user``, ``user`` or a profile URL (``/@user``), or None."""
    value = value.strip()
    if "://" not in value:
        return user_name(value)
    parts = _segments(value)
    if not parts or not parts[-1].startswith("@"):
        return None
    return user_name(parts[-1])


def check_account(value: str, has_base_url: bool) -> tuple[str, str | None]:
    if "://" in value and _short_link(value.strip()):
        raise ValueError(f"{value!r} is a short link; open it and copy the profile's "
                         f"address, like {ACCOUNT_HINT}")
    user = account_user(value)
    if user is None:
        raise ValueError(f"{value!r} is not a TikTok account; write its unique id with or "
                         f"without @ (letters, digits, _ and ., 2-24 long), like {ACCOUNT_HINT}")
    return user, None


def account_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    return account_user(value) or value, None


PLATFORM = Platform(
    name="tiktok",
    title="TikTok (oEmbed and web pages, logged out)",
    kinds={
        "account": Kind("account", check=check_account, identity=account_identity,
                        example=ACCOUNT_HINT, value_is_url=False),
        "post": Kind("post", check=check_post, identity=post_identity, post_ref=post_ref,
                     example=POST_HINT),
    },
    spider="spiders.tiktok.spider.TikTokSpider",
    fake="spiders.tiktok.fake.FAKE",
    default_base_url=BASE_URL,
    words=WORDS,
)
