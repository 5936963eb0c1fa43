"""What the monitor stored of each scripted post, for the message of a missed change.

An end-to-end run that misses a scripted change fails long after the database that
would say why is gone (a rare miss under an overloaded machine was never explained
for that reason). :func:`with_timelines` adds to the sandbox's truth, while the
database is still open, one line per thing stored about each scripted post: each
observation row of the post (probes) and of its target (listings: an entry's edit is
read from them), with its time span, repeats, outcome, HTTP status and body hash,
and each stored version with when it was first seen. :func:`explain_miss` turns
them into the lines a ``missed ...`` problem carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.db import Database

#: The truth's key for the timelines (``platform:post_key`` -> lines, oldest first).
KEY = "observed"


def with_timelines(db: Database, truth: dict[str, Any]) -> dict[str, Any]:
    """``truth`` with the stored timeline of every post its actions name."""
    keys = sorted({a["post_key"] for a in truth["actions"]})
    lines: dict[str, list[tuple[datetime, str]]] = {
        _name(a): [] for a in truth["actions"]}
    with db.transaction() as conn:
        for r in conn.execute(
                "SELECT p.platform, p.post_key, coalesce(o.post_id, o.target_id) AS of, "
                "o.mode, o.first_at, o.last_at, o.repeats, "
                "o.outcome, o.http_status, left(o.body_hash, 10) AS body "
                "FROM posts p JOIN observations o ON o.post_id = p.id "
                "OR (o.post_id IS NULL AND o.target_id = p.target_id) "
                "WHERE p.post_key = ANY(%s)", (keys,)):
            lines.setdefault(_name(r), []).append((r["first_at"], (
                f"{_at(r['first_at'])}..{_at(r['last_at'])} x{r['repeats']} {r['mode']} "
                f"{'post' if r['mode'] == 'probe' else 'target'} {r['of']} "
                f"{r['outcome']} {r['http_status']} body {r['body']}")))
        for r in conn.execute(
                "SELECT p.platform, p.post_key, v.first_seen, left(v.content_hash, 10) AS hash, "
                "p.current_version_id = v.id AS current FROM posts p "
                "JOIN versions v ON v.post_id = p.id WHERE p.post_key = ANY(%s)", (keys,)):
            lines.setdefault(_name(r), []).append((r["first_seen"], (
                f"{_at(r['first_seen'])} version {r['hash']} first seen"
                + (" (current)" if r["current"] else ""))))
        states = {_name(r): r["state"] for r in conn.execute(
            "SELECT platform, post_key, state FROM posts WHERE post_key = ANY(%s)", (keys,))}
    return {**truth, KEY: {
        k: [text for _, text in sorted(v, key=lambda item: item[0])]
        + [f"state now: {states.get(k, 'no post row')}"] for k, v in lines.items()}}


def explain_miss(action: dict[str, Any], truth: dict[str, Any]) -> str:
    """The lines a missed ``action`` is reported with: when it was scripted, how long
    its state lasted, and what was stored of its post (when the run recorded it)."""
    timeline = truth.get(KEY, {}).get(_name(action))
    if timeline is None:
        return ""
    lasts = action.get("lasts")
    head = (f"\n    scripted at tick {action['tick']} ({action.get('at')}), lasting "
            + ("to the end" if lasts is None else f"{lasts:g} s") + "; stored of the post:")
    return head + "".join(f"\n      {line}" for line in timeline or ["nothing"])


def _name(row: Any) -> str:
    """A post's name in the timelines: its platform and key."""
    return f"{row['platform']}:{row['post_key']}"


def _at(when: datetime) -> str:
    return when.strftime("%H:%M:%S.%f")[:-3]
