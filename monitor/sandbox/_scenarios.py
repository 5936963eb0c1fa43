"""The named scenarios: ``demo`` (small, fixed) and ``random`` (sized by knobs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _text as text
from ._script import Plan, Planner
from ._world import Post

#: Knobs of the random scenario, with defaults.
RANDOM_DEFAULTS: dict[str, float] = {
    "accounts": 3,
    "posts_per_account": 4,
    "sites": 2,
    "entries_per_site": 6,
    "notes": 5,
    "ticks": 20,
    "actions_per_tick": 3,  # at most this many actions (on posts or accounts) per tick
    "quiet_ticks": 2,  # the last ticks only publish, so a monitor can confirm
    "publish_rate": 0.6,  # chance per site and tick of a new entry (half that per account)
}

# The demo, tick by tick. A reference is "owner:iN" (N-th post live at start),
# "owner:tN" (the post the owner published at tick N), "note:iN", or "@account".
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [
        ("alice:i3", "edit", "typo"),
        ("bob:i3", "edit", "link_removed"),
        ("news:i5", "edit", "rewrite"),
        ("blog:i5", "edit", "typo"),
        ("note:i0", "edit", "redaction"),
    ],
    3: [
        ("alice:i2", "delete_by_author", None),
        ("@carol", "limit_account", None),
        ("news:i4", "delete_by_author", None),
        ("blog:t1", "delete_silently", None),
        ("note:i1", "delete_by_author", None),
    ],
    4: [
        ("alice:i1", "remove_by_moderator", None),
        ("news:t1", "remove_by_moderator", None),
        ("blog:t2", "hide_from_feed", None),
        ("note:i2", "remove_by_platform", None),
    ],
    5: [
        ("alice:i0", "hide_from_feed", None),
        ("@bob", "suspend_account", None),
        ("news:t2", "withhold_legal", None),
        ("blog:t3", "withhold_legal", None),
        ("note:i3", "make_private", None),
    ],
    6: [
        ("alice:t1", "edit", "media_removed"),
        ("news:t1", "restore", None),
        ("blog:t2", "restore", None),
        ("note:i4", "put_under_review", None),
    ],
    7: [
        ("alice:i1", "restore", None),
        ("news:t4", "hide_from_feed", None),
        ("blog:i5", "edit", "media_removed"),
        ("note:i3", "restore", None),
    ],
    8: [
        ("alice:i0", "restore", None),
        ("news:t5", "edit", "link_removed"),
        ("blog:t3", "restore", None),
        ("note:i0", "edit", "media_removed"),
    ],
    9: [
        ("alice:i3", "edit", "rewrite"),
        ("@bob", "restore", None),
        ("news:t4", "restore", None),
        ("note:i2", "restore", None),
    ],
    10: [
        ("@carol", "delete_account", None),
        ("alice:t4", "remove_by_moderator", None),
        ("note:i4", "restore", None),
    ],
}
_DEMO_TICKS = 12
# Who publishes at which tick (sites publish every tick, so their feeds rotate).
_DEMO_STATUS_TICKS = {"alice": (1, 4, 7, 10), "bob": (1, 10), "carol": (1,)}
_DEMO_NOTE_TICKS = (3, 6)


def demo_plan(seed: int) -> Plan:
    """Three accounts, an Atom and an RSS site, five notes, twelve ticks: every action once."""
    p = Planner(seed, "demo")
    for name in ("alice", "bob", "carol"):
        p.account(name)
    p.site("news", "atom")
    p.site("blog", "rss")
    users = [p.user(), p.user()]
    refs: dict[str, Post] = {}
    for i in range(6):
        if i < 4:
            for name in ("alice", "bob", "carol"):
                refs[f"{name}:i{i}"] = p.initial(p.new_status(name))
        refs[f"news:i{i}"] = p.initial(p.new_entry("news"))
        refs[f"blog:i{i}"] = p.initial(p.new_entry("blog"))
        if i < 5:
            refs[f"note:i{i}"] = p.initial(p.new_note(users[i % 2].user_id))
    for _ in range(_DEMO_TICKS):
        tick = p.begin_tick()
        for name, ticks in _DEMO_STATUS_TICKS.items():
            if tick in ticks:
                refs[f"{name}:t{tick}"] = p.publish(p.new_status(name))
        for site in ("news", "blog"):
            refs[f"{site}:t{tick}"] = p.publish(p.new_entry(site))
        if tick in _DEMO_NOTE_TICKS:
            p.publish(p.new_note(users[tick % 2].user_id))
        for ref, action, style in _DEMO_ACTIONS.get(tick, []):
            if ref.startswith("@"):
                p.act_account(ref[1:], action)
            else:
                p.act(refs[ref], action, style)
    return p.finish()


def random_plan(seed: int, **knobs: Any) -> Plan:
    """A plan generated from the seed; see :data:`RANDOM_DEFAULTS` for the knobs."""
    unknown = set(knobs) - set(RANDOM_DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown scenario option(s) {', '.join(sorted(unknown))}; "
            f"the random scenario takes {', '.join(RANDOM_DEFAULTS)}"
        )
    k = {**RANDOM_DEFAULTS, **knobs}
    p = Planner(seed, "random")
    rng = p.rng
    names = [_nth(text.ACCOUNT_NAMES, i) for i in range(int(k["accounts"]))]
    for name in names:
        p.account(name)
    sites = [_nth(text.SITE_NAMES, i) for i in range(int(k["sites"]))]
    for i, site in enumerate(sites):
        p.site(site, "atom" if i % 2 == 0 else "rss")
    users = [p.user() for _ in range(max(1, (int(k["notes"]) + 2) // 3))] if k["notes"] else []
    # Interleave the platforms' initial posts, so that their ages mix.
    initial = [("status", n) for n in names for _ in range(int(k["posts_per_account"]))]
    initial += [("entry", s) for s in sites for _ in range(int(k["entries_per_site"]))]
    initial += [("note", users[i % len(users)].user_id) for i in range(int(k["notes"]))]
    rng.shuffle(initial)
    makers: dict[str, Callable[[str], Post]] = {
        "status": p.new_status,
        "entry": p.new_entry,
        "note": p.new_note,
    }
    for kind, owner in initial:
        p.initial(makers[kind](owner))
    ticks = int(k["ticks"])
    for _ in range(ticks):
        tick = p.begin_tick()
        rate = float(k["publish_rate"])
        for name in names:
            if p.world.accounts[name].state == "normal" and rng.random() < rate / 2:
                p.publish(p.new_status(name))
        for site in sites:
            if rng.random() < rate:
                p.publish(p.new_entry(site))
        for user in users:
            if rng.random() < 0.15:
                p.publish(p.new_note(user.user_id))
        if tick > ticks - int(k["quiet_ticks"]):
            continue
        for _ in range(rng.randint(1, int(k["actions_per_tick"]))):
            options = list(p.candidates())
            accounts = [o for o in options if o[0].startswith("@")]
            if accounts and rng.random() < 0.15:
                options = accounts
            if not options:
                break
            target, action, style = rng.choice(options)
            if target.startswith("@"):
                p.act_account(target[1:], action)
            else:
                platform, uid = target.split(":", 1)
                post = p.world.post(platform, uid)
                assert post is not None
                p.act(post, action, style)
    return p.finish()


def _nth(names: list[str], i: int) -> str:
    return names[i] if i < len(names) else f"{names[i % len(names)]}{i // len(names)}"


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
