"""The Mastodon platform declaration (Scrapy-free; the core imports it)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.platform import Kind, Platform, join_base

from .words import WORDS

ACCOUNT = re.compile(r"@?(?P<user>[\w.-]+)(?:@(?P<host>[A-Za-z0-9.-]+(?::\d+)?))?")


def check_account(value: str, has_base_url: bool) -> tuple[str, str | None]:
    """``alice@example.social`` (or ``alice`` with a base_url); implies the instance."""
    if (match := ACCOUNT.fullmatch(value)) is None:
        raise ValueError(f"{value!r} is not a Mastodon account; write it as alice@example.social")
    value = value.removeprefix("@")
    if match["host"]:
        return value, f"https://{match['host']}"
    if not has_base_url:
        raise ValueError(f"{value!r} names no instance; write it as {value}@example.social "
                         "or set base_url")
    return value, None


def account_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """``user@host`` whichever way the account was written."""
    if match := ACCOUNT.fullmatch(value):
        if match["host"]:
            return f"{match['user']}@{match['host']}", f"https://{match['host']}"
        parts = urlsplit(base_url or "")
        if parts.scheme == "https" and parts.path in ("", "/"):
            return f"{match['user']}@{parts.netloc}", base_url
    return value, None


#: The end of a status URL's path: the web permalink, the ActivityPub id or the
#: API resource. What comes before it is the instance's path prefix, if any.
STATUS_PATH = re.compile(r"/(?:@[^/]+|users/[^/]+/statuses|api/v1/statuses)/(?P<id>\d+)/?$")


def status_parts(url: str) -> tuple[str, str] | None:
    """The instance's base URL (with its path prefix, if mounted under one) and the
    status id of a status URL, or None when ``url`` is not one."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    if match := STATUS_PATH.search(parts.path):
        return f"{origin}{parts.path[:match.start()]}", match["id"]
    # Other spellings (``/web/statuses/<id>``…) end in the id too; their prefix is unknown.
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[-1].isdigit():
        return origin, segments[-1]
    return None


def status_ref(url: str, base_url: str | None) -> tuple[str, str]:
    """A status URL's id, probed through the instance's API (under base_url, else under
    the URL's own instance, path prefix kept)."""
    found = status_parts(url)
    if found is None:
        raise ValueError(f"{url!r} is not a Mastodon status URL (…/@user/<id>)")
    base, status_id = found
    return status_id, join_base(base_url or base, f"api/v1/statuses/{status_id}")


PLATFORM = Platform(
    name="mastodon",
    title="Mastodon (any instance)",
    kinds={
        "account": Kind("account", check=check_account, identity=account_identity,
                        example="alice@example.social"),
        "post": Kind("post", post_ref=status_ref, example="https://example.social/@alice/1234"),
    },
    spider="spiders.mastodon.spider.MastodonSpider",
    fake="spiders.mastodon.fake.FAKE",
    # An instance's moderators remove posts; the API says only 404.
    remover="removed_by_moderator",
    warning_field="spoiler_text",
    words=WORDS,
)
