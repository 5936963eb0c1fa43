"""RSS/Atom sites in the sandbox: Atom 1.0 (with RFC 6721 tombstones) and RSS 2.0
feeds, their article pages, and what a correct monitor reports for each action.

Call :func:`handle` with the world lock held.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from xml.sax.saxutils import escape, quoteattr

from spiders.sandbox.fake import (
    EDITED,
    HIDDEN,
    HTML_TYPE,
    PNG,
    RESTORED,
    Fake,
    Plan,
    Planner,
    Post,
    Response,
    ScenarioPart,
    World,
    gone,
    html_response,
    iso_s,
    rfc822,
    simple_page,
    text,
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

_FEED = re.compile(r"^/feeds/([a-z0-9_-]+)\.(atom|rss)$")
_ARTICLE = re.compile(r"^/articles/([a-z0-9_-]+)/([A-Za-z0-9_-]+)$")

ATOM_NS = "http://www.w3.org/2005/Atom"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"
#: Tombstones kept in a feed; older ones fall off like entries do.
MAX_TOMBSTONES = 50


def handle(world: World, base: str, path: str, headers: Mapping[str, str]) -> Response | None:
    """The response for a feed or article path, or None when the path is not ours."""
    if m := _FEED.match(path):
        site = site_of(world, m.group(1))
        if site is None or site.fmt != m.group(2):
            return html_response(404, simple_page("Not Found", "No such feed."))
        body = atom(world, base, site) if site.fmt == "atom" else rss(world, base, site)
        kind = "application/atom+xml" if site.fmt == "atom" else "application/rss+xml"
        return _conditional(body.encode(), f"{kind}; charset=utf-8", headers)
    if m := _ARTICLE.match(path):
        site = site_of(world, m.group(1))
        post = world.post(PLATFORM, f"{m.group(1)}/{m.group(2)}")
        if site is None or post is None:
            return html_response(404, simple_page("Not Found", "No such article."))
        return article(base, site, post)
    if path.startswith("/media/"):
        return Response(200, PNG, [("Content-Type", "image/png")])
    return None


def _conditional(body: bytes, content_type: str, headers: Mapping[str, str]) -> Response:
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


# -- planning and scenarios -------------------------------------------------------------

SITE_NAMES = ["news", "blog", "daily", "chronicle", "gazette", "notes", "review", "digest"]
SITE_AUTHORS = [
    "Ann Writer", "Ben Reporter", "Chloe Columnist", "Dan Correspondent", "Eve Analyst",
    "Farid Stringer", "Gia Photographer",
]
#: An entry is hidden or removed only while in the newest half of its feed …
_RANK_ACT = 5
#: … and a hidden one is restored only while it would still be in the window.
_RANK_RESTORE = 8
#: Actions by feed format: Atom has tombstones that say who removed an entry.
_ACTIONS = {
    "atom": frozenset({"edit", "delete_by_author", "remove_by_moderator", "withhold_legal",
                       "hide_from_feed", "restore"}),
    "rss": frozenset({"edit", "delete_silently", "withhold_legal", "hide_from_feed", "restore"}),
}
_TOMBSTONES = {
    "delete_by_author": (None, "Withdrawn by the author."),
    "remove_by_moderator": (MODERATOR_NAME,
                            "Removed by the editors: it breached our publication guidelines."),
}


def new_site(planner: Planner, name: str, fmt: str) -> Site:
    site = Site(name=name, fmt=fmt, title=f"The {name.capitalize()} (sandbox)",
                authors=planner.rng.sample(SITE_AUTHORS, 3))
    return planner.add_owner(PLATFORM, name, site)  # type: ignore[no-any-return]


def new_entry(planner: Planner, site: str) -> Post:
    rng = planner.rng
    serial = planner.serial()
    title = text.english_title(rng)
    words = [w.lower() for w in title.split()[:3] if w.isalpha()]
    slug = f"{serial:05d}-" + "-".join(words)
    sentences, typo = text.with_typo(rng, text.english_sentences(rng, 3, 5))
    owner = site_of(planner.world, site)
    assert owner is not None, site
    return Post(
        platform=PLATFORM,
        key=slug,
        owner=site,
        author=rng.choice(owner.authors),
        title=title,
        sentences=sentences,
        link=f"https://example.org/source/{rng.randint(1000, 9999)}",
        media=planner.media(rng.randint(1, 2)),
        typo=typo,
        scoped=True,
    )


_DEMO_SITES = {"news": "atom", "blog": "rss"}
# "site:iN" is the N-th entry live at start, "site:tN" the entry published at tick N.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("news:i5", "edit", "rewrite"), ("blog:i5", "edit", "typo")],
    3: [("news:i4", "delete_by_author", None), ("blog:t1", "delete_silently", None)],
    4: [("news:t1", "remove_by_moderator", None), ("blog:t2", "hide_from_feed", None)],
    5: [("news:t2", "withhold_legal", None), ("blog:t3", "withhold_legal", None)],
    6: [("news:t1", "restore", None), ("blog:t2", "restore", None)],
    7: [("news:t4", "hide_from_feed", None), ("blog:i5", "edit", "media_removed")],
    8: [("news:t5", "edit", "link_removed"), ("blog:t3", "restore", None)],
    9: [("news:t4", "restore", None)],
}


class _Demo(ScenarioPart):
    """An Atom site and an RSS site with six entries each, and a new entry every tick."""

    def __init__(self) -> None:
        self.refs: dict[str, Post] = {}

    def setup(self, planner: Planner) -> None:
        for name, fmt in _DEMO_SITES.items():
            new_site(planner, name, fmt)

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        return [self._maker(planner, site, f"{site}:i{round_}") for site in _DEMO_SITES]

    def _maker(self, planner: Planner, site: str, ref: str) -> Callable[[], Post]:
        def make() -> Post:
            self.refs[ref] = new_entry(planner, site)
            return self.refs[ref]
        return make

    def publish(self, planner: Planner, tick: int) -> None:
        for site in _DEMO_SITES:
            self.refs[f"{site}:t{tick}"] = planner.publish(new_entry(planner, site))

    def act(self, planner: Planner, tick: int) -> None:
        for ref, action, style in _DEMO_ACTIONS.get(tick, []):
            planner.act(self.refs[ref], action, style)


class _Random(ScenarioPart):
    def __init__(self, knobs: Mapping[str, float]) -> None:
        self.knobs = knobs
        self.sites = [text.nth_name(SITE_NAMES, i) for i in range(int(knobs["sites"]))]

    def setup(self, planner: Planner) -> None:
        for i, site in enumerate(self.sites):
            new_site(planner, site, "atom" if i % 2 == 0 else "rss")

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        per = int(self.knobs["entries_per_site"])
        return [partial(new_entry, planner, site) for site in self.sites for _ in range(per)]

    def publish(self, planner: Planner, tick: int) -> None:
        for site in self.sites:
            if planner.rng.random() < float(self.knobs["publish_rate"]):
                planner.publish(new_entry(planner, site))


class FeedFake(Fake):
    name = PLATFORM
    paths = ("/feeds/", "/articles/", "/media/")
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_by_moderator": "removed_by_moderator",
        "hide_from_feed": "hidden_from_feed",
        "withhold_legal": "withheld_legal",
        "delete_silently": "deleted_silently",
        "restore": "live",
    }
    restorable = frozenset({"removed_by_moderator", "withheld_legal", "hidden_from_feed"})
    expect = {
        "edit": EDITED,
        "delete_by_author": gone("deleted_by_author"),
        "remove_by_moderator": gone("removed_by_moderator"),
        "withhold_legal": gone("removed_by_platform", detail="legal"),
        "delete_silently": gone("ambiguous", candidates=["deleted_by_author",
                                                         "removed_by_moderator"]),
        "hide_from_feed": HIDDEN,
        "restore": RESTORED,
    }
    knobs = {"sites": 2, "entries_per_site": 6}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, headers)

    def actions(self, world: World, post: Post) -> frozenset[str]:
        site = site_of(world, post.owner)
        return _ACTIONS[site.fmt] if site is not None else frozenset()

    def visible(self, world: World, post: Post) -> bool:
        return post.state in ("live", "hidden_from_feed")

    def on_action(self, world: World, post: Post, action: str, now: float) -> None:
        """Atom tombstones: who withdrew an entry, and why."""
        site = site_of(world, post.owner)
        if site is None:
            return
        if action in _TOMBSTONES:
            by, comment = _TOMBSTONES[action]
            site.tombstones[post.uid] = Tombstone(post.uid, now, by or post.author, comment)
        elif action == "restore":
            site.tombstones.pop(post.uid, None)

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if action == "restore":
            if post.state == "hidden_from_feed" and feed_rank(planner.world, post) > _RANK_RESTORE:
                return "would come back outside the feed window"
        elif action != "edit" and feed_rank(planner.world, post) > _RANK_ACT:
            return "too close to the end of the feed window"
        return None

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        sentences = text.english_rewrite(planner.rng, len(post.sentences))
        return text.english_title(planner.rng), sentences

    def post_key(self, base: str, world: World, post: Post) -> str:
        """Atom entries are known by their id, RSS items by their guid (the article URL)."""
        site = site_of(world, post.owner)
        return atom_id(post) if site is not None and site.fmt == "atom" else article_url(
            base, post)

    def post_url(self, base: str, world: World, post: Post) -> str:
        return article_url(base, post)

    def target(self, base: str, world: World, post: Post) -> str:
        site = site_of(world, post.owner)
        assert site is not None
        return feed_url(base, site)

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "feed": feed_url(base, site)}
                for site in plan.owners_of(PLATFORM)]

    def demo(self) -> ScenarioPart:
        return _Demo()

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return _Random(knobs)

    def export_owner(self, planner: Planner, n: int) -> str:
        return new_site(planner, f"bench{n}", "atom").name

    def export(self, planner: Planner, owner: str, index: int,
               base: str) -> tuple[str, bytes, str]:
        """``articles/{site}/{slug}`` (HTML)."""
        post = planner.publish(new_entry(planner, owner))
        site = site_of(planner.world, owner)
        assert site is not None
        return f"articles/{owner}/{post.key}", article(base, site, post).body, article_url(
            base, post)


FAKE = FeedFake()


