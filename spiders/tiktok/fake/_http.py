"""TikTok's oEmbed endpoint and web pages in the sandbox, in the shapes of
``shared/platforms/tiktok.md``: ``/tiktok/oembed``, ``/tiktok/@user`` (profile
hydration, with an ``itemList`` window: the logged-out real page has none) and
``/tiktok/@user/video/<id>`` (``webapp.video-detail`` with its ``statusCode``).
Call :func:`handle` with the world lock held."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from spiders.sandbox.fake import Account, Post, Response, World, html_response, json_response

from ..platform import account_user, video_ref

PLATFORM = "tiktok"
PREFIX = "/tiktok"
#: Items a profile's hydration carries (newest first): the listing's window.
WINDOW = 30
#: What a video page says, by the post's state: (statusCode, statusMsg, visible text).
_GONE: dict[str, tuple[int, str, str]] = {
    "deleted": (10217, "", "Video currently unavailable"),
    "removed_violation": (10231, "", "This video has been removed for violating our "
                          "Community Guidelines"),
    "private": (10216, "item is private", ""),
}
_NOT_FOUND = (10217, "", "Video currently unavailable")
#: A live video withheld in the viewer's country (the sandbox's geo-blocking).
_REGION = (10231, "", "This video is not available in your region")


def caption(post: Post) -> str:
    tags = " ".join(f"#{t}" for t in post.tags)
    return " ".join(post.sentences) + (f" {tags}" if tags else "")


def video_path(post: Post) -> str:
    return f"{PREFIX}/@{post.owner}/video/{post.key}"


def _page(scope: dict[str, Any], text: str = "", title: str = "TikTok - Make Your Day",
          status: int = 200) -> Response:
    data = json.dumps({"__DEFAULT_SCOPE__": scope, "__REQUEST_ID__": "sandbox"},
                      ensure_ascii=False).replace("</", "<\\/")
    return html_response(status, '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                         f"<title>{title}</title></head><body><div id=\"app\"><p>{text}</p>"
                         '</div><script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" '
                         f'type="application/json">{data}</script></body></html>')


def item(world: World, post: Post, *, classified: bool = False) -> dict[str, Any]:
    owner = world.owner(PLATFORM, post.owner)
    nickname = owner.display_name if isinstance(owner, Account) else post.owner
    out: dict[str, Any] = {
        "id": post.key, "desc": caption(post), "createTime": str(int(post.published)),
        "author": {"uniqueId": post.owner, "nickname": nickname,
                   "secUid": f"MS4wLjABAAAA{post.owner}", "privateAccount": False},
        "stats": {"playCount": post.counters.get("plays", 0),
                  "diggCount": post.counters.get("likes", 0),
                  "commentCount": post.counters.get("comments", 0), "shareCount": 0},
        "isContentClassified": classified,
    }
    if not classified:
        out["video"] = {"duration": 15, "cover": f"https://p16.example/{post.key}?x-expires=1",
                        "playAddr": f"https://v16.example/{post.key}?x-expires=1"}
    return out


def oembed(world: World, base: str, post: Post) -> dict[str, Any]:
    url = f"{base}{video_path(post)}"
    return {"version": "1.0", "type": "video", "title": caption(post),
            "author_url": f"{base}{PREFIX}/@{post.owner}", "author_name": post.author,
            "width": "100%", "height": "100%",
            "html": f'<blockquote class="tiktok-embed" cite="{url}" data-video-id="{post.key}" '
                    'style="max-width: 605px;min-width: 325px;" > <section> </section> '
                    '</blockquote> <script async src="https://www.tiktok.com/embed.js"></script>',
            "thumbnail_width": 720, "thumbnail_height": 1280,
            "thumbnail_url": f"https://p16-sign.example/{post.key}?x-expires={world.tick}",
            "provider_url": "https://www.tiktok.com", "provider_name": "TikTok",
            "author_unique_id": post.owner, "embed_product_id": post.key,
            "embed_type": "video"}


def handle(world: World, base: str, path: str, query: Mapping[str, str],
           headers: Mapping[str, str]) -> Response | None:
    if path == f"{PREFIX}/oembed":
        ref = video_ref(query.get("url", ""))
        post = world.post(PLATFORM, ref[0]) if ref else None
        if post is not None and world.visible(post):
            return json_response(200, oembed(world, base, post))
        # Unverified wording (the notes say so): a small JSON error, no reason.
        return json_response(400, {"code": 400, "message": "Something went wrong", "data": {}})
    ref = video_ref(path)
    if ref is not None and path.startswith(f"{PREFIX}/@"):
        return _video(world, ref[0])
    user = account_user(path.rstrip("/").rsplit("/", 1)[-1])
    if user is not None and path.startswith(f"{PREFIX}/@"):
        return _profile(world, user)
    return None


def _video(world: World, vid: str) -> Response:
    post = world.post(PLATFORM, vid)
    if post is not None and world.visible(post):
        return _page({"webapp.video-detail": {"statusCode": 0, "statusMsg": "",
                                              "itemInfo": {"itemStruct": item(world, post)}}})
    if post is not None and post.state == "age_restricted":
        return _page({"webapp.video-detail": {"statusCode": 0, "statusMsg": "", "itemInfo": {
            "itemStruct": item(world, post, classified=True)}}},
            "This post may not be comfortable for some audiences. Log in for access.")
    if post is not None and post.state == "live" and world.viewer in world.withheld_in(post):
        code, msg, text = _REGION
    else:
        code, msg, text = _GONE.get(post.state, _NOT_FOUND) if post is not None else _NOT_FOUND
    return _page({"webapp.video-detail": {"statusCode": code, "statusMsg": msg}}, text)


def _profile(world: World, user: str) -> Response:
    account = world.owner(PLATFORM, user)
    if not isinstance(account, Account):
        return _page({"webapp.user-detail": {"statusCode": 10202, "statusMsg": ""}})
    posts = [p for p in world.posts_of(PLATFORM, user) if world.listed(p)][:WINDOW]
    return _page({"webapp.user-detail": {
        "statusCode": 0, "statusMsg": "",
        "userInfo": {"user": {"id": account.id, "uniqueId": user,
                              "nickname": account.display_name, "signature": account.note,
                              "secUid": f"MS4wLjABAAAA{user}", "privateAccount": False},
                     "stats": {"followerCount": account.followers,
                               "followingCount": account.following,
                               "videoCount": len(posts)}},
        "itemList": [item(world, p) for p in posts]}})


def blocked_page() -> Response:
    """What TikTok serves a datacenter IP or a client without browser TLS: 10204."""
    return _page({"webapp.video-detail": {
        "statusCode": 10204, "statusMsg": "Your IP address is blocked from accessing this post"}})


def captcha_page() -> Response:
    return html_response(200, '<!DOCTYPE html><html><head><title>Security Check</title></head>'
                         '<body><div id="captcha-verify-container"></div></body></html>')
