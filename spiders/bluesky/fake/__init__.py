"""Bluesky in the sandbox: watched accounts (by DID) posting in English, what each
action does to the AppView, the PDS and the labels, and what a correct monitor
reports for it. The hosts are in :mod:`._http` (the cached one lags)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spiders.sandbox.fake import (
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
    json_response,
    text,
)

from ._http import PLATFORM, SERVED, account_of, handle, memo, uri_of

_DID_CHARS = "abcdefghijklmnopqrstuvwxyz234567"
_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"]
LABELLED: dict[str, Any] = {"kind": "hidden", "cause": "restricted"}
_FORBIDDEN = ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
              "<center><h1>403 Forbidden</h1></center>\r\n</body>\r\n</html>\r\n")


def new_user(planner: Planner) -> Account:
    n = len(planner.plan.owners_of(PLATFORM))
    did = "did:plc:" + "".join(planner.rng.choice(_DID_CHARS) for _ in range(24))
    handle = f"{_NAMES[n % len(_NAMES)]}{n}.bsky.sandbox"
    account = Account(platform=PLATFORM, username=did, id=did, display_name=handle,
                      note=text.english_sentence(planner.rng), created=1_600_000_000.0,
                      followers=planner.rng.randint(10, 9_000), following=80)
    return planner.add_owner(PLATFORM, did, account)  # type: ignore[no-any-return]


def new_post(planner: Planner, did: str) -> Post:
    rng = planner.rng
    rkey = f"3l{planner.serial():011d}"
    sentences = [text.english_sentence(rng) for _ in range(rng.randint(1, 3))]
    return Post(platform=PLATFORM, key=rkey, owner=did, author=did, title="",
                sentences=sentences, link=None, media=[],
                counters={"likes": rng.randint(0, 900), "reposts": rng.randint(0, 50),
                          "replies": rng.randint(0, 90)})


# "a:iN" is the N-th post of the first account live at start; "@b" the second account.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("a:i0", "delete_by_author", None)],
    3: [("a:i1", "remove_by_platform", None)],
    4: [("a:i2", "label", None)],
    7: [("a:i2", "restore", None)],
    9: [("@b", "suspend_account", None)],
}


class BlueskyFake(Fake):
    name = PLATFORM
    paths = ("/bluesky/",)
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_by_platform": "removed_by_platform",
        "label": "labelled",
        "restore": "live",
    }
    restorable = frozenset({"labelled"})
    expect = {
        # The AppView and the author's PDS both lost it.
        "delete_by_author": gone("deleted_by_author"),
        # The AppView lost it, the PDS still serves the record.
        "remove_by_platform": gone("removed_by_platform"),
        # Bluesky's labeler puts !hide on it: still served, labelled.
        "label": LABELLED,
        # The label retracted (neg), as restore of a labelled post.
        "restore": RESTORED,
        # getProfile AccountTakedown, repo status takendown.
        "suspend_account": gone("account_suspended"),
    }
    knobs = {"bluesky_accounts": 1}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """Bluesky's own refusals: an HTML 403 or "forbidden by administrative rules"
        for a block, a 429 with its rate-limit headers for a rate limit."""
        if fault == "anti_bot":
            if pick([0, 1]):
                return html_response(403, _FORBIDDEN)
            return json_response(403, {"error": "InvalidRequest",
                                       "message": "Request forbidden by administrative rules."})
        if fault == "rate_limit":
            return json_response(429, {"error": "RateLimitExceeded",
                                       "message": "Rate Limit Exceeded"},
                                 [("ratelimit-limit", "3000"), ("ratelimit-remaining", "0"),
                                  ("ratelimit-reset", "1"), ("ratelimit-policy", "3000;w=300")])
        return None

    def actions(self, world: World, post: Post) -> frozenset[str]:
        return frozenset(self.action_states)  # posts cannot be edited on Bluesky

    def visible(self, world: World, post: Post) -> bool:
        account = account_of(world, post)
        return post.state in SERVED and (account is None or account.state == "normal")

    def describe(self, world: World, post: Post) -> str:
        account = account_of(world, post)
        if account is not None and account.state != "normal" and post.state in SERVED:
            return "account_suspended"
        return post.state

    def on_action(self, world: World, post: Post, action: str, now: float) -> None:
        memo(world)["changes"][post.uid] = (now, post.state)
        if action == "label":
            memo(world)["labels"].setdefault(post.uid, []).append(("!hide", now, False))
        elif action == "restore" and post.state == "labelled":
            memo(world)["labels"].setdefault(post.uid, []).append(("!hide", now, True))

    def post_key(self, base: str, world: World, post: Post) -> str:
        return uri_of(post)

    def post_url(self, base: str, world: World, post: Post) -> str:
        return f"https://bsky.app/profile/{post.owner}/post/{post.key}"

    def target(self, base: str, world: World, post: Post) -> str:
        return post.owner

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "account": owner.id, "base_url": f"{base}/bluesky"}
                for owner in plan.owners_of(PLATFORM) if isinstance(owner, Account)]

    def settings(self, base: str) -> dict[str, str]:
        # The hosts follow the mirror layout under the targets' base_url
        # (<base>/bluesky/public, /appview, /plc; the PLC names the PDS), so no
        # setting is needed: BLUESKY_* are spider settings the monitor's
        # Settings does not know, and Settings.replace() refuses unknown names.
        return {}

    def demo(self) -> ScenarioPart:
        """Two watched accounts: four posts of the first, two of the second, one new."""
        return AccountsDemo(_DEMO_ACTIONS, new_user, new_post,
                            rounds={"a": range(4), "b": range(2)}, publish_ticks=(1,))

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return RandomAccounts(knobs, "bluesky_accounts", new_user, new_post)


FAKE = BlueskyFake()
__all__ = ["FAKE", "BlueskyFake", "new_post", "new_user"]
