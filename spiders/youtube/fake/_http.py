"""YouTube in the sandbox, in the shapes of ``shared/platforms/youtube.md``: the uploads
feed (Atom, ``yt:``/``media:``, the latest 15), oEmbed, watch pages carrying
``ytInitialPlayerResponse`` and channel pages. Every path is under ``/youtube/``.
A terminated channel's feed answers Google's generic 404 page, as do all feeds
during a scripted :class:`FeedOutage` (with 500s). Call :func:`handle` with the world
lock held."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from spiders.sandbox.fake import Account, Post, Response, World, html_response, json_response
from spiders.sandbox.fake import iso_s as _iso

PLATFORM = "youtube"
PREFIX = "/youtube"
FEED_SIZE = 15
#: The owner name under which a scenario files its :class:`FeedOutage`.
OUTAGE = "_feed_outage"
_ERROR_404 = ('<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 404 (Not Found)!!1'
              '</title><a href=//www.google.com/><span id=logo aria-label=Google></span></a>'
              '<p><b>404.</b> <ins>That\u2019s an error.</ins><p>The requested URL was not '
              'found on this server. <ins>That\u2019s all we know.</ins>')
_ERROR_500 = ('<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 500 (Server Error)!!1'
              '</title><p><b>500.</b> <ins>That\u2019s an error.</ins><p>There was an error. '
              'Please try again later. <ins>That\u2019s all we know.</ins>')
TERMINATED = ("This account has been terminated because it is linked to an account that "
              "received multiple third-party claims of copyright infringement.")
#: state → (playabilityStatus.status, reason, subreason).
UNPLAYABLE: dict[str, tuple[str, str, str]] = {
    "deleted_by_author": ("ERROR", "Video unavailable",
                          "This video has been removed by the uploader"),
    "removed_violation": ("ERROR", "Video unavailable",
                          "This video has been removed for violating YouTube's policy on "
                          "harassment and cyberbullying."),
    "removed_copyright": ("ERROR", "Video unavailable",
                          "This video is no longer available due to a copyright claim by "
                          "Sandbox Records Ltd"),
    "private": ("LOGIN_REQUIRED", "This video is private", ""),
    "account_suspended": ("ERROR", "Video unavailable",
                          "This video is no longer available because the YouTube account "
                          "associated with this video has been terminated."),
}


@dataclass(slots=True)
class FeedOutage:
    """A platform-wide feed outage a scenario scripts (the outages of 2024 and 2026):
    during ``not_found`` ticks every uploads feed answers Google's 404 page, during
    ``server_error`` ticks its 500 page."""

    not_found: frozenset[int]
    server_error: frozenset[int] = frozenset()


def outage(world: World) -> int | None:
    """The status every feed answers this tick, or None."""
    scripted = world.owner(PLATFORM, OUTAGE)
    if not isinstance(scripted, FeedOutage):
        return None
    if world.tick in scripted.not_found:
        return 404
    return 500 if world.tick in scripted.server_error else None


def suspended(world: World, post: Post) -> bool:
    owner = world.owner(PLATFORM, post.owner)
    return isinstance(owner, Account) and owner.state != "normal"


def state_of(world: World, post: Post) -> str:
    """What the watch page says: the account's state first, then the video's."""
    if suspended(world, post):
        return "account_suspended"
    return post.state


def description(post: Post) -> str:
    return " ".join(post.sentences)


def watch(base: str, vid: str) -> str:
    return f"{base}{PREFIX}/watch?v={vid}"


def _feed(world: World, base: str, channel: str) -> Response:
    account = world.owner(PLATFORM, channel)
    failing = outage(world)
    if failing is not None:
        return html_response(failing, _ERROR_404 if failing == 404 else _ERROR_500)
    if not isinstance(account, Account) or account.state != "normal":
        return html_response(404, _ERROR_404)
    posts = [p for p in world.posts_of(PLATFORM, channel) if world.listed(p)][:FEED_SIZE]
    url = f"{base}{PREFIX}/channel/{channel}"
    self_url = f"{base}{PREFIX}/feeds/videos.xml?channel_id={channel}"
    name = escape(account.display_name)
    entries = "".join(_entry(base, account, p) for p in posts)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
            'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">\n'
            f' <link rel="self" href={quoteattr(self_url)}/>\n'
            f" <id>yt:channel:{channel[2:]}</id>\n <yt:channelId>{channel[2:]}</yt:channelId>\n"
            f" <title>{name}</title>\n <link rel=\"alternate\" href={quoteattr(url)}/>\n"
            f" <author><name>{name}</name><uri>{escape(url)}</uri></author>\n"
            f" <published>{_iso(account.created).replace('Z', '+00:00')}</published>\n"
            f"{entries}</feed>\n")
    return Response(200, body.encode(), [("Content-Type", "text/xml; charset=UTF-8")])


def _entry(base: str, account: Account, post: Post) -> str:
    title = escape(post.title)
    url = f"{base}{PREFIX}/channel/{account.id}"
    return (f" <entry>\n  <id>yt:video:{post.key}</id>\n  <yt:videoId>{post.key}</yt:videoId>\n"
            f"  <yt:channelId>{account.id}</yt:channelId>\n  <title>{title}</title>\n"
            f"  <link rel=\"alternate\" href={quoteattr(watch(base, post.key))}/>\n"
            f"  <author><name>{escape(account.display_name)}</name><uri>{escape(url)}</uri>"
            "</author>\n"
            f"  <published>{_iso(post.published).replace('Z', '+00:00')}</published>\n"
            f"  <updated>{_iso(post.updated).replace('Z', '+00:00')}</updated>\n"
            "  <media:group>\n"
            f"   <media:title>{title}</media:title>\n"
            f"   <media:content url=\"https://www.youtube.com/v/{post.key}?version=3\" "
            "type=\"application/x-shockwave-flash\" width=\"640\" height=\"390\"/>\n"
            f"   <media:thumbnail url=\"https://i4.ytimg.com/vi/{post.key}/hqdefault.jpg\" "
            "width=\"480\" height=\"360\"/>\n"
            f"   <media:description>{escape(description(post))}</media:description>\n"
            "   <media:community>\n"
            f"    <media:starRating count=\"{post.counters.get('likes', 0)}\" average=\"5.00\" "
            "min=\"1\" max=\"5\"/>\n"
            f"    <media:statistics views=\"{post.counters.get('views', 0)}\"/>\n"
            "   </media:community>\n  </media:group>\n </entry>\n")


def player(world: World, base: str, post: Post | None, vid: str) -> dict[str, Any]:
    if post is None:
        return {"playabilityStatus": {"status": "ERROR", "reason": "This video does not exist."}}
    state = state_of(world, post)
    if state in UNPLAYABLE:
        status, reason, sub = UNPLAYABLE[state]
        renderer: dict[str, Any] = {"reason": {"simpleText": reason}}
        if sub:
            renderer["subreason"] = {"runs": [{"text": sub}]}
        return {"playabilityStatus": {"status": status, "reason": reason,
                                      "errorScreen": {"playerErrorMessageRenderer": renderer}}}
    account = world.owner(PLATFORM, post.owner)
    return {
        "playabilityStatus": {"status": "OK", "playableInEmbed": True},
        "videoDetails": {"videoId": vid, "title": post.title, "lengthSeconds": "312",
                         "channelId": post.owner, "shortDescription": description(post),
                         "viewCount": str(post.counters.get("views", 0)),
                         "author": account.display_name if isinstance(account, Account)
                         else post.owner, "isPrivate": False},
        "microformat": {"playerMicroformatRenderer": {
            "publishDate": _iso(post.published).replace("Z", "+00:00"),
            "isUnlisted": post.state == "hidden_from_feed", "availableCountries": ["US"]}},
    }


def watch_page(data: dict[str, Any], title: str = "YouTube") -> Response:
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return html_response(200, f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                         f"<title>{html.escape(title)} - YouTube</title></head><body>"
                         f"<script>var ytInitialPlayerResponse = {blob};var meta = "
                         "document.createElement('meta');</script><div id=\"player\"></div>"
                         "</body></html>")


def _oembed(world: World, base: str, query: Mapping[str, str]) -> Response:
    target = query.get("url", "")
    vid = (parse_qs(urlsplit(target).query).get("v") or [""])[0]
    post = world.post(PLATFORM, vid)
    if post is None:
        return Response(404, b"Not Found", [("Content-Type", "text/html")])
    state = state_of(world, post)
    if state == "private":  # once answered 200 with this body (ruby-oembed#79)
        return Response(200, b"Forbidden", [("Content-Type", "text/html")])
    if state in UNPLAYABLE:
        return Response(404, b"Not Found", [("Content-Type", "text/html")])
    account = world.owner(PLATFORM, post.owner)
    name = account.display_name if isinstance(account, Account) else post.owner
    return json_response(200, {
        "title": post.title, "author_name": name,
        "author_url": f"{base}{PREFIX}/channel/{post.owner}", "type": "video", "height": 113,
        "width": 200, "version": "1.0", "provider_name": "YouTube",
        "provider_url": "https://www.youtube.com/",
        "thumbnail_url": f"https://i.ytimg.com/vi/{vid}/hqdefault.jpg",
        "html": f'<iframe width="200" height="113" src="https://www.youtube.com/embed/{vid}'
                '?feature=oembed" frameborder="0" allowfullscreen></iframe>'})


def _channel(world: World, base: str, channel: str) -> Response | None:
    account = world.owner(PLATFORM, channel)
    if not isinstance(account, Account):
        return None
    if account.state != "normal":
        alert = {"alerts": [{"alertRenderer": {"type": "ERROR", "text": {
            "simpleText": TERMINATED}}}]}
        return html_response(200, '<!DOCTYPE html><html><head><title>YouTube</title></head>'
                             f"<body><div class=\"alert\">{html.escape(TERMINATED)}</div>"
                             f"<script>var ytInitialData = {json.dumps(alert)};</script>"
                             "</body></html>")
    data = {"metadata": {"channelMetadataRenderer": {
        "title": account.display_name, "externalId": channel, "description": account.note}}}
    title = html.escape(account.display_name)
    return html_response(200, f"<!DOCTYPE html><html><head><title>{title}"
                         f" - YouTube</title></head><body><script>var ytInitialData = "
                         f"{json.dumps(data, ensure_ascii=False)};</script></body></html>")


def handle(world: World, base: str, path: str, query: Mapping[str, str],
           headers: Mapping[str, str]) -> Response | None:
    if not path.startswith(PREFIX + "/"):
        return None
    rest = path[len(PREFIX):]
    if rest == "/feeds/videos.xml":
        return _feed(world, base, query.get("channel_id", ""))
    if rest == "/oembed":
        return _oembed(world, base, query)
    if rest == "/watch":
        vid = query.get("v", "")
        post = world.post(PLATFORM, vid)
        return watch_page(player(world, base, post, vid), post.title if post else "YouTube")
    if rest.startswith("/channel/"):
        return _channel(world, base, rest[len("/channel/"):].strip("/"))
    return None
