"""The sandbox's state: accounts, sites, RedNote users and their posts.

The world only knows *states* and how actions change them; which event a
correct monitor should report for an action is decided in :mod:`._script`, and
how a state looks over HTTP in the renderer modules. One re-entrant lock guards
everything: the HTTP threads render under it and ``step()`` mutates under it.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PLATFORMS = ("mastodon", "rss", "rednote")

#: Window of an RSS/Atom feed: the newest N live entries.
FEED_WINDOW = 10

#: Post states per platform, "live" first. ``restore`` brings a post back to "live".
POST_STATES: dict[str, tuple[str, ...]] = {
    "mastodon": ("live", "hidden_from_feed", "deleted_by_author", "removed_by_moderator"),
    "rss": (
        "live",
        "hidden_from_feed",
        "deleted_by_author",
        "removed_by_moderator",
        "withheld_legal",
        "deleted_silently",
    ),
    "rednote": (
        "live",
        "deleted_by_author",
        "removed_by_platform",
        "private",
        "under_review",
    ),
}
ACCOUNT_STATES = ("normal", "limited", "suspended", "deleted")

#: action → the post state it leaves behind.
_POST_ACTION_STATE = {
    "delete_by_author": "deleted_by_author",
    "remove_by_moderator": "removed_by_moderator",
    "hide_from_feed": "hidden_from_feed",
    "withhold_legal": "withheld_legal",
    "delete_silently": "deleted_silently",
    "remove_by_platform": "removed_by_platform",
    "make_private": "private",
    "put_under_review": "under_review",
    "restore": "live",
}
_ACCOUNT_ACTION_STATE = {
    "suspend_account": "suspended",
    "delete_account": "deleted",
    "limit_account": "limited",
    "restore": "normal",
}
ACCOUNT_ACTIONS = frozenset({"suspend_account", "delete_account", "limit_account"})

MODERATOR_NAME = "Site Editor"


@dataclass(slots=True)
class Media:
    file_id: str
    width: int
    height: int


@dataclass(slots=True)
class Version:
    """One version of a post's content (Mastodon history is built from these)."""

    at: float
    title: str
    sentences: list[str]
    link: str | None
    media: list[Media]
    sensitive: bool = False
    spoiler: str = ""
    by_moderator: bool = False


@dataclass(slots=True)
class Post:
    platform: str
    key: str  # status id / entry slug / note id
    owner: str  # account username / site name / RedNote user id
    author: str  # display name of the author
    title: str
    sentences: list[str]
    link: str | None
    media: list[Media]
    tags: list[str] = field(default_factory=list)
    typo: tuple[int, str] | None = None
    counters: dict[str, int] = field(default_factory=dict)
    xsec_token: str = ""
    ip_location: str = ""
    state: str = "live"
    published_tick: int = 0
    published: float = 0.0
    updated: float = 0.0
    sensitive: bool = False
    spoiler: str = ""
    versions: list[Version] = field(default_factory=list)
    last_action_tick: int = -10
    n_actions: int = 0

    @property
    def uid(self) -> str:
        """World-unique key: RSS slugs are only unique within their site."""
        return f"{self.owner}/{self.key}" if self.platform == "rss" else self.key

    def snapshot(self, at: float, by_moderator: bool = False) -> Version:
        return Version(
            at=at,
            title=self.title,
            sentences=list(self.sentences),
            link=self.link,
            media=list(self.media),
            sensitive=self.sensitive,
            spoiler=self.spoiler,
            by_moderator=by_moderator,
        )


@dataclass(slots=True)
class Account:
    username: str
    id: str
    display_name: str
    note: str
    created: float
    followers: int
    following: int
    state: str = "normal"


@dataclass(slots=True)
class Tombstone:
    uid: str
    when: float
    by: str
    comment: str


@dataclass(slots=True)
class Site:
    name: str
    fmt: str  # "atom" or "rss"
    title: str
    authors: list[str]
    tombstones: dict[str, Tombstone] = field(default_factory=dict)

    @property
    def feed_path(self) -> str:
        return f"/feeds/{self.name}.{self.fmt}"


@dataclass(slots=True)
class RedUser:
    user_id: str
    nickname: str
    red_id: str
    desc: str


@dataclass(slots=True)
class Edit:
    """The full new content an ``edit`` action installs, decided at planning time."""

    style: str
    title: str
    sentences: list[str]
    link: str | None
    media: list[Media]
    typo: tuple[int, str] | None


class World:
    """Everything the sandbox serves, plus the transitions between states."""

    def __init__(self, seed: int, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.started = clock()
        self.tick = 0
        self.accounts: dict[str, Account] = {}
        self.accounts_by_id: dict[str, Account] = {}
        self.sites: dict[str, Site] = {}
        self.users: dict[str, RedUser] = {}
        self.posts: dict[tuple[str, str], Post] = {}  # (platform, uid) → post
        self.order: list[Post] = []  # publication order
        self._by_owner: dict[tuple[str, str], list[Post]] = {}
        self._last_published = 0.0
        self._counter_rng = random.Random(seed * 7919 + 17)

    # -- building ----------------------------------------------------------------------

    def add_account(self, account: Account) -> None:
        self.accounts[account.username] = account
        self.accounts_by_id[account.id] = account

    def add_site(self, site: Site) -> None:
        self.sites[site.name] = site

    def add_user(self, user: RedUser) -> None:
        self.users[user.user_id] = user

    def publish(self, spec: Post, tick: int, at: float | None = None) -> Post:
        """Make a copy of ``spec`` live; ``at`` backdates initial posts."""
        post = copy.deepcopy(spec)
        if at is None:
            # Strictly increasing, even when ticks come faster than a second.
            at = max(self.clock(), self._last_published + 1.0)
        self._last_published = max(self._last_published, at)
        post.published = post.updated = at
        post.published_tick = tick
        post.last_action_tick = tick
        post.versions = [post.snapshot(at)]
        self.posts[(post.platform, post.uid)] = post
        self.order.append(post)
        self._by_owner.setdefault((post.platform, post.owner), []).append(post)
        return post

    # -- queries ----------------------------------------------------------------------

    def post(self, platform: str, uid: str) -> Post | None:
        return self.posts.get((platform, uid))

    def visible(self, post: Post) -> bool:
        """The permalink serves the post."""
        if post.platform == "mastodon":
            if self.accounts[post.owner].state not in ("normal", "limited"):
                return False
            return post.state in ("live", "hidden_from_feed")
        if post.platform == "rss":
            return post.state in ("live", "hidden_from_feed")
        return post.state == "live"

    def listed(self, post: Post) -> bool:
        """The post belongs in its listing (before any feed window is applied)."""
        return self.visible(post) and post.state == "live"

    def statuses_of(self, username: str) -> list[Post]:
        """An account's statuses, newest first."""
        found = self._by_owner.get(("mastodon", username), [])
        return sorted(found, key=lambda p: int(p.key), reverse=True)

    def entries_of(self, site: str) -> list[Post]:
        """A site's entries, newest first."""
        found = self._by_owner.get(("rss", site), [])
        return sorted(found, key=lambda p: (p.published, p.key), reverse=True)

    def feed_entries(self, site: str) -> list[Post]:
        """What the feed carries now: the newest :data:`FEED_WINDOW` listed entries."""
        return [p for p in self.entries_of(site) if self.listed(p)][:FEED_WINDOW]

    def feed_rank(self, post: Post) -> int:
        """1-based position the entry has (or would have, if listed) in its feed."""
        newer = [
            p
            for p in self.entries_of(post.owner)
            if self.listed(p)
            and p is not post
            and (p.published, p.key) > (post.published, post.key)
        ]
        return len(newer) + 1

    def notes_of(self, user_id: str) -> list[Post]:
        found = self._by_owner.get(("rednote", user_id), [])
        return sorted(found, key=lambda p: p.published, reverse=True)

    # -- transitions ------------------------------------------------------------------

    def apply_post_action(self, post: Post, action: str, edit: Edit | None = None) -> None:
        """Change one post; ``edit`` is required for ``edit``."""
        now = self.clock()
        post.last_action_tick = self.tick
        post.n_actions += 1
        if action == "edit":
            if edit is None:
                raise ValueError("an edit action needs its new content")
            post.title = edit.title
            post.sentences = list(edit.sentences)
            post.link = edit.link
            post.media = list(edit.media)
            post.typo = edit.typo
            post.updated = max(now, post.updated + 1.0)
            post.versions.append(post.snapshot(post.updated))
            return
        if action == "mark_sensitive":  # a Mastodon moderator's content warning
            post.sensitive = True
            post.updated = max(now, post.updated + 1.0)
            post.versions.append(post.snapshot(post.updated, by_moderator=True))
            return
        try:
            new_state = _POST_ACTION_STATE[action]
        except KeyError:
            raise ValueError(f"unknown post action {action!r}") from None
        if new_state not in POST_STATES[post.platform]:
            raise ValueError(f"{post.platform} posts cannot {action}")
        if post.platform == "rss":
            site = self.sites[post.owner]
            if action == "delete_by_author":
                site.tombstones[post.uid] = Tombstone(
                    post.uid, now, post.author, "Withdrawn by the author."
                )
            elif action == "remove_by_moderator":
                site.tombstones[post.uid] = Tombstone(
                    post.uid,
                    now,
                    MODERATOR_NAME,
                    "Removed by the editors: it breached our publication guidelines.",
                )
            elif action == "restore":
                site.tombstones.pop(post.uid, None)
        post.state = new_state

    def apply_account_action(self, username: str, action: str) -> None:
        try:
            new_state = _ACCOUNT_ACTION_STATE[action]
        except KeyError:
            raise ValueError(f"unknown account action {action!r}") from None
        self.accounts[username].state = new_state

    def bump_counters(self) -> None:
        """Likes and friends move every tick on live posts: volatile, never an edit."""
        rng = self._counter_rng
        for post in self.order:
            if not self.visible(post):
                continue
            for name, value in post.counters.items():
                if name in ("likes", "liked"):  # always moves, so every tick differs
                    post.counters[name] = value + rng.randint(1, max(1, value // 50))
                else:
                    post.counters[name] = value + rng.randint(0, 2)

    def describe(self, post: Post) -> dict[str, Any]:
        """The post's state as truth() reports it (account state wins when not normal)."""
        state = post.state
        if post.platform == "mastodon":
            account_state = self.accounts[post.owner].state
            if account_state != "normal" and post.state in ("live", "hidden_from_feed"):
                state = {
                    "limited": "account_limited",
                    "suspended": "account_suspended",
                    "deleted": "account_deleted",
                }[account_state]
        return {
            "state": state,
            "published_tick": post.published_tick,
            "edits": len(post.versions) - 1,
        }
