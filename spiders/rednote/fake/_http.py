"""RedNote (Xiaohongshu) web pages in the sandbox, in the shapes of
``shared/platforms/xiaohongshu.md``.

Pages carry ``window.__INITIAL_STATE__``: a JS object literal, not JSON — it has
bare ``undefined`` tokens, as the real site does. The ``user_posted`` API answers
JSON pages of notes (``has_more``/``cursor``). Listings mint tokens in the world's
:class:`._tokens.TokenBook`. Call :func:`handle` with the world lock held.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from spiders.sandbox.fake import (
    PNG,
    Account,
    Media,
    Post,
    Response,
    World,
    html_response,
    json_response,
    redirect,
)

from ._tokens import tokens_of

PLATFORM = "rednote"


#: Seconds of world clock a token handed out by a listing stays valid (the real
#: site's last hours); a user's ``token_ttl`` overrides it.
TOKEN_TTL = 120.0


@dataclass(slots=True)
class RedUser(Account):
    """A RedNote user: an account (it can be banned or closed) with a red id.
    ``username`` and ``id`` are the 24-hex user id."""

    red_id: str = ""
    #: Its notes are watched one by one, by URL, not through the account.
    alone: bool = False
    #: Seconds of world clock the tokens its listings hand out stay valid.
    token_ttl: float = TOKEN_TTL

    @property
    def user_id(self) -> str:
        return self.username

    @property
    def nickname(self) -> str:
        return self.display_name

    @property
    def desc(self) -> str:
        return self.note


def user_of(world: World, user_id: str) -> RedUser | None:
    found = world.owner(PLATFORM, user_id)
    return found if isinstance(found, RedUser) else None


def note_url(base: str, post: Post, token: str | None = None) -> str:
    token = post.token if token is None else token
    return f"{base}/explore/{post.key}?xsec_token={quote(token)}&xsec_source=pc_feed"


def ttl_of(world: World, post: Post) -> float:
    user = user_of(world, post.owner)
    return user.token_ttl if user is not None else TOKEN_TTL


def token_valid(world: World, post: Post, token: str) -> bool:
    """A listing's unexpired token for this note, or the note's own URL token (its
    lone-note URL, minted when the watchlist was written) before the ttl ran out."""
    now = world.clock()
    if token and token == post.token:
        return now < world.started + ttl_of(world, post)
    return bool(token) and tokens_of(world).valid(post.key, token, now)


def notes_of(world: World, user_id: str) -> list[Post]:
    return world.posts_of(PLATFORM, user_id)

_NOTE = re.compile(r"^/(?:explore|discovery/item)/([0-9a-f]{24})$")
_PROFILE = re.compile(r"^/user/profile/([0-9a-f]{24})$")
USER_POSTED = "/api/sns/web/v1/user_posted"
#: Notes a profile page or a user_posted page holds.
PAGE_SIZE = 30

GENERIC_ERROR = "300031"
#: state → (errorCode in the redirect, notice in the error page)
NOTICES: dict[str, tuple[str, str]] = {
    "deleted_by_author": ("-510000", "该笔记已被删除"),
    "removed_by_platform": ("-510000", "该内容因违规已被删除"),
    "private": ("-510001", "私密笔记，仅作者可见"),
    "under_review": ("-510001", "笔记状态异常，请稍后查看"),
}
GENERIC_NOTICE = "当前笔记暂时无法浏览"
#: What a profile page says for an account that is not in good standing. The ban's
#: wording is a guess (see spiders.rednote.words).
ACCOUNT_NOTICES = {"deleted": "该用户已注销", "suspended": "该账号已被封禁"}
ERROR_TITLE = "小红书 - 你访问的页面不见了"


class _Undefined:
    """Stands for the JS ``undefined`` token in a state object."""


UNDEFINED = _Undefined()
_UNDEF_MARK = "\x00undefined\x00"


def js_state(state: dict[str, Any]) -> str:
    """Serialise like the site: JSON plus bare ``undefined``, with ``<`` escaped."""
    text = json.dumps(
        state,
        ensure_ascii=False,
        separators=(",", ":"),
        default=lambda o: _UNDEF_MARK if o is UNDEFINED else str(o),
    )
    return text.replace(json.dumps(_UNDEF_MARK), "undefined").replace("<", "\\u003c")


def count_text(n: int) -> str:
    """Counts as the site shows them: ``"876"``, ``"1.2万"``."""
    if n < 10_000:
        return str(n)
    return f"{n / 10_000:.1f}".rstrip("0").rstrip(".") + "万"


def handle(world: World, base: str, path: str, query: Mapping[str, str]) -> Response | None:
    """The response for a RedNote path, or None when the path is not RedNote's."""
    if m := _NOTE.match(path):
        return _note_page(world, base, m.group(1), query.get("xsec_token", ""))
    if path == "/404":
        return _error_page(world, query)
    if m := _PROFILE.match(path):
        user = user_of(world, m.group(1))
        if user is None:
            return redirect(f"{base}/404?source=user&userId={m.group(1)}")
        return _profile_page(world, base, user)
    if path == USER_POSTED:
        return _user_posted(world, base, query)
    if path.startswith("/img/"):
        return Response(200, PNG, [("Content-Type", "image/png")])
    return None


def _page(title: str, body: str, state: dict[str, Any]) -> str:
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<title>{html.escape(title)}</title></head><body><div id="app">{body}</div>'
        f"<script>window.__INITIAL_STATE__={js_state(state)}</script></body></html>"
    )


def _global(world: World) -> dict[str, Any]:
    return {
        "appSettings": {"notificationInterval": 30, "prohibitedEmoji": []},
        "supportWebp": True,
        "serverTime": int(world.clock() * 1000),
        "grayMode": False,
    }


def _user_state(notes: list[list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    return {
        "loggedIn": False,
        "activated": False,
        "userInfo": {},
        "follow": [],
        "userPageData": {},
        "activeTabKey": 0,
        "notes": notes if notes is not None else [[], [], [], []],
        "isFetchingNotes": [False, False, False, False],
    }


def _feed_query() -> dict[str, Any]:
    return {
        "cursorScore": "",
        "num": 18,
        "refreshType": 1,
        "noteIndex": 0,
        "category": "homefeed_recommend",
        "searchKey": "",
        "needNum": UNDEFINED,
        "imageFormats": ["jpg", "webp", "avif"],
    }


def _images(world: World, base: str, media: list[Media]) -> list[dict[str, Any]]:
    # Signed CDN-style URLs: the signature and `t` change every tick; fileId does not.
    stamp = int((world.started + world.tick * 60) * 1000)
    out = []
    for m in media:
        sign = hashlib.md5(f"{m.file_id}:{stamp}".encode()).hexdigest()
        url = f"{base}/img/{m.file_id}?sign={sign}&t={stamp}"
        out.append(
            {
                "fileId": m.file_id,
                "width": m.width,
                "height": m.height,
                "urlDefault": url,
                "urlPre": url + "&imageView2=2/w/540",
                "livePhoto": False,
                "traceId": "",
                "infoList": [
                    {"imageScene": "WB_PRV", "url": url + "&imageView2=2/w/540"},
                    {"imageScene": "WB_DFT", "url": url},
                ],
            }
        )
    return out


def _interact(post: Post) -> dict[str, Any]:
    return {
        "followed": False,
        "relation": "none",
        "liked": False,
        "likedCount": count_text(post.counters.get("liked", 0)),
        "collected": False,
        "collectedCount": count_text(post.counters.get("collected", 0)),
        "commentCount": count_text(post.counters.get("comment", 0)),
        "shareCount": count_text(post.counters.get("share", 0)),
    }


def _user_brief(world: World, base: str, user: RedUser, token: str) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "nickname": user.nickname,
        "avatar": f"{base}/img/avatar-{user.user_id}?imageView2=2/w/80",
        "xsecToken": token,
    }


def note_json(world: World, base: str, post: Post, token: str | None = None) -> dict[str, Any]:
    token = post.token if token is None else token
    desc = "".join(post.sentences)
    if post.tags:
        desc += "\n" + " ".join(f"#{tag}[话题]#" for tag in post.tags)
    return {
        "noteId": post.key,
        "type": "normal",
        "title": post.title,
        "desc": desc,
        "time": int(post.published * 1000),
        "lastUpdateTime": int(post.updated * 1000),
        "ipLocation": post.location,
        "user": _user_brief(world, base, world.owners[(PLATFORM, post.owner)], token),
        "interactInfo": _interact(post),
        "imageList": _images(world, base, post.media),
        "tagList": [
            {"id": hashlib.md5(tag.encode()).hexdigest()[:24], "name": tag, "type": "topic"}
            for tag in post.tags
        ],
        "atUserList": [],
        "shareInfo": {"unShare": False},
        "xsecToken": token,
    }


def note_page(world: World, base: str, post: Post, token: str | None = None) -> str:
    """The 200 page of a live note (reached with ``token``)."""
    now = int(world.clock() * 1000)
    state = {
        "global": _global(world),
        "user": _user_state(),
        "feed": {"query": _feed_query(), "feeds": []},
        "note": {
            "prevRouteData": {},
            "prevRoute": "Empty",
            "commentTarget": {},
            "isImgFullscreen": False,
            "gotoPage": "",
            "firstNoteId": post.key,
            "autoOpenNote": False,
            "topCommentId": "",
            "noteDetailMap": {
                post.key: {
                    "comments": {
                        "list": [],
                        "cursor": "",
                        "hasMore": True,
                        "loading": False,
                        "firstRequestFinish": False,
                    },
                    "currentTime": now,
                    "note": note_json(world, base, post, token),
                }
            },
            "serverRequestInfo": {"state": UNDEFINED, "errorCode": UNDEFINED, "errMsg": UNDEFINED},
            "volume": 0,
            "mute": True,
        },
    }
    body = (
        f'<div class="note-container"><div id="detail-title">{html.escape(post.title)}</div></div>'
    )
    return _page(f"{post.title} - 小红书", body, state)


def _note_page(world: World, base: str, note_id: str, token: str) -> Response:
    """A listed token (or the note's own URL token) within its ttl is needed to see
    anything: without one, every note, live or removed, answers the generic 300031
    page. With one, a live note is served and a removed one says why."""
    post = world.post(PLATFORM, note_id)
    user = user_of(world, post.owner) if post is not None else None
    if (post is None or user is None or user.state != "normal"
            or not token_valid(world, post, token)):
        digest = hashlib.sha256(f"{note_id}:{token}".encode()).hexdigest()[:32]
        return redirect(f"{base}/404?source=/404/sec_{digest}&error_code={GENERIC_ERROR}")
    if post.state != "live":
        code, _ = NOTICES[post.state]
        return redirect(f"{base}/404?source=note&noteId={note_id}&errorCode={quote(code)}")
    return html_response(200, note_page(world, base, post, token))


def error_page(world: World, notice: str) -> str:
    """The page every unavailable note lands on; only the notice differs."""
    state = {
        "global": _global(world),
        "user": _user_state(),
        "feed": {"query": _feed_query(), "feeds": []},
        "note": {
            "firstNoteId": "",
            "serverRequestInfo": {"state": UNDEFINED, "errorCode": UNDEFINED, "errMsg": UNDEFINED},
        },
    }
    body = (
        f'<div class="error-wrapper">{html.escape(notice)}</div>'
        '<div class="error-tip">3 秒后将自动返回首页</div>'
    )
    return _page(ERROR_TITLE, body, state)


def _error_page(world: World, query: Mapping[str, str]) -> Response:
    notice = GENERIC_NOTICE
    if query.get("source") == "user":
        notice = "用户不存在"
    elif query.get("source") == "note":
        post = world.post(PLATFORM, query.get("noteId", ""))
        if post is not None and post.state in NOTICES:
            notice = NOTICES[post.state][1]
        else:
            by_code = {code: text for code, text in NOTICES.values()}
            notice = by_code.get(query.get("errorCode", ""), GENERIC_NOTICE)
    return html_response(200, error_page(world, notice))


def profile_card(world: World, base: str, post: Post, index: int,
                 token: str | None = None) -> dict[str, Any]:
    token = post.token if token is None else token
    user = world.owners[(PLATFORM, post.owner)]
    cover = _images(world, base, post.media[:1])
    return {
        "id": post.key,
        "xsecToken": token,
        "index": index,
        "noteCard": {
            "noteId": post.key,
            "type": "normal",
            "displayTitle": post.title,
            "user": {**_user_brief(world, base, user, token), "nickName": user.nickname},
            "interactInfo": {
                "sticky": False,
                "likedCount": count_text(post.counters.get("liked", 0)),
            },
            "cover": cover[0] if cover else {},
        },
    }


def listed_page(world: World, user: RedUser, cursor: str = "",
                num: int = PAGE_SIZE) -> tuple[list[tuple[Post, str]], bool]:
    """One page of a user's listed notes, newest first, after the note ``cursor``
    names, each with a fresh token; and whether more follow."""
    notes = [p for p in notes_of(world, user.user_id) if world.listed(p)]
    if cursor:
        after = next((i for i, p in enumerate(notes) if p.key == cursor), None)
        notes = notes[after + 1:] if after is not None else []
    page = notes[:max(1, min(num, PAGE_SIZE))]
    book, now = tokens_of(world), world.clock()
    return [(p, book.mint(p.key, now, user.token_ttl)) for p in page], len(notes) > len(page)


def _account_page(world: World, user: RedUser) -> Response:
    """A closed or banned account's profile: the error page with the account's words."""
    return html_response(200, error_page(world, ACCOUNT_NOTICES[user.state]))


def _profile_page(world: World, base: str, user: RedUser) -> Response:
    if user.state in ACCOUNT_NOTICES:
        return _account_page(world, user)
    page, more = listed_page(world, user)
    cards = [profile_card(world, base, post, i, token) for i, (post, token) in enumerate(page)]
    state_user = _user_state([cards, [], [], []])
    state_user["userPageData"] = {
        "basicInfo": {
            "nickname": user.nickname,
            "redId": user.red_id,
            "desc": user.desc,
            "ipLocation": "上海",
            "images": f"{base}/img/avatar-{user.user_id}",
            "gender": UNDEFINED,
        },
        "interactions": [
            {"type": "follows", "name": "关注", "count": "12"},
            {"type": "fans", "name": "粉丝", "count": "3456"},
        ],
        "tags": [],
    }
    cursor = page[-1][0].key if page and more else ""
    state_user["noteQueries"] = [
        {"num": PAGE_SIZE, "cursor": cursor, "userId": user.user_id, "hasMore": more}
    ] + [{"num": PAGE_SIZE, "cursor": "", "userId": user.user_id, "hasMore": False}] * 3
    state = {"global": _global(world), "user": state_user, "note": {}}
    body = f'<div class="user-name">{html.escape(user.nickname)}</div>'
    return html_response(200, _page(f"{user.nickname}的个人主页 - 小红书", body, state))


def _user_posted(world: World, base: str, query: Mapping[str, str]) -> Response:
    """``user_posted``: a page of notes, each with a fresh ``xsec_token``."""
    user = user_of(world, query.get("user_id", ""))
    if user is None or user.state != "normal":
        return json_response(200, {"code": -510000, "success": False, "msg": "用户不存在",
                                   "data": {}})
    try:
        num = int(query.get("num", PAGE_SIZE))
    except ValueError:
        num = PAGE_SIZE
    page, more = listed_page(world, user, query.get("cursor", ""), num)
    notes = []
    for post, token in page:
        cover = _images(world, base, post.media[:1])
        notes.append({
            "note_id": post.key,
            "type": "normal",
            "display_title": post.title,
            "xsec_token": token,
            "user": {"user_id": user.user_id, "nickname": user.nickname,
                     "avatar": f"{base}/img/avatar-{user.user_id}"},
            "interact_info": {"liked": False,
                              "liked_count": count_text(post.counters.get("liked", 0)),
                              "sticky": False},
            "cover": {"url_default": cover[0]["urlDefault"]} if cover else {},
        })
    return json_response(200, {"code": 0, "success": True, "msg": "成功", "data": {
        "cursor": page[-1][0].key if page and more else "", "has_more": more,
        "notes": notes}})
