"""Weibo's mobile API and pages in the sandbox, in the shapes of
``shared/platforms/weibo.md``: 432 without the visitor cookie, repost stubs, errnos,
``/detail/`` pages. Call :func:`handle` with the world lock held."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from spiders.sandbox.fake import Account, Post, Response, World, html_response, json_response

from ..ids import mid_to_bid, to_mid

PLATFORM = "weibo"
PAGE_SIZE = 10
#: Characters of text the list and show answers carry before cutting a long post.
CUT = 140
VISITOR_SUB = "_2AkMsandboxVisitorSUB"
_CST = timezone(timedelta(hours=8))
_STUB_AUTHOR = "抱歉，此微博已被作者删除。查看帮助：<a href='http://t.cn/Rfd3rQV'>网页链接</a>"
_STUB_PLATFORM = ("该微博因被多人投诉，根据《微博社区公约》，已被删除。查看帮助："
                  "<a href='http://t.cn/Rfd3rQV'>网页链接</a>")
_STUB_PRIVATE = "抱歉，由于作者设置，你暂时没有这条微博的查看权限哦。"
BANNED = "该账号因被投诉违反法律法规和《微博社区公约》的相关规定，现已无法查看。"
_EMPTY = {"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}}
_GONE_PAGE = "微博不存在或暂无查看权限!"
_PRIVATE_PAGE = "由于博主设置，目前内容暂不可见。"
REPOST = "repost:"


@dataclass(slots=True)
class Celeb:
    """An account nobody watches, whose posts watched accounts repost."""

    uid: str
    screen_name: str


def repost_of(post: Post) -> str | None:
    """The original's mid of a repost (Weibo posts have no location: a repost keeps
    its original's mid there)."""
    return post.location[len(REPOST):] if post.location.startswith(REPOST) else None


def owner_name(world: World, post: Post) -> str:
    owner = world.owner(PLATFORM, post.owner)
    if isinstance(owner, Account):
        return owner.display_name
    return owner.screen_name if isinstance(owner, Celeb) else post.owner


def owner_suspended(world: World, post: Post) -> bool:
    owner = world.owner(PLATFORM, post.owner)
    return isinstance(owner, Account) and owner.state != "normal"


def full_text(post: Post) -> str:
    text = "".join(post.sentences)
    if post.link:
        text += f' <a href="{html.escape(post.link)}">网页链接</a>'
    return text


def status_url(base: str, post: Post) -> str:
    return f"{base}/status/{mid_to_bid(post.key)}"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, _CST).strftime("%a %b %d %H:%M:%S %z %Y")


def mblog(world: World, post: Post, *, nested: bool = True) -> dict[str, Any]:
    text = full_text(post)
    long = len(text) > CUT
    if long:
        text = text[:CUT] + f'...<a href="/status/{mid_to_bid(post.key)}">全文</a>'
    edits = len(post.versions) - 1
    out: dict[str, Any] = {
        "id": post.key, "mid": post.key, "bid": mid_to_bid(post.key),
        "created_at": _when(post.published), "text": text, "isLongText": long,
        "textLength": len(full_text(post)), "source": "微博 weibo.com",
        "user": {"id": int(post.owner), "screen_name": owner_name(world, post)},
        "reposts_count": post.counters.get("reposts", 0),
        "comments_count": post.counters.get("comments", 0),
        "attitudes_count": post.counters.get("likes", 0),
        "visible": {"type": 0, "list_id": 0}, "mblogtype": 0,
        "pic_num": len(post.media), "pics": [
            {"pid": m.file_id, "url": f"https://wx1.sinaimg.cn/orj360/{m.file_id}.jpg"}
            for m in post.media],
        "edit_config": {"edited": edits > 0},
    }
    if edits:
        out.update(edit_count=edits, edit_at=_when(post.updated))
    original = repost_of(post)
    if original and nested:
        out["retweeted_status"] = _retweeted(world, original)
    return out


def _retweeted(world: World, mid: str) -> dict[str, Any]:
    post = world.post(PLATFORM, mid)
    if post is not None and world.visible(post):
        return mblog(world, post, nested=False)
    stub: dict[str, Any] = {"id": mid, "mid": mid, "bid": mid_to_bid(mid),
                            "created_at": "08-16", "visible": {"type": 0, "list_id": 0},
                            "user": None, "source": "", "retweeted": 1}
    state = post.state if post is not None else "deleted_by_author"
    if state == "removed_by_platform":
        stub.update(text=_STUB_PLATFORM, deleted="1", state=8)
    elif state == "private":
        stub.update(text=_STUB_PRIVATE, visible={"type": 1, "list_id": 0})
    else:
        stub.update(text=_STUB_AUTHOR, deleted="1", state=7)
    return stub


def _has_cookie(headers: Mapping[str, str]) -> bool:
    return f"SUB={VISITOR_SUB}" in headers.get("cookie", "")


def handle(world: World, base: str, path: str, query: Mapping[str, str],
           headers: Mapping[str, str]) -> Response | None:
    if path == "/visitor/genvisitor2":
        body = ('window.gen_callback && gen_callback({"msg":"succ","data":{"sub":"'
                f'{VISITOR_SUB}","subp":"0033WrSXsandbox"}},"retcode":20000000}});')
        return Response(200, body.encode(), [
            ("Content-Type", "application/javascript"),
            ("Set-Cookie", f"SUB={VISITOR_SUB}; Path=/; HttpOnly"),
            ("Set-Cookie", "SUBP=0033WrSXsandbox; Path=/")])
    if path.startswith(("/detail/", "/status/")):
        return _detail(world, path.rstrip("/").rsplit("/", 1)[-1])
    if not path.startswith(("/api/container/", "/statuses/")):
        return None
    if not _has_cookie(headers):
        return Response(432, b"", [("Content-Type", "text/html")], reason="No Reason Phrase")
    if path == "/api/container/getIndex":
        return _container(world, base, query)
    if path in ("/statuses/show", "/statuses/extend"):
        try:
            mid = to_mid(query.get("id", ""))
        except ValueError:
            return json_response(200, {"ok": 0, "errno": "20101", "msg": "该微博不存在"})
        return _show(world, mid, extend=path.endswith("extend"))
    return None


def _show(world: World, mid: str, extend: bool) -> Response:
    post = world.post(PLATFORM, mid)
    if post is not None and world.visible(post):
        if extend:
            return json_response(200, {"ok": 1, "data": {"ok": 1, "longTextContent":
                                                         full_text(post)}})
        return json_response(200, {"ok": 1, "data": mblog(world, post)})
    if post is not None and not owner_suspended(world, post) and post.state in (
            "removed_by_platform", "private"):
        return json_response(200, {"ok": 0, "errno": "20112", "msg": "暂无查看权限"})
    return json_response(200, {"ok": 0, "errno": "20101", "msg": "该微博不存在"})


def _page(message: str, script: str = "") -> Response:
    return html_response(200, '<!DOCTYPE html><html><head><meta charset="utf-8"><title>微博'
                         f'</title></head><body><div class="wrap"><p class="h5-4con">{message}'
                         f"</p></div>{script}</body></html>")


def _detail(world: World, ident: str) -> Response:
    try:
        post = world.post(PLATFORM, to_mid(ident))
    except ValueError:
        post = None
    if post is not None and world.visible(post):
        data = json.dumps([{"status": mblog(world, post), "call": "weibo.com"}],
                          ensure_ascii=False).replace("</", "<\\/")
        return _page("", f"<script>var $render_data = {data}[0] || {{}};</script>")
    if post is not None and owner_suspended(world, post):
        return _page(BANNED)
    if post is not None and post.state == "private":
        return _page(_PRIVATE_PAGE)
    return _page(_GONE_PAGE)


def _container(world: World, base: str, query: Mapping[str, str]) -> Response:
    containerid = query.get("containerid", "")
    uid = containerid[6:]
    account = world.owner(PLATFORM, uid)
    if not isinstance(account, Account):
        return json_response(200, _EMPTY)
    if containerid.startswith("100505"):
        if account.state != "normal":
            return json_response(200, {"ok": 0, "msg": BANNED})
        return json_response(200, {"ok": 1, "data": {"userInfo": {
            "id": int(uid), "screen_name": account.display_name, "description": account.note}}})
    if not containerid.startswith("107603"):
        return json_response(200, _EMPTY)
    if account.state != "normal":
        return json_response(200, _EMPTY)
    posts = [p for p in world.posts_of(PLATFORM, uid) if world.listed(p)]
    start = 0
    since = query.get("since_id")
    if since:
        start = next((i for i, p in enumerate(posts) if p.key == since), len(posts))
    shown = posts[start:start + PAGE_SIZE]
    info: dict[str, Any] = {"containerid": containerid, "total": len(posts)}
    if start + PAGE_SIZE < len(posts):
        info["since_id"] = int(posts[start + PAGE_SIZE].key)
    cards = [{"card_type": 9, "itemid": f"{containerid}_-_{p.key}",
              "scheme": f"{base}/status/{mid_to_bid(p.key)}", "mblog": mblog(world, p)}
             for p in shown]
    return json_response(200, {"ok": 1, "data": {"cardlistInfo": info, "cards": cards}})
