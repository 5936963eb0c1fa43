"""The RSS fake's documents: its Atom and RSS 2.0 feeds and its article pages.

Split from :mod:`.fake` (routes, actions, scenarios), which serves them.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from spiders.sandbox.fake import (
    HTML_TYPE,
    Media,
    Post,
    Response,
    World,
    html_response,
    iso_s,
    rfc822,
    simple_page,
)

PLATFORM = "rss"
#: Authority of the Atom ``tag:`` ids, so that ids do not depend on the port.
TAG_AUTHORITY = "sandbox.local"
#: Window of a feed: the newest N live entries.
FEED_WINDOW = 10
MODERATOR_NAME = "Site Editor"


@dataclass(slots=True)
class Tombstone:
    uid: str
    when: float
    by: str
    comment: str


@dataclass(slots=True)
class Site:
    name: str
    fmt: str  # "atom" or "rss"
    title: str
    authors: list[str]
    tombstones: dict[str, Tombstone] = field(default_factory=dict)

    @property
    def feed_path(self) -> str:
        return f"/feeds/{self.name}.{self.fmt}"


def site_of(world: World, name: str) -> Site | None:
    found = world.owner(PLATFORM, name)
    return found if isinstance(found, Site) else None


def feed_url(base: str, site: Site) -> str:
    return f"{base}{site.feed_path}"


def article_url(base: str, post: Post) -> str:
    return f"{base}/articles/{post.owner}/{post.key}"


def atom_id(post: Post) -> str:
    return f"tag:{TAG_AUTHORITY},2026:{post.owner}/{post.key}"


def entries_of(world: World, site: str) -> list[Post]:
    """A site's entries, newest first."""
    return world.posts_of(PLATFORM, site)


def feed_entries(world: World, site: str) -> list[Post]:
    """What the feed carries now: the newest :data:`FEED_WINDOW` listed entries."""
    return [p for p in entries_of(world, site) if world.listed(p)][:FEED_WINDOW]


def feed_rank(world: World, post: Post) -> int:
    """1-based position the entry has (or would have, if listed) in its feed."""
    newer = [
        p
        for p in entries_of(world, post.owner)
        if world.listed(p) and p is not post
        and (p.published, p.key) > (post.published, post.key)
    ]
    return len(newer) + 1

ATOM_NS = "http://www.w3.org/2005/Atom"
MRSS_NS = "http://search.yahoo.com/mrss/"
#: Seconds a media URL's signature lasts: the feeds sign their media URLs the way
#: CDNs do (``?exp=…&sig=…``), so the query changes while the object does not.
SIGNATURE_PERIOD = 20
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"
#: Tombstones kept in a feed; older ones fall off like entries do.
MAX_TOMBSTONES = 50



def signed_media_url(base: str, media: Media, now: float) -> str:
    """A media file's URL as a CDN signs it: the same object, a new query each period."""
    exp = (int(now) // SIGNATURE_PERIOD + 1) * SIGNATURE_PERIOD
    sig = hashlib.sha1(f"{media.file_id}:{exp}".encode()).hexdigest()[:16]
    return f"{base}/media/{media.file_id}.png?exp={exp}&sig={sig}"


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
    entries = feed_entries(world, site.name)
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
                f"href={quoteattr(signed_media_url(base, m, world.clock()))}/>\n"
                for m in post.media
            )
            + f"    <published>{iso_s(post.published)}</published>\n"
            f"    <updated>{iso_s(post.updated)}</updated>\n"
            f"    <author><name>{escape(post.author)}</name></author>\n"
            f'    <content type="html">{escape(content_html(base, post))}</content>\n'
            "  </entry>\n"
        )
    for stone in tombstones:
        gone = world.post(PLATFORM, stone.uid)
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
    entries = feed_entries(world, site.name)
    built = rfc822(max((p.updated for p in entries), default=world.clock()))
    self_link = quoteattr(feed_url(base, site))
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="{MRSS_NS}">\n',
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
        # RSS 2.0 allows one enclosure; every medium is a Media RSS media:content.
        urls = [quoteattr(signed_media_url(base, m, world.clock())) for m in post.media]
        enclosure = "".join(
            ([f'    <enclosure url={urls[0]} length="68" type="image/png"/>\n'] if urls else [])
            + [f'    <media:content url={u} medium="image" type="image/png"/>\n' for u in urls])
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
