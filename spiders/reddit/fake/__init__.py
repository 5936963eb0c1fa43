"""Reddit in the sandbox: subreddits read through the OAuth API or the Atom feeds, a
user and a thread watched on the OAuth path, every removal Reddit's API names, and
what a correct monitor reports for each on each path. The HTTP side is
:mod:`._http`.

One world serves both paths; which one a subreddit is watched through (its
:class:`~._http.Sub`'s ``access``) decides which actions its posts get: the
OAuth path's actions expect their exact cause, the feed path's (``feed_*``)
expect ``ambiguous``, since a feed never says who removed a post.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from spiders.sandbox.fake import (
    EDITED,
    HIDDEN,
    RESTORED,
    Fake,
    Pick,
    Plan,
    Planner,
    Post,
    Response,
    ScenarioPart,
    ScriptedDemo,
    World,
    gone,
    html_response,
    json_response,
    text,
)

from ._http import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    PLATFORM,
    PREFIX,
    TOKEN_PATH,
    Sub,
    fullname,
    handle,
    is_comment,
    post_url,
)

PARDNER = (
    "<!doctype html><html><head><title>Blocked</title></head><body><h1>whoa there, "
    "pardner!</h1><p>Your request has been blocked due to a network policy.</p><p>Try "
    "logging in or creating an account here to get back to browsing.</p></body></html>"
)

#: What the feeds can conclude: gone, by whom unknown (the platform's default
#: remover, a moderator, or the author).
FEED_GONE = gone("ambiguous", candidates=["deleted_by_author", "removed_by_moderator"])

#: action → (post state, expected event) on the OAuth path.
_OAUTH: dict[str, tuple[str, dict[str, Any]]] = {
    "delete_by_author": ("deleted", gone("deleted_by_author")),
    "remove_by_moderator": ("removed_moderator", gone("removed_by_moderator")),
    "automod_filter": ("automod_filtered", gone("removed_by_moderator")),
    "remove_spam_filter": ("reddit", gone("removed_by_platform", detail="spam")),
    "remove_by_reddit_admin": ("anti_evil_ops", gone("removed_by_platform", detail="policy")),
    "remove_legal": ("legal_operations", gone("removed_by_platform", detail="legal")),
    "remove_copyright": ("copyright_takedown", gone("removed_by_platform",
                                                   detail="copyright")),
    "hide_from_new": ("hidden", HIDDEN),
}
#: action → post state on the feed path (the same removals, seen without credentials).
_FEEDS: dict[str, str] = {
    "feed_delete_by_author": "deleted",
    "feed_remove_by_moderator": "removed_moderator",
    "feed_remove_by_admin": "anti_evil_ops",
}
#: Comments know these (Reddit keeps no category for them: the markers decide).
_COMMENT_ACTIONS = frozenset({"edit", "delete_by_author", "remove_by_moderator"})

_TOPICS = ["telescope", "enzyme", "tidal lock", "protein folding", "dark matter", "aquifer",
           "superconductor", "mitochondria", "plate tectonics", "neutrino"]
_QUESTION = ["Why does {t} behave this way?", "How do we measure {t}?",
             "What is the current thinking on {t}?", "Is {t} really that rare?"]
_SENTENCE = ["I read that {t} was first described decades ago.",
             "My textbook explains {t} in two lines and I am lost.",
             "Sources welcome, I want to read more about {t}.",
             "Edit for clarity: I mean {t} in everyday conditions.",
             "Thanks to everyone who answered about {t}."]
USERS = ["quietnorth", "saltmarsh", "copperkettle", "lanternfish", "orbitwalker"]
#: The user watched on the OAuth path (``u/<name>``): its submissions and comments.
WATCHED_USER = USERS[0]


def _id(planner: Planner) -> str:
    """A base-36 post id like Reddit's (``1kh35wk``)."""
    n = 2_000_000_000 + planner.serial() * 7919 + planner.rng.randint(0, 7000)
    digits = ""
    while n:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return digits


def new_sub(planner: Planner, name: str, access: str) -> Sub:
    return planner.add_owner(PLATFORM, name, Sub(name, access))  # type: ignore[no-any-return]


def new_post(planner: Planner, sub: str, author: str | None = None) -> Post:
    rng = planner.rng
    topic = rng.choice(_TOPICS)
    sentences = [rng.choice(_SENTENCE).format(t=topic) for _ in range(rng.randint(2, 3))]
    sentences, typo = text.with_typo(rng, sentences)
    return Post(platform=PLATFORM, key=_id(planner), owner=sub,
                author=author or rng.choice(USERS[1:]),
                title=rng.choice(_QUESTION).format(t=topic), sentences=sentences, link=None,
                media=[], tags=["t3"], typo=typo, counters={"score": rng.randint(1, 400)})


def new_comment(planner: Planner, sub: str, link: Callable[[], Post],
                author: str | None = None) -> Post:
    rng = planner.rng
    topic = rng.choice(_TOPICS)
    return Post(platform=PLATFORM, key=_id(planner), owner=sub,
                author=author or rng.choice(USERS[2:]), title="",
                sentences=[rng.choice(_SENTENCE).format(t=topic),
                           rng.choice(_SENTENCE).format(t=topic)],
                link=None, media=[], tags=["t1", link().key],
                counters={"score": rng.randint(1, 90)})


# "ask:iN": r/askscience (OAuth) posts live at start; "ask:cN" comments on ask:i0 (the
# watched thread); "feed:iN": r/feedwatch (feeds) posts. ask:i0 and feed:i0 stay
# untouched: the oldest post of a listing keeps the window open for the rest.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("ask:i1", "delete_by_author", None), ("ask:c0", "delete_by_author", None),
        ("feed:i1", "feed_delete_by_author", None)],
    3: [("ask:i2", "remove_by_moderator", None), ("ask:c1", "remove_by_moderator", None),
        ("feed:i2", "feed_remove_by_moderator", None)],
    4: [("ask:i3", "automod_filter", None), ("ask:i4", "remove_spam_filter", None),
        ("feed:i3", "feed_remove_by_admin", None)],
    5: [("ask:i5", "remove_by_reddit_admin", None), ("ask:c2", "edit", "rewrite"),
        ("feed:i4", "edit", "rewrite")],
    6: [("ask:i6", "remove_legal", None), ("ask:i7", "hide_from_new", None)],
    7: [("ask:i8", "remove_copyright", None), ("ask:i9", "edit", "rewrite")],
    8: [("ask:i3", "restore", None)],
    9: [("ask:i2", "restore", None)],
    10: [("ask:i7", "restore", None)],
}


class _Demo(ScriptedDemo):
    actions = _DEMO_ACTIONS

    def setup(self, planner: Planner) -> None:
        new_sub(planner, "askscience", "oauth")
        new_sub(planner, "feedwatch", "feeds")

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        makers = []
        for i in (2 * round_, 2 * round_ + 1):
            if i < 10:
                author = WATCHED_USER if i % 3 == 1 else None
                makers.append(self.named(f"ask:i{i}", partial(new_post, planner, "askscience",
                                                              author)))
        if round_ == 0:
            thread = partial(self.refs.__getitem__, "ask:i0")
            makers += [self.named(f"ask:c{i}", partial(new_comment, planner, "askscience",
                                                       thread)) for i in range(3)]
        if round_ < 5:
            makers.append(self.named(f"feed:i{round_}", partial(new_post, planner, "feedwatch")))
        return makers

    def publish(self, planner: Planner, tick: int) -> None:
        if tick in (3, 6):
            planner.publish(new_post(planner, "askscience"))
            planner.publish(new_post(planner, "feedwatch"))


class _Random(ScenarioPart):
    def __init__(self, knobs: Mapping[str, float]) -> None:
        self.posts = int(knobs["reddit_posts"])

    def setup(self, planner: Planner) -> None:
        if self.posts:
            new_sub(planner, "askscience", "oauth")
            new_sub(planner, "feedwatch", "feeds")

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        subs = ("askscience", "feedwatch")
        return [partial(new_post, planner, subs[i % 2]) for i in range(self.posts)]

    def publish(self, planner: Planner, tick: int) -> None:
        for sub in ("askscience", "feedwatch") if self.posts else ():
            if planner.rng.random() < 0.2:
                planner.publish(new_post(planner, sub))


class RedditFake(Fake):
    name = PLATFORM
    paths = (PREFIX + "/",)
    post_paths = (TOKEN_PATH,)
    action_states = {**{a: s for a, (s, _) in _OAUTH.items()}, **_FEEDS, "restore": "live"}
    restorable = frozenset({"removed_moderator", "automod_filtered", "hidden"})
    expect = {"edit": EDITED, **{a: e for a, (_, e) in _OAUTH.items()},
              **dict.fromkeys(_FEEDS, FEED_GONE), "restore": RESTORED}
    knobs = {"reddit_posts": 4}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query, headers)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """The pardner page for anti-bot; a 429 with Reddit's rate-limit headers."""
        if fault == "anti_bot":
            return html_response(403, PARDNER, [("Server", "snooserv")])
        if fault == "rate_limit":
            return json_response(429, {"message": "Too Many Requests", "error": 429}, [
                ("x-ratelimit-used", "100"), ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1")])
        return None

    def decorate(self, path: str, response: Response, served: Any) -> None:
        if response.header("x-ratelimit-remaining") is None:
            n = next(served) % 500
            response.headers += [("x-ratelimit-used", str(n)),
                                 ("x-ratelimit-remaining", str(996 - n)),
                                 ("x-ratelimit-reset", "300")]

    def actions(self, world: World, post: Post) -> frozenset[str]:
        sub = world.owner(PLATFORM, post.owner)
        if is_comment(post):
            return _COMMENT_ACTIONS
        if isinstance(sub, Sub) and sub.access == "feeds":
            return frozenset({"edit", *_FEEDS})
        return frozenset({"edit", *_OAUTH, "restore"})

    def visible(self, world: World, post: Post) -> bool:
        return post.state in ("live", "hidden")

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if post.published_tick != 0 and action != "edit":
            return "only posts live at start are surely inside their listing's window"
        return None

    def post_key(self, base: str, world: World, post: Post) -> str:
        return fullname(post)

    def post_url(self, base: str, world: World, post: Post) -> str:
        return post_url(base, world, post)

    def settings(self, base: str) -> dict[str, str]:
        """The sandbox's approved app: the worker reads the OAuth path from here."""
        return {"REDDIT_CLIENT_ID": CLIENT_ID, "REDDIT_CLIENT_SECRET": CLIENT_SECRET,
                "REDDIT_API_URL": f"{base}{API}",
                "REDDIT_TOKEN_URL": f"{base}{TOKEN_PATH}"}

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        site = f"{base}{PREFIX}"
        subs = [o for platform, _, o in plan.owners if platform == PLATFORM]
        # OAuth-path targets name no access: they use the API when the monitor has the
        # sandbox's app (settings()), and fall back to the feeds when it has none, so a
        # monitor run without them still reads every target (with feed-path causes).
        targets = [{"platform": PLATFORM, "subreddit": f"r/{s.name}", "base_url": site,
                    **({"access": "feeds"} if s.access == "feeds" else {})} for s in subs]
        threads = [p for p, _ in plan.initial if p.platform == PLATFORM and is_comment(p)]
        for link in dict.fromkeys(p.tags[1] for p in threads):
            sub = next(p.owner for p in threads if p.tags[1] == link)
            targets.append({"platform": PLATFORM, "thread": f"{site}/r/{sub}/comments/{link}/",
                            "base_url": site})
        if any(p.platform == PLATFORM and p.author == WATCHED_USER for p, _ in plan.initial):
            targets.append({"platform": PLATFORM, "account": f"u/{WATCHED_USER}",
                            "base_url": site})
        return targets

    def demo(self) -> ScenarioPart:
        return _Demo()

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return _Random(knobs)


FAKE = RedditFake()
