"""Query: render takedown history for analysts as a table, JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from .availability import render as render_availability
from .tokens import ATTENTION_REASONS

#: An event's fields in JSON lines and CSV, in this order. The webhook payload
#: (``alerts/webhook.py``) uses the same names for the same values.
EVENT_FIELDS = [
    "id", "detected_at", "kind", "cause", "cause_detail", "candidates", "platform",
    "group", "target", "target_key", "post_key", "url", "author", "published_at",
    "last_seen_visible", "first_seen_gone", "lifetime_seconds", "title", "text", "edit",
    "evidence",
]
#: The events table, for people: ``lifetime`` is human text, as in the webhook.
TABLE_COLUMNS = ["detected_at", "kind", "cause", "platform", "group", "post_key", "lifetime",
                 "summary"]
#: Identifiers a user pastes into other commands: never cut in a table.
_UNCUT = frozenset({"post_key", "target", "key", "url", "value"})

def lifetime(row: dict[str, Any]) -> timedelta | None:
    """How long the post lived: publication (or first sight) to last seen visible."""
    start = row.get("published_at")
    end = row.get("first_seen_gone") or row.get("last_seen_visible")
    if start and end and row.get("kind") == "disappeared":
        return end - start
    return None


def human_duration(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _summary(row: dict[str, Any]) -> str:
    if row["kind"] == "edited" and row.get("edit"):
        edit = row["edit"]
        return f"{','.join(edit.get('classes', []))} ({edit.get('similarity', 0):.0f}% similar)"
    if row.get("cause") == "ambiguous":
        return "one of: " + ", ".join(row.get("candidates") or [])
    observed = (row.get("evidence") or {}).get("observed") or {}
    words = observed.get("message")
    status = observed.get("http_status")
    parts = [p for p in (row.get("cause_detail"), f"HTTP {status}" if status else None,
                         f"“{words}”" if words else None) if p]
    return " ".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def event_record(row: dict[str, Any]) -> dict[str, Any]:
    """One event as JSON-ready values under :data:`EVENT_FIELDS`."""
    record = {c: _plain(row.get(c)) for c in EVENT_FIELDS if c != "lifetime_seconds"}
    life = lifetime(row)
    record["lifetime_seconds"] = life.total_seconds() if life else None
    return {c: record[c] for c in EVENT_FIELDS}


def format_events(rows: Sequence[dict[str, Any]], fmt: str) -> str:
    out = io.StringIO()
    if fmt == "json":
        for row in rows:
            out.write(json.dumps(event_record(row), ensure_ascii=False, default=str) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(EVENT_FIELDS)
        for row in rows:
            writer.writerow([_csv_value(c, v) for c, v in event_record(row).items()])
    else:
        table = [[_cell(row, c) for c in TABLE_COLUMNS] for row in rows]
        out.write(render_table(TABLE_COLUMNS, table))
        out.write(f"{len(rows)} event(s)\n")
    return out.getvalue()


#: What a spreadsheet reads as the start of a formula in a CSV cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string that would start a formula
    gets a leading apostrophe (OWASP's advice). Post text is written by strangers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_value(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column == "candidates":
        return safe_cell(";".join(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return safe_cell(value)


def _cell(row: dict[str, Any], column: str) -> str:
    if column == "lifetime":
        return human_duration(lifetime(row))
    if column == "summary":
        return _summary(row)
    if column == "cause":
        return row.get("cause") or ""
    value = row.get(column)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def format_live_event(e: Any) -> str:
    """One line for an event as it happens (``check``, ``run``, ``demo``)."""
    cause = e.cause or ""
    if e.cause_detail:
        cause += f"/{e.cause_detail}"
    if e.candidates:
        cause += " (one of: " + ", ".join(e.candidates) + ")"
    observed = e.evidence.get("observed", {})
    status = observed.get("http_status")
    words = observed.get("message")
    evidence = " ".join(x for x in (
        f"HTTP {status}" if status else "", f"“{words}”" if words else "",
        f"sha256:{observed['body_hash'][:12]}" if observed.get("body_hash") else "") if x)
    extra = ""
    if e.kind == "edited" and e.edit:
        rendered = " ".join(str(e.edit.get("rendered", "")).split())
        extra = f" [{','.join(e.edit.get('classes', []))}] {rendered[:160]}"
    life = ""
    if e.kind == "disappeared" and e.published_at and e.first_seen_gone:
        life = f" after {human_duration(e.first_seen_gone - e.published_at)}"
    return (f"{e.detected_at:%H:%M:%S} {e.kind:<11} {e.platform}:{e.post_key} "
            f"{cause}{life} {evidence}{extra}".rstrip())


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]], width: int = 48) -> str:
    """A plain-text table; cells over ``width`` are cut, except identifiers (post_key,
    target, key, url, value), which users paste into other commands."""
    cut = [h not in _UNCUT for h in headers]
    rows = [[(c if len(c) <= width or not cut[i] else c[: width - 1] + "…")
             for i, c in enumerate(r)] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines) + "\n"


def format_history(post: dict[str, Any], versions: list[dict[str, Any]],
                   observations: list[dict[str, Any]], events: list[dict[str, Any]],
                   availability: Sequence[dict[str, Any]] | None = None) -> str:
    """A post's versions with word diffs, its observation runs, its per-country
    ``availability`` (:func:`monitor.availability.render`, when given) and its events."""
    from . import diff  # the diff engine only here: `takedown check` prints no history

    out = io.StringIO()
    out.write(f"{post['platform']} post {post['post_key']}  ({post['target_key']})\n")
    out.write(f"  url: {post.get('url')}\n  state: {post['state']} since "
              f"{_ts(post['state_since'])}; first seen {_ts(post['first_seen'])}\n")
    out.write(f"\nVersions ({len(versions)}):\n")
    # Each version is diffed with the previous one of its own source (the post as
    # listed, or a reading of its article page): two sources never diff together.
    previous: dict[str, diff.Normalised] = {}
    for i, v in enumerate(versions, 1):
        current = diff.Normalised.from_json(v["content"])
        source = f" ({current.source})" if current.source else ""
        out.write(f"  v{i}  {_ts(v['first_seen'])}  sha256:{v['content_hash'][:12]}{source}\n")
        before = previous.get(current.source)
        if before is None:
            out.write(_indent(current.title + ("\n" if current.title else "") + current.text))
        else:
            out.write(_indent(diff.compare(before, current).render()))
        previous[current.source] = current
    out.write(f"\nObservations ({len(observations)} runs):\n")
    for o in observations:
        span = _ts(o["first_at"]) if o["repeats"] == 1 else \
            f"{_ts(o['first_at'])} → {_ts(o['last_at'])} (×{o['repeats']})"
        status = f" HTTP {o['http_status']}" if o["http_status"] else ""
        words = f" “{o['message']}”" if o["message"] else ""
        out.write(f"  {span}  {o['mode']} {o['outcome']}{status}{words}\n")
    if availability is not None:
        out.write(render_availability(availability))
    out.write(f"\nEvents ({len(events)}):\n")
    for e in events:
        cause = e["cause"] or ""
        if e["cause_detail"]:
            cause += f"/{e['cause_detail']}"
        if e["candidates"]:
            cause += " (" + ", ".join(e["candidates"]) + ")"
        out.write(f"  {_ts(e['detected_at'])}  {e['kind']} {cause}\n")
    return out.getvalue()


def target_state(row: dict[str, Any]) -> str:
    """``inactive``, ``attention`` (the user must act: :func:`attention_note`), ``failing``
    (its last check failed), ``new`` (never checked) or ``ok``."""
    if not row["active"]:
        return "inactive"
    if row.get("attention"):
        return "attention"
    if row["error_streak"]:
        return "failing"
    return "new" if row["last_checked_at"] is None else "ok"


def format_status(rows: Sequence[dict[str, Any]]) -> str:
    headers = ["group", "target", "state", "last_ok", "errors", "next_due", "posts", "gone",
               "hidden", "note"]
    table = []
    for r in rows:
        note = "" if not r["active"] else (attention_note(r) or r["last_error"]
                                            or r["account_state"] or "")
        table.append([r["group_name"], r["key"], target_state(r), _ts(r["last_ok_at"]),
                      str(r["error_streak"]), _ts(r["next_due"]), str(r["posts"]),
                      str(r["gone"]), str(r["hidden"]), note])
    return render_table(headers, table)


def attention_note(row: dict[str, Any]) -> str | None:
    """What the user must do about a target that needs attention, or None."""
    reason = row.get("attention")
    if not reason:
        return None
    return ATTENTION_REASONS.get(reason, f"needs attention: {reason}")


def format_workers(rows: Sequence[dict[str, Any]]) -> str:
    """``takedown status``'s lines about the workers (rows from
    :func:`monitor.db.workers.roster`): each live one with what it holds, then the
    seats of dead ones not yet reclaimed and leases of workers without a seat."""
    live = [r for r in rows if r["id"] is not None and r["alive"]]
    dead = [r for r in rows if r["id"] is not None and not r["alive"]]
    seatless = [r for r in rows if r["id"] is None]
    if not live:
        lines = ["no worker running now (`takedown run`, or a `takedown check` under way)"]
    else:
        machines = len({r["machine"] for r in live})
        lines = [f"{len(live)} worker(s) running on {machines} machine(s):"]
    for r in live:
        since = r["started_at"].isoformat(timespec="seconds")
        lines.append(f"  #{r['id']} {r['name']} since {since} "
                     f"(up {human_duration(r['up']) or '0s'}): {_holding(r)}")
    for r in dead:
        lines.append(f"  #{r['id']} {r['name']} is gone, {_holding(r)}: the next cycle of any "
                     "running worker gives them back")
    for r in seatless:
        lines.append(f"  workers without a seat (the database refused them one): "
                     f"{_holding(r)}, given back when their LEASE runs out")
    return "\n".join(lines) + "\n"


def _holding(row: dict[str, Any]) -> str:
    return (f"{row['listings']} listing(s) and {row['probes']} probe(s) claimed"
            if row["listings"] or row["probes"] else "nothing claimed")


def format_attention(rows: Sequence[dict[str, Any]]) -> str:
    """One line per active target that needs the user: which, and what to do."""
    return "".join(f"attention: {r['key']}: {note}\n" for r in rows
                   if r["active"] and (note := attention_note(r)))


#: What to do about a target whose last check ended with this outcome.
ADVICE: dict[str, str] = {
    "not_found": "if the address is wrong, replace it: `takedown watch remove KEY`, then "
    "`takedown watch add` with the right one",
    "gone": "the feed or account was removed (410): check it in a browser, and stop "
    "watching it with `takedown watch remove KEY` if it is gone for good",
    "forbidden": "the server refuses us (403): open the address logged out in a browser; "
    "it may be geo-blocked from here",
    "legal": "the server withholds it for legal reasons (451) from this vantage point",
    "timeout": "the host did not answer in time: check the address and the network; "
    "retried with back-off",
    "connection_error": "cannot connect to the host: check the address and the network; "
    "retried with back-off",
    "server_error": "the server is failing (5xx): nothing to do unless it persists; "
    "retried with back-off",
    "rate_limited": "the server asks us to slow down (429): retried after its Retry-After",
    "anti_bot": "the platform served an anti-bot page: lower the request rate "
    "(DOWNLOAD_DELAY) or check from another vantage point",
    "token_expired": "the link's token expired: copy a fresh link (with its xsec_token) "
    "from the browser and replace the target",
    "auth_required": "the platform wants a login for this page; logged-out monitoring "
    "cannot see it",
    "malformed": "the answer could not be read as this platform's page: check the address "
    "points at a feed, account or post",
    "truncated": "the answer was cut short: retried with back-off",
    "too_large": "the answer is larger than MAX_BODY_BYTES: raise it if the page is right",
    "refused": "robots.txt or the fetch policy forbids this address (the error names the "
    "rule): check the address or the allow_hosts option",
}


def format_failing(rows: Sequence[dict[str, Any]]) -> str:
    """One line per failing target: which, what went wrong, what to do."""
    lines = []
    for r in rows:
        advice = ADVICE.get(r["last_outcome"] or "", "see `takedown status`")
        lines.append(f"failing: {r['key']} ({r['error_streak']} in a row): "
                     f"{r['last_error'] or r['last_outcome']}; "
                     + advice.replace("KEY", r["key"]))
    return "".join(line + "\n" for line in lines)


def format_target_posts(target: dict[str, Any], posts: Sequence[dict[str, Any]]) -> str:
    """A listing target's posts, for ``history`` given a target: pick one by its key."""
    head = (f"{target['key']} is a {target['platform']} {target['kind']} target; "
            f"`takedown history POST_KEY` shows one of its posts")
    if not posts:
        return head + "\n(no posts recorded yet)\n"
    table = [[p["post_key"], p["state"], _ts(p["first_seen"]), p["url"] or ""] for p in posts]
    return head + f" ({len(posts)} most recent):\n" + render_table(
        ["post_key", "state", "first_seen", "url"], table, width=60)


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _indent(text: str) -> str:
    return "".join(f"      {line}\n" for line in text.splitlines() or [""])
