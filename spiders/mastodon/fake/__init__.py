"""Mastodon in the sandbox: accounts that moderators can limit or suspend, their
statuses, and what a correct monitor reports for each action. The API and web
pages are in :mod:`._http`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from spiders.sandbox.fake import (
    EDITED,
    HIDDEN,
    RESTORED,
    Account,
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
    text,
)

from ._http import PLATFORM, account_of, handle, status_api_url, status_json, status_url

_RATE_LIMIT = 300
#: Static export ids are ``STATIC_FIRST_ID + i * 1000``: predictable for benchmarks.
STATIC_FIRST_ID = 113_000_000_000_000_000
ACCOUNT_NAMES = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
]
_AMBIGUOUS_DELETE = ["deleted_by_author", "removed_by_moderator"]
_ACCOUNT_STATE = {"limited": "account_limited", "suspended": "account_suspended",
                  "deleted": "account_deleted"}


def new_account(planner: Planner, username: str) -> Account:
    rng = planner.rng
    account = Account(
        platform=PLATFORM,
        username=username,
        id=planner.snowflake(),
        display_name=username.capitalize(),
        note=f"<p>{text.english_sentence(rng)}</p>",
        created=1_704_067_200 + rng.randint(0, 200) * 86_400,
        followers=rng.randint(10, 900),
        following=rng.randint(10, 300),
    )
    return planner.add_owner(PLATFORM, username, account)  # type: ignore[no-any-return]


def new_status(planner: Planner, username: str) -> Post:
    rng = planner.rng
    sentences, typo = text.with_typo(rng, text.english_sentences(rng, 2, 4))
    return Post(
        platform=PLATFORM,
        key=planner.snowflake(),
        owner=username,
        author=username,
        title="",
        sentences=sentences,
        link=f"https://example.org/{rng.choice(['story', 'doc', 'report'])}/"
        f"{rng.randint(1000, 9999)}",
        media=planner.media(rng.randint(1, 2)),
        tags=text.hashtags(rng),
        typo=typo,
        counters={
            "likes": rng.randint(0, 40),
            "reblogs": rng.randint(0, 10),
            "replies": rng.randint(0, 5),
        },
    )


# The demo, tick by tick: "owner:iN" is the N-th post live at start, "owner:tN" the
# post the owner published at tick N, "@owner" the account.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("alice:i3", "edit", "typo"), ("bob:i3", "edit", "link_removed")],
    3: [("alice:i2", "delete_by_author", None), ("@carol", "limit_account", None)],
    4: [("alice:i1", "remove_by_moderator", None)],
    5: [("alice:i0", "hide_from_feed", None), ("@bob", "suspend_account", None)],
    6: [("alice:t1", "edit", "media_removed")],
    7: [("alice:i1", "restore", None)],
    8: [("alice:i0", "restore", None)],
    9: [("alice:i3", "edit", "rewrite"), ("@bob", "restore", None)],
    10: [("@carol", "delete_account", None), ("alice:t4", "remove_by_moderator", None)],
}
_DEMO_STATUS_TICKS = {"alice": (1, 4, 7, 10), "bob": (1, 10), "carol": (1,)}


class _Demo(ScriptedDemo):
    """Three accounts with four statuses each; every post and account action once."""

    actions = _DEMO_ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}

    def setup(self, planner: Planner) -> None:
        for name in _DEMO_STATUS_TICKS:
            self.accounts[name] = new_account(planner, name)

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        if round_ >= 4:
            return []
        return [self.named(f"{name}:i{round_}", partial(new_status, planner, name))
                for name in _DEMO_STATUS_TICKS]

    def publish(self, planner: Planner, tick: int) -> None:
        for name, ticks in _DEMO_STATUS_TICKS.items():
            if tick in ticks:
                self.refs[f"{name}:t{tick}"] = planner.publish(new_status(planner, name))

    def act_owner(self, planner: Planner, owner: str, action: str) -> None:
        planner.act_account(self.accounts[owner], action)


class _Random(ScenarioPart):
    def __init__(self, knobs: Mapping[str, float]) -> None:
        self.knobs = knobs
        self.names = [text.nth_name(ACCOUNT_NAMES, i) for i in range(int(knobs["accounts"]))]

    def setup(self, planner: Planner) -> None:
        for name in self.names:
            new_account(planner, name)

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        per = int(self.knobs["posts_per_account"])
        return [partial(new_status, planner, name) for name in self.names for _ in range(per)]

    def publish(self, planner: Planner, tick: int) -> None:
        rate = float(self.knobs["publish_rate"]) / 2  # accounts post half as often as sites
        for name in self.names:
            account = account_of(planner.world, name)
            if account is not None and account.state == "normal" and planner.rng.random() < rate:
                planner.publish(new_status(planner, name))


class MastodonFake(Fake):
    name = PLATFORM
    paths = ("/api/", "/@", "/system/media_attachments/", "/avatars/", "/headers/")
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_by_moderator": "removed_by_moderator",
        "hide_from_feed": "hidden_from_feed",
        "restore": "live",
    }
    restorable = frozenset({"removed_by_moderator", "hidden_from_feed"})
    expect = {
        "edit": EDITED,
        "delete_by_author": gone("ambiguous", candidates=_AMBIGUOUS_DELETE),
        "remove_by_moderator": gone("ambiguous", candidates=_AMBIGUOUS_DELETE),
        "suspend_account": gone("account_suspended"),
        "delete_account": gone("ambiguous", candidates=["account_deleted", "account_suspended"]),
        "limit_account": HIDDEN,
        "hide_from_feed": HIDDEN,
        "restore": RESTORED,
    }
    knobs = {"accounts": 3, "posts_per_account": 4}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query)

    def decorate(self, path: str, response: Response, served: Iterator[int]) -> None:
        """The API's rate-limit headers, as a real instance sends them."""
        if not path.startswith("/api/") or response.header("X-RateLimit-Limit"):
            return
        n = next(served)
        reset = datetime.fromtimestamp((time.time() // 300 + 1) * 300, UTC)
        response.headers += [
            ("X-RateLimit-Limit", str(_RATE_LIMIT)),
            ("X-RateLimit-Remaining", str(_RATE_LIMIT - 1 - n % _RATE_LIMIT)),
            ("X-RateLimit-Reset", reset.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
        ]

    def fault(self, fault: str, pick: Pick) -> Response | None:
        if fault != "rate_limit":
            return None
        return html_response(
            429, "<html><body><h1>429 Too Many Requests</h1></body></html>",
            [("Retry-After", "1"), ("X-RateLimit-Limit", str(_RATE_LIMIT)),
             ("X-RateLimit-Remaining", "0")],
        )

    def visible(self, world: World, post: Post) -> bool:
        if world.owners[(PLATFORM, post.owner)].state not in ("normal", "limited"):
            return False
        return post.state in ("live", "hidden_from_feed")

    def describe(self, world: World, post: Post) -> str:
        """The account's state wins when it is not normal."""
        account_state = world.owners[(PLATFORM, post.owner)].state
        if account_state != "normal" and post.state in ("live", "hidden_from_feed"):
            return _ACCOUNT_STATE[account_state]
        return post.state

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if planner.world.owners[(PLATFORM, post.owner)].state != "normal":
            return "its account is not in good standing"
        return None

    def post_url(self, base: str, world: World, post: Post) -> str:
        return status_url(base, post)

    def target(self, base: str, world: World, post: Post) -> str:
        return post.owner

    def truth_extra(self, base: str, world: World, post: Post) -> dict[str, Any]:
        return {"api_url": status_api_url(base, post)}

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "account": account.username, "base_url": base}
                for account in plan.owners_of(PLATFORM)]

    def demo(self) -> ScenarioPart:
        return _Demo()

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return _Random(knobs)

    def export_owner(self, planner: Planner, n: int) -> str:
        return new_account(planner, f"bench{n}").username

    def export(self, planner: Planner, owner: str, index: int,
               base: str) -> tuple[str, bytes, str]:
        """``api/v1/statuses/{id}`` (JSON; ids ``STATIC_FIRST_ID + i * 1000``)."""
        spec = new_status(planner, owner)
        spec.key = str(STATIC_FIRST_ID + index * 1_000)
        post = planner.publish(spec)
        body = json.dumps(status_json(planner.world, base, post), ensure_ascii=False).encode()
        return f"api/v1/statuses/{post.key}", body, status_api_url(base, post)


FAKE = MastodonFake()
