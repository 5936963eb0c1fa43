"""Rendering: alerts as plain text or Markdown, for people.

The input is an *event view*: a dict with the event's columns plus its post,
target and last version (see :func:`alerts.outbox.event_views`). Each message
carries the post's text, the cause with its evidence (HTTP status, the
platform's own words, body hash, vantage, time), how long the post lived, and
links. The edit diff is ``edit["rendered"]`` (``[-old-]{+new+}``).

Post text is the user's: it is quoted, escaped for Markdown, cut at
:data:`MAX_TEXT` characters (never bytes: CJK stays whole), and, when it holds
right-to-left script, wrapped in Unicode isolates (FSI … PDI) so that Arabic or
Hebrew does not reorder the labels around it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Message", "render_event", "render_burst", "render_digest", "render_test",
           "human_duration", "lifetime", "CAUSE_LABELS"]

MAX_TEXT = 1200
MAX_LIST = 50  # posts listed in a burst or digest before "and N more"

CAUSE_LABELS = {
    "deleted_by_author": "deleted by the author",
    "removed_by_moderator": "removed by a moderator",
    "removed_by_platform": "removed by the platform",
    "geo_blocked": "blocked in this country (geo-block)",
    "account_suspended": "the account was suspended",
    "account_deleted": "the account was deleted",
    "hidden_from_feed": "hidden from the feed (the link still works)",
    "hidden_by_author": "hidden by the author (a privacy setting, not censorship)",
    "restricted": "restricted (behind a gate or under review)",
    "ambiguous": "cause unclear",
}
KIND_TITLES = {"disappeared": "Post disappeared", "hidden": "Post hidden",
               "edited": "Post edited", "restored": "Post restored"}

_FSI, _PDI = "\u2068", "\u2069"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<~])|^([#>])", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    format: str  # "text" | "markdown"


# -- pieces ---------------------------------------------------------------------------


def human_duration(delta: timedelta) -> str:
    """``45 s``, ``14 min``, ``3 h 5 min``, ``2 days 4 h``."""
    s = int(delta.total_seconds())
    if s < 60:
        return f"{max(s, 0)} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} day{'s' if d != 1 else ''}" + (f" {h} h" if h else "")


def lifetime(v: dict[str, Any]) -> str | None:
    """``deleted 14 min after posting``, for a disappearance with a known publication."""
    start = v.get("published_at")
    end = v.get("first_seen_gone") or v.get("last_seen_visible")
    if v.get("kind") != "disappeared" or not start or not end or end < start:
        return None
    verb = "deleted" if v.get("cause") == "deleted_by_author" else "gone"
    text = f"{verb} {human_duration(end - start)} after posting"
    if v.get("first_seen_gone") is None:
        text = f"{verb} at most {human_duration(end - start)} after posting"
    return text


def when(dt: datetime | str | None) -> str:
    if dt is None:
        return "?"
    if isinstance(dt, str):
        try:
            dt = datetime.fromisoformat(dt)
        except ValueError:
            return str(dt)
    assert isinstance(dt, datetime)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def cause_text(v: dict[str, Any]) -> str:
    cause = v.get("cause")
    if not cause:
        return ""
    label = CAUSE_LABELS.get(cause, cause)
    if cause == "ambiguous" and v.get("candidates"):
        label += ": one of " + ", ".join(CAUSE_LABELS.get(c, c) for c in v["candidates"])
    if v.get("cause_detail"):
        label += f" ({v['cause_detail']})"
    return label


def who(v: dict[str, Any]) -> str:
    author = v.get("author") or v.get("target") or "?"
    return f"{author} on {v.get('platform', '?')}"


def post_text(v: dict[str, Any], limit: int = MAX_TEXT) -> str:
    """The last version's title and text, normalised, cut at ``limit`` characters."""
    content = v.get("content") or {}
    title = (content.get("title") or v.get("title") or "").strip()
    text = (content.get("text") or v.get("text") or "").strip()
    full = "\n\n".join(p for p in (title, text) if p)
    if content.get("warning"):
        full = f"[content warning: {content['warning']}]\n{full}"
    if len(full) > limit:
        full = full[:limit].rstrip() + " …"
    return full


def isolate(text: str) -> str:
    """Wrap ``text`` in FSI … PDI when it contains right-to-left letters."""
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text):
        return _FSI + text + _PDI
    return text


def md_escape(text: str) -> str:
    """Backslash the characters Markdown would act on (``#`` and ``>`` only at a line's
    start): escapes show literally on services with their own dialect, so keep few."""
    return _MD_SPECIAL.sub(lambda m: "\\" + (m.group(1) or m.group(2)), text)


def evidence_lines(v: dict[str, Any]) -> list[str]:
    """The evidence, one fact a line: what the probe saw, what decided, how confirmed."""
    ev = v.get("evidence") or {}
    obs = ev.get("observed") or {}
    facts = []
    if obs.get("http_status"):
        facts.append(f"HTTP {obs['http_status']}")
    if obs.get("outcome"):
        facts.append(f"outcome {obs['outcome']}")
    lines = []
    if facts:
        lines.append(" · ".join(facts))
    if obs.get("message"):
        lines.append(f"platform said: “{isolate(str(obs['message']))}”")
    if obs.get("body_hash"):
        lines.append(f"response body sha256: {obs['body_hash']}")
    where = [f"vantage {obs['vantage']}" if obs.get("vantage") else "",
             f"observed {when(obs['at'])}" if obs.get("at") else ""]
    if any(where):
        lines.append(" · ".join(w for w in where if w))
    if ev.get("reason"):
        lines.append(f"why: {ev['reason']}")
    probes = (ev.get("suspicion") or {}).get("probes") or []
    if len(probes) > 1:
        lines.append(f"confirmed by {len(probes)} probes from {when(probes[0].get('at'))} "
                     f"to {when(probes[-1].get('at'))}")
    if ev.get("previous_cause"):
        lines.append(f"before: {CAUSE_LABELS.get(ev['previous_cause'], ev['previous_cause'])}")
    return lines


def links(v: dict[str, Any]) -> list[str]:
    obs = (v.get("evidence") or {}).get("observed") or {}
    out = [v.get("url"), obs.get("url"), obs.get("final_url")]
    return list(dict.fromkeys(u for u in out if u))


def summary(v: dict[str, Any]) -> str:
    """One line: kind, who, cause or diff classes, lifetime."""
    parts = [v["kind"], who(v)]
    if v.get("cause"):
        parts.append(cause_text(v))
    if v["kind"] == "edited" and v.get("edit"):
        parts.append(", ".join(v["edit"].get("classes") or []) or "edited")
    if life := lifetime(v):
        parts.append(life)
    return " — ".join(parts)


# -- messages -------------------------------------------------------------------------


def render_event(v: dict[str, Any], fmt: str = "markdown") -> Message:
    md = fmt == "markdown"
    title = f"{KIND_TITLES.get(v['kind'], v['kind'])}: {who(v)}"
    if v.get("cause"):
        title += f" — {cause_text(v)}"
    facts = [("Who", f"{who(v)}, group {v.get('group_name')}")]
    if v.get("cause"):
        facts.append(("Cause", cause_text(v)))
    if life := lifetime(v):
        facts.append(("Lifetime", life))
    times = [f"published {when(v['published_at'])}" if v.get("published_at") else "",
             f"last seen visible {when(v['last_seen_visible'])}"
             if v.get("last_seen_visible") else "",
             f"detected {when(v['detected_at'])}"]
    facts.append(("When", "; ".join(t for t in times if t)))
    sections = ["\n".join(_field(k, val, md) for k, val in facts)]
    if v["kind"] == "edited" and v.get("edit"):
        edit = v["edit"]
        classes = ", ".join(edit.get("classes") or [])
        sim = edit.get("similarity")
        head = f"{classes} ({sim:.0f}% similar)" if isinstance(sim, int | float) else classes
        sections.append(_heading(f"Edit: {head}", md) + "\n"
                        + _block(str(edit.get("rendered") or ""), md, code=True))
    if text := post_text(v):
        label = "Now reads" if v["kind"] == "edited" else "Post"
        sections.append(_heading(label, md) + "\n" + _block(text, md))
    if ev := evidence_lines(v):
        sections.append(_heading("Evidence", md) + "\n"
                        + "\n".join(f"- {md_escape(x) if md else x}" for x in ev))
    tail = [f"<{url}>" if md else url for url in links(v)]
    tail.append(f"event {v['id']} · {v.get('platform')}:{v.get('post_key')}")
    sections.append("\n".join(f"- {x}" if md else x for x in tail))
    return Message(title=title, body="\n\n".join(sections), format=fmt)


def render_burst(views: Sequence[dict[str, Any]], info: dict[str, Any],
                 fmt: str = "markdown") -> Message:
    """One mass-deletion message for the posts of a burst.

    ``info``: ``scope`` (target or group), ``label`` (the account or group),
    ``continued`` (later posts of a burst already reported), ``earlier`` (ids
    alerted on their own before the burst was seen, marked ✓).
    """
    md = fmt == "markdown"
    n = len(views)
    label = info.get("label") or info.get("key") or "?"
    what = f"account {label}" if info.get("scope") == "target" else f"group {label}"
    span = ""
    if views:
        first = min(v["detected_at"] for v in views)
        last = max(v["detected_at"] for v in views)
        span = f" within {human_duration(last - first)}" if last > first else ""
    verb = "more posts disappeared" if info.get("continued") else "posts disappeared"
    title = f"Mass deletion: {n} {verb} from {what}{span}"
    causes: dict[str, int] = {}
    for v in views:
        causes[cause_text(v) or "?"] = causes.get(cause_text(v) or "?", 0) + 1
    facts = [_field("Mass deletion", f"{n} {verb} from {what}{span}", md),
             _field("Causes", "; ".join(f"{c} × {k}" for c, k in causes.items()), md)]
    earlier = set(info.get("earlier") or ())
    if earlier:
        facts.append(_field("Already alerted one by one", f"{len(earlier)}, marked ✓", md))
    sections = ["\n".join(facts), "\n".join(_listing(views, md, earlier))]
    return Message(title=title, body="\n\n".join(sections), format=fmt)


def render_digest(views: Sequence[dict[str, Any]], period: tuple[datetime, datetime],
                  digest: str, fmt: str = "markdown") -> Message:
    """An hourly or daily summary, grouped by account; bursts are marked.

    ``period`` is shown in its own time zone (``digest_timezone``).
    """
    md = fmt == "markdown"
    start, end = (f"{t:%Y-%m-%d %H:%M %Z}" for t in period)
    kinds: dict[str, int] = {}
    for v in views:
        kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    counts = ", ".join(f"{k} {kind}" for kind, k in kinds.items()) or "none"
    title = f"Takedown digest ({digest}), {start} to {end}: {counts}"
    sections = ["\n".join([_field("Period", f"{start} to {end}", md),
                           _field("Alerts", counts, md)])]
    by_account: dict[str, list[dict[str, Any]]] = {}
    for v in views:
        by_account.setdefault(v.get("target") or "?", []).append(v)
    for account, items in by_account.items():
        mark = " — mass deletion" if any(v.get("burst_id") for v in items) else ""
        head = f"{account} ({items[0].get('platform')}, group {items[0].get('group_name')}): " \
               f"{len(items)}{mark}"
        sections.append(_heading(head, md) + "\n" + "\n".join(_listing(items, md, set())))
    return Message(title=title, body="\n\n".join(sections), format=fmt)


def render_test(channel: str, fmt: str = "markdown") -> Message:
    sample = "测试 🚨 اختبار"
    body = (f"This is a test alert from Takedown Monitor for channel {channel}. "
            f"If you can read this line, alerts will reach you: {isolate(sample)}")
    return Message(title=f"Takedown Monitor: test of channel {channel}", body=body, format=fmt)


# -- layout ---------------------------------------------------------------------------


def _field(label: str, value: str, md: bool) -> str:
    if md:
        return f"- **{label}:** {md_escape(value)}"
    return f"{label}: {value}"


def _heading(label: str, md: bool) -> str:
    # A blank line after it: Markdown needs one before a list or a quote.
    return f"**{md_escape(label)}:**\n" if md else f"{label}:"


def _block(text: str, md: bool, code: bool = False) -> str:
    if code and md:
        fence = "````" if "```" in text else "```"
        return f"{fence}\n{isolate(text)}\n{fence}"
    lines = text.splitlines() or [""]
    if md:
        return "\n".join("> " + isolate(md_escape(line)) if line else ">" for line in lines)
    return "\n".join("    " + isolate(line) if line else "" for line in lines)


def _listing(views: Sequence[dict[str, Any]], md: bool, earlier: set[int]) -> list[str]:
    out = []
    for v in views[:MAX_LIST]:
        tick = "✓ " if v["id"] in earlier else ""
        excerpt = post_text(v, 140).replace("\n", " ")
        line = f"{tick}{summary(v)}"
        if excerpt:
            line += f": “{isolate(excerpt)}”"
        url = v.get("url")
        if md:
            out.append(f"- {md_escape(line)}" + (f" <{url}>" if url else ""))
        else:
            out.append(f"- {line}" + (f" {url}" if url else ""))
    if len(views) > MAX_LIST:
        out.append(f"- … and {len(views) - MAX_LIST} more (see `takedown events`)")
    return out
