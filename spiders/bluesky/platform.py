"""The Bluesky (AT Protocol) platform declaration (Scrapy-free; the core imports it).

An account is its DID (``did:plc:…``, ``did:web:…``) or its handle
(``alice.bsky.social``, ``@alice.bsky.social``, ``https://bsky.app/profile/<handle|did>``);
a handle is kept lower-case without its ``@``, so two spellings are one key. A post
is its ``at://<did>/app.bsky.feed.post/<rkey>`` URI; a ``bsky.app/profile/<did>/post/<rkey>``
URL is the same key. A URL naming the author by *handle* keys as
``at://<handle>/app.bsky.feed.post/<rkey>`` (declarations do no network I/O): the
spider resolves the handle to a DID (``com.atproto.identity.resolveHandle``) before
asking for the post. Write post targets with the DID to keep one key across handle
changes.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.platform import Kind, Platform, check_url, join_base

from .words import MOD_LABELER, POST_COLLECTION, WORDS

BASE_URL = "https://public.api.bsky.app"
LABELER = MOD_LABELER
_DID = re.compile(r"did:(?:plc:[a-z2-7]{24}|web:[a-zA-Z0-9.:%-]{1,253})")
_HANDLE = re.compile(r"(?=.{3,253}$)[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
                     r"(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)+")
_RKEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
_WEB_HOSTS = ("bsky.app", "www.bsky.app", "staging.bsky.app")
ACCOUNT_HINT = "a handle (alice.bsky.social), a DID (did:plc:…) or https://bsky.app/profile/<handle>"
POST_HINT = "at://<did>/app.bsky.feed.post/<rkey> or https://bsky.app/profile/<did>/post/<rkey>"


def actor(value: str) -> str | None:
    """The DID or lower-case handle a value names, or None."""
    value = value.strip()
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        segments = [s for s in parts.path.split("/") if s]
        if (parts.hostname or "") not in _WEB_HOSTS or len(segments) != 2 \
                or segments[0] != "profile":
            return None
        value = segments[1]
    value = value.removeprefix("@")
    if _DID.fullmatch(value):
        return value
    value = value.lower()
    return value if _HANDLE.fullmatch(value) else None


def post_uri(value: str) -> str | None:
    """The ``at://`` key of a post URI or bsky.app post URL, or None."""
    value = value.strip()
    if value.startswith("at://"):
        segments = value[5:].split("/")
        if len(segments) != 3 or segments[1] != POST_COLLECTION:
            return None
        who, rkey = actor(segments[0]), segments[2]
    elif value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        segments = [s for s in parts.path.split("/") if s]
        if (parts.hostname or "") not in _WEB_HOSTS or len(segments) != 4 \
                or segments[0] != "profile" or segments[2] != "post":
            return None
        who, rkey = actor(segments[1]), segments[3]
    else:
        return None
    if who is None or not _RKEY.fullmatch(rkey):
        return None
    return f"at://{who}/{POST_COLLECTION}/{rkey}"


def split_uri(uri: str) -> tuple[str, str]:
    """``(repo, rkey)`` of a post key made by :func:`post_uri`."""
    repo, _, rkey = uri[5:].partition("/")
    return repo, rkey.rpartition("/")[2]


def web_url(uri: str) -> str:
    repo, rkey = split_uri(uri)
    return f"https://bsky.app/profile/{repo}/post/{rkey}"


def check_account(value: str, has_base_url: bool) -> tuple[str, str | None]:
    if actor(value) is None:
        raise ValueError(f"{value!r} is not a Bluesky account; write {ACCOUNT_HINT}")
    return value.strip(), None


def account_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    return actor(value) or value, None


def check_post(value: str, has_base_url: bool) -> tuple[str, str | None]:
    if post_uri(value) is None:
        raise ValueError(f"{value!r} is not a Bluesky post; copy its address, like "
                         f"{POST_HINT}")
    if not value.strip().startswith("at://"):
        check_url(value)
    return value.strip(), None


def post_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    return post_uri(value) or value, None


def post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    uri = post_uri(url)
    if uri is None:
        raise ValueError(f"{url!r} is not a Bluesky post ({POST_HINT})")
    return uri, join_base(base_url or BASE_URL, f"xrpc/app.bsky.feed.getPostThread?uri={uri}")


PLATFORM = Platform(
    name="bluesky",
    title="Bluesky (AT Protocol)",
    aliases=("bsky", "atproto"),
    kinds={
        "account": Kind("account", check=check_account, identity=account_identity,
                        example=ACCOUNT_HINT, value_is_url=False),
        "post": Kind("post", check=check_post, identity=post_identity, post_ref=post_ref,
                     example=POST_HINT, value_is_url=False),
        # A post and its replies (a listing: a reply the AppView drops is missing).
        "thread": Kind("thread", check=check_post, identity=post_identity,
                       example=f"{POST_HINT} (the post and its replies)", value_is_url=False),
    },
    spider="spiders.bluesky.spider.BlueskySpider",
    fake="spiders.bluesky.fake.FAKE",
    default_base_url=BASE_URL,
    words=WORDS,
)
