"""The YouTube platform declaration (Scrapy-free; the core imports it).

Two kinds of target: a ``channel`` (its ``UC…`` id, or its ``/channel/UC…`` URL),
whose uploads feed is the listing, and a ``post`` (one video, by any spelling of
its URL). A video is its 11-character id (:mod:`.ids`). Every URL is built by
joining a path onto the base_url, so a base with a path prefix (the sandbox's
``/youtube``, a mirror) keeps it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.platform import Kind, Platform, check_url, join_base

from .ids import channel_id, is_handle, video_id
from .words import WORDS

BASE_URL = "https://www.youtube.com"
#: Hosts whose video URLs are rewritten to the canonical watch URL on BASE_URL, so
#: the fetch policy's host is the one every request goes to.
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be",
                            "www.youtu.be", "music.youtube.com"})
POST_HINT = "https://www.youtube.com/watch?v=<11-character video id>"
CHANNEL_HINT = "UC<22 characters>, or https://www.youtube.com/channel/UC<22 characters>"


def watch_url(base: str, vid: str) -> str:
    return join_base(base, f"watch?v={vid}")


def check_post(value: str, has_base_url: bool) -> tuple[str, str | None]:
    try:
        url = check_url(value)
    except ValueError:
        url = ""
    vid = video_id(url) if url else None
    if vid is None:
        raise ValueError(f"{value!r} is not a YouTube video URL; copy the video's address, "
                         f"like {POST_HINT} (youtu.be/, /shorts/, /embed/ and /live/ "
                         "addresses work too)")
    if (urlsplit(url).hostname or "").lower() in _YOUTUBE_HOSTS:
        return watch_url(BASE_URL, vid), None
    return url, None


def post_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """A video is its id, whichever way its URL spells it."""
    return video_id(value) or value, None


def post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    vid = video_id(url)
    if vid is None:
        raise ValueError(f"{url!r} is not a YouTube video URL ({POST_HINT})")
    return vid, watch_url(base_url or BASE_URL, vid)


def check_channel(value: str, has_base_url: bool) -> tuple[str, str | None]:
    cid = channel_id(value)
    if cid is not None:
        return cid, None
    if is_handle(value):
        raise ValueError(f"{value!r} is a handle; watch the channel by its id instead: open "
                         "the channel page, choose Share channel → Copy channel ID (or read "
                         "\"channelId\" in the page source) and write it like "
                         "UCxxxxxxxxxxxxxxxxxxxxxx")
    raise ValueError(f"{value!r} is not a YouTube channel; give its id, like {CHANNEL_HINT}")


def channel_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    return channel_id(value) or value, None


PLATFORM = Platform(
    name="youtube",
    title="YouTube (uploads feeds and watch pages, logged out)",
    aliases=("yt",),
    kinds={
        "channel": Kind("channel", check=check_channel, identity=channel_identity,
                        example=CHANNEL_HINT, value_is_url=False),
        "post": Kind("post", check=check_post, identity=post_identity, post_ref=post_ref,
                     example=POST_HINT),
    },
    spider="spiders.youtube.spider.YoutubeSpider",
    fake="spiders.youtube.fake.FAKE",
    default_base_url=BASE_URL,
    words=WORDS,
)
