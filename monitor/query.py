"""Query: render takedown history for analysts as a table, JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from . import diff

EVENT_COLUMNS = [
    "id", "detected_at", "kind", "cause", "cause_detail", "candidates", "platform",
    "group_name", "target", "post_key", "url", "author", "published_at",
    "last_seen_visible", "first_seen_gone", "lifetime", "title", "text", "edit", "evidence",
]
TABLE_COLUMNS = ["detected_at", "kind", "cause", "platform", "group_name", "post_key",
                 "lifetime", "summary"]


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


def format_events(rows: Sequence[dict[str, Any]], fmt: str) -> str:
    out = io.StringIO()
    if fmt == "json":
        for row in rows:
            record = {c: _plain(row.get(c)) for c in EVENT_COLUMNS if c != "lifetime"}
            life = lifetime(row)
            record["lifetime_seconds"] = life.total_seconds() if life else None
            out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        columns = [c for c in EVENT_COLUMNS if c not in {"edit", "evidence"}]
        writer.writerow(columns + ["evidence"])
        for row in rows:
            values = []
            for c in columns:
                if c == "lifetime":
                    life = lifetime(row)
                    values.append(life.total_seconds() if life else "")
                elif c == "candidates":
                    values.append(";".join(row.get(c) or []))
                else:
                    values.append(_plain(row.get(c)) if row.get(c) is not None else "")
            values.append(json.dumps(row.get("evidence"), ensure_ascii=False, default=str))
            writer.writerow(values)
    else:
        table = [[_cell(row, c) for c in TABLE_COLUMNS] for row in rows]
        out.write(render_table(TABLE_COLUMNS, table))
        out.write(f"{len(rows)} event(s)\n")
    return out.getvalue()


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


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]], width: int = 48) -> str:
    rows = [[(c if len(c) <= width else c[: width - 1] + "…") for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines) + "\n"


def format_history(post: dict[str, Any], versions: list[dict[str, Any]],
                   observations: list[dict[str, Any]], events: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    out.write(f"{post['platform']} post {post['post_key']}  ({post['target_key']})\n")
    out.write(f"  url: {post.get('url')}\n  state: {post['state']} since "
              f"{_ts(post['state_since'])}; first seen {_ts(post['first_seen'])}\n")
    out.write(f"\nVersions ({len(versions)}):\n")
    previous: diff.Normalised | None = None
    for i, v in enumerate(versions, 1):
        current = diff.Normalised.from_json(v["content"])
        out.write(f"  v{i}  {_ts(v['first_seen'])}  sha256:{v['content_hash'][:12]}\n")
        if previous is None:
            out.write(_indent(current.title + ("\n" if current.title else "") + current.text))
        else:
            out.write(_indent(diff.compare(previous, current).render()))
        previous = current
    out.write(f"\nObservations ({len(observations)} runs):\n")
    for o in observations:
        span = _ts(o["first_at"]) if o["repeats"] == 1 else \
            f"{_ts(o['first_at'])} → {_ts(o['last_at'])} (×{o['repeats']})"
        status = f" HTTP {o['http_status']}" if o["http_status"] else ""
        words = f" “{o['message']}”" if o["message"] else ""
        out.write(f"  {span}  {o['mode']} {o['outcome']}{status}{words}\n")
    out.write(f"\nEvents ({len(events)}):\n")
    for e in events:
        cause = e["cause"] or ""
        if e["cause_detail"]:
            cause += f"/{e['cause_detail']}"
        if e["candidates"]:
            cause += " (" + ", ".join(e["candidates"]) + ")"
        out.write(f"  {_ts(e['detected_at'])}  {e['kind']} {cause}\n")
    return out.getvalue()


def format_status(rows: Sequence[dict[str, Any]]) -> str:
    headers = ["group", "target", "last_ok", "errors", "next_due", "posts", "gone", "hidden",
               "note"]
    table = []
    for r in rows:
        note = "inactive" if not r["active"] else (r["last_error"] or r["account_state"] or "")
        table.append([r["group_name"], f"{r['platform']}:{r['value']}", _ts(r["last_ok_at"]),
                      str(r["error_streak"]), _ts(r["next_due"]), str(r["posts"]),
                      str(r["gone"]), str(r["hidden"]), note])
    return render_table(headers, table)


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _indent(text: str) -> str:
    return "".join(f"      {line}\n" for line in text.splitlines() or [""])
