"""RSS/Atom sites in the sandbox: Atom 1.0 (with RFC 6721 tombstones) and RSS 2.0
feeds, their article pages, and what a correct monitor reports for each action.
The documents themselves (feeds with signed media URLs, article pages) are built
in :mod:`.fake_pages`.

Call :func:`handle` with the world lock held.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from spiders.sandbox.fake import (
    EDITED,
    HIDDEN,
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
    simple_page,
    text,
)

from . import article as articles
from .fake_pages import (
    FEED_WINDOW,
    MODERATOR_NAME,
    PLATFORM,
    TAG_AUTHORITY,
    Site,
    Tombstone,
    article,
    article_url,
    atom,
    atom_id,
    entries_of,
    feed_entries,
    feed_rank,
    feed_url,
    rss,
    signed_media_url,
    site_of,
)

__all__ = ["FAKE", "FEED_WINDOW", "MODERATOR_NAME", "PLATFORM", "TAG_AUTHORITY", "FeedFake",
           "Site", "Tombstone", "article", "article_url", "atom", "atom_id", "entries_of",
           "feed_entries", "feed_rank", "feed_url", "rss", "signed_media_url", "site_of"]

_FEED = re.compile(r"^/feeds/([a-z0-9_-]+)\.(atom|rss)$")
_ARTICLE = re.compile(r"^/articles/([a-z0-9_-]+)/([A-Za-z0-9_-]+)$")


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
#: A silent edit of an article that rotated out of its feed: only its page shows
#: it (a sentence redacted). Scripted while the monitor reads feed entries'
#: article pages (spiders.rss.article.FEED_ARTICLES).
EDIT_ARTICLE = "edit_article"
REDACTED = "[removed]"


def actions_for(fmt: str) -> frozenset[str]:
    return _ACTIONS[fmt] | ({EDIT_ARTICLE} if articles.FEED_ARTICLES else frozenset())


def redact_article(post: Post, now: float) -> None:
    """The edit_article action: the article's last sentence replaced by a redaction mark."""
    post.sentences = [*post.sentences[:-1], REDACTED]
    post.typo = None
    post.updated = max(now, post.updated + 1.0)
    post.versions.append(post.snapshot(post.updated))
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
#: Scripted with feed entries' article pages read: the oldest entries are out of
#: their feeds' windows by then (six at start, one more a tick, ten listed).
_DEMO_ARTICLE_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    10: [("news:i0", EDIT_ARTICLE, None), ("blog:i0", EDIT_ARTICLE, None)],
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
        scripted = _DEMO_ACTIONS.get(tick, [])
        if articles.FEED_ARTICLES:
            scripted = scripted + _DEMO_ARTICLE_ACTIONS.get(tick, [])
        for ref, action, style in scripted:
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
        EDIT_ARTICLE: "live",
    }
    restorable = frozenset({"removed_by_moderator", "withheld_legal", "hidden_from_feed"})
    _expect: Mapping[str, Mapping[str, Any]] = {
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

    @property
    def expect(self) -> Mapping[str, Mapping[str, Any]]:  # type: ignore[override]
        """The events of the actions, ``edit_article`` while feed articles are read."""
        return {**self._expect, **({EDIT_ARTICLE: EDITED} if articles.FEED_ARTICLES else {})}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, headers)

    def post_for(self, world: World, path: str, query: Mapping[str, str]) -> Post | None:
        if m := _ARTICLE.match(path):
            return world.post(PLATFORM, f"{m.group(1)}/{m.group(2)}")
        return None

    def actions(self, world: World, post: Post) -> frozenset[str]:
        site = site_of(world, post.owner)
        return actions_for(site.fmt) if site is not None else frozenset()

    def visible(self, world: World, post: Post) -> bool:
        return post.state in ("live", "hidden_from_feed")

    def on_action(self, world: World, post: Post, action: str, now: float) -> None:
        """Atom tombstones: who withdrew an entry, and why."""
        if action == EDIT_ARTICLE:
            redact_article(post, now)
            return
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
        elif action == EDIT_ARTICLE:
            if feed_rank(planner.world, post) <= FEED_WINDOW:
                return "still in its feed's window: an ordinary edit"
            if len(post.sentences) < 2:
                return "too short to redact a sentence"
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


