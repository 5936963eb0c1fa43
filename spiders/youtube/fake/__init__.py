"""YouTube in the sandbox: watched channels uploading videos, what happens to them, and
what a correct monitor reports for each action. The feed, oEmbed, watch and channel
pages are in :mod:`._http`; everything is served under ``/youtube/``."""

from __future__ import annotations

import string
from collections.abc import Mapping

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
    html_response,
    text,
)

from ._http import (
    OUTAGE,
    PLATFORM,
    PREFIX,
    FeedOutage,
    handle,
    outage,
    state_of,
    suspended,
    watch,
    watch_page,
)

_ALPHABET = string.ascii_letters + string.digits + "-_"
_NAMES = ["Field Notes Daily", "Harbour Watch", "Citizen Lens", "Open Archive"]
#: "Sign in to confirm you’re not a bot" (yt-dlp): the watch page of a flagged session.
_BOT_CHECK = {"playabilityStatus": {
    "status": "LOGIN_REQUIRED", "reason": "Sign in to confirm you\u2019re not a bot",
    "errorScreen": {"playerErrorMessageRenderer": {
        "reason": {"simpleText": "Sign in to confirm you\u2019re not a bot"},
        "subreason": {"runs": [{"text": "This helps protect our community. Learn more"}]}}}}}
#: "Video unavailable. This content isn’t available." (yt-dlp#14095): a session limit.
_SESSION_LIMIT = {"playabilityStatus": {
    "status": "ERROR", "reason": "Video unavailable",
    "errorScreen": {"playerErrorMessageRenderer": {
        "reason": {"simpleText": "Video unavailable"},
        "subreason": {"runs": [{"text": "This content isn\u2019t available."}]}}}}}


def _ident(planner: Planner, length: int) -> str:
    """A YouTube-shaped id: the plan's serial number first (unique), then random."""
    n, head = planner.serial(), ""
    for _ in range(3):
        n, digit = divmod(n, 64)
        head += _ALPHABET[digit]
    return head + "".join(planner.rng.choice(_ALPHABET) for _ in range(length - 3))


def new_channel(planner: Planner) -> Account:
    n = len([o for o in planner.plan.owners_of(PLATFORM) if isinstance(o, Account)])
    cid = "UC" + _ident(planner, 22)
    account = Account(platform=PLATFORM, username=cid, id=cid,
                      display_name=text.nth_name(_NAMES, n),
                      note=text.english_sentence(planner.rng), created=1_500_000_000.0,
                      followers=planner.rng.randint(100, 90_000), following=0)
    return planner.add_owner(PLATFORM, cid, account)  # type: ignore[no-any-return]


def new_video(planner: Planner, cid: str) -> Post:
    rng = planner.rng
    sentences, typo = text.with_typo(rng, text.english_sentences(rng, 2, 4))
    return Post(platform=PLATFORM, key=_ident(planner, 11), owner=cid, author=cid,
                title=text.english_title(rng), sentences=sentences, link=None, media=[],
                typo=typo, counters={"views": rng.randint(10, 90_000),
                                     "likes": rng.randint(0, 900)})


# "a:iN" is the N-th video of the first channel live at start, "@b" the second channel.
# Ticks 7 to 9 are a feed outage (:class:`FeedOutage`): every feed answers 500, then
# 404 for two ticks (enough checks of both channels under faults), while both
# channels are in standing.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("a:i0", "edit", "rewrite")],
    3: [("a:i1", "delete_by_author", None)],
    4: [("a:i2", "remove_violation", None), ("a:i4", "make_private", None)],
    5: [("a:i3", "remove_copyright", None)],
    6: [("a:i0", "hide_from_feed", None), ("a:i4", "restore", None)],
    10: [("@b", "suspend_account", None)],
}
_OUTAGE = FeedOutage(not_found=frozenset({8, 9}), server_error=frozenset({7}))


class _Demo(AccountsDemo):
    """The demo's channels, and the feed outage (:data:`_OUTAGE`)."""

    def setup(self, planner: Planner) -> None:
        super().setup(planner)
        planner.add_owner(PLATFORM, OUTAGE, _OUTAGE)


class YoutubeFake(Fake):
    name = PLATFORM
    paths = (PREFIX + "/",)
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_violation": "removed_violation",
        "remove_copyright": "removed_copyright",
        "make_private": "private",
        "hide_from_feed": "hidden_from_feed",
        "restore": "live",
    }
    restorable = frozenset({"private", "hidden_from_feed"})
    expect = {
        "edit": EDITED,
        # The watch page: "This video has been removed by the uploader".
        "delete_by_author": gone("deleted_by_author"),
        # "…removed for violating YouTube's policy on harassment…": the policy is evidence.
        "remove_violation": gone("removed_by_platform", detail="policy"),
        # "…no longer available due to a copyright claim by Sandbox Records Ltd".
        "remove_copyright": gone("removed_by_platform", detail="copyright"),
        # "This video is private".
        "make_private": gone("hidden_by_author"),
        # Unlisted: gone from the feed, still served by its id.
        "hide_from_feed": HIDDEN,
        # The channel page's termination notice; each watch page says the same.
        "suspend_account": gone("account_suspended"),
        "restore": RESTORED,
    }
    knobs = {"youtube_accounts": 1}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query, headers)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """YouTube's own refusals: the bot check or the consent redirect for anti-bot,
        429 or the "This content isn’t available." page for rate limits."""
        if fault == "anti_bot":
            if pick([0, 1]):
                return Response(302, b"", [("Location", "https://consent.youtube.com/m?"
                                            "continue=https%3A%2F%2Fwww.youtube.com%2F&gl=DE")])
            return watch_page(_BOT_CHECK)
        if fault == "rate_limit":
            if pick([0, 1]):
                return html_response(429, "<html><title>Too Many Requests</title></html>",
                                     [("Retry-After", "1")])
            return watch_page(_SESSION_LIMIT)
        return None

    def visible(self, world: World, post: Post) -> bool:
        if suspended(world, post):
            return False
        return post.state in ("live", "hidden_from_feed")

    def describe(self, world: World, post: Post) -> str:
        return state_of(world, post) if suspended(world, post) else post.state

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if suspended(planner.world, post):
            return "its channel is terminated"
        if outage(planner.world) is not None:
            return "the feeds are out this tick"
        return None

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        return text.english_title(planner.rng), text.english_rewrite(planner.rng,
                                                                     len(post.sentences))

    def post_url(self, base: str, world: World, post: Post) -> str:
        return watch(base, post.key)

    def target(self, base: str, world: World, post: Post) -> str:
        return post.owner

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "channel": owner.id, "base_url": base + PREFIX}
                for owner in plan.owners_of(PLATFORM) if isinstance(owner, Account)]

    def demo(self) -> ScenarioPart:
        """Two watched channels: five videos of the first are acted on, the second is
        terminated; between them, every feed fails for a tick."""
        return _Demo(_DEMO_ACTIONS, new_channel, new_video,
                     rounds={"a": range(5), "b": range(2)}, publish_ticks=(1,))

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return RandomAccounts(knobs, "youtube_accounts", new_channel, new_video)


FAKE = YoutubeFake()
__all__ = ["FAKE", "YoutubeFake", "new_channel", "new_video"]
