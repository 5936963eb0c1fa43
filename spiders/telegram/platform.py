"""The Telegram platform declaration (Scrapy-free; the core imports it).

Public channels through their logged-out web preview. A channel is its username,
lower-cased (``@Durov``, ``durov``, ``https://t.me/s/durov`` are one target); a
post is ``<channel>/<id>`` (``t.me/durov/345``, ``t.me/s/durov/345`` and
``telegram.me/durov/345`` are one key), probed through the embed widget
``/<channel>/<id>?embed=1&mode=tme``. Every URL is joined onto the base_url, so a
mirror under a path prefix keeps it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.platform import Kind, Platform, check_url, join_base

from .words import WORDS

BASE_URL = "https://t.me"
#: A public username: a letter, then letters, digits and underscores (5–32 on
#: Telegram; 4 is allowed for the few short legacy names).
CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
#: Message ids are positive integers, per channel.
MESSAGE_ID = re.compile(r"[1-9][0-9]{0,11}")
_HOSTS = ("t.me", "telegram.me", "www.t.me", "www.telegram.me", "telegram.dog")
#: Path segments that are Telegram's own pages, never a channel.
_RESERVED = frozenset({"joinchat", "addstickers", "share", "proxy", "socks", "iv", "login",
                       "setlanguage", "contact", "addlist", "boost", "invoice"})
CHANNEL_HINT = "@channel, channel, or https://t.me/s/<channel>"
POST_HINT = "https://t.me/<channel>/<id>"


def _segments(url: str) -> list[str] | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return [s for s in parts.path.split("/") if s]


def post_ref_of(url: str) -> tuple[str, int] | None:
    """(channel lower-cased, message id) of a post URL in any spelling, or None.
    A base with a path prefix is allowed: the post is the URL's last segments."""
    segments = _segments(url)
    if not segments or len(segments) < 2:
        return None
    name, ident = segments[-2], segments[-1]
    if not MESSAGE_ID.fullmatch(ident) or not CHANNEL.fullmatch(name):
        return None
    if name.lower() in _RESERVED or name.lower() == "s":
        return None
    return name.lower(), int(ident)


def post_key(channel: str, ident: int | str) -> str:
    return f"{channel.lower()}/{ident}"


def embed_path(channel: str, ident: int | str) -> str:
    return f"{channel}/{ident}?embed=1&mode=tme"


def check_post(value: str, has_base_url: bool) -> tuple[str, str | None]:
    url = check_url(value)
    if post_ref_of(url) is None:
        raise ValueError(f"{value!r} is not a Telegram post URL; copy the post's link, like "
                         f"{POST_HINT} (t.me/s/... and telegram.me/... work too)")
    return url, None


def post_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    ref = post_ref_of(value)
    return (post_key(*ref) if ref else value), None


def post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    ref = post_ref_of(url)
    if ref is None:
        raise ValueError(f"{url!r} is not a Telegram post URL ({POST_HINT})")
    return post_key(*ref), join_base(base_url or BASE_URL, embed_path(*ref))


def channel_name(value: str) -> str | None:
    """The lower-cased username of ``@name``, ``name`` or a channel URL, or None."""
    value = value.strip()
    bare = value[1:] if value.startswith("@") else value
    if CHANNEL.fullmatch(bare):
        return bare.lower() if bare.lower() not in _RESERVED else None
    if "://" not in value:
        host_path = value.split("/", 1)
        if host_path[0].lower() not in _HOSTS or len(host_path) < 2:
            return None
        value = "https://" + value
    segments = _segments(value)
    if not segments:
        return None
    if segments[0] == "s" and len(segments) >= 2:
        segments = segments[1:]
    name = segments[0]
    if len(segments) > 1 and not MESSAGE_ID.fullmatch(segments[1]):
        return None
    if not CHANNEL.fullmatch(name) or name.lower() in _RESERVED:
        return None
    return name.lower()


def check_channel(value: str, has_base_url: bool) -> tuple[str, str | None]:
    name = channel_name(value)
    if name is None:
        raise ValueError(f"{value!r} is not a public Telegram channel; write its username "
                         f"({CHANNEL_HINT}); private invite links (t.me/joinchat/..., "
                         "t.me/+...) have no public preview")
    return name, None


def channel_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    return channel_name(value) or value.strip().lower(), None


PLATFORM = Platform(
    name="telegram",
    title="Telegram public channels (t.me/s web preview, logged out)",
    aliases=("tg", "tme"),
    kinds={
        "channel": Kind("channel", check=check_channel, identity=channel_identity,
                        example=CHANNEL_HINT, value_is_url=False),
        "post": Kind("post", check=check_post, identity=post_identity, post_ref=post_ref,
                     example=POST_HINT),
    },
    spider="spiders.telegram.spider.TelegramSpider",
    fake="spiders.telegram.fake.FAKE",
    default_base_url=BASE_URL,
    # A message's "Post not found" does not say who deleted it: its channel's
    # admins or Telegram.
    remover="removed_by_platform",
    words=WORDS,
)
