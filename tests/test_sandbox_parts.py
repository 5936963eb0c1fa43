"""The sandbox's shared scenario parts (``spiders/sandbox/_parts.py``) and the plans the
platforms' fakes build with them.

The parts are tested on a toy platform. The platforms' plans are pinned in
``tests/golden/sandbox_plans.json``: the fakes draw from one seeded RNG, so a change
to the order or number of draws shifts every scripted scenario, and the per-platform
end-to-end tests with it. A change that means to alter a plan rewrites the file with
``.venv/bin/python tests/test_sandbox_parts.py`` and shows the diff in review.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from platform_e2e import part_alone, platform_fake

from spiders.sandbox import _scenarios
from spiders.sandbox import fake as sandbox_fake
from spiders.sandbox.fake import (
    EDITED,
    RESTORED,
    Account,
    AccountsDemo,
    Fake,
    Plan,
    Planner,
    Post,
    RandomAccounts,
    ScriptedDemo,
    gone,
)

GOLDEN = Path(__file__).parent / "golden" / "sandbox_plans.json"
#: The fakes whose plans are pinned (mastodon, rss and webpage build their own parts).
PINNED = ("bluesky", "reddit", "rednote", "telegram", "tiktok", "weibo", "x", "youtube")
SEED = 5
RANDOM_KNOBS: dict[str, Any] = {"ticks": 8, "publish_rate": 0.9}


class _Toy(Fake):
    name = "toy"
    action_states = {"delete_by_author": "deleted"}
    expect = {"edit": EDITED, "delete_by_author": gone("deleted_by_author"),
              "suspend_account": gone("account_suspended"), "restore": RESTORED}
    knobs = {"toy_accounts": 1}


TOY = _Toy()


def new_user(planner: Planner) -> Account:
    name = f"u{len(planner.plan.owners)}"
    account = Account(platform="toy", username=name, id=f"id-{name}", display_name=name,
                      note="", created=0.0, followers=planner.rng.randint(0, 9), following=0)
    return planner.add_owner("toy", name, account)  # type: ignore[no-any-return]


def new_post(planner: Planner, user: str) -> Post:
    return Post(platform="toy", key=f"p{planner.serial()}", owner=user, author=user, title="",
                sentences=["One.", "Two."], link=None, media=[],
                counters={"draw": planner.rng.randint(0, 10**9)})


@pytest.fixture
def planner(monkeypatch: pytest.MonkeyPatch) -> Planner:
    # The expected events are read from the installed fakes: install the toy alone.
    monkeypatch.setattr(sandbox_fake, "_fakes", {"toy": TOY})
    return Planner(1, "toy", {"toy": TOY})


def _start(part: Any, planner: Planner, rounds: int) -> list[str]:
    """Set ``part`` up and make its posts live at start; their owners in order."""
    part.setup(planner)
    owners = []
    for round_ in range(rounds):
        for make in part.initial(planner, round_):
            owners.append(planner.initial(make()).owner)
    return owners


def _run(part: Any, planner: Planner, ticks: int) -> None:
    for _ in range(ticks):
        tick = planner.begin_tick()
        part.publish(planner, tick)
        part.act(planner, tick)


# -- AccountsDemo ------------------------------------------------------------------------


def test_the_demo_names_each_accounts_posts_by_its_rounds(planner: Planner) -> None:
    demo = AccountsDemo({}, new_user, new_post, rounds={"a": range(3), "b": range(1, 3)})
    owners = _start(demo, planner, rounds=5)
    assert [name for _, name, _ in planner.plan.owners] == ["u0", "u1"]
    # Letter order within a round, N counted from the account's first round.
    assert owners == ["u0", "u0", "u1", "u0", "u1"]
    assert list(demo.refs) == ["a:i0", "a:i1", "b:i0", "a:i2", "b:i1"]
    assert demo.refs["b:i1"].owner == "u1"


def test_the_demo_publishes_for_the_first_account_at_its_ticks(planner: Planner) -> None:
    demo = AccountsDemo({}, new_user, new_post, rounds={"a": range(1), "b": range(1)},
                        publish_ticks=(2, 4))
    _start(demo, planner, rounds=1)
    _run(demo, planner, ticks=5)
    published = [(tick, op.post.owner) for tick, ops in enumerate(planner.plan.ticks, start=1)
                 for op in ops if op.post]
    assert published == [(2, "u0"), (4, "u0")]


def test_the_demo_acts_on_posts_and_accounts_by_name(planner: Planner) -> None:
    actions = {3: [("a:i0", "delete_by_author", None)], 4: [("@b", "suspend_account", None)]}
    demo = AccountsDemo(actions, new_user, new_post, rounds={"a": range(2), "b": range(1)})
    _start(demo, planner, rounds=2)
    _run(demo, planner, ticks=5)
    rows = [(row.tick, row.owner, row.action) for row in planner.plan.rows]
    assert rows == [(3, "u0", "delete_by_author"), (4, "u1", "suspend_account")]
    assert planner.world.owner("toy", "u1").state == "suspended"


def test_the_demo_refuses_what_the_rules_forbid(planner: Planner) -> None:
    # The account is already suspended at tick 6: the planner refuses a second suspension.
    actions = {4: [("@a", "suspend_account", None)], 6: [("@a", "suspend_account", None)]}
    demo = AccountsDemo(actions, new_user, new_post, rounds={"a": range(1)})
    _start(demo, planner, rounds=1)
    with pytest.raises(ValueError, match="account is suspended"):
        _run(demo, planner, ticks=6)
    # A letter the demo has no account for is a mistake in its table.
    unknown = AccountsDemo({2: [("@z", "suspend_account", None)]}, new_user, new_post,
                           rounds={"a": range(1)})
    other = Planner(1, "toy", {"toy": TOY})
    _start(unknown, other, rounds=1)
    with pytest.raises(KeyError, match="z"):
        _run(unknown, other, ticks=2)


def test_a_demo_without_accounts_cannot_act_on_one(planner: Planner) -> None:
    class _Sites(ScriptedDemo):
        actions = {1: [("@news", "suspend_account", None)]}

    planner.begin_tick()
    with pytest.raises(NotImplementedError, match="'suspend_account' on owner 'news'"):
        _Sites().act(planner, 1)


# -- RandomAccounts ----------------------------------------------------------------------


def test_the_random_part_sizes_itself_by_its_knobs(planner: Planner) -> None:
    part = RandomAccounts({"toy_accounts": 2, "posts_per_account": 3, "publish_rate": 0.5},
                          "toy_accounts", new_user, new_post)
    assert _start(part, planner, rounds=1) == ["u0"] * 3 + ["u1"] * 3
    # Without the knobs: one account, three posts.
    alone = RandomAccounts({"publish_rate": 0.5}, "toy_accounts", new_user, new_post)
    assert _start(alone, Planner(1, "toy", {"toy": TOY}), rounds=1) == ["u0"] * 3


def test_only_accounts_in_good_standing_publish(planner: Planner) -> None:
    part = RandomAccounts({"toy_accounts": 2, "posts_per_account": 1, "publish_rate": 2.0},
                          "toy_accounts", new_user, new_post)
    _start(part, planner, rounds=1)
    planner.begin_tick()
    part.publish(planner, 1)  # a chance of 1: both publish
    assert [op.post.owner for op in planner.plan.ticks[-1] if op.post] == ["u0", "u1"]
    for account in part.users:
        account.state = "suspended"
    before = planner.rng.getstate()
    planner.begin_tick()
    part.publish(planner, 2)
    assert planner.plan.ticks[-1] == []
    # A suspended account draws nothing: the others' draws do not shift.
    assert planner.rng.getstate() == before


def test_a_platform_publishes_its_own_way(planner: Planner) -> None:
    made: list[str] = []

    class _Threads(RandomAccounts):
        def publish_post(self, planner: Planner, user: str) -> None:
            made.append(user)
            super().publish_post(planner, user)
            super().publish_post(planner, user)

    part = _Threads({"publish_rate": 2.0}, "toy_accounts", new_user, new_post)
    _start(part, planner, rounds=1)
    planner.begin_tick()
    part.publish(planner, 1)
    assert made == ["u0"]
    assert len(planner.plan.ticks[-1]) == 2
    with pytest.raises(KeyError, match="publish_rate"):
        RandomAccounts({}, "toy_accounts", new_user, new_post).publish(planner, 1)


# -- the platforms' plans ----------------------------------------------------------------


def _digest(plan: Plan) -> dict[str, Any]:
    """The plan's script, and a digest of every post's and owner's full content."""
    posts = [dataclasses.asdict(post) for post, _ in plan.initial]
    posts += [dataclasses.asdict(op.post) for ops in plan.ticks for op in ops if op.post]
    owners = [dataclasses.asdict(owner) for _, _, owner in plan.owners]
    content = json.dumps([posts, owners, [ago for _, ago in plan.initial]], sort_keys=True,
                         ensure_ascii=False, default=sorted)
    return {"script": plan.script(),
            "content_sha256": hashlib.sha256(content.encode()).hexdigest()}


def _plans() -> dict[str, Any]:
    """Each pinned platform's demo part alone, and its random part alone."""
    found: dict[str, Any] = {}
    for name in PINNED:
        found[f"{name}/demo"] = _digest(part_alone(name, SEED))
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setattr(sandbox_fake, "_fakes", {name: platform_fake(name)})
            found[f"{name}/random"] = _digest(_scenarios.random_plan(SEED, **RANDOM_KNOBS))
    return found


def test_the_platforms_plans_are_as_pinned() -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))
    plans = json.loads(json.dumps(_plans()))
    for key in golden:
        assert plans[key] == golden[key], f"{key} changed: see this module's docstring"
    assert sorted(plans) == sorted(golden)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(_plans(), indent=1, sort_keys=True, ensure_ascii=False)
                      + "\n", "utf-8")
    print(f"wrote {GOLDEN}")
