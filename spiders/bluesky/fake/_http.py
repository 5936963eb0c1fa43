"""Bluesky's hosts in the sandbox, in the shapes of ``shared/platforms/bluesky.md``,
all under ``/bluesky/``: the cached AppView (``public/xrpc``), the uncached one
(``appview/xrpc``), the PDS (``pds/xrpc``) and the PLC directory (``plc/<did>``).

The cached host really lags: for :data:`LAG` seconds after a change it serves the
post or account as it was before. Call :func:`handle` with the world lock held.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from spiders.sandbox.fake import Account, Post, Query, Response, World, iso_ms, json_response

from ..words import MOD_LABELER, POST_COLLECTION

PLATFORM = "bluesky"
PREFIX = "/bluesky/"
#: Seconds the cached host (``public``) serves a stale answer after a change.
LAG = 60.0
#: States in which the AppView serves a post.
SERVED = ("live", "labelled")


def memo(world: World) -> dict[str, Any]:
    """The fake's own bookkeeping, kept with the world it describes."""
    found: dict[str, Any] | None = getattr(world, "_bluesky", None)
    if found is None:
        found = {"changes": {}, "labels": {}, "accounts": {}}
        world._bluesky = found  # type: ignore[attr-defined]
    return found


def uri_of(post: Post) -> str:
    return f"at://{post.owner}/{POST_COLLECTION}/{post.key}"


def account_of(world: World, post: Post) -> Account | None:
    owner = world.owner(PLATFORM, post.owner)
    return owner if isinstance(owner, Account) else None


def _account_state(world: World, did: str, stale: bool) -> str:
    owner = world.owner(PLATFORM, did)
    state = owner.state if isinstance(owner, Account) else "deleted"
    seen = memo(world)["accounts"]
    last = seen.get(did)
    now = world.clock()
    if last is None or last[0] != state:
        seen[did] = last = (state, now, last[0] if last else state)
    if stale and now - last[1] < LAG:
        return str(last[2])
    return state


def _post_state(world: World, post: Post, stale: bool) -> str:
    change = memo(world)["changes"].get(post.uid)
    if stale and change is not None and world.clock() - change[0] < LAG:
        return str(change[1])
    return post.state


def served(world: World, post: Post, *, stale: bool = False) -> bool:
    """The AppView serves the post (the cached one as it was LAG seconds ago)."""
    return (_post_state(world, post, stale) in SERVED
            and _account_state(world, post.owner, stale) == "normal")


def _labels(world: World, post: Post, stale: bool) -> list[dict[str, Any]]:
    out = []
    for val, cts, neg in memo(world)["labels"].get(post.uid, []):
        if stale and world.clock() - cts < LAG:
            continue
        label: dict[str, Any] = {"src": MOD_LABELER, "uri": uri_of(post), "val": val,
                                 "cts": iso_ms(cts)}
        if neg:
            label["neg"] = True
        out.append(label)
    return out


def _record(post: Post) -> dict[str, Any]:
    text = " ".join(post.sentences)
    if post.link:
        text += f" {post.link}"
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": iso_ms(post.published),
            "langs": ["en"]}


def post_view(world: World, post: Post, stale: bool) -> dict[str, Any]:
    account = account_of(world, post)
    handle = account.display_name if account is not None else "handle.invalid"
    return {"uri": uri_of(post), "cid": f"bafyrei{post.key}", "record": _record(post),
            "author": {"did": post.owner, "handle": handle, "labels": []},
            "replyCount": post.counters.get("replies", 0),
            "repostCount": post.counters.get("reposts", 0),
            "likeCount": post.counters.get("likes", 0), "quoteCount": 0,
            "indexedAt": iso_ms(post.published), "labels": _labels(world, post, stale)}


def _error(name: str, message: str, status: int = 400) -> Response:
    return json_response(status, {"error": name, "message": message})


def _post_by_uri(world: World, uri: str) -> Post | None:
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != POST_COLLECTION:
        return None
    post = world.post(PLATFORM, parts[2])
    return post if post is not None and post.owner == parts[0] else None


def _all_values(name: str, query: Mapping[str, str]) -> list[str]:
    """Every value of a repeated parameter (``uris=a&uris=b``), at most 50."""
    if isinstance(query, Query):
        return query.getall(name)[:50]
    return [query[name]] if name in query else []


def _feed(world: World, query: Mapping[str, str], stale: bool) -> Response:
    did = query.get("actor", "")
    if _account_state(world, did, stale) != "normal":
        return _error("InvalidRequest", "Profile not found")
    posts = [p for p in world.posts_of(PLATFORM, did) if served(world, p, stale=stale)]
    try:
        limit = max(1, min(100, int(query.get("limit", "50"))))
    except ValueError:
        return _error("InvalidRequest", "Error: limit must be an integer")
    cursor = query.get("cursor")
    if cursor:
        posts = [p for p in posts if iso_ms(p.published) < cursor]
    page = posts[:limit]
    out: dict[str, Any] = {"feed": [{"post": post_view(world, p, stale)} for p in page]}
    if len(posts) > limit:
        out["cursor"] = iso_ms(page[-1].published)
    return json_response(200, out)


def _profile(world: World, query: Mapping[str, str], stale: bool) -> Response:
    did = query.get("actor", "")
    state = _account_state(world, did, stale)
    if state == "suspended":
        return _error("AccountTakedown", "Account has been suspended")
    owner = world.owner(PLATFORM, did)
    if state != "normal" or not isinstance(owner, Account):
        return _error("InvalidRequest", "Profile not found")
    return json_response(200, {"did": did, "handle": owner.display_name,
                               "followersCount": owner.followers, "labels": []})


def _appview(world: World, method: str, query: Mapping[str, str], stale: bool
             ) -> Response | None:
    if method == "app.bsky.feed.getAuthorFeed":
        return _feed(world, query, stale)
    if method == "app.bsky.actor.getProfile":
        return _profile(world, query, stale)
    if method == "app.bsky.feed.getPosts":
        posts = [_post_by_uri(world, u) for u in _all_values("uris", query)[:25]]
        return json_response(200, {"posts": [post_view(world, p, stale) for p in posts
                                             if p is not None and served(world, p, stale=stale)]})
    if method == "app.bsky.feed.getPostThread":
        post = _post_by_uri(world, query.get("uri", ""))
        if post is None or not served(world, post, stale=stale):
            return _error("NotFound", f"Post not found: {query.get('uri', '')}")
        return json_response(200, {"thread": {"$type": "app.bsky.feed.defs#threadViewPost",
                                              "post": post_view(world, post, stale),
                                              "replies": []}})
    return None


def _pds(world: World, method: str, query: Mapping[str, str]) -> Response | None:
    did = query.get("did") or query.get("repo") or ""
    state = _account_state(world, did, False)
    if method == "com.atproto.sync.getRepoStatus":
        if world.owner(PLATFORM, did) is None:
            return _error("RepoNotFound", f"Could not find repo for DID: {did}")
        out: dict[str, Any] = {"did": did, "active": state == "normal"}
        if state != "normal":
            out["status"] = "takendown" if state == "suspended" else state
        return json_response(200, out)
    if method == "com.atproto.repo.getRecord":
        if state == "suspended":
            return _error("RepoTakendown", f"Repo has been takendown: {did}")
        post = world.post(PLATFORM, query.get("rkey", ""))
        if post is None or post.owner != did or post.state == "deleted_by_author":
            return _error("RecordNotFound", f"Could not locate record: at://{did}/"
                          f"{POST_COLLECTION}/{query.get('rkey', '')}")
        return json_response(200, {"uri": uri_of(post), "cid": f"bafyrei{post.key}",
                                   "value": _record(post)})
    return None


def _plc(world: World, base: str, did: str) -> Response:
    if world.owner(PLATFORM, did) is None:
        return Response(404, f"DID not registered: {did}".encode(),
                        [("Content-Type", "text/plain; charset=utf-8")])
    return json_response(200, {
        "@context": ["https://www.w3.org/ns/did/v1"], "id": did, "verificationMethod": [],
        "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                     "serviceEndpoint": f"{base}/bluesky/pds"}]})


def handle(world: World, base: str, path: str, query: Mapping[str, str]) -> Response | None:
    rest = path[len(PREFIX):] if path.startswith(PREFIX) else ""
    host, _, tail = rest.partition("/")
    if host == "plc":
        return _plc(world, base, unquote(tail))
    method = tail.removeprefix("xrpc/") if tail.startswith("xrpc/") else ""
    if not method:
        return None
    if host in ("public", "appview"):
        found = _appview(world, method, query, stale=host == "public")
    elif host == "pds":
        found = _pds(world, method, query)
    else:
        return None
    return found if found is not None else _error("MethodNotImplemented",
                                                  "Method Not Implemented", 501)


__all__ = ["LAG", "PLATFORM", "SERVED", "account_of", "handle", "memo", "served", "uri_of"]
