"""Telegram's web preview in the sandbox, in the shapes of ``shared/platforms/telegram.md``:
``/s/<channel>`` pages (oldest first, ``tme_messages_more`` to older ones), the embed
widget, the plain channel page a blocked channel's preview redirects to. Everything
lives under ``/telegram/``. Call :func:`handle` with the world lock held."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime

from spiders.sandbox.fake import Account, Post, Response, World, html_response, redirect

PLATFORM = "telegram"
PREFIX = "/telegram"
PAGE_SIZE = 20
FORWARD = "forward:"
TOS = "This channel can't be displayed because it violated Telegram's Terms of Service."
COPYRIGHT = "This message couldn't be displayed on your device due to copyright infringement."
NOT_FOUND = "Post not found"


def forward_of(post: Post) -> str | None:
    """The original's key of a forward (kept where a post's location would be)."""
    return post.location[len(FORWARD):] if post.location.startswith(FORWARD) else None


def message_id(post: Post) -> int:
    return int(post.key.rpartition("/")[2])


def channel_of(post: Post) -> str:
    return post.key.partition("/")[0]


def blocked(world: World, channel: str) -> bool:
    owner = world.owner(PLATFORM, channel)
    return isinstance(owner, Account) and owner.state != "normal"


def post_url(base: str, post: Post) -> str:
    return f"{base}{PREFIX}/{channel_of(post)}/{message_id(post)}"


def _views(post: Post) -> str:
    n = int(post.counters.get("views", 0))
    return f"{n / 1000:.1f}K" if n >= 1000 else str(n)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _text(base: str, post: Post) -> str:
    body = " ".join(html.escape(s) for s in post.sentences)
    if post.link:
        body += f' <a href="{html.escape(post.link)}">{html.escape(post.link)}</a>'
    return body


def message(world: World, base: str, post: Post) -> str:
    """One message block (the channel page's and the embed's)."""
    chan, ident = channel_of(post), message_id(post)
    owner = world.owner(PLATFORM, chan)
    title = html.escape(owner.display_name if isinstance(owner, Account) else chan)
    parts = [f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
             f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" '
             f'data-post="{chan}/{ident}" data-view="x">'
             f'<div class="tgme_widget_message_bubble">'
             f'<div class="tgme_widget_message_author accent_color">'
             f'<a class="tgme_widget_message_owner_name" href="{base}{PREFIX}/{chan}">'
             f'<span dir="auto">{title}</span></a></div>']
    original = forward_of(post)
    if original:
        o_chan, _, o_id = original.partition("/")
        parts.append(f'<div class="tgme_widget_message_forwarded_from accent_color">'
                     f'Forwarded from <a class="tgme_widget_message_forwarded_from_name" '
                     f'href="{base}{PREFIX}/{o_chan}/{o_id}"><span dir="auto">{o_chan}'
                     f'</span></a></div>')
    if post.state == "copyright":
        parts.append('<div class="message_media_not_supported_wrap"><div '
                     'class="message_media_not_supported"><div '
                     f'class="message_media_not_supported_label">{html.escape(COPYRIGHT)}'
                     '</div></div></div>')
    else:
        for media in post.media[:1]:
            parts.append(f'<a class="tgme_widget_message_photo_wrap" href="{base}{PREFIX}/'
                         f'{chan}/{ident}?single" style="width:100%;background-image:url('
                         f"'https://cdn4.telesco.pe/file/{media.file_id}.jpg')\"></a>")
        parts.append(f'<div class="tgme_widget_message_text js-message_text" dir="auto">'
                     f"{_text(base, post)}</div>")
    edited = "edited&nbsp;" if len(post.versions) > 1 else ""
    parts.append(f'<div class="tgme_widget_message_footer compact js-message_footer">'
                 f'<div class="tgme_widget_message_info short js-message_info">'
                 f'<span class="tgme_widget_message_views">{_views(post)}</span>'
                 f'<span class="tgme_widget_message_meta">{edited}<a '
                 f'class="tgme_widget_message_date" href="{base}{PREFIX}/{chan}/{ident}">'
                 f'<time datetime="{_iso(post.published)}" class="time">00:00</time></a>'
                 f"</span></div></div></div></div></div>")
    return "".join(parts)


def _doc(title: str, body: str) -> Response:
    return html_response(200, f'<!DOCTYPE html><html><head><meta charset="utf-8">'
                         f"<title>{html.escape(title)}</title></head><body>{body}</body></html>")


def _plain_page(world: World, chan: str) -> Response:
    owner = world.owner(PLATFORM, chan)
    if not isinstance(owner, Account):
        return _doc(f"Telegram: Contact @{chan}", '<div class="tgme_page"><div '
                    'class="tgme_page_extra">If you have Telegram, you can contact '
                    f"@{html.escape(chan)} right away.</div></div>")
    words = TOS if owner.state != "normal" else owner.note
    return _doc(f"Telegram: View @{chan}", f'<div class="tgme_page"><div class="tgme_page_title">'
                f'<span dir="auto">{html.escape(owner.display_name)}</span></div>'
                f'<div class="tgme_page_description">{html.escape(words)}</div></div>')


def shown(world: World, chan: str) -> list[Post]:
    """A channel's messages the preview shows, oldest first."""
    return sorted((p for p in world.posts_of(PLATFORM, chan)
                   if p.state == "copyright" or world.listed(p)), key=message_id)


def _channel(world: World, base: str, chan: str, query: Mapping[str, str]) -> Response:
    owner = world.owner(PLATFORM, chan)
    if not isinstance(owner, Account) or owner.state != "normal":
        return redirect(f"{base}{PREFIX}/{chan}")
    posts = shown(world, chan)
    before = query.get("before", "")
    if before.isdigit():
        posts = [p for p in posts if message_id(p) < int(before)]
    page, older = posts[-PAGE_SIZE:], posts[:-PAGE_SIZE]
    more = ""
    if older and page:
        first = message_id(page[0])
        more = (f'<div class="tgme_widget_message_centered js-messages_more_wrap"><a '
                f'href="{PREFIX}/s/{chan}?before={first}" class="tme_messages_more '
                f'js-messages_more" data-before="{first}"></a></div>')
    info = (f'<div class="tgme_channel_info"><div class="tgme_channel_info_header_title">'
            f'<span dir="auto">{html.escape(owner.display_name)}</span></div>'
            f'<div class="tgme_channel_info_description">{html.escape(owner.note)}</div></div>')
    history = "".join(message(world, base, p) for p in page)
    return _doc(f"{owner.display_name} – Telegram", f'{info}<section class="tgme_channel_history'
                f' js-message_history">{more}{history}</section>')


def _embed(world: World, base: str, chan: str, ident: str) -> Response:
    if blocked(world, chan):
        return _doc("Telegram Widget", f'<div class="tgme_widget_message_error">{html.escape(TOS)}'
                    "</div>")
    post = world.post(PLATFORM, f"{chan}/{ident}")
    if post is not None and (post.state == "copyright" or world.visible(post)):
        return _doc("Telegram Widget", message(world, base, post))
    return _doc("Telegram Widget", f'<div class="tgme_widget_message_error">{NOT_FOUND}</div>')


def handle(world: World, base: str, path: str, query: Mapping[str, str]) -> Response | None:
    if not path.startswith(PREFIX + "/"):
        return None
    segments = [s for s in path[len(PREFIX):].split("/") if s]
    if len(segments) == 2 and segments[0] == "s":
        return _channel(world, base, segments[1].lower(), query)
    if len(segments) == 2 and segments[1].isdigit():
        return _embed(world, base, segments[0].lower(), segments[1])
    if len(segments) == 1:
        return _plain_page(world, segments[0].lower())
    return None
