"""Scenarios: a seeded script of ticks, and the event each action must produce.

A :class:`Planner` builds a :class:`Plan` by running the actions against a
private :class:`~._world.World` on a virtual clock, so that every rule can be
checked at planning time: a post is live for two ticks before anything happens
to it, actions on one post are two ticks apart, and each platform's fake adds
its own rules (:meth:`~.fake.Fake.why_not`). The sandbox replays the plan on a
fresh world with wall-clock time.
"""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._expect import expect
from ._world import ACCOUNT_ACTIONS, Account, Edit, Media, Post, World

if TYPE_CHECKING:
    from .fake import Fake

_MS_BASE = 1_722_000_000_000  # virtual epoch for snowflake-like ids (2024-07-26)
_S_BASE = 1_721_900_000  # virtual epoch for ObjectId-like ids
#: An RFC 4648 url-safe token with only letters and digits: ``-`` as ``x``, ``_`` as ``Z``.
_TOKEN_CHARS = str.maketrans("-_", "xZ")

EDIT_STYLES = ("typo", "rewrite", "redaction", "link_removed", "media_removed")


@dataclass(slots=True)
class Op:
    """One scripted change: publish a post, or act on a post or an account."""

    kind: str  # "publish" | "act"
    platform: str
    target: str  # post uid, or account username for account actions
    action: str = "publish"
    post: Post | None = None
    edit: Edit | None = None
    on_account: bool = False


@dataclass(slots=True)
class Row:
    """One expected event: an action as it affects one post."""

    tick: int
    platform: str
    uid: str
    owner: str
    action: str
    expect: dict[str, Any]
    edit_style: str | None = None

    def as_script(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tick": self.tick,
            "platform": self.platform,
            "post": self.uid,
            "owner": self.owner,
            "action": self.action,
            "expect": self.expect,
        }
        if self.edit_style:
            out["edit_style"] = self.edit_style
        return out


@dataclass(slots=True)
class Plan:
    seed: int
    scenario: str
    #: (platform, name, owner) in the order the owners were made.
    owners: list[tuple[str, str, Any]] = field(default_factory=list)
    #: Posts live before tick 1, oldest first, with how many seconds before start.
    initial: list[tuple[Post, float]] = field(default_factory=list)
    ticks: list[list[Op]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def owners_of(self, platform: str) -> list[Any]:
        return [owner for p, _, owner in self.owners if p == platform]

    def script(self) -> list[dict[str, Any]]:
        """The plan without wall-clock or port: equal for equal seeds."""
        out: list[dict[str, Any]] = [
            {"tick": 0, "platform": p.platform, "publish": p.uid} for p, _ in self.initial
        ]
        for tick, ops in enumerate(self.ticks, start=1):
            out += [
                {"tick": tick, "platform": op.platform, "publish": op.target}
                for op in ops
                if op.kind == "publish"
            ]
            out += [row.as_script() for row in self.rows if row.tick == tick]
        return out


class Planner:
    """Builds a plan step by step and refuses any action that breaks the rules."""

    def __init__(self, seed: int, scenario: str, fakes: Mapping[str, Fake]) -> None:
        self.rng = random.Random(seed)
        self.now = 1_700_000_000.0
        self.fakes = fakes
        self.world = World(seed, fakes, clock=lambda: self.now)
        self.plan = Plan(seed=seed, scenario=scenario)
        self.tick = 0
        self._serial = 0
        self._pending_initial: list[Post] = []
        self._account_tick: dict[tuple[str, str], int] = {}

    # -- ids and media ---------------------------------------------------------------

    def serial(self) -> int:
        """The next number of the plan's one counter (ids and slugs draw on it)."""
        self._serial += 1
        return self._serial

    def snowflake(self) -> str:
        """A time-ordered numeric id."""
        ms = _MS_BASE + self.serial() * 61_000 + self.rng.randint(0, 999)
        return str((ms << 16) | self.rng.randint(0, 0xFFFF))

    def object_id(self) -> str:
        """A time-ordered 24-hex id."""
        seconds = _S_BASE + self.serial() * 3_607
        return f"{seconds:08x}00000000{self.rng.getrandbits(32):08x}"

    def token(self) -> str:
        raw = base64.urlsafe_b64encode(self.rng.randbytes(30)).decode()
        return "AB" + raw.translate(_TOKEN_CHARS).rstrip("=")

    def media(self, count: int) -> list[Media]:
        return [
            Media(self.rng.randbytes(12).hex(), 1080, self.rng.choice([1080, 1350, 1440]))
            for _ in range(count)
        ]

    # -- owners and posts ------------------------------------------------------------

    def add_owner(self, platform: str, name: str, owner: Any) -> Any:
        """Make ``owner`` part of the world and of the plan; returns it."""
        self.world.add_owner(platform, name, owner)
        self.plan.owners.append((platform, name, copy.deepcopy(owner)))
        return owner

    def initial(self, post: Post) -> Post:
        """Queue a post that is already live when the sandbox starts."""
        self._pending_initial.append(post)
        return post

    def _publish_initial(self) -> None:
        count = len(self._pending_initial)
        for i, post in enumerate(self._pending_initial):
            ago = (count - i) * 420.0 + self.rng.randint(0, 120)
            self.world.publish(post, 0, at=self.now - ago)
            self.plan.initial.append((post, ago))
        self._pending_initial.clear()

    # -- ticks ---------------------------------------------------------------------

    def begin_tick(self) -> int:
        if self._pending_initial:
            self._publish_initial()
        self.tick += 1
        self.now += 60.0
        self.world.tick = self.tick
        self.plan.ticks.append([])
        return self.tick

    def publish(self, post: Post) -> Post:
        live = self.world.publish(post, self.tick)
        self.plan.ticks[-1].append(Op("publish", post.platform, post.uid, post=post))
        return live

    # -- eligibility ---------------------------------------------------------------

    def styles_for(self, post: Post) -> list[str]:
        """Edit styles that make sense for the post as it is now."""
        styles = ["rewrite"]
        if post.typo is not None:
            styles.append("typo")
        if len(post.sentences) >= 2:
            styles.append("redaction")
        if post.link:
            styles.append("link_removed")
        if len(post.media) > self.fakes[post.platform].media_floor:
            styles.append("media_removed")
        return styles

    def why_not(self, post: Post, action: str, style: str | None = None) -> str | None:
        """Why ``action`` may not happen to ``post`` now, or None when it may."""
        fake = self.fakes[post.platform]
        if action not in fake.actions(self.world, post):
            return f"{post.platform} posts do not support {action} here"
        if self.tick - post.published_tick < 2:
            return "published less than two ticks ago"
        if self.tick - post.last_action_tick < 2:
            return "acted on less than two ticks ago"
        if post.n_actions >= (3 if action == "restore" else 2):
            return "already had its share of actions"
        if action == "restore":
            if post.state not in fake.restorable:
                return f"cannot restore a post in state {post.state}"
        elif post.state != "live":
            return f"post is {post.state}"
        elif action == "edit" and style not in self.styles_for(post):
            return f"edit style {style!r} does not apply"
        return fake.why_not(self, post, action)

    def why_not_account(self, account: Account, action: str) -> str | None:
        if self.tick - self._account_tick.get((account.platform, account.username), -10) < 2:
            return "account acted on less than two ticks ago"
        if action == "restore":
            return None if account.state in ("suspended", "limited") else "nothing to restore"
        allowed = ("normal", "limited") if action == "delete_account" else ("normal",)
        if account.state not in allowed:
            return f"account is {account.state}"
        posts = self.world.posts_of(account.platform, account.username)
        posts = [p for p in posts if self.world.visible(p)]
        if not posts:
            return "no visible posts"
        for post in posts:
            if post.state != "live":
                return f"post {post.key} is {post.state}"
            if self.tick - max(post.published_tick, post.last_action_tick) < 2:
                return f"post {post.key} changed less than two ticks ago"
            if post.n_actions >= 2:
                return f"post {post.key} already had its share of actions"
        return None

    # -- acting --------------------------------------------------------------------

    def act(self, post: Post, action: str, style: str | None = None) -> None:
        """Act on a post (the world's copy of it, should ``post`` be a queued spec)."""
        live = self.world.post(post.platform, post.uid)
        if live is None:
            raise ValueError(f"tick {self.tick}: {post.uid} is not published yet")
        post = live
        problem = self.why_not(post, action, style)
        if problem:
            raise ValueError(f"tick {self.tick}: cannot {action} {post.uid}: {problem}")
        edit = self._edit(post, style) if action == "edit" and style else None
        self.world.apply_post_action(post, action, edit)
        self.plan.ticks[-1].append(Op("act", post.platform, post.uid, action, edit=edit))
        self.plan.rows.append(
            Row(self.tick, post.platform, post.uid, post.owner, action,
                expect(post.platform, action), style)
        )

    def act_account(self, account: Account, action: str) -> None:
        """Act on an account: every visible post of it gets the action's event."""
        platform, username = account.platform, account.username
        problem = self.why_not_account(account, action)
        if problem:
            raise ValueError(f"tick {self.tick}: cannot {action} {username}: {problem}")
        world = self.world
        before = account.state
        posts = sorted(world.posts_of(platform, username), key=lambda p: (p.published, p.key))
        if action == "limit_account" or (action == "restore" and before == "limited"):
            affected = [p for p in posts if p.state == "live" and world.visible(p)]
            world.apply_account_action(platform, username, action)
        elif action == "restore":
            world.apply_account_action(platform, username, action)
            affected = [p for p in posts if world.visible(p)]
        else:
            affected = [p for p in posts if world.visible(p)]
            world.apply_account_action(platform, username, action)
        self._account_tick[(platform, username)] = self.tick
        self.plan.ticks[-1].append(Op("act", platform, username, action, on_account=True))
        for post in affected:
            post.last_action_tick = self.tick
            post.n_actions += 1
            self.plan.rows.append(
                Row(self.tick, platform, post.uid, username, action, expect(platform, action))
            )

    def _edit(self, post: Post, style: str) -> Edit:
        rng = self.rng
        sentences, typo, title = list(post.sentences), post.typo, post.title
        link, media = post.link, list(post.media)
        if style == "typo" and typo is not None:
            sentences[typo[0]] = typo[1]
            typo = None
        elif style == "rewrite":
            title, sentences = self.fakes[post.platform].rewrite(self, post)
            typo = None
        elif style == "redaction":
            drop = rng.randrange(1, len(sentences))
            del sentences[drop]
            if typo is not None:
                typo = None if typo[0] == drop else (typo[0] - (typo[0] > drop), typo[1])
        elif style == "link_removed":
            link = None
        elif style == "media_removed":
            media.pop()
        return Edit(style, title, sentences, link, media, typo)

    def candidates(self) -> Iterator[tuple[Post | Account, str, str | None]]:
        """Every (post or account, action, style) allowed now."""
        for post in self.world.order:
            fake = self.fakes[post.platform]
            for action in sorted(fake.actions(self.world, post)):
                style = None
                if action == "edit":
                    style = self.rng.choice(self.styles_for(post))
                if self.why_not(post, action, style) is None:
                    yield post, action, style
        for account in self.world.accounts():
            actions = set(self.fakes[account.platform].expect) & ACCOUNT_ACTIONS
            for action in sorted(actions | {"restore"}):
                if self.why_not_account(account, action) is None:
                    yield account, action, None

    def finish(self) -> Plan:
        if self._pending_initial:
            self._publish_initial()
        return self.plan
