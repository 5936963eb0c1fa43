"""The Reddit platform declaration (Scrapy-free; the core imports it).

Names and ids are read here and only here: a subreddit (``r/name``), a user
(``u/name``), a thread or post URL (``…/comments/<id>/…``). Post keys are
Reddit fullnames: ``t3_<id>`` for a submission, ``t1_<id>`` for a comment.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from monitor.platform import Kind, Platform, check_url

from .words import WORDS

BASE_URL = "https://www.reddit.com"
#: Target option: which path reads the target. ``auto``: the OAuth API when the
#: operator configured a client (REDDIT_CLIENT_ID), else the Atom feeds.
ACCESS = "access"
ACCESS_VALUES = ("auto", "oauth", "feeds")

SUBREDDIT = re.compile(r"(?:/?r/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_]{1,20})/?")
USER = re.compile(r"(?:/?u(?:ser)?/)?(?P<name>[A-Za-z0-9_-]{3,20})/?")
#: A post id is base 36; real ones are 5-8 characters.
POST_ID = re.compile(r"[a-z0-9]{1,13}")
_COMMENTS = re.compile(r"/comments/(?P<id>[A-Za-z0-9]{1,13})(?:/|$)")


def post_id(url: str) -> str | None:
    """The submission id of a ``…/comments/<id>/…`` URL (lower case), or None."""
    match = _COMMENTS.search(urlsplit(url).path)
    return match["id"].lower() if match else None


def listing_of(value: str) -> tuple[str, str] | None:
    """What a listing target's stored value names: ``("subreddit", name)``,
    ``("account", name)`` or ``("thread", id)``; None for anything else."""
    value = value.strip()
    if value.startswith("r/") and (m := SUBREDDIT.fullmatch(value)):
        return "subreddit", m["name"]
    if value.startswith("u/") and (m := USER.fullmatch(value)):
        return "account", m["name"]
    found = post_id(value) if "://" in value else None
    if found and POST_ID.fullmatch(found):
        return "thread", found
    return None


def check_access(raw: Any) -> str:
    if not isinstance(raw, str) or raw.strip().lower() not in ACCESS_VALUES:
        raise ValueError(f"access = {raw!r} is not one of " + ", ".join(ACCESS_VALUES)
                         + '; write access = "feeds" to read this target from the Atom '
                         "feeds even when an OAuth client is configured")
    return raw.strip().lower()


def _implied(has_base_url: bool) -> str | None:
    return None if has_base_url else BASE_URL


def check_subreddit(value: str, has_base_url: bool) -> tuple[str, str | None]:
    match = SUBREDDIT.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a subreddit; write it as r/example")
    return f"r/{match['name']}", _implied(has_base_url)


def subreddit_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    match = SUBREDDIT.fullmatch(value.strip())
    return (match["name"].lower() if match else value), base_url or BASE_URL


def check_user(value: str, has_base_url: bool) -> tuple[str, str | None]:
    match = USER.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a Reddit user; write it as u/example")
    return f"u/{match['name']}", _implied(has_base_url)


def user_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    match = USER.fullmatch(value.strip())
    return (match["name"].lower() if match else value), base_url or BASE_URL


def check_thread(value: str, has_base_url: bool) -> tuple[str, str | None]:
    url = check_url(value)
    found = post_id(url)
    if found is None or not POST_ID.fullmatch(found):
        raise ValueError(f"{value!r} is not a Reddit thread URL; copy the post's address, "
                         "like https://www.reddit.com/r/example/comments/1kh35wk/title/")
    parts = urlsplit(url)
    return url, None if has_base_url else f"{parts.scheme}://{parts.netloc}"


def thread_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    found = post_id(value)
    return (f"t3_{found}" if found else value), base_url or BASE_URL


def post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    """A post URL's fullname, and its permalink as the probe URL (the spider reads it
    through ``/api/info`` or the post's Atom feed)."""
    found = post_id(url)
    if found is None or not POST_ID.fullmatch(found):
        raise ValueError(f"{url!r} is not a Reddit post URL (…/comments/<id>/…)")
    return f"t3_{found}", permalink(base_url or BASE_URL, found)


def permalink(base: str, submission: str, comment: str | None = None) -> str:
    """``{base}/comments/<id>/`` (``/_/<comment>/`` for a comment), under any path prefix."""
    url = f"{base.rstrip('/')}/comments/{submission}/"
    return f"{url}_/{comment}/" if comment else url


_OPTIONS = {ACCESS: check_access}

PLATFORM = Platform(
    name="reddit",
    title="Reddit (OAuth API with an approved client, else the public Atom feeds)",
    kinds={
        "subreddit": Kind("subreddit", check=check_subreddit, identity=subreddit_identity,
                          example="r/example", options=_OPTIONS),
        "account": Kind("account", check=check_user, identity=user_identity,
                        example="u/example", options=_OPTIONS),
        "thread": Kind("thread", check=check_thread, identity=thread_identity,
                       example="https://www.reddit.com/r/example/comments/1kh35wk/title/",
                       value_is_url=True, options=_OPTIONS),
        "post": Kind("post", post_ref=post_ref, options=_OPTIONS,
                     example="https://www.reddit.com/r/example/comments/1kh35wk/title/"),
    },
    spider="spiders.reddit.spider.RedditSpider",
    fake="spiders.reddit.fake.FAKE",
    default_base_url=BASE_URL,
    # A subreddit's moderators remove posts; the feeds never say who did.
    remover="removed_by_moderator",
    words=WORDS,
)
