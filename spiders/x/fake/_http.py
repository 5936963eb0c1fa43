"""X's logged-out endpoints in the sandbox, in the shapes of ``shared/platforms/x-twitter.md``:
``/x/tweet-result`` (syndication: a ``Tweet``, a ``TweetTombstone`` with its text, a 404)
and ``/x/oembed`` (the embed HTML, a 404, the "not authorized" 403), under ``/x/``
only. Call :func:`handle` with the world lock held."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from spiders.sandbox.fake import Account, Post, Response, World, json_response, simple_page

from ..platform import status_id

PLATFORM = "x"
PREFIX = "/x"
#: Post states and the tombstone text the syndication serves for each.
TOMBSTONES = {
    "deleted_by_author": "This Post was deleted by the Post author. Learn more",
    "removed_violation": "This Post violated the X Rules. Learn more",
    "protected": "You\u2019re unable to view this Post because this account owner limits who "
                 "can view their posts. Learn more",
    "withheld": "This Post from @{user} has been withheld in Germany in response to a legal "
                "demand. Learn more",
}
#: The embed endpoint's false tombstone (react-tweet#160): served for a live post whose
#: ``location`` is GLITCH during ticks GLITCH_TICKS, while oEmbed keeps rendering it.
FALSE_TOMBSTONE = "This Post is unavailable. Learn more"
GLITCH = "embed_glitch"
GLITCH_TICKS = range(4, 8)
SUSPENDED = "This Post is from a suspended account. Learn more"
NOT_AUTHORIZED = "Sorry, you are not authorized to see this status."
#: The legacy field's codes for the country the sandbox withholds in.
WITHHELD_IN = ["DE"]


def owner_of(world: World, post: Post) -> Account | None:
    owner = world.owner(PLATFORM, post.owner)
    return owner if isinstance(owner, Account) else None


def suspended(world: World, post: Post) -> bool:
    owner = owner_of(world, post)
    return owner is not None and owner.state != "normal"


def glitching(world: World, post: Post) -> bool:
    """Whether the syndication serves its false tombstone for this post now."""
    return post.location == GLITCH and world.tick in GLITCH_TICKS


def post_url(base: str, post: Post) -> str:
    return f"{base}{PREFIX}/{post.owner}/status/{post.key}"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def tweet(world: World, post: Post) -> dict[str, Any]:
    """The syndication's ``Tweet`` (trimmed to the fields the spider reads)."""
    owner = owner_of(world, post)
    text = " ".join(post.sentences)
    urls = []
    if post.link:
        text += f" {post.link}"
        urls.append({"url": post.link, "expanded_url": post.link, "display_url": post.link})
    return {
        "__typename": "Tweet", "lang": "en", "id_str": post.key, "text": text,
        "created_at": _when(post.published or 1_700_000_000.0),
        "favorite_count": post.counters.get("likes", 0),
        "conversation_count": post.counters.get("replies", 0),
        "user": {"id_str": owner.id if owner else post.owner, "screen_name": post.owner,
                 "name": owner.display_name if owner else post.owner},
        "entities": {"urls": urls, "hashtags": [], "user_mentions": []},
        "mediaDetails": [{"media_key": f"3_{m.file_id}", "type": "photo",
                          "media_url_https": f"https://pbs.twimg.com/media/{m.file_id}.jpg",
                          "original_info": {"width": m.width, "height": m.height}}
                         for m in post.media],
        "edit_control": {"edit_tweet_ids": [post.key], "editable_until_msecs": "0"},
        "isEdited": bool(post.versions), "possibly_sensitive": post.sensitive,
    }


def _tombstone(text: str) -> dict[str, Any]:
    return {"__typename": "TweetTombstone", "tombstone": {"text": {
        "text": text, "entities": [{"fromIndex": len(text) - 10, "toIndex": len(text),
                                    "ref": {"__typename": "TimelineUrl",
                                            "url": "https://help.x.com/rules-and-policies/"
                                                   "notices-on-x"}}],
        "rtl": False}}}


def syndication(world: World, post_id: str) -> Response:
    post = world.post(PLATFORM, post_id)
    if post is None:
        return Response(404, b"", [("Content-Type", "application/json")])
    if post.state == "live" and suspended(world, post):
        # A post gone before its account was suspended keeps its own tombstone.
        return json_response(200, _tombstone(SUSPENDED))
    if post.state == "live" and glitching(world, post):
        return json_response(200, _tombstone(FALSE_TOMBSTONE))
    if post.state == "live":
        return json_response(200, tweet(world, post))
    text = TOMBSTONES.get(post.state)
    if text is None:
        return Response(404, b"", [("Content-Type", "application/json")])
    body = _tombstone(text.format(user=post.owner))
    if post.state == "withheld":
        body["withheld_in_countries"] = list(WITHHELD_IN)
    return json_response(200, body)


def oembed(world: World, base: str, url: str) -> Response:
    found = status_id(url)
    post = world.post(PLATFORM, found[0]) if found else None
    if post is None:
        return json_response(404, {"error": "Not Found"})
    if post.state == "protected":
        return json_response(403, {"error": NOT_AUTHORIZED})
    if suspended(world, post) or post.state != "live":
        return json_response(404, {"error": "Not Found"})
    permalink = post_url(base, post)
    text = html.escape(" ".join(post.sentences))
    return json_response(200, {
        "url": permalink, "author_name": post.owner,
        "author_url": f"{base}{PREFIX}/{post.owner}",
        "html": f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">{text}</p>'
                f'&mdash; {html.escape(post.owner)} <a href="{html.escape(permalink)}">'
                "link</a></blockquote>\n",
        "width": 550, "height": None, "type": "rich", "cache_age": "3153600000",
        "provider_name": "Twitter", "provider_url": "https://twitter.com", "version": "1.0"})


def handle(world: World, base: str, path: str, query: Mapping[str, str],
           headers: Mapping[str, str]) -> Response | None:
    if path == f"{PREFIX}/tweet-result":
        post_id = query.get("id", "")
        if not (post_id.isascii() and post_id.isdigit()):
            return json_response(400, {"errors": [{"code": 214, "message": "Bad id"}]})
        return syndication(world, post_id)
    if path == f"{PREFIX}/oembed":
        return oembed(world, base, query.get("url", ""))
    found = status_id(f"{base}{path}")
    if found is not None and urlsplit(f"{base}{path}").path.startswith(f"{PREFIX}/"):
        post = world.post(PLATFORM, found[0])
        if post is None or post.state != "live" or suspended(world, post):
            return Response(200, simple_page("X", "Hmm...this page doesn't exist.").encode(),
                            [("Content-Type", "text/html; charset=utf-8")])
        return Response(200, simple_page("X", " ".join(post.sentences)).encode(),
                        [("Content-Type", "text/html; charset=utf-8")])
    return None


def rate_limited() -> Response:
    """X's 429, with the reset a second ahead (an epoch second)."""
    reset = str(int(time.time()) + 1)
    return json_response(429, {"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
                         [("x-rate-limit-limit", "150"), ("x-rate-limit-remaining", "0"),
                          ("x-rate-limit-reset", reset)])


def login_wall() -> Response:
    return Response(200, simple_page("Log in to X / X", "Log in to X. Sign up").encode(),
                    [("Content-Type", "text/html; charset=utf-8")])


def bad_token() -> Response:
    return json_response(403, {"errors": [{"code": 239, "message": "Bad guest token."}]})
