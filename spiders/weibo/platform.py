"""The Weibo platform declaration (Scrapy-free; the core imports it).

A post is known by its mid: ``/status/<mid|bid>``, ``/detail/<mid>`` and
``weibo.com/<uid>/<bid>`` all resolve to one key (:mod:`.ids`). An account is
its numeric uid. Every URL is built by joining a path onto the base_url, so a
base with a path prefix (a mirror under ``/mirror/weibo``) keeps it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.platform import Kind, Platform, check_url, join_base

from .ids import to_mid
from .words import WORDS

BASE_URL = "https://m.weibo.cn"
UID = re.compile(r"[1-9][0-9]{4,11}")
#: The post paths of the mobile site and of weibo.com (``/<uid>/<bid>``).
_POST_PATH = re.compile(r"/(?:status|detail)/(?P<id>[0-9A-Za-z]{1,20})/?"
                        r"|/(?P<uid>[0-9]{5,12})/(?P<bid>[0-9A-Za-z]{1,20})/?")
_PROFILE_PATH = re.compile(r"/(?:u/|profile/)?(?P<uid>[0-9]{5,12})/?")
POST_HINT = "https://m.weibo.cn/status/<mid or bid>"
ACCOUNT_HINT = "<numeric uid>, or https://m.weibo.cn/u/<uid>"


def post_mid(url: str) -> str | None:
    """The mid of a post URL in any of its spellings, or None."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    # A base with a path prefix: the post path is the URL's last segments.
    for start in range(len(path)):
        if path[start] != "/":
            continue
        match = _POST_PATH.fullmatch(path, start)
        if match:
            try:
                return to_mid(match["id"] or match["bid"])
            except ValueError:
                return None
    return None


def check_post(value: str, has_base_url: bool) -> tuple[str, str | None]:
    url = check_url(value)
    if post_mid(url) is None:
        raise ValueError(f"{value!r} is not a Weibo post URL; copy the post's address, like "
                         f"{POST_HINT} or https://weibo.com/<uid>/<bid>")
    return url, None


def post_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """A post is its mid, whichever way its URL spells it."""
    return post_mid(value) or value, None


def post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    mid = post_mid(url)
    if mid is None:
        raise ValueError(f"{url!r} is not a Weibo post URL ({POST_HINT})")
    return mid, join_base(base_url or BASE_URL, f"statuses/show?id={mid}")


def account_uid(value: str) -> str | None:
    """The uid of ``123456789`` or of a profile URL (``/u/<uid>``, ``weibo.com/<uid>``)."""
    value = value.strip()
    if UID.fullmatch(value):
        return value
    if "://" not in value:
        return None
    try:
        match = _PROFILE_PATH.fullmatch(urlsplit(value).path)
    except ValueError:
        return None
    return match["uid"] if match and UID.fullmatch(match["uid"]) else None


def check_account(value: str, has_base_url: bool) -> tuple[str, str | None]:
    uid = account_uid(value)
    if uid is None:
        raise ValueError(f"{value!r} is not a Weibo account; give its numeric uid (the digits "
                         "after /u/ in the profile's address), like 1221171697")
    return uid, None


def account_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    return account_uid(value) or value, None


PLATFORM = Platform(
    name="weibo",
    title="Sina Weibo (m.weibo.cn, logged out)",
    aliases=("sina", "sinaweibo"),
    kinds={
        "account": Kind("account", check=check_account, identity=account_identity,
                        example=ACCOUNT_HINT, value_is_url=False),
        "post": Kind("post", check=check_post, identity=post_identity, post_ref=post_ref,
                     example=POST_HINT),
    },
    spider="spiders.weibo.spider.WeiboSpider",
    fake="spiders.weibo.fake.FAKE",
    default_base_url=BASE_URL,
    words=WORDS,
)
