"""End to end (issue 9): RedNote accounts watched through their listings, with tokens
that expire, 30% transient faults, and nothing invented.

The sandbox serves RedNote alone (its demo: five users, a note published and
removed by the platform two ticks later, a ban and reinstatement, a closed account,
two notes watched only by their URLs), with the real spiders, worker and PostgreSQL
on the controlled clock of ``tests/test_e2e.py``. Ticks are long enough that the run
outlasts a token's life (two minutes of world clock): every listing hands out fresh
tokens, the lone notes' URL tokens expire mid-run, and an expired or missing token
answers the same "当前笔记暂时无法浏览" (300031) page a removed note gets. None of
that may become an event.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from e2e_timeline import with_timelines
from test_e2e import (
    FAULT_HOLD,
    INTERVAL,
    STEP,
    assert_true_to,
    faulted_settings_for,
    make_worker,
    run_until_quiet,
    stored_events,
)

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.watchlist import parse_watchlist
from spiders.rednote.fake import FAKE
from spiders.rednote.fake._http import TOKEN_TTL
from spiders.sandbox import Sandbox, detection_window
from spiders.sandbox import fake as fake_module

pytestmark = pytest.mark.slow

#: Clock seconds per scripted tick: twelve ticks outlast a token (TOKEN_TTL).
RN_TICK = 15.0
#: ``tests/test_e2e.py``'s re-checks, carried on over the longer script: a card shows
#: no text, so only a probe sees an edit (at tick 8, two minutes in).
RECHECKS = "1s,2s,4s,6s,10s,15s,20s,30s,45s,70s,100s,130s,160s,190s"


@pytest.fixture
def rednote_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox with the RedNote fake alone: the platforms being built elsewhere
    are not under test here."""
    monkeypatch.setattr(fake_module, "_fakes", {"rednote": FAKE})


def generic_answers(db: Database) -> dict[str, int]:
    """Probe answers that were the generic 300031 page, by post key."""
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT p.post_key, sum(o.repeats) AS n FROM observations o"
            " JOIN posts p ON p.id = o.post_id WHERE o.mode = 'probe'"
            " AND o.signals->>'error_code' = '300031' GROUP BY p.post_key").fetchall()
    return {r["post_key"]: int(r["n"]) for r in rows}


def run_rednote(db_url: str, fault_rate: float, seed: int, scenario: str = "demo",
                **options: Any) -> tuple[list[Any], Any, dict[str, int]]:
    settings = faulted_settings_for(db_url, recheck_schedule=RECHECKS)
    clock = ManualClock()
    window = detection_window(settings, INTERVAL)
    with Sandbox(scenario=scenario, clock=clock, tick_seconds=RN_TICK, resolution=window + STEP,
                 seed=seed, fault_rate=fault_rate, timeout_delay=FAULT_HOLD, **options) as sb:
        with Database.open(settings) as db:
            worker = make_worker(db, settings, clock)
            worker.sync(parse_watchlist(sb.watchlist_toml(interval=f"{INTERVAL:g}s")).targets)
            from spiders.crawl import event_loop

            drive = event_loop().run_until_complete(
                run_until_quiet(sb, worker, clock, settle=3 * window))
            assert drive.clock_seconds > TOKEN_TTL  # tokens expired during the run
            return stored_events(db), with_timelines(db, sb.truth()), generic_answers(db)


@pytest.mark.parametrize("fault_rate", [0.0, 0.3])
def test_rednote_accounts_with_expiring_tokens_and_faults(db_url: str, rednote_only: None,
                                                          fault_rate: float) -> None:
    events, truth, generic = run_rednote(db_url, fault_rate, seed=7)
    if fault_rate:
        assert sum(truth["faults"].values()) > 50  # the faults really happened
    # Every observable scripted change found with its cause; no false disappearance.
    assert_true_to(events, truth)
    assert all(a["observable"] for a in truth["actions"])
    lasting = {p["post_key"] for p in truth["posts"] if p["state"] != "live"}
    found = {e["post_key"] for e in events if e["kind"] == "disappeared"}
    assert lasting <= found, sorted(lasting - found)
    # Each edit is its own event (check_against_truth counts one per post and kind).
    edits = Counter(a["post_key"] for a in truth["actions"] if a["action"] == "edit")
    edited = Counter(e["post_key"] for e in events if e["kind"] == "edited")
    assert edits and all(edited[key] >= n for key, n in edits.items()), (edits, edited)
    # The lone notes' URL tokens expired (their probes met the 300031 page): never an
    # event for them.
    lone = {p["post_key"] for p in truth["posts"] if p["target"].startswith("http")}
    assert lone and all(generic.get(key) for key in lone), generic
    assert not [e for e in events if e["post_key"] in lone]
    # The note published after the watchlist was written and removed two ticks later.
    late = [a for a in truth["actions"] if a["action"] == "remove_by_platform"
            and a["tick"] == 5]
    assert late and late[0]["post_key"] in found
    causes = {e["cause"] for e in events if e["kind"] == "disappeared"}
    assert {"account_suspended", "account_deleted", "removed_by_platform",
            "hidden_by_author", "restricted"} <= causes


def test_rednote_random_accounts_with_short_lived_tokens(db_url: str, rednote_only: None) -> None:
    """The random part: notes published and removed as the run goes, accounts banned,
    reinstated or closed, tokens living 30 s (a listing's tokens are stale long before
    most probes), 30% faults: every lasting removal found, nothing invented."""
    events, truth, generic = run_rednote(db_url, 0.3, seed=11, scenario="random", notes=9,
                                         ticks=12, token_ttl=30)
    assert_true_to(events, truth)
    assert all(a["observable"] for a in truth["actions"])
    lasting = {p["post_key"] for p in truth["posts"] if p["state"] != "live"}
    found = {e["post_key"] for e in events if e["kind"] == "disappeared"}
    assert lasting and lasting <= found, sorted(lasting - found)
    edits = Counter(a["post_key"] for a in truth["actions"] if a["action"] == "edit")
    edited = Counter(e["post_key"] for e in events if e["kind"] == "edited")
    assert all(edited[key] >= n for key, n in edits.items()), (edits, edited)
    late = {p["post_key"] for p in truth["posts"] if p["published_tick"] > 0}
    assert late  # notes published after the watchlist was written were tracked
    assert generic  # stale tokens met the 300031 page, and made nothing of it
