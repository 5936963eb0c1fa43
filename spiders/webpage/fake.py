"""Web pages in the sandbox: articles whose watched part (``div.article``) is edited,
cut out of the page, or the whole page withdrawn (410), removed (404) or withheld
(451), while the rest of the page changes on every tick.

Targets are the pages live at start (a page has no listing to find new ones).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from functools import partial

from spiders.sandbox.fake import (
    EDITED,
    HTML_TYPE,
    RESTORED,
    DemoActions,
    Fake,
    Plan,
    Planner,
    Post,
    Response,
    ScenarioPart,
    ScriptedDemo,
    World,
    gone,
    html_response,
    simple_page,
    text,
)

PLATFORM = "webpage"
SELECTOR = "div.article"  # no space, so a key prints as one word
_PAGE = re.compile(r"^/pages/([a-z0-9-]+)$")
_AMBIGUOUS = ["deleted_by_author", "removed_by_moderator"]


def page_url(base: str, post: Post) -> str:
    return f"{base}/pages/{post.key}"


def watch_value(base: str, post: Post) -> str:
    """The target: the page and the selector of its watched part."""
    return f"{page_url(base, post)}#css={SELECTOR}"


def new_page(planner: Planner) -> Post:
    rng = planner.rng
    serial = planner.serial()
    title = text.english_title(rng)
    sentences, typo = text.with_typo(rng, text.english_sentences(rng, 2, 4))
    return Post(
        platform=PLATFORM,
        key=f"notice-{serial:05d}",
        owner="pages",
        author="The Office",
        title=title,
        sentences=sentences,
        link=f"https://example.org/ref/{rng.randint(1000, 9999)}",
        media=[],
        typo=typo,
        counters={"views": rng.randint(10, 500)},
    )


def page(base: str, post: Post) -> Response:
    """The page, or the 404/410/451 that replaced it; a cut section leaves the page."""
    if post.state == "deleted_by_author":
        return html_response(410, simple_page("Gone", "This page was withdrawn."))
    if post.state == "removed_by_moderator":
        return html_response(404, simple_page("Not Found", "No such page."))
    if post.state == "withheld_legal":
        page = simple_page("Unavailable For Legal Reasons", "Withheld after a legal demand.")
        return Response(451, page.encode(), [("Content-Type", HTML_TYPE),
                                             ("Link", f'<{base}/legal>; rel="blocked-by"')])
    part = "".join(f"<p>{html.escape(s, quote=False)}</p>" for s in post.sentences)
    if post.link:
        link = html.escape(post.link)
        part += f'<p>Reference: <a href="{link}">{link}</a></p>'
    article = ('<div class="notice-removed">This section is no longer available.</div>'
               if post.state == "section_removed" else f'<div class="article">{part}</div>')
    views = post.counters.get("views", 0)
    return html_response(
        200,
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(post.title)}</title></head><body>"
        '<header><nav><a href="/">Home</a></nav></header>'
        f"<main><h1>{html.escape(post.title)}</h1>{article}"
        f'<aside class="stats">{views} views</aside></main></body></html>',
    )


# "page:iN" is the N-th page live at start.
_DEMO_ACTIONS: DemoActions = {
    2: [("page:i0", "edit", "typo")],
    3: [("page:i1", "delete_by_author", None)],
    4: [("page:i2", "remove_section", None)],
    5: [("page:i3", "withhold_legal", None)],
    6: [("page:i2", "restore", None)],
    7: [("page:i0", "remove_by_moderator", None)],
    8: [("page:i3", "restore", None)],
    9: [("page:i0", "restore", None), ("page:i4", "edit", "link_removed")],
}


class _Demo(ScriptedDemo):
    """Five pages live at start; every action once."""

    actions = _DEMO_ACTIONS

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        if round_ >= 5:
            return []
        return [self.named(f"page:i{round_}", partial(new_page, planner))]


class _Random(ScenarioPart):
    def __init__(self, knobs: Mapping[str, float]) -> None:
        self.n = int(knobs["pages"])

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        return [partial(new_page, planner) for _ in range(self.n)]


class WebpageFake(Fake):
    name = PLATFORM
    paths = ("/pages/",)
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_by_moderator": "removed_by_moderator",
        "withhold_legal": "withheld_legal",
        "remove_section": "section_removed",
        "restore": "live",
    }
    restorable = frozenset({"removed_by_moderator", "withheld_legal", "section_removed"})
    expect = {
        "edit": EDITED,
        "delete_by_author": gone("ambiguous", candidates=_AMBIGUOUS),
        "remove_by_moderator": gone("ambiguous", candidates=_AMBIGUOUS),
        "withhold_legal": gone("removed_by_platform", detail="legal"),
        "remove_section": gone("ambiguous", candidates=_AMBIGUOUS),
        "restore": RESTORED,
    }
    knobs = {"pages": 3}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        if (m := _PAGE.match(path)) is None:
            return None
        post = world.post(PLATFORM, m.group(1))
        return page(base, post) if post is not None else None

    def post_for(self, world: World, path: str, query: Mapping[str, str]) -> Post | None:
        m = _PAGE.match(path)
        return world.post(PLATFORM, m.group(1)) if m is not None else None

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if post.published_tick != 0:
            return "only pages live at start are in the watchlist"
        return None

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        return post.title, text.english_rewrite(planner.rng, len(post.sentences))

    def post_key(self, base: str, world: World, post: Post) -> str:
        return watch_value(base, post)

    def post_url(self, base: str, world: World, post: Post) -> str:
        return page_url(base, post)

    def target(self, base: str, world: World, post: Post) -> str:
        return watch_value(base, post)

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "post": watch_value(base, spec)}
                for spec, _ in plan.initial if spec.platform == PLATFORM]

    def demo(self) -> ScenarioPart:
        return _Demo()

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return _Random(knobs)


FAKE = WebpageFake()
