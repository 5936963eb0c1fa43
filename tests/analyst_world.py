"""A real history for the analyst side's tests (API, web, exports, review).

:func:`build_world` runs the demo scenario through the real pipeline (the sandbox on
127.0.0.1, the real spiders, worker and PostgreSQL, on a manual clock, no faults), as
``tests/test_e2e.py`` does, then makes part of it hostile the way a watched author or
platform could: post text, titles, account names and the platform's own words carry
script payloads, Chinese, right-to-left text and emoji. The fixtures
``analyst_world`` and ``analyst_db`` in ``tests/conftest.py`` build it once per
session and give each test its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

#: Payloads that must stay inert wherever they are shown.
XSS = [
    "<script>window.__xss=1;alert('xss')</script>",
    "<img src=x onerror=\"window.__xss=1;alert('img')\">",
    "\"><svg onload=\"window.__xss=1;alert('svg')\">",
    "<a href=\"javascript:window.__xss=1;alert('href')\">click</a>",
    "</textarea></title><iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "{{7*7}} ${7*7} <style>body{display:none}</style>",
]
#: Text in scripts and directions the pages must show as written.
CHINESE = "因违规被删除：关于审查的讨论 🔥 暂无查看权限"
ARABIC = "تم حذف المنشور بسبب الرقابة"
HEBREW = "הפוסט נמחק"
EMOJI = "👩🏽‍💻🏳️‍🌈✊"
RLO = "\u202egnp.exe"  # a right-to-left override hiding a file name


@dataclass
class World:
    """What a test needs to find its way around the built history."""

    #: Event ids by kind.
    events: dict[str, list[int]] = field(default_factory=dict)
    #: The post whose text, title and author carry payloads, and one of its events.
    hostile_post: int = 0
    hostile_event: int = 0
    #: An event whose platform words (``evidence.observed.message``) are a payload.
    hostile_words_event: int = 0
    #: A target whose account name is a payload.
    hostile_target: int = 0
    #: A post with Chinese, Arabic and emoji text, and one of its events.
    i18n_post: int = 0
    i18n_event: int = 0
    groups: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)


def run_demo(db_url: str) -> None:
    """Run the demo scenario into ``db_url`` (a migrated, empty database)."""
    from test_e2e import run_scenario

    events, _ = run_scenario(db_url, fault_rate=0.0)
    assert events, "the demo scenario recorded no events"


def make_hostile(db_url: str) -> World:
    """Make the demo's history in ``db_url`` hostile; returns where things are."""
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=False) as conn:
        world = _hostile(conn)
        conn.commit()
    return world


def build_world(db_url: str) -> World:
    """Run the demo scenario into ``db_url`` and make it hostile (bench and tools)."""
    run_demo(db_url)
    return make_hostile(db_url)


def _hostile(conn: psycopg.Connection[Any]) -> World:
    world = World()
    for row in conn.execute("SELECT kind, id FROM events ORDER BY id"):
        world.events.setdefault(row["kind"], []).append(row["id"])
    world.groups = [r["g"] for r in conn.execute(
        "SELECT DISTINCT group_name AS g FROM targets ORDER BY 1")]
    world.platforms = [r["p"] for r in conn.execute(
        "SELECT DISTINCT platform AS p FROM events ORDER BY 1")]
    payload = " ".join(XSS)
    # The hostile post: a disappeared post with a version; its text, title and author.
    row = conn.execute(
        "SELECT e.id AS event, e.post_id AS post, e.target_id AS target FROM events e"
        " JOIN posts p ON p.id = e.post_id WHERE e.kind = 'disappeared'"
        " AND p.current_version_id IS NOT NULL ORDER BY e.id LIMIT 1").fetchone()
    assert row, "the demo scenario recorded no disappearance of a post with a version"
    world.hostile_post, world.hostile_event = row["post"], row["event"]
    conn.execute(
        "UPDATE versions SET raw_text = %(t)s, title = %(title)s,"
        " content = content || jsonb_build_object('text', %(t)s::text, 'title', %(title)s::text)"
        " WHERE post_id = %(p)s",
        {"t": f"<p>{payload}</p><p>{XSS[0]}</p>", "title": XSS[2], "p": row["post"]})
    conn.execute("UPDATE posts SET author = %s WHERE id = %s", (XSS[1], row["post"]))
    # An account name (the target's value) as written by its owner.
    world.hostile_target = row["target"]
    conn.execute("UPDATE targets SET value = value || %s WHERE id = %s",
                 (XSS[1], row["target"]))
    # The platform's own words, in the event's evidence and the observations.
    row = conn.execute(
        "SELECT id, post_id FROM events WHERE kind = 'disappeared' AND id <> %s"
        " ORDER BY id LIMIT 1", (world.hostile_event,)).fetchone()
    assert row, "the demo scenario recorded only one disappearance"
    world.hostile_words_event = row["id"]
    conn.execute(
        "UPDATE events SET evidence = jsonb_set(evidence, '{observed,message}', %s)"
        " WHERE id = %s", (Jsonb(XSS[3] + XSS[4]), row["id"]))
    conn.execute("UPDATE observations SET message = %s WHERE post_id = %s AND message IS NOT NULL",
                 (XSS[3] + XSS[4], row["post_id"]))
    # Chinese, right-to-left and emoji: an edited post's versions.
    row = conn.execute(
        "SELECT e.id AS event, e.post_id AS post FROM events e"
        " WHERE e.kind = 'edited' ORDER BY e.id LIMIT 1").fetchone()
    assert row, "the demo scenario recorded no edit"
    world.i18n_post, world.i18n_event = row["post"], row["event"]
    text = f"{CHINESE}\n\n{ARABIC} {HEBREW}\n\n{EMOJI} {RLO}"
    conn.execute(
        "UPDATE versions SET raw_text = %(t)s || ' ' || id::text,"
        " content = content || jsonb_build_object('text', %(t)s || ' ' || id::text)"
        " WHERE post_id = %(p)s", {"t": text, "p": row["post"]})
    conn.execute("UPDATE posts SET author = %s WHERE id = %s",
                 (f"{ARABIC} {EMOJI}", row["post"]))
    return world
