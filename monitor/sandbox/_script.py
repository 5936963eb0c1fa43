"""Scenarios: a seeded script of ticks, and the event each action must produce.

A :class:`Planner` builds a :class:`Plan` by running the actions against a
private :class:`~._world.World` on a virtual clock, so that every rule can be
checked at planning time: a post is live for two ticks before anything happens
to it, actions on one post are two ticks apart, an RSS entry is acted on only
while it sits well inside its feed window, and RedNote actions only touch notes
that the generated watchlist names. The sandbox replays the plan on a fresh
world with wall-clock time.
"""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _text as text
from ._expect import expect
from ._world import ACCOUNT_ACTIONS, Account, Edit, Media, Post, RedUser, Site, World

_MS_BASE = 1_722_000_000_000  # virtual epoch for snowflake-like ids (2024-07-26)
_S_BASE = 1_721_900_000  # virtual epoch for RedNote ObjectId-like ids

EDIT_STYLES = ("typo", "rewrite", "redaction", "link_removed", "media_removed")

#: Actions each platform (and feed format) supports.
ACTIONS: dict[str, frozenset[str]] = {
    "mastodon": frozenset(
        {"edit", "delete_by_author", "remove_by_moderator", "hide_from_feed", "restore"}
    ),
    "atom": frozenset(
        {
            "edit",
            "delete_by_author",
            "remove_by_moderator",
            "withhold_legal",
            "hide_from_feed",
            "restore",
        }
    ),
    "rss": frozenset({"edit", "delete_silently", "withhold_legal", "hide_from_feed", "restore"}),
    "rednote": frozenset(
        {
            "edit",
            "delete_by_author",
            "remove_by_platform",
            "make_private",
            "put_under_review",
            "restore",
        }
    ),
}
_RESTORABLE = {
    "mastodon": {"removed_by_moderator", "hidden_from_feed"},
    "rss": {"removed_by_moderator", "withheld_legal", "hidden_from_feed"},
    "rednote": {"removed_by_platform", "private", "under_review"},
}
#: An RSS entry is hidden or removed only while in the newest half of its feed …
_RANK_ACT = 5
#: … and a hidden one is restored only while it would still be in the window.
_RANK_RESTORE = 8


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
    accounts: list[Account] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    users: list[RedUser] = field(default_factory=list)
    #: Posts live before tick 1, oldest first, with how many seconds before start.
    initial: list[tuple[Post, float]] = field(default_factory=list)
    ticks: list[list[Op]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

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

    def __init__(self, seed: int, scenario: str) -> None:
        self.rng = random.Random(seed)
        self.now = 1_700_000_000.0
        self.world = World(seed, clock=lambda: self.now)
        self.plan = Plan(seed=seed, scenario=scenario)
        self.tick = 0
        self._serial = 0
        self._pending_initial: list[Post] = []
        self._account_tick: dict[str, int] = {}

    # -- ids -----------------------------------------------------------------------

    def _snowflake(self) -> str:
        self._serial += 1
        ms = _MS_BASE + self._serial * 61_000 + self.rng.randint(0, 999)
        return str((ms << 16) | self.rng.randint(0, 0xFFFF))

    def _object_id(self) -> str:
        self._serial += 1
        seconds = _S_BASE + self._serial * 3_607
        return f"{seconds:08x}00000000{self.rng.getrandbits(32):08x}"

    def _token(self) -> str:
        raw = base64.urlsafe_b64encode(self.rng.randbytes(30)).decode()
        return "AB" + raw.replace("-", "x").replace("_", "Z").rstrip("=")

    # -- owners --------------------------------------------------------------------

    def account(self, username: str) -> Account:
        account = Account(
            username=username,
            id=self._snowflake(),
            display_name=username.capitalize(),
            note=f"<p>{text.english_sentence(self.rng)}</p>",
            created=1_704_067_200 + self.rng.randint(0, 200) * 86_400,
            followers=self.rng.randint(10, 900),
            following=self.rng.randint(10, 300),
        )
        self.world.add_account(account)
        self.plan.accounts.append(copy.deepcopy(account))
        return account

    def site(self, name: str, fmt: str) -> Site:
        site = Site(
            name=name,
            fmt=fmt,
            title=f"The {name.capitalize()} (sandbox)",
            authors=self.rng.sample(text.SITE_AUTHORS, 3),
        )
        self.world.add_site(site)
        self.plan.sites.append(copy.deepcopy(site))
        return site

    def user(self) -> RedUser:
        n = len(self.plan.users)
        nickname = text.ZH_NICKNAMES[n % len(text.ZH_NICKNAMES)]
        if n >= len(text.ZH_NICKNAMES):
            nickname += str(n)
        user = RedUser(
            user_id=self._object_id(),
            nickname=nickname,
            red_id=str(self.rng.randint(100_000_000, 999_999_999)),
            desc=text.chinese_sentence(self.rng),
        )
        self.world.add_user(user)
        self.plan.users.append(copy.deepcopy(user))
        return user

    # -- posts ---------------------------------------------------------------------

    def _media(self, count: int) -> list[Media]:
        return [
            Media(self.rng.randbytes(12).hex(), 1080, self.rng.choice([1080, 1350, 1440]))
            for _ in range(count)
        ]

    def new_status(self, username: str) -> Post:
        sentences, typo = text.with_typo(self.rng, text.english_sentences(self.rng, 2, 4))
        return Post(
            platform="mastodon",
            key=self._snowflake(),
            owner=username,
            author=username,
            title="",
            sentences=sentences,
            link=f"https://example.org/{self.rng.choice(['story', 'doc', 'report'])}/"
            f"{self.rng.randint(1000, 9999)}",
            media=self._media(self.rng.randint(1, 2)),
            tags=text.hashtags(self.rng),
            typo=typo,
            counters={
                "likes": self.rng.randint(0, 40),
                "reblogs": self.rng.randint(0, 10),
                "replies": self.rng.randint(0, 5),
            },
        )

    def new_entry(self, site: str) -> Post:
        self._serial += 1
        title = text.english_title(self.rng)
        words = [w.lower() for w in title.split()[:3] if w.isalpha()]
        slug = f"{self._serial:05d}-" + "-".join(words)
        sentences, typo = text.with_typo(self.rng, text.english_sentences(self.rng, 3, 5))
        return Post(
            platform="rss",
            key=slug,
            owner=site,
            author=self.rng.choice(self.world.sites[site].authors),
            title=title,
            sentences=sentences,
            link=f"https://example.org/source/{self.rng.randint(1000, 9999)}",
            media=self._media(self.rng.randint(1, 2)),
            typo=typo,
        )

    def new_note(self, user_id: str) -> Post:
        sentences, typo = text.with_typo(self.rng, text.chinese_sentences(self.rng, 2, 4))
        likes = self.rng.choice([self.rng.randint(3, 900), self.rng.randint(10_000, 40_000)])
        return Post(
            platform="rednote",
            key=self._object_id(),
            owner=user_id,
            author=self.world.users[user_id].nickname,
            title=text.chinese_title(self.rng),
            sentences=sentences,
            link=None,
            media=self._media(self.rng.randint(2, 4)),
            tags=text.chinese_topics(self.rng),
            typo=typo,
            counters={
                "liked": likes,
                "collected": self.rng.randint(0, likes // 3 + 1),
                "comment": self.rng.randint(0, 300),
                "share": self.rng.randint(0, 90),
            },
            xsec_token=self._token(),
            ip_location=text.ip_location(self.rng),
        )

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
        if len(post.media) >= (2 if post.platform == "rednote" else 1):
            styles.append("media_removed")
        return styles

    def why_not(self, post: Post, action: str, style: str | None = None) -> str | None:
        """Why ``action`` may not happen to ``post`` now, or None when it may."""
        kind = self.world.sites[post.owner].fmt if post.platform == "rss" else post.platform
        if action not in ACTIONS[kind]:
            return f"{kind} posts do not support {action}"
        if self.tick - post.published_tick < 2:
            return "published less than two ticks ago"
        if self.tick - post.last_action_tick < 2:
            return "acted on less than two ticks ago"
        if post.n_actions >= (3 if action == "restore" else 2):
            return "already had its share of actions"
        if post.platform == "mastodon" and self.world.accounts[post.owner].state != "normal":
            return "its account is not in good standing"
        if post.platform == "rednote" and post.published_tick != 0:
            return "only notes live at start are in the watchlist"
        if action == "restore":
            if post.state not in _RESTORABLE[post.platform]:
                return f"cannot restore a post in state {post.state}"
            if post.state == "hidden_from_feed" and post.platform == "rss":
                if self.world.feed_rank(post) > _RANK_RESTORE:
                    return "would come back outside the feed window"
            return None
        if post.state != "live":
            return f"post is {post.state}"
        if action == "edit":
            if style not in self.styles_for(post):
                return f"edit style {style!r} does not apply"
        elif post.platform == "rss" and self.world.feed_rank(post) > _RANK_ACT:
            return "too close to the end of the feed window"
        return None

    def why_not_account(self, username: str, action: str) -> str | None:
        account = self.world.accounts[username]
        if self.tick - self._account_tick.get(username, -10) < 2:
            return "account acted on less than two ticks ago"
        if action == "restore":
            return None if account.state in ("suspended", "limited") else "nothing to restore"
        allowed = ("normal", "limited") if action == "delete_account" else ("normal",)
        if account.state not in allowed:
            return f"account is {account.state}"
        statuses = [p for p in self.world.statuses_of(username) if self.world.visible(p)]
        if not statuses:
            return "no visible statuses"
        for post in statuses:
            if post.state != "live":
                return f"status {post.key} is {post.state}"
            if self.tick - max(post.published_tick, post.last_action_tick) < 2:
                return f"status {post.key} changed less than two ticks ago"
            if post.n_actions >= 2:
                return f"status {post.key} already had its share of actions"
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
            Row(
                self.tick,
                post.platform,
                post.uid,
                post.owner,
                action,
                expect(post.platform, action),
                style,
            )
        )

    def act_account(self, username: str, action: str) -> None:
        problem = self.why_not_account(username, action)
        if problem:
            raise ValueError(f"tick {self.tick}: cannot {action} {username}: {problem}")
        world = self.world
        before = world.accounts[username].state
        statuses = world.statuses_of(username)
        if action == "limit_account" or (action == "restore" and before == "limited"):
            affected = [p for p in statuses if p.state == "live" and world.visible(p)]
            world.apply_account_action(username, action)
        elif action == "restore":
            world.apply_account_action(username, action)
            affected = [p for p in statuses if world.visible(p)]
        else:
            affected = [p for p in statuses if world.visible(p)]
            world.apply_account_action(username, action)
        self._account_tick[username] = self.tick
        self.plan.ticks[-1].append(Op("act", "mastodon", username, action, on_account=True))
        for post in sorted(affected, key=lambda p: int(p.key)):
            post.last_action_tick = self.tick
            post.n_actions += 1
            self.plan.rows.append(
                Row(self.tick, "mastodon", post.uid, username, action, expect("mastodon", action))
            )

    def _edit(self, post: Post, style: str) -> Edit:
        rng = self.rng
        sentences, typo, title = list(post.sentences), post.typo, post.title
        link, media = post.link, list(post.media)
        if style == "typo" and typo is not None:
            sentences[typo[0]] = typo[1]
            typo = None
        elif style == "rewrite":
            sentences = text.rewrite(rng, post.platform == "rednote", len(sentences))
            typo = None
            if post.platform == "rss":
                title = text.english_title(rng)
            elif post.platform == "rednote":
                title = text.chinese_title(rng)
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

    def candidates(self) -> Iterator[tuple[str, str, str | None]]:
        """Every (target, action, style) allowed now; target is a uid or ``@username``."""
        for post in self.world.order:
            kind = self.world.sites[post.owner].fmt if post.platform == "rss" else post.platform
            for action in sorted(ACTIONS[kind]):
                style = None
                if action == "edit":
                    style = self.rng.choice(self.styles_for(post))
                if self.why_not(post, action, style) is None:
                    yield f"{post.platform}:{post.uid}", action, style
        for username in self.world.accounts:
            for action in sorted(ACCOUNT_ACTIONS | {"restore"}):
                if self.why_not_account(username, action) is None:
                    yield f"@{username}", action, None

    def finish(self) -> Plan:
        if self._pending_initial:
            self._publish_initial()
        return self.plan
