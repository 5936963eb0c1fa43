"""The sandbox's state: owners (accounts, sites, users…) and their posts.

The world only knows *states* and how actions change them; what a state means
on a platform (is the post visible? what does truth() call it?) is its fake's
to say (see :mod:`.fake`), and so is how a state looks over HTTP. Which event a
correct monitor should report for an action is decided in :mod:`._script`. One
re-entrant lock guards everything: the HTTP threads render under it and
``step()`` mutates under it.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake import Fake

ACCOUNT_STATES = ("normal", "limited", "suspended", "deleted")
_ACCOUNT_ACTION_STATE = {
    "suspend_account": "suspended",
    "delete_account": "deleted",
    "limit_account": "limited",
    "restore": "normal",
}
#: Actions on an account (a ``restore`` may undo one); they act on every post of it.
ACCOUNT_ACTIONS = frozenset({"suspend_account", "delete_account", "limit_account"})


@dataclass(slots=True)
class Media:
    file_id: str
    width: int
    height: int


@dataclass(slots=True)
class Version:
    """One version of a post's content (an edit history is built from these)."""

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
    key: str  # the platform's id of the post (status id, entry slug, note id…)
    owner: str  # the owner's name (account, site, user id…)
    author: str  # display name of the author
    title: str
    sentences: list[str]
    link: str | None
    media: list[Media]
    tags: list[str] = field(default_factory=list)
    typo: tuple[int, str] | None = None
    counters: dict[str, int] = field(default_factory=dict)
    token: str = ""  # an access token the post's URL carries, if the platform wants one
    location: str = ""
    state: str = "live"
    published_tick: int = 0
    published: float = 0.0
    updated: float = 0.0
    sensitive: bool = False
    spoiler: str = ""
    versions: list[Version] = field(default_factory=list)
    last_action_tick: int = -10
    n_actions: int = 0
    #: The key is unique only within its owner (a site's slugs).
    scoped: bool = False

    @property
    def uid(self) -> str:
        """World-unique key."""
        return f"{self.owner}/{self.key}" if self.scoped else self.key

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
    """An owner in standing: account actions (suspend, limit…) change its ``state``."""

    platform: str
    username: str
    id: str
    display_name: str
    note: str
    created: float
    followers: int
    following: int
    state: str = "normal"


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

    def __init__(self, seed: int, fakes: Mapping[str, Fake],
                 clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.fakes = fakes
        self.started = clock()
        self.tick = 0
        #: (platform, owner name) → the owner (an Account, or the fake's own type).
        self.owners: dict[tuple[str, str], Any] = {}
        self.posts: dict[tuple[str, str], Post] = {}  # (platform, uid) → post
        self.order: list[Post] = []  # publication order
        self._by_owner: dict[tuple[str, str], list[Post]] = {}
        self._last_published = 0.0
        self._counter_rng = random.Random(seed * 7919 + 17)
        #: (platform, uid) → the countries (ISO 3166-1 alpha-2) the post is withheld in.
        self.withheld: dict[tuple[str, str], frozenset[str]] = {}
        #: The country of the request being rendered (None: no vantage point said);
        #: set by the server, under the lock, for one response.
        self.viewer: str | None = None

    # -- building ----------------------------------------------------------------------

    def add_owner(self, platform: str, name: str, owner: Any) -> None:
        self.owners[(platform, name)] = owner

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

    def owner(self, platform: str, name: str) -> Any:
        return self.owners.get((platform, name))

    def accounts(self) -> list[Account]:
        """The owners in standing, in the order they were added."""
        return [o for o in self.owners.values() if isinstance(o, Account)]

    def post(self, platform: str, uid: str) -> Post | None:
        return self.posts.get((platform, uid))

    def posts_of(self, platform: str, owner: str) -> list[Post]:
        """An owner's posts, newest first."""
        found = self._by_owner.get((platform, owner), [])
        return sorted(found, key=lambda p: (p.published, p.key), reverse=True)

    def visible(self, post: Post) -> bool:
        """The permalink serves the post (to the current :attr:`viewer`'s country)."""
        if self.viewer is not None and self.viewer in self.withheld_in(post):
            return False
        return self.fakes[post.platform].visible(self, post)

    def withheld_in(self, post: Post) -> frozenset[str]:
        """The countries ``post`` is withheld in (geo-blocked: visible elsewhere)."""
        return self.withheld.get((post.platform, post.uid), frozenset())

    def listed(self, post: Post) -> bool:
        """The post belongs in its listing (before any window is applied)."""
        return self.visible(post) and post.state == "live"

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
        if action == "mark_sensitive":  # a moderator's content warning
            post.sensitive = True
            post.updated = max(now, post.updated + 1.0)
            post.versions.append(post.snapshot(post.updated, by_moderator=True))
            return
        fake = self.fakes[post.platform]
        try:
            new_state = fake.action_states[action]
        except KeyError:
            raise ValueError(f"{post.platform} posts cannot {action}") from None
        fake.on_action(self, post, action, now)
        post.state = new_state

    def withhold(self, post: Post, countries: frozenset[str] | set[str]) -> None:
        """Withhold ``post`` in ``countries`` (upper-case codes), on top of any already;
        requests from elsewhere, or without a country, still see it."""
        key = (post.platform, post.uid)
        self.withheld[key] = self.withheld.get(key, frozenset()) | {c.upper() for c in countries}

    def unwithhold(self, post: Post, countries: frozenset[str] | set[str] | None = None) -> None:
        """Lift the withholding of ``post`` in ``countries`` (None: everywhere)."""
        key = (post.platform, post.uid)
        left = frozenset() if countries is None else (
            self.withheld.get(key, frozenset()) - {c.upper() for c in countries})
        if left:
            self.withheld[key] = left
        else:
            self.withheld.pop(key, None)

    def apply_account_action(self, platform: str, username: str, action: str) -> None:
        try:
            new_state = _ACCOUNT_ACTION_STATE[action]
        except KeyError:
            raise ValueError(f"unknown account action {action!r}") from None
        self.owners[(platform, username)].state = new_state

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
        """The post's state as truth() reports it (the fake may name an account state)."""
        return {
            "state": self.fakes[post.platform].describe(self, post),
            "published_tick": post.published_tick,
            "edits": len(post.versions) - 1,
        }
