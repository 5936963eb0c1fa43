"""Bursts, flaps and digests end to end: a table of event sequences, and the alerts
each must produce at a local webhook receiver.

Steps, with time in minutes after T0 (both the event's detection and the outbox's
clock):

    ("gone", "a/p1", 3)            post p1 of account a disappears at minute 3
    ("gone", "a/p1", 3, "cause")   … with that cause (default removed_by_platform)
    ("back", "a/p1", 30)           it is restored
    ("batch", 5, "a/p1", "a/p2")   several disappearances recorded in one transaction
    ("send", 10)                   the dispatcher runs at minute 10

An account ``name`` is in group "journalists"; ``name@group`` puts it elsewhere.
Each alert received is written as ``"gone p1"`` (one event), ``"burst p1 p2 p3"``
(a mass-deletion message listing those posts) or ``"digest gone:p1 back:p1"``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alerts_world import T0, Receiver, World, config, hook, outbox

from alerts.dispatcher import dispatch_once

M = timedelta(minutes=1)
SHORT = {"disappeared": "gone", "restored": "back", "hidden": "hidden", "edited": "edit"}
KINDS = {v: k for k, v in SHORT.items()}


def play(world: World, receiver: Receiver, cfg: Any, steps: list[tuple[Any, ...]]) -> list[str]:
    targets: dict[str, int] = {}
    posts: dict[str, int] = {}

    def post(ref: str) -> int:
        account, key = ref.split("/")
        name, _, group = account.partition("@")
        if account not in targets:
            targets[account] = world.target(name, group=group or "journalists")
        if ref not in posts:
            posts[ref] = world.post(targets[account], key, f"text of {key}")
        return posts[ref]

    for step in steps:
        action = step[0]
        if action == "send":
            dispatch_once(world.db, cfg, now=T0 + step[1] * M)
        elif action == "batch":
            at = T0 + step[1] * M
            events = [world.event("disappeared", post(ref), at, "removed_by_platform")
                      for ref in step[2:]]
            world.record(outbox(cfg, at), *events)
        else:
            ref, minute = step[1], step[2]
            kind = KINDS[action]
            cause = step[3] if len(step) > 3 else (
                "removed_by_platform" if kind == "disappeared" else None)
            at = T0 + minute * M
            world.record(outbox(cfg, at), world.event(kind, post(ref), at, cause))
    out = []
    for got in receiver.received:
        doc = got.json()
        if doc["type"] == "event":
            e = doc["event"]
            out.append(f"{SHORT[e['kind']]} {e['post_key']}")
        elif doc["type"] == "burst":
            out.append("burst " + " ".join(e["post_key"] for e in doc["events"]))
        else:
            out.append("digest " + " ".join(f"{SHORT[e['kind']]}:{e['post_key']}"
                                            for e in doc["events"]))
    return out


BASE = {"burst_threshold": 3, "burst_window": "30m", "burst_hold": "2m",
        "flap_cooldown": "6h"}

CASES: list[tuple[str, dict[str, Any], list[tuple[Any, ...]], list[str]]] = [
    ("two disappearances: two alerts", {},
     [("gone", "a/p1", 0), ("gone", "a/p2", 5), ("send", 10)], ["gone p1", "gone p2"]),
    ("K from one account: K-1 alone, then one mass deletion listing all", {},
     [("gone", "a/p1", 0), ("send", 0), ("gone", "a/p2", 1), ("send", 1),
      ("gone", "a/p3", 2), ("send", 2), ("gone", "a/p4", 3), ("send", 3), ("send", 5)],
     ["gone p1", "gone p2", "burst p1 p2 p3 p4"]),
    ("a wave recorded in one batch is one message", {},
     [("batch", 0, "a/p1", "a/p2", "a/p3", "a/p4", "a/p5"), ("send", 0), ("send", 3)],
     ["burst p1 p2 p3 p4 p5"]),
    ("grouping_delay folds the first ones too", {"grouping_delay": "5m"},
     [("gone", "a/p1", 0), ("send", 1), ("gone", "a/p2", 2), ("send", 2),
      ("gone", "a/p3", 3), ("send", 10)], ["burst p1 p2 p3"]),
    ("grouping_delay alone only delays", {"grouping_delay": "5m"},
     [("gone", "a/p1", 0), ("send", 4), ("send", 5)], ["gone p1"]),
    ("a burst that goes on after its message: one follow-up", {},
     [("batch", 0, "a/p1", "a/p2", "a/p3"), ("send", 3), ("gone", "a/p4", 10),
      ("gone", "a/p5", 11), ("send", 11), ("send", 13), ("send", 60)],
     ["burst p1 p2 p3", "burst p4 p5"]),
    ("after W of quiet the burst is over", {},
     [("batch", 0, "a/p1", "a/p2", "a/p3"), ("send", 3), ("gone", "a/p4", 40), ("send", 40)],
     ["burst p1 p2 p3", "gone p4"]),
    ("spread wider than W: no burst", {},
     [("gone", "a/p1", 0), ("gone", "a/p2", 20), ("gone", "a/p3", 40), ("gone", "a/p4", 60),
      ("send", 70)], ["gone p1", "gone p2", "gone p3", "gone p4"]),
    ("K across one group's accounts: a group burst", {},
     [("gone", "a/p1", 0), ("send", 0), ("gone", "b/p2", 1), ("send", 1),
      ("gone", "c/p3", 2), ("send", 5)], ["gone p1", "gone p2", "burst p1 p2 p3"]),
    ("different groups do not add up", {},
     [("gone", "a@g1/p1", 0), ("gone", "b@g2/p2", 1), ("gone", "c@g3/p3", 2), ("send", 5)],
     ["gone p1", "gone p2", "gone p3"]),
    ("bursts off", {"burst_threshold": 0},
     [("batch", 0, "a/p1", "a/p2", "a/p3"), ("send", 5)], ["gone p1", "gone p2", "gone p3"]),
    ("gone, back, gone again: no second alert inside the cool-down", {},
     [("gone", "a/p1", 0), ("send", 0), ("back", "a/p1", 30), ("send", 30),
      ("gone", "a/p1", 60), ("send", 60), ("back", "a/p1", 90), ("send", 90),
      ("gone", "a/p1", 7 * 60), ("send", 7 * 60)], ["gone p1", "back p1", "gone p1"]),
    ("gone again with another cause alerts", {},
     [("gone", "a/p1", 0, "removed_by_moderator"), ("back", "a/p1", 30),
      ("gone", "a/p1", 60, "removed_by_platform"), ("send", 61)],
     ["gone p1", "back p1", "gone p1"]),
    ("an unrouted disappearance's return is not alerted", {"alert_on_ambiguous": False},
     [("gone", "a/p1", 0, "ambiguous"), ("back", "a/p1", 30), ("send", 31)], []),
    ("flaps do not make bursts", {},
     [("gone", "a/p1", 0), ("back", "a/p1", 1), ("gone", "a/p1", 2), ("back", "a/p1", 3),
      ("gone", "a/p1", 4), ("send", 10)], ["gone p1", "back p1"]),
    ("hourly digest: one message when the hour closes", {"digest": "hourly"},
     [("gone", "a/p1", 5), ("gone", "b/p2", 20), ("back", "a/p1", 40), ("send", 59),
      ("send", 60), ("gone", "a/p3", 70), ("send", 119), ("send", 120)],
     ["digest gone:p1 gone:p2 back:p1", "digest gone:p3"]),
    ("a burst inside a digest is listed once, in the digest", {"digest": "hourly"},
     [("batch", 1, "a/p1", "a/p2", "a/p3", "a/p4"), ("send", 30), ("send", 61)],
     ["digest gone:p1 gone:p2 gone:p3 gone:p4"]),
    ("daily digest", {"digest": "daily"},
     [("gone", "a/p1", 5), ("gone", "a/p2", 600), ("send", 700), ("send", 12 * 60)],
     ["digest gone:p1 gone:p2"]),
]


@pytest.mark.parametrize(("options", "steps", "alerts"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_sequence(world: World, receiver: Receiver, options: dict[str, Any],
                  steps: list[tuple[Any, ...]], alerts: list[str]) -> None:
    channel = {k: options.pop(k) for k in ("digest",) if k in options}
    cfg = config({"hook": hook(receiver.url(), **channel)}, **{**BASE, **options})
    assert play(world, receiver, cfg, steps) == alerts
    # Every event the routes want has exactly one row per channel, whatever became of
    # it; one no route wants has none; the rules decided on each event once.
    rows = world.rows("SELECT e.id, m.verdict, count(d.id) AS n FROM events e "
                      "JOIN alert_marks m ON m.event_id = e.id "
                      "LEFT JOIN deliveries d ON d.event_id = e.id GROUP BY e.id, m.verdict")
    assert len(rows) == len(world.rows("SELECT id FROM events"))
    assert all(r["n"] == (0 if r["verdict"] == "off" else 1) for r in rows)


def test_burst_message_marks_the_posts_already_alerted(world: World,
                                                       receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, **BASE)
    play(world, receiver, cfg, [("gone", "a/p1", 0), ("send", 0), ("gone", "a/p2", 1),
                                ("send", 1), ("gone", "a/p3", 2), ("send", 5)])
    doc = receiver.received[-1].json()
    assert doc["type"] == "burst"
    assert doc["burst"]["scope"] == "target" and doc["burst"]["label"] == "a"
    assert doc["burst"]["continued"] is False
    assert doc["message"]["title"] == "Mass deletion: 3 posts disappeared from account a " \
                                      "within 2 min"
    assert "Already alerted one by one:** 2, marked ✓" in doc["message"]["body"]
    assert doc["idempotency_key"].startswith("burst-")
    rows = world.deliveries()
    assert [(r["kind"], r["state"]) for r in rows] == [
        ("event", "sent"), ("event", "sent"), ("burst", "sent"), ("event", "folded")]


def test_suppressed_flap_is_recorded_with_the_reason(world: World, receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, **BASE)
    play(world, receiver, cfg, [("gone", "a/p1", 0), ("back", "a/p1", 30),
                                ("gone", "a/p1", 60)])
    last = world.deliveries()[-1]
    assert last["state"] == "suppressed"
    assert "flap" in last["last_error"] and "flap_cooldown" in last["last_error"]
