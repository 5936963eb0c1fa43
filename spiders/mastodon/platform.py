"""The Mastodon platform declaration (Scrapy-free; the core imports it)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.platform import Kind, Platform

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


def status_ref(url: str, base_url: str | None) -> tuple[str, str]:
    """A status URL's id, probed through the instance's API."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    status_id = segments[-1] if segments else ""
    if not status_id.isdigit():
        raise ValueError(f"{url!r} is not a Mastodon status URL (…/@user/<id>)")
    base = (base_url or f"{parts.scheme}://{parts.netloc}").rstrip("/")
    return status_id, f"{base}/api/v1/statuses/{status_id}"


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
