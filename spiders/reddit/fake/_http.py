"""Reddit in the sandbox, over HTTP, in the shapes of ``shared/platforms/reddit.md``.

Everything lives under :data:`PREFIX` (a path-prefixed ``base_url``, as a mirror
would be): the OAuth token endpoint and API under ``/oauth`` (``/r/<sub>/new``,
``/api/info``, ``/user/<name>/about|submitted|comments``, ``/comments/<id>``), and
the public Atom feeds (``/r/<sub>/new/.rss``, ``/user/<name>/.rss``,
``/comments/<id>/.rss``). Logged-out ``.json`` answers the 403 app shell, as since
May 2026. Call :func:`handle` with the world lock held.

What a removed post's own feed serves is not recorded for the real site; the
sandbox serves the post's entry with ``[removed]``/``[deleted]`` as its text.
"""

from __future__ import annotations

import base64
import html
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from spiders.sandbox.fake import Post, Response, World, iso_s, json_response

PLATFORM = "reddit"
PREFIX = "/reddit"
API = f"{PREFIX}/oauth"
TOKEN_PATH = f"{PREFIX}/api/v1/access_token"
CLIENT_ID = "sandbox-reddit-app"
CLIENT_SECRET = "sandbox-reddit-secret"
#: Token lifetime in world seconds: short, so renewals on 401 happen in every run.
TOKEN_LIFE = 120.0
ATOM_TYPE = "application/atom+xml; charset=UTF-8"

#: Post state → removed_by_category as the API shows it to a non-moderator.
CATEGORY = {
    "deleted": "deleted",
    "removed_moderator": "moderator",
    "automod_filtered": "automod_filtered",
    "reddit": "reddit",
    "anti_evil_ops": "anti_evil_ops",
    "legal_operations": "legal_operations",
    "copyright_takedown": "copyright_takedown",
}
APP_SHELL = ('<!DOCTYPE html><html lang="en-US"><head><title>Reddit - Dive into anything'
             '</title></head><body><shreddit-app></shreddit-app>'
             + "<!-- app shell -->" * 64 + "</body></html>")


@dataclass(slots=True)
class Sub:
    """A subreddit, and which path the sandbox's watchlist reads it through."""

    name: str
    access: str  # "oauth" | "feeds"


@dataclass(slots=True)
class Tokens:
    issued: dict[str, float] = field(default_factory=dict)
    served: int = 0


def tokens_of(world: World) -> Tokens:
    """The tokens this sandbox issued (kept in its world, so two sandboxes never
    accept each other's)."""
    found = world.owner(PLATFORM, "\x00tokens")
    if not isinstance(found, Tokens):
        found = Tokens()
        world.add_owner(PLATFORM, "\x00tokens", found)
    return found


def is_comment(post: Post) -> bool:
    return bool(post.tags) and post.tags[0] == "t1"


def link_of(post: Post) -> str:
    return post.tags[1] if is_comment(post) and len(post.tags) > 1 else post.key


def fullname(post: Post) -> str:
    return f"t1_{post.key}" if is_comment(post) else f"t3_{post.key}"


def slug(post: Post) -> str:
    words = "".join(c if c.isalnum() else "_" for c in post.title.lower()).split("_")
    return "_".join(w for w in words if w)[:40] or "post"


def permalink_path(world: World, post: Post) -> str:
    if is_comment(post):
        parent = world.post(PLATFORM, link_of(post))
        name = slug(parent) if parent else "post"
        return f"/r/{post.owner}/comments/{link_of(post)}/{name}/{post.key}/"
    return f"/r/{post.owner}/comments/{post.key}/{slug(post)}/"


def post_url(base: str, world: World, post: Post) -> str:
    return f"{base}{PREFIX}{permalink_path(world, post)}"


def _text(post: Post) -> str:
    return "\n\n".join(post.sentences)


def _edited(post: Post) -> float | bool:
    return post.versions[-1].at if len(post.versions) > 1 else False


def thing(world: World, post: Post) -> dict[str, Any]:
    """The post as the OAuth API shows it to a non-moderator (§2, §4)."""
    state = post.state
    gone = state not in ("live", "hidden")
    deleted = state == "deleted"
    author = "[deleted]" if deleted or (gone and is_comment(post)) else post.author
    common: dict[str, Any] = {
        "id": post.key, "name": fullname(post), "subreddit": post.owner,
        "author": author, "created_utc": float(int(post.published)),
        "edited": _edited(post), "permalink": permalink_path(world, post),
        "score": post.counters.get("score", 1), "banned_by": None, "removal_reason": None,
    }
    if author != "[deleted]":
        common["author_fullname"] = f"t2_{zlib.crc32(post.author.encode()):x}"
    if is_comment(post):
        body = "[deleted]" if deleted else "[removed]" if gone else _text(post)
        return {"kind": "t1", "data": {**common, "body": body, "link_id": f"t3_{link_of(post)}",
                                       "parent_id": f"t3_{link_of(post)}", "replies": ""}}
    title = post.title
    selftext = _text(post)
    if deleted:
        selftext = "[deleted]"
    elif state == "anti_evil_ops":
        title, selftext = "[ Removed by Reddit ]", (
            "[ Removed by Reddit on account of violating the "
            "[content policy](/help/contentpolicy). ]")
    elif state == "copyright_takedown":
        selftext = "[ Removed by reddit in response to a copyright notice. ]"
    elif gone:
        selftext = "[removed]"
    return {"kind": "t3", "data": {
        **common, "title": title, "selftext": selftext, "is_self": True,
        "url": f"https://www.reddit.com{permalink_path(world, post)}",
        "removed_by_category": CATEGORY.get(state), "removed_by": None,
        "is_robot_indexable": not gone, "locked": False, "archived": False,
        "quarantine": False, "over_18": False, "stickied": False,
        "num_comments": len(_comments(world, post)), "removal_reason": (
            "legal" if state == "legal_operations" else None)}}


def _listing(children: list[dict[str, Any]], after: str | None = None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": after, "before": None, "dist": len(children),
                                        "children": children}}


def _posts(world: World, sub: str | None = None, author: str | None = None,
           comments: bool = False) -> list[Post]:
    owners = [sub] if sub else [o.name for o in _subs(world)]
    found = [p for o in owners for p in world.posts_of(PLATFORM, o)
             if is_comment(p) == comments and (author is None or p.author == author)]
    return sorted(found, key=lambda p: (p.published, p.key), reverse=True)


def _subs(world: World) -> list[Sub]:
    return [o for (platform, _), o in world.owners.items() if platform == PLATFORM
            and isinstance(o, Sub)]


def _comments(world: World, post: Post) -> list[Post]:
    return [c for c in _posts(world, post.owner, comments=True) if link_of(c) == post.key]


def _limit(query: Mapping[str, str], default: int = 25) -> int:
    raw = query.get("limit", "")
    return max(1, min(100, int(raw))) if raw.isdigit() else default


# -- OAuth -------------------------------------------------------------------------------


def _token(world: World, headers: Mapping[str, str]) -> Response:
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    if headers.get("authorization", "") != f"Basic {expected}":
        return json_response(401, {"message": "Unauthorized", "error": 401})
    tokens = tokens_of(world)
    tokens.served += 1
    token = f"sbx-{tokens.served:06d}"
    tokens.issued[token] = world.clock() + TOKEN_LIFE
    return json_response(200, {"access_token": token, "token_type": "bearer",
                               "expires_in": int(TOKEN_LIFE), "scope": "*"})


def _authorised(world: World, headers: Mapping[str, str]) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    until = tokens_of(world).issued.get(token)
    return scheme.lower() == "bearer" and until is not None and world.clock() < until


def _api(world: World, path: str, query: Mapping[str, str],
         headers: Mapping[str, str]) -> Response | None:
    if not _authorised(world, headers):
        return json_response(401, {"message": "Unauthorized", "error": 401})
    parts = [p for p in path.removeprefix(API).split("/") if p]
    if parts == ["api", "info"]:
        wanted = query.get("id", "").split(",")[:100]
        by_name = {fullname(p): p for p in world.order if p.platform == PLATFORM}
        return json_response(200, _listing([thing(world, by_name[n]) for n in wanted
                                            if n in by_name]))
    if len(parts) == 3 and parts[0] == "r" and parts[2] == "new":
        if parts[1] not in {s.name for s in _subs(world)}:
            return json_response(404, {"reason": "banned", "message": "Not Found",
                                       "error": 404})
        live = [p for p in _posts(world, parts[1]) if p.state == "live"][: _limit(query)]
        return json_response(200, _listing([thing(world, p) for p in live]))
    if len(parts) == 3 and parts[0] == "user":
        name, what = parts[1], parts[2]
        known = {p.author for p in world.order if p.platform == PLATFORM}
        if name not in known:
            return json_response(404, {"message": "Not Found", "error": 404})
        if what == "about":
            return json_response(200, {"kind": "t2", "data": {
                "name": name, "is_suspended": False, "total_karma": 120,
                "created_utc": 1_600_000_000.0}})
        if what in ("submitted", "comments"):
            mine = [p for p in _posts(world, author=name, comments=what == "comments")
                    if world.visible(p)][: _limit(query)]
            return json_response(200, _listing([thing(world, p) for p in mine]))
        return None
    if len(parts) == 2 and parts[0] == "comments":
        post = world.post(PLATFORM, parts[1])
        if post is None or is_comment(post):
            return json_response(404, {"message": "Not Found", "error": 404})
        comments = sorted(_comments(world, post), key=lambda p: (p.published, p.key))
        return json_response(200, [_listing([thing(world, post)]),
                                   _listing([thing(world, c) for c in comments])])
    return None


# -- Atom feeds --------------------------------------------------------------------------


def _md(post: Post) -> str:
    state = post.state
    if state == "deleted":
        paras = ["[deleted]"]
    elif state not in ("live", "hidden"):
        paras = ["[removed]"]
    else:
        paras = post.sentences
    return "".join(f"<p>{html.escape(s)}</p>" for s in paras)


def _entry(base: str, world: World, post: Post) -> str:
    url = post_url(base, world, post)
    author = "[deleted]" if post.state == "deleted" else post.author
    content = (f'<!-- SC_OFF --><div class="md">{_md(post)}</div><!-- SC_ON --> &#32; '
               f'submitted by &#32; <a href="{base}{PREFIX}/user/{quote(author)}"> /u/'
               f'{html.escape(author)} </a> <span><a href="{url}">[link]</a></span> &#32; '
               f'<span><a href="{url}">[comments]</a></span>')
    title = post.title
    if is_comment(post):
        parent = world.post(PLATFORM, link_of(post))
        title = f"/u/{author} on {parent.title if parent else 'a post'}"
    return (
        f"<entry><author><name>/u/{html.escape(author)}</name>"
        f"<uri>{base}{PREFIX}/user/{quote(author)}</uri></author>"
        f'<category term="{post.owner}" label="r/{post.owner}"/>'
        f'<content type="html">{html.escape(content)}</content>'
        f"<id>{fullname(post)}</id>"
        f'<link href="{html.escape(url)}"/>'
        f"<updated>{iso_s(post.published)}</updated>"
        f"<published>{iso_s(post.published)}</published>"
        f"<title>{html.escape(title)}</title></entry>"
    )


def _feed(base: str, world: World, feed_id: str, title: str, posts: list[Post]) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:media="http://search.yahoo.com/mrss/">'
            f"<updated>{iso_s(world.clock())}</updated><id>{html.escape(feed_id)}</id>"
            f"<title>{html.escape(title)}</title>"
            + "".join(_entry(base, world, p) for p in posts) + "</feed>")
    return Response(200, body.encode(), [("Content-Type", ATOM_TYPE)])


def _feeds(base: str, world: World, path: str, query: Mapping[str, str]) -> Response | None:
    parts = [p for p in path.removeprefix(PREFIX).split("/") if p]
    if len(parts) == 4 and parts[0] == "r" and parts[2:] == ["new", ".rss"]:
        live = [p for p in _posts(world, parts[1]) if p.state == "live"][: _limit(query)]
        return _feed(base, world, f"/r/{parts[1]}/new/.rss", parts[1], live)
    if len(parts) == 3 and parts[0] == "user" and parts[2] == ".rss":
        mine = [p for p in _posts(world, author=parts[1]) + _posts(
            world, author=parts[1], comments=True) if p.state == "live"][: _limit(query)]
        return _feed(base, world, f"/user/{parts[1]}/.rss", parts[1], mine)
    if len(parts) == 3 and parts[0] == "comments" and parts[2] == ".rss":
        post = world.post(PLATFORM, parts[1])
        if post is None or is_comment(post):
            return Response(404, APP_SHELL.encode(), [("Content-Type", "text/html")])
        comments = [c for c in sorted(_comments(world, post), key=lambda p: p.published)
                    if c.state == "live"]
        return _feed(base, world, f"/comments/{post.key}/.rss", post.title,
                     [post, *comments])
    return None


def handle(world: World, base: str, path: str, query: Mapping[str, str],
           headers: Mapping[str, str]) -> Response | None:
    if path == TOKEN_PATH:
        return _token(world, headers)
    if path.startswith(API + "/"):
        return _api(world, path, query, headers)
    if path.endswith(".json"):
        # Logged out, every .json is the app shell since 30 May 2026.
        return Response(403, APP_SHELL.encode(), [("Content-Type", "text/html; charset=utf-8")])
    return _feeds(base, world, path, query)
