"""A fake's share of a scenario (:class:`ScenarioPart`), and the shared parts of the
platforms whose owners are accounts: the demo's lettered accounts
(:class:`AccountsDemo`) and the random scenario's counted ones (:class:`RandomAccounts`).

A platform's fake hands these its own ``new_user`` and ``new_post``, and keeps only
what is its own: its scripted actions, and the odd post or owner the shared frame
does not make (a forward, a repost, a feed outage). The frames draw from the
planner's seeded RNG in a fixed order (owners, then each post as the scenario makes
it), so a plan stays the same for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial

from ._script import Planner
from ._world import Account, Post

#: A platform's maker of an account: adds it to the planner's world and plan
#: (:meth:`Planner.add_owner`) and returns the world's copy, whose state actions change.
NewUser = Callable[[Planner], Account]
#: A platform's maker of a post of the owner it names.
NewPost = Callable[[Planner, str], Post]


class ScenarioPart:
    """A fake's share of a scenario, called by the shared scenario in this order:
    :meth:`setup` once, :meth:`initial` for each round of posts live at start,
    then for each tick :meth:`publish` (every part) and :meth:`act` (every part)."""

    def setup(self, planner: Planner) -> None:
        """Create the owners (accounts, sites, users…)."""

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        """Makers of the posts live at start in this round (the random scenario
        shuffles every part's makers together before calling them)."""
        return []

    def publish(self, planner: Planner, tick: int) -> None:
        """Publish this tick's new posts."""

    def act(self, planner: Planner, tick: int) -> None:
        """This tick's scripted actions (the random scenario draws its own)."""


#: A demo's scripted actions: tick -> [(post name, action, edit style)]; a name that
#: starts with ``@`` names an owner (see :meth:`ScriptedDemo.act_owner`).
DemoActions = Mapping[int, Sequence[tuple[str, str, str | None]]]


class ScriptedDemo(ScenarioPart):
    """A demo part that names the posts it makes and acts on them by name, from its
    :attr:`actions` table: the demo parts' shared bookkeeping."""

    actions: DemoActions = {}

    def __init__(self) -> None:
        #: Post name (``"alice:i0"``, ``"news:t3"``…) -> the post.
        self.refs: dict[str, Post] = {}

    def named(self, ref: str, make: Callable[[], Post]) -> Callable[[], Post]:
        """``make``, filing the post it makes under ``ref``."""
        def made() -> Post:
            self.refs[ref] = make()
            return self.refs[ref]
        return made

    def act(self, planner: Planner, tick: int) -> None:
        for ref, action, style in self.actions.get(tick, ()):
            if ref.startswith("@"):
                self.act_owner(planner, ref[1:], action)
            else:
                planner.act(self.refs[ref], action, style)

    def act_owner(self, planner: Planner, owner: str, action: str) -> None:
        """An action on an owner (an account): for parts whose platform has them."""
        raise NotImplementedError(f"{type(self).__name__} scripts {action!r} on owner "
                                  f"{owner!r} but has no owner actions")


class AccountsDemo(ScriptedDemo):
    """A demo of accounts named by letter (``"a"``, ``"b"``…, made in that order by
    ``new_user``): in each round of ``rounds[letter]`` the account has one post live
    at start, ``"<letter>:i<N>"`` with N counted from the range's start, the accounts
    in letter order within a round; at each of ``publish_ticks`` account ``"a"``
    publishes one more. ``"@<letter>"`` in ``actions`` acts on the account."""

    def __init__(self, actions: DemoActions, new_user: NewUser, new_post: NewPost, *,
                 rounds: Mapping[str, range], publish_ticks: Collection[int] = ()) -> None:
        super().__init__()
        self.actions = actions
        self.new_user = new_user
        self.new_post = new_post
        self.rounds = rounds
        self.publish_ticks = publish_ticks
        self.users: dict[str, Account] = {}

    def setup(self, planner: Planner) -> None:
        self.users = {letter: self.new_user(planner) for letter in self.rounds}

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        return [self.named(f"{letter}:i{round_ - span.start}",
                           self.maker(planner, letter, round_ - span.start))
                for letter, span in self.rounds.items() if round_ in span]

    def maker(self, planner: Planner, letter: str, n: int) -> Callable[[], Post]:
        """The maker of the account's ``n``-th post live at start."""
        return partial(self.new_post, planner, self.users[letter].username)

    def publish(self, planner: Planner, tick: int) -> None:
        if tick in self.publish_ticks:
            planner.publish(self.new_post(planner, self.users["a"].username))

    def act_owner(self, planner: Planner, owner: str, action: str) -> None:
        planner.act_account(self.users[owner], action)


class RandomAccounts(ScenarioPart):
    """The random scenario's accounts: as many as the knob ``knob`` says (one by
    default), each with ``posts_per_account`` posts live at start (three by default);
    at every tick each account in good standing publishes with the chance of half
    the ``publish_rate`` knob."""

    def __init__(self, knobs: Mapping[str, float], knob: str, new_user: NewUser,
                 new_post: NewPost) -> None:
        self.knobs = knobs
        self.knob = knob
        self.new_user = new_user
        self.new_post = new_post
        self.users: list[Account] = []

    def setup(self, planner: Planner) -> None:
        self.users = [self.new_user(planner) for _ in range(int(self.knobs.get(self.knob, 1)))]

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        per = int(self.knobs.get("posts_per_account", 3))
        return [self.maker(planner, u, i) for u in range(len(self.users)) for i in range(per)]

    def maker(self, planner: Planner, u: int, i: int) -> Callable[[], Post]:
        """The maker of the ``u``-th account's ``i``-th post live at start."""
        return partial(self.new_post, planner, self.users[u].username)

    def publish(self, planner: Planner, tick: int) -> None:
        rate = float(self.knobs["publish_rate"]) / 2
        for user in self.users:
            if user.state == "normal" and planner.rng.random() < rate:
                self.publish_post(planner, user.username)

    def publish_post(self, planner: Planner, user: str) -> None:
        """Publish a new post of ``user`` (a platform may publish more than one)."""
        planner.publish(self.new_post(planner, user))


__all__ = ["AccountsDemo", "DemoActions", "NewPost", "NewUser", "RandomAccounts",
           "ScenarioPart", "ScriptedDemo"]
