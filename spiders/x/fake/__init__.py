"""X in the sandbox: watched posts of two accounts, probed logged out, and what a
correct monitor reports for each action. The endpoints are in :mod:`._http`: the
syndication's tombstones, oEmbed's second answer, and X's blocks as faults.

One post of each part is the notes' false tombstone (react-tweet#160): during
ticks 4-7 the syndication serves "This Post is unavailable." for it while it is
live and oEmbed still renders it. No action is scripted on it, so a correct
monitor reports nothing for it, and any disappearance of it is a false one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from spiders.sandbox.fake import (
    EDITED,
    RESTORED,
    Account,
    AccountsDemo,
    DemoActions,
    Fake,
    Pick,
    Plan,
    Planner,
    Post,
    RandomAccounts,
    Response,
    ScenarioPart,
    World,
    gone,
    text,
)

from ._http import (
    GLITCH,
    PLATFORM,
    bad_token,
    handle,
    login_wall,
    post_url,
    rate_limited,
    suspended,
)

_NAMES = ["newsdesk", "cityreporter", "fieldnotes", "openletters"]
_AMBIGUOUS = ["deleted_by_author", "removed_by_platform"]


def new_user(planner: Planner) -> Account:
    n = len(planner.plan.owners_of(PLATFORM))
    name = _NAMES[n % len(_NAMES)] + (str(n) if n >= len(_NAMES) else "")
    account = Account(platform=PLATFORM, username=name, id=str(10_000 + planner.serial()),
                      display_name=name.title(), note="", created=1_500_000_000.0,
                      followers=planner.rng.randint(10, 9_000), following=100)
    return planner.add_owner(PLATFORM, name, account)  # type: ignore[no-any-return]


def new_post(planner: Planner, user: str, *, glitch: bool = False) -> Post:
    rng = planner.rng
    sentences, typo = text.with_typo(rng, text.english_sentences(rng, 1, 2))
    return Post(platform=PLATFORM, key=planner.snowflake(), owner=user, author=user, title="",
                sentences=sentences, link=None, media=planner.media(rng.randint(0, 1)),
                typo=typo, counters={"likes": rng.randint(0, 900), "replies": rng.randint(0, 40)},
                location=GLITCH if glitch else "")


# "a:iN" is the N-th post of the first account live at start; "@b" the second account.
# "a:i5" gets no action: it is the false tombstone's post (ticks 4-7).
_DEMO_ACTIONS: DemoActions = {
    2: [("a:i0", "edit", "rewrite")],
    3: [("a:i1", "delete_by_author", None)],
    4: [("a:i2", "remove_by_platform", None)],
    5: [("a:i3", "withhold_legal", None)],
    6: [("a:i4", "protect", None)],
    8: [("a:i4", "restore", None)],
    10: [("@b", "suspend_account", None)],
}


class _Demo(AccountsDemo):
    """The demo's accounts; ``a:i5`` is the false tombstone's post."""

    def maker(self, planner: Planner, letter: str, n: int) -> Callable[[], Post]:
        return partial(new_post, planner, self.users[letter].username,
                       glitch=(letter, n) == ("a", 5))


class _Random(RandomAccounts):
    """Posts live at start only (the watchlist names them); the first account's first
    is the false tombstone's."""

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        return [] if round_ > 0 else super().initial(planner, round_)

    def maker(self, planner: Planner, u: int, i: int) -> Callable[[], Post]:
        return partial(new_post, planner, self.users[u].username, glitch=(u, i) == (0, 0))

    def publish(self, planner: Planner, tick: int) -> None:
        """No new posts: the watchlist watches the posts live at start by URL."""


class XFake(Fake):
    name = PLATFORM
    paths = ("/x/",)
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_by_platform": "removed_violation",
        "withhold_legal": "withheld",
        "protect": "protected",
        "restore": "live",
    }
    restorable = frozenset({"protected", "withheld"})
    expect: Mapping[str, Mapping[str, Any]] = {
        "edit": EDITED,
        # The tombstone says who, and oEmbed's 404 confirms the post is gone.
        "delete_by_author": gone("deleted_by_author"),
        "remove_by_platform": gone("removed_by_platform", detail="policy"),
        "withhold_legal": gone("geo_blocked"),
        # "limits who can view", and oEmbed's "not authorized".
        "protect": gone("hidden_by_author"),
        "suspend_account": gone("account_suspended"),
        "restore": RESTORED,
    }
    knobs = {"x_accounts": 1}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query, headers)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """X's own refusals: a login wall or a bad guest token; 429 with its reset."""
        if fault == "anti_bot":
            return login_wall() if pick([0, 1]) else bad_token()
        if fault == "rate_limit":
            return rate_limited()
        return None

    def visible(self, world: World, post: Post) -> bool:
        return not suspended(world, post) and post.state == "live"

    def describe(self, world: World, post: Post) -> str:
        if suspended(world, post) and post.state == "live":
            return "account_suspended"
        return post.state

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if suspended(planner.world, post):
            return "its account is not in good standing"
        if post.published_tick != 0:
            return "only posts live at start are in the watchlist"
        return None

    def post_url(self, base: str, world: World, post: Post) -> str:
        return post_url(base, post)

    def truth_extra(self, base: str, world: World, post: Post) -> dict[str, Any]:
        return {"false_tombstone": True} if post.location == GLITCH else {}

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "post": post_url(base, spec)}
                for spec, _ in plan.initial if spec.platform == PLATFORM]

    def demo(self) -> ScenarioPart:
        """Six posts of one account, one of a second account that is suspended."""
        return _Demo(_DEMO_ACTIONS, new_user, new_post, rounds={"a": range(6), "b": range(1)})

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return _Random(knobs, "x_accounts", new_user, new_post)


FAKE = XFake()
__all__ = ["FAKE", "XFake", "new_post", "new_user"]
