"""The end-to-end harnesses on a loaded machine: answers nobody faulted arrive late.

On busy CI cores an unfaulted answer can take longer than FAST's 0.5 s download
timeout. Those timeouts are not the script's faults: in bursts they hid two-tick
states (CI, 2026-12-02: X's protect and restore of one post missed under 30% faults).
Every harness that scripts faults therefore waits FAULTED_TIMEOUT for an answer; here
every answer is held LATE seconds, longer than FAST's timeout and well within that.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from platform_e2e import run_part
from test_e2e import FAST, FAULTED_TIMEOUT, assert_true_to, settings_for

from monitor.db import Database
from monitor.settings_values import parse_duration
from spiders.sandbox._server import SandboxHandler

pytestmark = pytest.mark.slow

#: Real seconds every answer is held: past FAST's download timeout, within FAULTED_TIMEOUT.
LATE = 0.8


def test_late_answers_sit_between_the_two_timeouts() -> None:
    assert parse_duration(FAST["download_timeout"]) < LATE < FAULTED_TIMEOUT / 2


def test_a_platform_part_sees_every_change_when_every_answer_is_late(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    held: list[str] = []
    route = SandboxHandler._route

    def late(self: SandboxHandler, fake: Any, path: str, query: dict[str, str]) -> Any:
        time.sleep(LATE)
        held.append(path)
        return route(self, fake, path, query)

    monkeypatch.setattr(SandboxHandler, "_route", late)
    events, truth = run_part(db_url, monkeypatch, "x", fault_rate=0.0, seed=7, rounds=3,
                             ticks=4)
    assert held  # the answers really were late
    assert truth["actions"] and all(a["observable"] for a in truth["actions"])
    assert_true_to(events, truth)
    with Database.open(settings_for(db_url)) as db, db.transaction() as conn:
        row = conn.execute("SELECT coalesce(sum(repeats), 0) AS n FROM observations"
                           " WHERE outcome = 'timeout'").fetchone()
    assert row is not None and row["n"] == 0
