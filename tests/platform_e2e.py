"""One platform's demo part alone, end to end: the sandbox with that platform's fake
only, the real spider, worker and PostgreSQL on the controlled clock of
``tests/test_e2e.py``. Shared by the per-platform modules (``test_<platform>_e2e.py``)."""

from __future__ import annotations

from functools import partial
from importlib import import_module
from typing import Any

import pytest
from e2e_timeline import with_timelines
from test_e2e import (
    FAULT_HOLD,
    INTERVAL,
    STEP,
    TICK,
    faulted_settings_for,
    make_worker,
    run_until_quiet,
    stored_events,
)

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.platforms import registry
from monitor.watchlist import parse_watchlist
from spiders.sandbox import SCENARIOS, Fake, Sandbox, detection_window
from spiders.sandbox import fake as sandbox_fake
from spiders.sandbox._script import Plan, Planner


def platform_fake(name: str) -> Fake:
    """The sandbox fake the platform ``name`` registers, imported without the others (a
    platform another helper is still writing cannot break this one's run)."""
    path = registry().platforms[name].fake
    if not path:
        raise LookupError(f"platform {name!r} has no sandbox fake")
    module, _, attr = path.rpartition(".")
    fake: Fake = getattr(import_module(module), attr)
    return fake


def part_alone(name: str, seed: int, *, rounds: int = 6, ticks: int = 10) -> Plan:
    """The demo scenario with the platform ``name``'s part alone: ``rounds`` rounds of
    initial posts, then ``ticks`` scripted ticks."""
    fake = platform_fake(name)
    planner = Planner(seed, f"{name}_demo", {name: fake})
    part = fake.demo()
    part.setup(planner)
    for round_ in range(rounds):
        for make in part.initial(planner, round_):
            planner.initial(make())
    for _ in range(ticks):
        tick = planner.begin_tick()
        part.publish(planner, tick)
        part.act(planner, tick)
    return planner.finish()


def run_part(db_url: str, monkeypatch: pytest.MonkeyPatch, name: str, *, fault_rate: float,
             seed: int, rounds: int = 6, ticks: int = 10, prefix: str = "",
             **settings: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run :func:`part_alone` (scenario ``<name>_demo``) in a sandbox that loads the
    platform's fake alone, served under ``prefix``, with ``fault_rate`` transient faults,
    until it is quiet; ``settings`` are added to the test settings. The stored events and
    the sandbox's truth; the database at ``db_url`` stays for further queries."""
    monkeypatch.setitem(SCENARIOS, f"{name}_demo",
                        partial(part_alone, name, rounds=rounds, ticks=ticks))
    # The part needs no other platform's fake, and its outcome depends on none.
    monkeypatch.setattr(sandbox_fake, "_fakes", {name: platform_fake(name)})
    config = faulted_settings_for(db_url, **settings)
    clock = ManualClock()
    window = detection_window(config, INTERVAL)
    with Sandbox(scenario=f"{name}_demo", clock=clock, tick_seconds=TICK, seed=seed,
                 resolution=window + STEP, fault_rate=fault_rate, timeout_delay=FAULT_HOLD,
                 prefix=prefix) as sb:
        with Database.open(config) as db:
            worker = make_worker(db, config, clock)
            worker.sync(parse_watchlist(sb.watchlist_toml(interval=f"{INTERVAL:g}s")).targets)
            from spiders.crawl import event_loop

            event_loop().run_until_complete(run_until_quiet(sb, worker, clock,
                                                            settle=3 * window))
            return stored_events(db), with_timelines(db, sb.truth())
