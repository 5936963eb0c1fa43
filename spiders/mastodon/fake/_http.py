"""Mastodon's REST API and web pages in the sandbox, in the shapes of
``shared/platforms/mastodon.md``. Call :func:`handle` with the world lock held.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from spiders.sandbox.fake import (
    PNG,
    Account,
    Media,
    Post,
    Response,
    Version,
    World,
    html_response,
    iso_ms,
    json_response,
    simple_page,
)

PLATFORM = "mastodon"

DEFAULT_LIMIT = 20
MAX_LIMIT = 40
_PAGINATION_KEEP = ("limit", "exclude_reblogs", "exclude_replies", "only_media")

_STATUS = re.compile(r"^/api/v1/statuses/(\d+)(/history)?$")
_ACCOUNT = re.compile(r"^/api/v1/accounts/(\d+)(/statuses)?$")
_WEB = re.compile(r"^/@([A-Za-z0-9_]+)(?:/(\d+))?$")

#: The instance actor: the editor of a moderator's content-warning edit.
_INSTANCE_ACTOR = {"id": "1", "username": "sandbox.local", "acct": "sandbox.local"}


def not_found(key: str) -> Response:
    """Both 404 bodies are real; which one is fixed per id."""
    message = "Record not found" if sum(map(ord, key)) % 2 == 0 else "Not Found"
    return json_response(404, {"error": message})


def status_url(base: str, post: Post) -> str:
    return f"{base}/@{post.owner}/{post.key}"


def status_api_url(base: str, post: Post) -> str:
    return f"{base}/api/v1/statuses/{post.key}"


def account_of(world: World, username: str) -> Account | None:
    found = world.owner(PLATFORM, username)
    return found if isinstance(found, Account) else None


def _statuses_of(world: World, username: str) -> list[Post]:
    """An account's statuses, newest first."""
    return sorted(world.posts_of(PLATFORM, username), key=lambda p: int(p.key), reverse=True)


def handle(world: World, base: str, path: str, query: Mapping[str, str]) -> Response | None:
    """The response for a Mastodon path, or None when the path is not Mastodon's."""
    if path == "/api/v1/accounts/lookup":
        acct = query.get("acct", "").lstrip("@").split("@")[0]
        found = account_of(world, acct)
        if found is None:
            return json_response(404, {"error": "Record not found"})
        return json_response(200, account_json(world, base, found))
    if m := _ACCOUNT.match(path):
        found = next((a for a in world.accounts() if a.platform == PLATFORM
                      and a.id == m.group(1)), None)
        if found is None:
            return json_response(404, {"error": "Record not found"})
        if m.group(2):
            return _statuses(world, base, found, query)
        return json_response(200, account_json(world, base, found))
    if m := _STATUS.match(path):
        post = world.post(PLATFORM, m.group(1))
        if post is None or not world.visible(post):
            return not_found(m.group(1))
        if m.group(2):
            return json_response(200, _history(world, base, post))
        return json_response(200, status_json(world, base, post))
    if m := _WEB.match(path):
        return _web(world, base, m.group(1), m.group(2))
    if path.startswith(("/system/media_attachments/", "/avatars/", "/headers/")):
        return Response(200, PNG, [("Content-Type", "image/png")])
    return None


def account_json(world: World, base: str, account: Account) -> dict[str, Any]:
    name = account.username
    out: dict[str, Any] = {
        "id": account.id,
        "username": name,
        "acct": name,
        "display_name": account.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": False,
        "created_at": iso_ms(account.created - account.created % 86_400),
        "note": account.note,
        "url": f"{base}/@{name}",
        "uri": f"{base}/users/{name}",
        "avatar": f"{base}/avatars/original/{name}.png",
        "avatar_static": f"{base}/avatars/original/{name}.png",
        "header": f"{base}/headers/original/missing.png",
        "header_static": f"{base}/headers/original/missing.png",
        "followers_count": account.followers,
        "following_count": account.following,
        "statuses_count": 0,
        "last_status_at": None,
        "hide_collections": False,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [],
    }
    if account.state in ("suspended", "deleted"):
        # The serializer blanks the profile of a suspended (or self-deleted) account.
        out.update(
            display_name="",
            note="",
            avatar=f"{base}/avatars/original/missing.png",
            avatar_static=f"{base}/avatars/original/missing.png",
            followers_count=0,
            following_count=0,
            suspended=True,
        )
        return out
    statuses = [p for p in _statuses_of(world, name) if world.visible(p)]
    out["statuses_count"] = len(statuses)
    if statuses:
        out["last_status_at"] = iso_ms(max(p.published for p in statuses))[:10]
    if account.state == "limited":
        out["limited"] = True
    return out


def _content(version: Version, tags: list[str], base: str) -> str:
    paragraphs = [f"<p>{html.escape(' '.join(version.sentences), quote=False)}</p>"]
    extra: list[str] = []
    if version.link:
        scheme, _, rest = version.link.partition("://")
        extra.append(
            f'<a href="{html.escape(version.link)}" target="_blank" rel="nofollow noopener" '
            f'translate="no"><span class="invisible">{scheme}://</span>'
            f'<span class="">{html.escape(rest)}</span><span class="invisible"></span></a>'
        )
    extra += [
        f'<a href="{base}/tags/{tag}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>'
        for tag in tags
    ]
    if extra:
        paragraphs.append("<p>" + " ".join(extra) + "</p>")
    return "".join(paragraphs)


def _media(base: str, media: list[Media]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(int(m.file_id[:14], 16)),
            "type": "image",
            "url": f"{base}/system/media_attachments/files/{m.file_id}/original.png",
            "preview_url": f"{base}/system/media_attachments/files/{m.file_id}/small.png",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {
                "original": {
                    "width": m.width,
                    "height": m.height,
                    "size": f"{m.width}x{m.height}",
                    "aspect": round(m.width / m.height, 4),
                }
            },
            "description": None,
            "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
        }
        for m in media
    ]


def status_json(world: World, base: str, post: Post) -> dict[str, Any]:
    current = post.versions[-1]
    account = world.owners[(PLATFORM, post.owner)]
    return {
        "id": post.key,
        "created_at": iso_ms(post.published),
        "edited_at": iso_ms(current.at) if len(post.versions) > 1 else None,
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": current.sensitive,
        "spoiler_text": current.spoiler,
        "visibility": "public",
        "language": "en",
        "uri": f"{base}/users/{post.owner}/statuses/{post.key}",
        "url": status_url(base, post),
        "replies_count": post.counters.get("replies", 0),
        "reblogs_count": post.counters.get("reblogs", 0),
        "favourites_count": post.counters.get("likes", 0),
        "quotes_count": 0,
        "content": _content(current, post.tags, base),
        "reblog": None,
        "application": None,
        "account": account_json(world, base, account),
        "media_attachments": _media(base, current.media),
        "mentions": [],
        "tags": [{"name": tag, "url": f"{base}/tags/{tag}"} for tag in post.tags],
        "emojis": [],
        "card": None,
        "poll": None,
        "quote": None,
    }


def _history(world: World, base: str, post: Post) -> list[dict[str, Any]]:
    author = account_json(world, base, world.owners[(PLATFORM, post.owner)])
    return [
        {
            "content": _content(version, post.tags, base),
            "spoiler_text": version.spoiler,
            "sensitive": version.sensitive,
            "created_at": iso_ms(version.at),
            "account": (
                {**_INSTANCE_ACTOR, "url": f"{base}/actor"} if version.by_moderator else author
            ),
            "media_attachments": _media(base, version.media),
            "emojis": [],
        }
        for version in post.versions
    ]


def _statuses(world: World, base: str, account: Account, query: Mapping[str, str]) -> Response:
    if account.state in ("suspended", "deleted") or query.get("pinned") == "true":
        return json_response(200, [])
    try:
        limit = min(max(int(query.get("limit") or DEFAULT_LIMIT), 1), MAX_LIMIT)
    except ValueError:
        limit = DEFAULT_LIMIT
    items = [p for p in _statuses_of(world, account.username) if world.listed(p)]
    if "max_id" in query and query["max_id"].isdigit():
        items = [p for p in items if int(p.key) < int(query["max_id"])]
    if "since_id" in query and query["since_id"].isdigit():
        items = [p for p in items if int(p.key) > int(query["since_id"])]
    if "min_id" in query and query["min_id"].isdigit():
        # Immediately newer than the cursor: the oldest `limit` above it, newest first.
        items = [p for p in items if int(p.key) > int(query["min_id"])][-limit:]
    page = items[:limit]
    headers: list[tuple[str, str]] = []
    kept = "&".join(f"{k}={query[k]}" for k in _PAGINATION_KEEP if k in query)
    url = f"{base}/api/v1/accounts/{account.id}/statuses?" + (kept + "&" if kept else "")
    links = []
    if len(page) == limit:
        links.append(f'<{url}max_id={page[-1].key}>; rel="next"')
    if page:
        links.append(f'<{url}min_id={page[0].key}>; rel="prev"')
    if links:
        headers.append(("Link", ", ".join(links)))
    return json_response(200, [status_json(world, base, p) for p in page], headers)


def _web(world: World, base: str, username: str, status_id: str | None) -> Response:
    account = account_of(world, username)
    if account is None:
        return html_response(404, simple_page("The page you are looking for isn't here.", ""))
    if account.state == "suspended":
        return html_response(403, simple_page("This account has been suspended", ""))
    if account.state == "deleted":
        return html_response(410, simple_page("This account is no longer available", ""))
    title = f"{account.display_name} (@{username})"
    if status_id is None:
        items = [p for p in _statuses_of(world, username) if world.listed(p)]
        body = "".join(
            f'<article><a href="{status_url(base, p)}">{p.key}</a>'
            f"{_content(p.versions[-1], p.tags, base)}</article>"
            for p in items
        )
        notice = (
            '<p class="limited-account-hint">This profile has been hidden by the moderators.</p>'
            if account.state == "limited"
            else ""
        )
        return html_response(
            200,
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"</head><body>{notice}{body}</body></html>",
        )
    post = world.post(PLATFORM, status_id)
    if post is None or post.owner != username or not world.visible(post):
        return html_response(404, simple_page("The page you are looking for isn't here.", ""))
    return html_response(
        200,
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<link rel="alternate" type="application/activity+json" '
        f'href="{status_api_url(base, post)}"></head><body>'
        f"{_content(post.versions[-1], post.tags, base)}</body></html>",
    )

