"""The contract between the shared sandbox server and a platform's fake.

A platform serves itself in the sandbox through a :class:`Fake` object named by
the ``fake`` field of its :class:`monitor.platform.Platform` (a dotted path such
as ``spiders.rss.fake.FAKE``), found through the platform registry the way
spiders are. The server routes a request to the fake that :meth:`Fake.claims`
its path; the planner asks the fake which actions a post allows and what a
correct monitor reports for each (:attr:`Fake.expect`); the scenarios ask it
for its part of a script (:meth:`Fake.demo`, :meth:`Fake.random`). Adding a
platform's fake touches no file of ``spiders/sandbox/``.

This module is the fakes' toolkit too: it re-exports what they build with,
among it the scenario parts of :mod:`._parts` (a platform whose owners are
accounts hands :class:`AccountsDemo` and :class:`RandomAccounts` its own
``new_user`` and ``new_post``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import import_module
from typing import Any

from . import _text as text
from ._http import (
    HTML_TYPE,
    JSON_TYPE,
    PNG,
    Query,
    Response,
    html_response,
    iso_ms,
    iso_s,
    json_response,
    redirect,
    rfc822,
    simple_page,
)
from ._parts import AccountsDemo, DemoActions, RandomAccounts, ScenarioPart, ScriptedDemo
from ._script import Plan, Planner
from ._world import Account, Media, Post, Version, World

#: A fake's draw from the fault injector's seeded RNG: ``pick(options)``.
Pick = Callable[[Sequence[int]], int]


# -- expected events (the vocabulary of monitor.events) ---------------------------------

EDITED: dict[str, Any] = {"kind": "edited", "cause": None}
RESTORED: dict[str, Any] = {"kind": "restored", "cause": None}
HIDDEN: dict[str, Any] = {"kind": "hidden", "cause": "hidden_from_feed"}


def gone(cause: str, *, detail: str | None = None,
         candidates: list[str] | None = None) -> dict[str, Any]:
    """The expected event of a disappearance with ``cause``."""
    out: dict[str, Any] = {"kind": "disappeared", "cause": cause}
    if detail:
        out["detail"] = detail
    if candidates:
        out["candidates"] = candidates
    return out


class Fake:
    """A platform in the sandbox. Subclass it and override what the platform needs;
    the defaults describe a platform whose posts are live or gone."""

    #: The platform's registered name.
    name: str = ""
    #: Path prefixes whose requests this fake answers (and whose faults it shapes).
    paths: tuple[str, ...] = ()
    #: Paths of ``paths`` that take a POST too (an OAuth token endpoint); every
    #: other POST is answered 405.
    post_paths: tuple[str, ...] = ()
    #: action → the post state it leaves behind (``restore`` → ``"live"``).
    action_states: Mapping[str, str] = {}
    #: Post states a ``restore`` may undo.
    restorable: frozenset[str] = frozenset()
    #: action → the event a correct monitor reports (account actions included).
    expect: Mapping[str, Mapping[str, Any]] = {}
    #: The fewest media an edit may leave a post with.
    media_floor: int = 0
    #: Knobs this fake adds to the random scenario, with defaults.
    knobs: Mapping[str, float] = {}

    # -- HTTP ------------------------------------------------------------------------

    def claims(self, path: str) -> bool:
        return path.startswith(self.paths)

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        """The response for ``path`` (the world lock is held), or None: not found.

        ``path`` is the request's path below the sandbox's mount prefix, if any;
        ``base`` is the sandbox's base URL with that prefix (every ``base`` this
        class receives is): build every URL a response names from ``base``, never
        from the host alone, so a sandbox mounted at ``/mirror/…`` stays whole."""
        return None

    def decorate(self, path: str, response: Response, served: Iterator[int]) -> None:
        """Add platform headers to any response on a claimed path (faults included);
        ``served`` counts the server's decorated responses."""

    def post_for(self, world: World, path: str, query: Mapping[str, str]) -> Post | None:
        """The post a permalink or probe ``path`` serves, for geo-blocking: a post
        withheld in the requesting country is answered by :meth:`withheld` instead
        of :meth:`handle`. None (the default): the fake renders it itself, where
        :meth:`World.visible` is already False for that country."""
        return None

    def withheld(self, world: World, base: str, post: Post, country: str) -> Response:
        """The answer for ``post`` withheld in ``country``: by default RFC 7725's HTTP
        451 with a ``Link`` to the party that demanded it; a platform overrides it
        with its own words."""
        page = simple_page("Unavailable For Legal Reasons",
                           f"This content has been withheld in {country} in response "
                           "to a legal demand.")
        return Response(451, page.encode(), [("Content-Type", HTML_TYPE),
                                             ("Link", f'<{base}/legal>; rel="blocked-by"')])

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """A platform-shaped answer for an HTTP fault, or None for the generic one."""
        return None

    # -- states ----------------------------------------------------------------------

    def actions(self, world: World, post: Post) -> frozenset[str]:
        """The actions ``post`` supports (an edit, and the keys of action_states)."""
        return frozenset({"edit", *self.action_states})

    def visible(self, world: World, post: Post) -> bool:
        return post.state == "live"

    def describe(self, world: World, post: Post) -> str:
        """The post's state as truth() reports it."""
        return post.state

    def on_action(self, world: World, post: Post, action: str, now: float) -> None:
        """Side effects of a post action, before the post takes its new state."""

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        """Why the platform forbids ``action`` on ``post`` now (None: it allows it)."""
        return None

    # -- content ---------------------------------------------------------------------

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        """New title and sentences for a "major rewrite" edit."""
        return post.title, text.english_rewrite(planner.rng, len(post.sentences))

    # -- addresses -------------------------------------------------------------------

    def post_key(self, base: str, world: World, post: Post) -> str:
        """The key the platform's spider reports for the post."""
        return post.key

    def post_url(self, base: str, world: World, post: Post) -> str:
        """The human-facing permalink."""
        raise NotImplementedError

    def target(self, base: str, world: World, post: Post) -> str:
        """The watchlist value of the target that watches the post."""
        return self.post_url(base, world, post)

    def truth_extra(self, base: str, world: World, post: Post) -> dict[str, Any]:
        """More fields for the post's entry in truth()."""
        return {}

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        """The watchlist targets (TOML tables, ``platform`` first) that watch the plan."""
        return []

    def settings(self, base: str) -> dict[str, str]:
        """Settings a monitor needs to read this fake (UPPER_SNAKE names), e.g. the
        credentials of an API the fake stands in for; :meth:`Sandbox.settings`
        gathers them."""
        return {}

    # -- scenarios and export --------------------------------------------------------

    def demo(self) -> ScenarioPart:
        return ScenarioPart()

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return ScenarioPart()

    def export(self, planner: Planner, owner: str, index: int,
               base: str) -> tuple[str, bytes, str]:
        """Publish one live post of ``owner`` for a static export: its path under the
        export directory, its body, its URL. NotImplementedError: no export."""
        raise NotImplementedError

    def export_owner(self, planner: Planner, n: int) -> str:
        """The ``n``-th owner of a static export's posts."""
        raise NotImplementedError


_fakes: dict[str, Fake] | None = None


def fakes() -> dict[str, Fake]:
    """The installed platforms' fakes by platform name, loaded on first use."""
    global _fakes
    if _fakes is None:
        _fakes = load_fakes()
    return _fakes


def load_fakes() -> dict[str, Fake]:
    """Import the fake each registered platform names; a platform without one is left out."""
    from monitor.platforms import registry

    found: dict[str, Fake] = {}
    for name, platform in sorted(registry().platforms.items()):
        if not platform.fake:
            continue
        module, _, attr = platform.fake.rpartition(".")
        fake = getattr(import_module(module), attr)
        if not isinstance(fake, Fake) or fake.name != name:
            raise TypeError(f"{platform.fake} is not the sandbox Fake of platform {name!r}")
        found[name] = fake
    return found


__all__ = [
    "EDITED", "HIDDEN", "HTML_TYPE", "JSON_TYPE", "PNG", "RESTORED", "Account", "AccountsDemo",
    "DemoActions", "Fake", "Media", "Pick", "Plan", "Planner", "Post", "Query", "RandomAccounts",
    "Response", "ScenarioPart", "ScriptedDemo", "Version", "World",
    "fakes", "gone", "html_response", "iso_ms", "iso_s", "json_response", "load_fakes",
    "redirect", "rfc822", "simple_page", "text",
]
