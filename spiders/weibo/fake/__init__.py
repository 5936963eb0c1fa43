"""Weibo in the sandbox: watched accounts posting in Chinese, reposts of an unwatched
account's posts, and what a correct monitor reports for each action. The API and
pages are in :mod:`._http`: 432 without the visitor cookie, errnos, repost stubs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from spiders.rednote.fake import chinese_sentence
from spiders.sandbox.fake import (
    EDITED,
    HIDDEN,
    RESTORED,
    Account,
    AccountsDemo,
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
    json_response,
    text,
)

from ._http import (
    BANNED,
    PLATFORM,
    REPOST,
    Celeb,
    handle,
    owner_suspended,
    repost_of,
    status_url,
)

_NAMES = ["兔主席", "新闻观察者", "小城故事", "山间清风", "读书笔记", "城市漫步者"]
_AMBIGUOUS = ["deleted_by_author", "removed_by_platform"]
#: Actions on an unwatched account's post that a watched account reposted.
_ORIGINAL_ACTIONS = frozenset({"delete_original", "remove_by_platform"})
_OWN_ACTIONS = frozenset({"edit", "delete_by_author", "remove_by_platform", "make_private",
                          "hide_from_feed", "restore"})


def _uid(planner: Planner) -> str:
    return str(1_000_000_000 + planner.serial() * 7_919 + planner.rng.randint(0, 999))


def new_user(planner: Planner) -> Account:
    n = len([o for o in planner.plan.owners_of(PLATFORM) if isinstance(o, Account)])
    uid = _uid(planner)
    name = _NAMES[n % len(_NAMES)] + (str(n) if n >= len(_NAMES) else "")
    account = Account(platform=PLATFORM, username=uid, id=uid, display_name=name,
                      note=chinese_sentence(planner.rng), created=1_600_000_000.0,
                      followers=planner.rng.randint(100, 90_000), following=120)
    return planner.add_owner(PLATFORM, uid, account)  # type: ignore[no-any-return]


def new_celeb(planner: Planner) -> Celeb:
    uid = _uid(planner)
    return planner.add_owner(PLATFORM, uid, Celeb(uid, "新闻频道"))  # type: ignore[no-any-return]


def new_post(planner: Planner, uid: str, *, original: str | None = None,
             long: bool = False) -> Post:
    rng = planner.rng
    sentences = [chinese_sentence(rng) for _ in range(rng.randint(9, 12) if long
                                                      else rng.randint(1, 3))]
    sentences, typo = text.with_typo(rng, sentences)
    return Post(platform=PLATFORM, key=planner.snowflake(), owner=uid, author=uid, title="",
                sentences=sentences, link=None, media=planner.media(rng.randint(0, 2)),
                typo=typo, counters={"likes": rng.randint(0, 900), "reposts": rng.randint(0, 50),
                                     "comments": rng.randint(0, 90)},
                location=f"{REPOST}{original}" if original else "")


def repost_pair(planner: Planner, celeb: str, uid: str) -> tuple[Post, Post]:
    """An unwatched account's post and a watched account's repost of it (specs)."""
    original = new_post(planner, celeb)
    return original, new_post(planner, uid, original=original.key)


# "a:iN" is the N-th post of the first account live at start, "o:N" the N-th original
# it reposted, "@b" the second account.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("a:i0", "edit", "rewrite")],
    3: [("a:i1", "delete_by_author", None), ("o:0", "delete_original", None)],
    4: [("a:i2", "remove_by_platform", None), ("o:1", "remove_by_platform", None)],
    5: [("a:i3", "make_private", None)],
    6: [("a:i0", "hide_from_feed", None)],
    7: [("a:i3", "restore", None)],
    8: [("a:i0", "restore", None)],
    10: [("@b", "suspend_account", None)],
}


class _Demo(AccountsDemo):
    """The demo's accounts and the unwatched one; the first two rounds are the first
    account's reposts (``a:rN`` of ``o:N``), ``a:i3`` and ``b:i3`` are long posts."""

    celeb = ""

    def setup(self, planner: Planner) -> None:
        super().setup(planner)
        self.celeb = new_celeb(planner).uid

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        if round_ < 2:
            original, repost = repost_pair(planner, self.celeb, self.users["a"].username)
            return [self.named(f"o:{round_}", lambda: original),
                    self.named(f"a:r{round_}", lambda: repost)]
        return super().initial(planner, round_)

    def maker(self, planner: Planner, letter: str, n: int) -> Callable[[], Post]:
        return partial(new_post, planner, self.users[letter].username, long=n == 3)


class _Random(RandomAccounts):
    """Watched accounts that now and then repost a post of an unwatched one."""

    celeb = ""

    def setup(self, planner: Planner) -> None:
        super().setup(planner)
        self.celeb = new_celeb(planner).uid

    def publish_post(self, planner: Planner, user: str) -> None:
        if planner.rng.random() < 0.3:
            original, repost = repost_pair(planner, self.celeb, user)
            planner.publish(original)
            planner.publish(repost)
        else:
            super().publish_post(planner, user)


class WeiboFake(Fake):
    name = PLATFORM
    paths = ("/api/container/", "/statuses/", "/detail/", "/status/", "/visitor/")
    action_states = {
        "delete_by_author": "deleted_by_author",
        "delete_original": "deleted_by_author",
        "remove_by_platform": "removed_by_platform",
        "make_private": "private",
        "hide_from_feed": "hidden_from_feed",
        "restore": "live",
    }
    restorable = frozenset({"private", "hidden_from_feed"})
    expect = {
        "edit": EDITED,
        # statuses/show 20101 and no stub anywhere: the author or Weibo.
        "delete_by_author": gone("ambiguous", candidates=_AMBIGUOUS),
        # The same 20101, but a watched repost's stub says state 7: the author.
        "delete_original": gone("deleted_by_author"),
        # 20112, and /detail says 微博不存在或暂无查看权限.
        "remove_by_platform": gone("removed_by_platform"),
        # 20112, and /detail says 由于博主设置.
        "make_private": gone("hidden_by_author"),
        "hide_from_feed": HIDDEN,
        "suspend_account": gone("account_suspended"),
        "restore": RESTORED,
    }
    knobs = {"weibo_accounts": 2}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query, headers)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """Weibo's own refusals: 432 for anti-bot, 418 or ``ok:-100`` for rate limits."""
        if fault == "anti_bot":
            return Response(432, b"", [("Content-Type", "text/html")], reason="No Reason Phrase")
        if fault == "rate_limit":
            if pick([0, 1]):
                return Response(418, b"", [("Content-Type", "text/html")])
            return json_response(200, {"ok": -100, "url": "https://passport.weibo.cn/signin/"
                                       "welcome?entry=mweibo"})
        return None

    def actions(self, world: World, post: Post) -> frozenset[str]:
        if isinstance(world.owner(PLATFORM, post.owner), Celeb):
            return _ORIGINAL_ACTIONS
        return _OWN_ACTIONS

    def visible(self, world: World, post: Post) -> bool:
        if owner_suspended(world, post):
            return False
        return post.state in ("live", "hidden_from_feed")

    def describe(self, world: World, post: Post) -> str:
        if owner_suspended(world, post) and post.state in ("live", "hidden_from_feed"):
            return "account_suspended"
        return post.state

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        world = planner.world
        if owner_suspended(world, post):
            return "its account is not in good standing"
        if isinstance(world.owner(PLATFORM, post.owner), Celeb):
            repost = self._repost(world, post)
            if repost is None or not world.listed(repost) or owner_suspended(world, repost):
                return "no watched timeline shows its repost"
        return None

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        return "", [chinese_sentence(planner.rng) for _ in post.sentences]

    @staticmethod
    def _repost(world: World, post: Post) -> Post | None:
        return next((p for p in world.order if p.platform == PLATFORM
                     and repost_of(p) == post.key), None)

    def post_url(self, base: str, world: World, post: Post) -> str:
        return status_url(base, post)

    def target(self, base: str, world: World, post: Post) -> str:
        repost = self._repost(world, post)
        return repost.owner if repost is not None else post.owner

    def truth_extra(self, base: str, world: World, post: Post) -> dict[str, Any]:
        return {"repost_of": repost_of(post)} if repost_of(post) else {}

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "account": owner.id, "base_url": base}
                for owner in plan.owners_of(PLATFORM) if isinstance(owner, Account)]

    def demo(self) -> ScenarioPart:
        """Two watched accounts; the first reposts two posts of an unwatched one."""
        return _Demo(_DEMO_ACTIONS, new_user, new_post,
                     rounds={"a": range(2, 6), "b": range(2, 6)}, publish_ticks=(1, 5))

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return _Random(knobs, "weibo_accounts", new_user, new_post)


FAKE = WeiboFake()
__all__ = ["BANNED", "FAKE", "WeiboFake", "new_post", "new_user", "repost_pair"]
