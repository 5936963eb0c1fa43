"""TikTok in the sandbox: watched creators posting captioned videos, and what a
correct monitor reports for each action. The oEmbed endpoint and the pages are in
:mod:`._http`, all under ``/tiktok/``; a block is a 10204 page or a captcha."""

from __future__ import annotations

from collections.abc import Mapping

from spiders.sandbox.fake import (
    EDITED,
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
    text,
)

from ._http import PLATFORM, PREFIX, blocked_page, captcha_page, handle, video_path

_NAMES = ["Scout & Suki", "City Walks", "Kitchen Notes", "Late Bus"]
#: The page says only "Video currently unavailable": the author or TikTok.
_AMBIGUOUS = ["deleted_by_author", "removed_by_platform"]


def new_user(planner: Planner) -> Account:
    n = len([o for o in planner.plan.owners_of(PLATFORM) if isinstance(o, Account)])
    name = f"creator{planner.serial()}"
    account = Account(platform=PLATFORM, username=name, id=str(6_745_191_554_350_760_000 + n),
                      display_name=text.nth_name(_NAMES, n), note="videos about my city",
                      created=1_600_000_000.0, followers=planner.rng.randint(100, 90_000),
                      following=120)
    return planner.add_owner(PLATFORM, name, account)  # type: ignore[no-any-return]


def new_post(planner: Planner, user: str) -> Post:
    rng = planner.rng
    sentences, typo = text.with_typo(rng, text.english_sentences(rng, 1, 2))
    return Post(platform=PLATFORM, key=planner.snowflake(), owner=user, author=user, title="",
                sentences=sentences, link=None, media=[], tags=text.hashtags(rng), typo=typo,
                counters={"plays": rng.randint(100, 90_000), "likes": rng.randint(0, 900),
                          "comments": rng.randint(0, 90)})


# "a:iN" is the N-th video live at start (a:i0 the oldest: it stays listed, so the
# profile's window covers the others); a:i5 is never acted on.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("a:i0", "edit", "rewrite")],
    3: [("a:i1", "delete_by_author", None)],
    4: [("a:i2", "remove_violation", None)],
    5: [("a:i3", "make_private", None)],
    6: [("a:i4", "age_restrict", None)],
    8: [("a:i3", "restore", None)],
}


class TikTokFake(Fake):
    name = PLATFORM
    paths = (PREFIX + "/",)
    action_states = {
        "delete_by_author": "deleted",
        "remove_violation": "removed_violation",
        "make_private": "private",
        "age_restrict": "age_restricted",
        "restore": "live",
    }
    restorable = frozenset({"private"})
    expect = {
        "edit": EDITED,
        # "Video currently unavailable" / a bare code: who deleted it is not said.
        "delete_by_author": gone("ambiguous", candidates=_AMBIGUOUS),
        "remove_violation": gone("removed_by_platform", detail="policy"),
        # statusCode 10216.
        "make_private": gone("hidden_by_author"),
        # isContentClassified: shown to signed-in adults only.
        "age_restrict": gone("restricted"),
        "restore": RESTORED,
    }
    knobs = {"tiktok_accounts": 1}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query, headers)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """TikTok's own blocks for anti-bot: the 10204 page or a captcha page."""
        if fault == "anti_bot":
            return blocked_page() if pick([0, 1]) else captcha_page()
        return None

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if post.published_tick != 0 and action != "edit":
            return "only videos live at start are surely inside the profile's window"
        return None

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        return "", text.english_rewrite(planner.rng, len(post.sentences))

    def post_url(self, base: str, world: World, post: Post) -> str:
        return f"{base}{video_path(post)}"

    def target(self, base: str, world: World, post: Post) -> str:
        return f"@{post.owner}"

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "account": f"@{owner.username}",
                 "base_url": f"{base}{PREFIX}"}
                for owner in plan.owners_of(PLATFORM) if isinstance(owner, Account)]

    def demo(self) -> ScenarioPart:
        """One watched creator, six videos at start and one more at tick 3."""
        return AccountsDemo(_DEMO_ACTIONS, new_user, new_post, rounds={"a": range(6)},
                            publish_ticks=(3,))

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return RandomAccounts(knobs, "tiktok_accounts", new_user, new_post)


FAKE = TikTokFake()
__all__ = ["FAKE", "TikTokFake", "new_post", "new_user"]
