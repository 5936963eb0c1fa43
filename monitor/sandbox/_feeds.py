"""Atom 1.0 (with RFC 6721 tombstones) and RSS 2.0 feeds, and their article pages.

Call :func:`handle` with the world lock held.
"""

from __future__ import annotations

import hashlib
import html
import re
from xml.sax.saxutils import escape, quoteattr

from ._urls import (
    HTML_TYPE,
    PNG,
    Response,
    article_url,
    atom_id,
    feed_url,
    html_response,
    iso_s,
    rfc822,
    simple_page,
)
from ._world import Post, Site, World

_FEED = re.compile(r"^/feeds/([a-z0-9_-]+)\.(atom|rss)$")
_ARTICLE = re.compile(r"^/articles/([a-z0-9_-]+)/([A-Za-z0-9_-]+)$")

ATOM_NS = "http://www.w3.org/2005/Atom"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"
#: Tombstones kept in a feed; older ones fall off like entries do.
MAX_TOMBSTONES = 50


def handle(world: World, base: str, path: str, headers: dict[str, str]) -> Response | None:
    """The response for a feed or article path, or None when the path is not ours."""
    if m := _FEED.match(path):
        site = world.sites.get(m.group(1))
        if site is None or site.fmt != m.group(2):
            return html_response(404, simple_page("Not Found", "No such feed."))
        body = atom(world, base, site) if site.fmt == "atom" else rss(world, base, site)
        kind = "application/atom+xml" if site.fmt == "atom" else "application/rss+xml"
        return _conditional(body.encode(), f"{kind}; charset=utf-8", headers)
    if m := _ARTICLE.match(path):
        site = world.sites.get(m.group(1))
        post = world.post("rss", f"{m.group(1)}/{m.group(2)}")
        if site is None or post is None:
            return html_response(404, simple_page("Not Found", "No such article."))
        return article(base, site, post)
    if path.startswith("/media/"):
        return Response(200, PNG, [("Content-Type", "image/png")])
    return None


def _conditional(body: bytes, content_type: str, headers: dict[str, str]) -> Response:
    etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
    if headers.get("if-none-match") == etag:
        return Response(304, b"", [("ETag", etag)])
    return Response(200, body, [("Content-Type", content_type), ("ETag", etag)])


def content_html(base: str, post: Post) -> str:
    """The article body: paragraphs, a source link, figures."""
    out = [f"<p>{html.escape(sentence, quote=False)}</p>" for sentence in post.sentences]
    if post.link:
        link = html.escape(post.link)
        out.append(f'<p>Source: <a href="{link}">{link}</a></p>')
    out += [
        f'<figure><img src="{base}/media/{m.file_id}.png" width="{m.width}" '
        f'height="{m.height}" alt=""></figure>'
        for m in post.media
    ]
    return "".join(out)


def atom(world: World, base: str, site: Site) -> str:
    entries = world.feed_entries(site.name)
    tombstones = sorted(site.tombstones.values(), key=lambda t: t.when, reverse=True)
    tombstones = tombstones[:MAX_TOMBSTONES]
    stamps = [p.updated for p in entries] + [t.when for t in tombstones]
    updated = iso_s(max(stamps) if stamps else world.clock())
    self_link = quoteattr(feed_url(base, site))
    home = quoteattr(f"{base}/articles/{site.name}")
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f'<feed xmlns="{ATOM_NS}" xmlns:at="{TOMBSTONE_NS}">\n',
        f"  <id>tag:sandbox.local,2026:{site.name}</id>\n",
        f"  <title>{escape(site.title)}</title>\n",
        f"  <updated>{updated}</updated>\n",
        f'  <link rel="self" type="application/atom+xml" href={self_link}/>\n',
        f'  <link rel="alternate" type="text/html" href={home}/>\n',
        "  <generator>takedown-monitor sandbox</generator>\n",
    ]
    for post in entries:
        link = quoteattr(article_url(base, post))
        parts.append(
            "  <entry>\n"
            f"    <id>{escape(atom_id(post))}</id>\n"
            f"    <title>{escape(post.title)}</title>\n"
            f'    <link rel="alternate" type="text/html" href={link}/>\n'
            + "".join(
                f'    <link rel="enclosure" type="image/png" '
                f"href={quoteattr(f'{base}/media/{m.file_id}.png')}/>\n"
                for m in post.media
            )
            + f"    <published>{iso_s(post.published)}</published>\n"
            f"    <updated>{iso_s(post.updated)}</updated>\n"
            f"    <author><name>{escape(post.author)}</name></author>\n"
            f'    <content type="html">{escape(content_html(base, post))}</content>\n'
            "  </entry>\n"
        )
    for stone in tombstones:
        gone = world.post("rss", stone.uid)
        if gone is None:
            continue
        parts.append(
            f'  <at:deleted-entry ref={quoteattr(atom_id(gone))} when="{iso_s(stone.when)}">\n'
            f"    <at:by><name>{escape(stone.by)}</name></at:by>\n"
            f"    <at:comment>{escape(stone.comment)}</at:comment>\n"
            "  </at:deleted-entry>\n"
        )
    parts.append("</feed>\n")
    return "".join(parts)


def rss(world: World, base: str, site: Site) -> str:
    entries = world.feed_entries(site.name)
    built = rfc822(max((p.updated for p in entries), default=world.clock()))
    self_link = quoteattr(feed_url(base, site))
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n',
        "<channel>\n",
        f"  <title>{escape(site.title)}</title>\n",
        f"  <link>{escape(base + '/articles/' + site.name)}</link>\n",
        f"  <description>{escape(site.title)}: articles</description>\n",
        "  <language>en</language>\n",
        f"  <lastBuildDate>{built}</lastBuildDate>\n",
        f'  <atom:link rel="self" type="application/rss+xml" href={self_link}/>\n',
    ]
    for post in entries:
        url = escape(article_url(base, post))
        enclosure = ""
        if post.media:
            media_url = quoteattr(f"{base}/media/{post.media[0].file_id}.png")
            enclosure = f'    <enclosure url={media_url} length="68" type="image/png"/>\n'
        parts.append(
            "  <item>\n"
            f"    <title>{escape(post.title)}</title>\n"
            f"    <link>{url}</link>\n"
            f'    <guid isPermaLink="true">{url}</guid>\n'
            f"    <pubDate>{rfc822(post.published)}</pubDate>\n"
            f"    <dc:creator>{escape(post.author)}</dc:creator>\n"
            f"    <description>{escape(content_html(base, post))}</description>\n"
            f"{enclosure}"
            "  </item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts)


def article(base: str, site: Site, post: Post) -> Response:
    """The article page, or the 404/410/451 that replaced it."""
    state = post.state
    if state in ("deleted_by_author", "deleted_silently"):
        return html_response(410, simple_page("Gone", "This article is no longer available."))
    if state == "removed_by_moderator":
        return html_response(404, simple_page("Not Found", "The page you requested was not found."))
    if state == "withheld_legal":
        # RFC 7725: 451 with a Link to the party that demanded the block.
        page = simple_page(
            "Unavailable For Legal Reasons",
            "This article has been withheld in response to a legal demand.",
        )
        return Response(
            451,
            page.encode(),
            [("Content-Type", HTML_TYPE), ("Link", f'<{base}/legal>; rel="blocked-by"')],
        )
    url = article_url(base, post)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(post.title)} – {html.escape(site.title)}</title>"
        f'<link rel="canonical" href="{html.escape(url)}">'
        f'<meta property="og:title" content="{html.escape(post.title)}">'
        f'<meta property="article:published_time" content="{iso_s(post.published)}">'
        f'<meta property="article:modified_time" content="{iso_s(post.updated)}">'
        f'<meta name="author" content="{html.escape(post.author)}">'
        "</head><body><article>"
        f"<h1>{html.escape(post.title)}</h1>"
        f'<p class="byline">By {html.escape(post.author)}, '
        f'<time datetime="{iso_s(post.published)}">{iso_s(post.published)}</time></p>'
        f"{content_html(base, post)}</article></body></html>"
    )
    return html_response(200, page)
