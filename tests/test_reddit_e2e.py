"""Reddit end to end: the real worker and crawls watch the sandbox's Reddit on both
paths (OAuth API and Atom feeds), with and without 30% transient faults.

The shared demo script runs every platform; the checks here read Reddit's share:
every lasting removal found, the exact cause on the OAuth path, ``ambiguous`` on the
feed path, no false disappearance or hiding. Helpers come from ``tests/test_e2e.py``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from test_e2e import assert_true_to, run_scenario

pytestmark = pytest.mark.slow

REDDIT = "reddit"


def reddit_part(events: list[dict[str, Any]], truth: dict[str, Any]
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return ([e for e in events if e["platform"] == REDDIT],
            {**truth, "actions": [a for a in truth["actions"] if a["platform"] == REDDIT],
             "posts": [p for p in truth["posts"] if p["platform"] == REDDIT]})


def check(events: list[dict[str, Any]], truth: dict[str, Any]) -> None:
    assert_true_to(events, truth)
    lasting = {p["post_key"] for p in truth["posts"] if p["state"] not in ("live", "hidden")}
    found = {e["post_key"] for e in events if e["kind"] == "disappeared"}
    assert lasting and lasting <= found, sorted(lasting - found)
    feed_path = {a["post_key"] for a in truth["actions"] if a["action"].startswith("feed_")}
    for e in events:
        if e["kind"] == "disappeared":
            # Causes only where the API says who; the feeds never do.
            assert (e["cause"] == "ambiguous") is (e["post_key"] in feed_path), e
    kinds = Counter(e["kind"] for e in events)
    assert kinds["hidden"] >= 1 and kinds["edited"] >= 3 and kinds["restored"] >= 2
    causes = {(e["cause"], e["cause_detail"]) for e in events if e["kind"] == "disappeared"}
    assert {("removed_by_platform", d) for d in ("spam", "policy", "legal", "copyright")
            } <= causes
    # Comments are tracked items too: the watched thread's removed comment.
    assert any(e["post_key"].startswith("t1_") for e in events if e["kind"] == "disappeared")


def test_every_reddit_change_is_found_with_its_cause(db_url: str) -> None:
    events, truth = run_scenario(db_url, fault_rate=0.0)
    check(*reddit_part(events, truth))


def test_thirty_percent_faults_make_no_false_reddit_disappearance(db_url: str) -> None:
    events, truth = run_scenario(db_url, fault_rate=0.3, seed=7)
    assert truth["faults"] and sum(truth["faults"].values()) > 50
    check(*reddit_part(events, truth))
