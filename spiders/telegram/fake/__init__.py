"""Telegram in the sandbox: public channels with sequential message ids, a forward
of another watched channel's message, and what a correct monitor reports for each
action. The pages are in :mod:`._http`, all under ``/telegram/``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
    html_response,
    text,
)

from ._http import FORWARD, PLATFORM, PREFIX, blocked, forward_of, handle, post_url

_AMBIGUOUS = ["deleted_by_author", "removed_by_platform"]
_TITLES = ["Daily Brief", "Field Notes", "City Desk", "Night Owl News"]
_CHANNELS = ["brief", "fieldnotes", "citydesk", "nightowl"]
_FLOOD = ("<!DOCTYPE html><html><head><title>Too Many Requests</title></head><body>"
          "Too Many Requests: retry after 1</body></html>")


def new_channel(planner: Planner) -> Account:
    n = len([o for o in planner.plan.owners_of(PLATFORM) if isinstance(o, Account)])
    name = _CHANNELS[n % len(_CHANNELS)] + (f"_{n}" if n >= len(_CHANNELS) else "")
    account = Account(platform=PLATFORM, username=name, id=name,
                      display_name=_TITLES[n % len(_TITLES)],
                      note=text.english_sentence(planner.rng), created=1_600_000_000.0,
                      followers=planner.rng.randint(100, 90_000), following=0)
    return planner.add_owner(PLATFORM, name, account)  # type: ignore[no-any-return]


def _next_id(planner: Planner, channel: str) -> int:
    """The channel's next message id: sequential, with the odd skipped id (a
    service message) as on Telegram."""
    counters: dict[str, int] = planner.__dict__.setdefault("_telegram_ids", {})
    counters[channel] = counters.get(channel, 0) + 1 + (planner.rng.random() < 0.2)
    return counters[channel]


def new_post(planner: Planner, channel: str, *, original: Post | None = None) -> Post:
    rng = planner.rng
    if original is not None:
        sentences, typo = list(original.sentences), original.typo
    else:
        sentences, typo = text.with_typo(rng, text.english_sentences(rng, 1, 3))
    return Post(platform=PLATFORM, key=f"{channel}/{_next_id(planner, channel)}",
                owner=channel, author=channel, title="", sentences=sentences, link=None,
                media=planner.media(rng.randint(0, 1)), typo=typo,
                counters={"views": rng.randint(10, 5_000)},
                location=f"{FORWARD}{original.key}" if original is not None else "")


# "a:iN" is the N-th post of the first channel live at start; "b:f0" the second
# channel's forward of a:i3; "@b" the second channel.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("a:i0", "edit", "rewrite")],
    3: [("a:i1", "delete_by_author", None)],
    4: [("a:i2", "restrict_copyright", None)],
    5: [("a:i3", "delete_original", None)],
    8: [("@b", "suspend_account", None)],
    10: [("@b", "restore", None)],
}


class _Demo(AccountsDemo):
    """The demo's channels, and in the last round the second's forward of ``a:i3``."""

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        if round_ == 5:
            return [self.named("b:f0", lambda: new_post(planner, self.users["b"].username,
                                                         original=self.refs["a:i3"]))]
        return super().initial(planner, round_)


class TelegramFake(Fake):
    name = PLATFORM
    paths = (PREFIX + "/",)
    action_states = {
        "delete_by_author": "deleted",
        "delete_original": "deleted",
        "restrict_copyright": "copyright",
    }
    expect = {
        "edit": EDITED,
        # The embed's "Post not found": the channel's admins or Telegram.
        "delete_by_author": gone("ambiguous", candidates=_AMBIGUOUS),
        # The same, for a message a watched channel forwarded (its text survives there).
        "delete_original": gone("ambiguous", candidates=_AMBIGUOUS),
        # The message's label: "... due to copyright infringement".
        "restrict_copyright": gone("removed_by_platform", detail="copyright"),
        # The channel's notice: "... violated Telegram's Terms of Service".
        "suspend_account": gone("removed_by_platform", detail="policy"),
        # The channel unblocked: its messages are served again.
        "restore": RESTORED,
    }
    knobs = {"telegram_accounts": 1}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """Telegram's own refusals: 429 with Retry-After, or a flood-wait page."""
        if fault == "rate_limit":
            if pick([0, 1]):
                return html_response(429, _FLOOD, [("Retry-After", "1")])
            return html_response(200, _FLOOD)
        if fault == "anti_bot":
            return html_response(200, _FLOOD)
        return None

    def actions(self, world: World, post: Post) -> frozenset[str]:
        own = {"edit", "delete_by_author", "restrict_copyright"}
        if self._forward(world, post) is not None:
            own.add("delete_original")
        return frozenset(own)

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if blocked(planner.world, post.owner):
            return "its channel is blocked"
        if action == "edit" and forward_of(post):
            return "a forward cannot be edited"
        return None

    def visible(self, world: World, post: Post) -> bool:
        return post.state == "live" and not blocked(world, post.owner)

    def describe(self, world: World, post: Post) -> str:
        if blocked(world, post.owner) and post.state == "live":
            return "account_suspended"
        return post.state

    @staticmethod
    def _forward(world: World, post: Post) -> Post | None:
        return next((p for p in world.order if p.platform == PLATFORM
                     and forward_of(p) == post.key), None)

    def post_url(self, base: str, world: World, post: Post) -> str:
        return post_url(base, post)

    def target(self, base: str, world: World, post: Post) -> str:
        return post.owner

    def truth_extra(self, base: str, world: World, post: Post) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if forward_of(post):
            out["forward_of"] = forward_of(post)
        forward = self._forward(world, post)
        if forward is not None:
            out["forwarded_in"] = forward.key
        return out

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "channel": owner.id, "base_url": f"{base}{PREFIX}"}
                for owner in plan.owners_of(PLATFORM) if isinstance(owner, Account)]

    def demo(self) -> ScenarioPart:
        """Two watched channels; the second forwards a message of the first."""
        return _Demo(_DEMO_ACTIONS, new_channel, new_post,
                     rounds={"a": range(4), "b": range(4, 5)})

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return RandomAccounts(knobs, "telegram_accounts", new_channel, new_post)


FAKE = TelegramFake()
__all__ = ["FAKE", "TelegramFake", "new_channel", "new_post"]
