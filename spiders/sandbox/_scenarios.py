"""The named scenarios: ``demo`` (small, fixed) and ``random`` (sized by knobs).

Both are shared frames; each platform's fake brings its part (its owners, its
posts, and in the demo its scripted actions: :class:`~.fake.ScenarioPart`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._script import Plan, Planner
from ._world import Account, Post

#: Knobs of the random scenario that every platform shares, with defaults.
_SHARED_KNOBS: dict[str, float] = {
    "ticks": 20,
    "actions_per_tick": 3,  # at most this many actions (on posts or accounts) per tick
    "quiet_ticks": 2,  # the last ticks only publish, so a monitor can confirm
    "publish_rate": 0.6,  # chance per owner and tick of a new post (a fake may scale it)
}

_DEMO_ROUNDS = 6  # rounds of posts live at start
_DEMO_TICKS = 12


class _RandomDefaults(Mapping[str, float]):
    """``RANDOM_DEFAULTS``: the shared knobs and those of every fake, read when used."""

    def _table(self) -> dict[str, float]:
        from .fake import fakes

        table: dict[str, float] = {}
        for fake in fakes().values():
            table.update(fake.knobs)
        return {**table, **_SHARED_KNOBS}

    def __getitem__(self, key: str) -> float:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: Knobs of the random scenario, with defaults.
RANDOM_DEFAULTS: Mapping[str, float] = _RandomDefaults()


def _fakes() -> Mapping[str, Any]:
    from .fake import fakes

    return fakes()


def demo_plan(seed: int) -> Plan:
    """Every platform's demo part: a few owners, a dozen ticks, every action once."""
    fakes = _fakes()
    p = Planner(seed, "demo", fakes)
    parts = [fake.demo() for fake in fakes.values()]
    for part in parts:
        part.setup(p)
    for round_ in range(_DEMO_ROUNDS):
        for part in parts:
            for make in part.initial(p, round_):
                p.initial(make())
    for _ in range(_DEMO_TICKS):
        tick = p.begin_tick()
        for part in parts:
            part.publish(p, tick)
        for part in parts:
            part.act(p, tick)
    return p.finish()


def random_plan(seed: int, **knobs: Any) -> Plan:
    """A plan generated from the seed; see :data:`RANDOM_DEFAULTS` for the knobs."""
    defaults = dict(RANDOM_DEFAULTS)
    unknown = set(knobs) - set(defaults)
    if unknown:
        raise TypeError(
            f"unknown scenario option(s) {', '.join(sorted(unknown))}; "
            f"the random scenario takes {', '.join(defaults)}"
        )
    k = {**defaults, **knobs}
    fakes = _fakes()
    p = Planner(seed, "random", fakes)
    rng = p.rng
    parts = [fake.random(k) for fake in fakes.values()]
    for part in parts:
        part.setup(p)
    # Interleave the platforms' initial posts, so that their ages mix.
    makers: list[Callable[[], Post]] = [m for part in parts for m in part.initial(p, 0)]
    rng.shuffle(makers)
    for make in makers:
        p.initial(make())
    ticks = int(k["ticks"])
    for _ in range(ticks):
        tick = p.begin_tick()
        for part in parts:
            part.publish(p, tick)
        if tick > ticks - int(k["quiet_ticks"]):
            continue
        for _ in range(rng.randint(1, int(k["actions_per_tick"]))):
            options = list(p.candidates())
            accounts = [o for o in options if isinstance(o[0], Account)]
            if accounts and rng.random() < 0.15:
                options = accounts
            if not options:
                break
            target, action, style = rng.choice(options)
            if isinstance(target, Account):
                p.act_account(target, action)
            else:
                p.act(target, action, style)
    return p.finish()


SCENARIOS: dict[str, Callable[..., Plan]] = {"demo": demo_plan, "random": random_plan}


def build_plan(scenario: str, seed: int, options: Mapping[str, Any] | None = None) -> Plan:
    """The plan for a named scenario; options are the random scenario's knobs."""
    try:
        make = SCENARIOS[scenario]
    except KeyError:
        raise ValueError(
            f"unknown sandbox scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}"
        ) from None
    if options and scenario == "demo":
        raise TypeError("the demo scenario is fixed and takes no options; use scenario='random'")
    return make(seed, **dict(options or {}))
