"""End to end on the TikTok sandbox (issue 12): the real spider, worker and PostgreSQL
on the controlled clock of ``tests/test_e2e.py``, TikTok's demo part alone.

Under 30% transient faults (timeouts, resets, truncation, 5xx, 429, and TikTok's own
blocks: the 10204 page and the captcha page) no disappearance or hiding is invented,
every lasting change is found, and each cause is the one the public signals decide:
10216 says private, ``isContentClassified`` an age gate, the Community Guidelines
page a removal for a violation; "Video currently unavailable" stays ambiguous.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from platform_e2e import run_part
from test_e2e import assert_true_to

pytestmark = pytest.mark.slow

#: One seed by default (CI time); ``TAKEDOWN_E2E_SEEDS=1,2,3`` checks more.
SEEDS = [int(x) for x in os.environ.get("TAKEDOWN_E2E_SEEDS", "7").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
def test_tiktok_under_thirty_percent_faults(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                            seed: int) -> None:
    events, truth = run_part(db_url, monkeypatch, "tiktok", fault_rate=0.3, seed=seed,
                             rounds=6, ticks=12)
    assert sum(truth["faults"].values()) > 20  # the faults really happened
    assert truth["faults"]["anti_bot"] > 0
    assert_true_to(events, truth)
    assert all(a["observable"] for a in truth["actions"])
    lasting = {p["post_key"] for p in truth["posts"] if p["state"] != "live"}
    found = {e["post_key"] for e in events if e["kind"] == "disappeared"}
    assert lasting <= found, sorted(lasting - found)
    causes = Counter((e["cause"], e["cause_detail"]) for e in events
                     if e["kind"] == "disappeared")
    assert causes == Counter({("ambiguous", None): 1, ("removed_by_platform", "policy"): 1,
                              ("hidden_by_author", None): 1, ("restricted", None): 1}), causes
    kinds = Counter(e["kind"] for e in events)
    assert kinds["restored"] == 1 and kinds["edited"] >= 1 and kinds["hidden"] == 0
