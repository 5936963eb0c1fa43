"""SQL for the analyst side (the JSON API and the web pages call these same functions).

- :func:`search_events`: every filter of ``takedown events`` plus full-text search,
  newest first, in cursor pages.
- :func:`post_detail`: a post, its versions with word diffs, its observations
  summarised into runs, its events.
- :func:`targets`, :func:`target_detail`: targets and their health.
- :func:`accounts`: per author within a platform, how many posts disappeared.
- :func:`collector_status`: what is failing, and since when.

Full-text search goes through the expression indexes of migration 009: every
version's title and text, and the platform's words (``evidence.observed.message``).
Each CJK character is its own lexeme, so a Chinese query is a phrase of characters and
``审查`` finds ``关于审查的讨论`` without a word segmenter. Whitespace-separated terms must
all match (AND); no stemming (the ``simple`` configuration), the same in every locale.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from .. import diff, query
from ..observation import ABSENT
from . import queries as q
from .queries import Conn

#: Page size bounds of :func:`search_events`.
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: At most this many whitespace-separated terms of a search are used.
MAX_TERMS = 16


class InvalidCursor(ValueError):
    """A cursor that no page of :func:`search_events` handed out."""


@dataclass(slots=True)
class EventQuery:
    """What :func:`search_events` selects: :class:`~monitor.db.queries.EventFilter`'s
    filters (each list is OR'ed, filters are AND'ed), ``q`` (full text), the opaque
    ``cursor`` of the previous page and the page size."""

    since: datetime | None = None
    until: datetime | None = None
    platforms: list[str] | None = None
    groups: list[str] | None = None
    targets: list[str] | None = None  # target key or value
    kinds: list[str] | None = None
    causes: list[str] | None = None  # cause or cause detail
    q: str | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT
    #: Only these targets (by id), for a target's own page.
    target_ids: list[int] | None = None
    #: Only these posts' authors (with ``platforms``), for an account's page.
    authors: list[str] | None = None


def encode_cursor(detected_at: datetime, event_id: int) -> str:
    raw = json.dumps([detected_at.isoformat(), event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (detected_at, id) key a cursor holds; :class:`InvalidCursor` if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, event_id = json.loads(raw)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(event_id, int) or isinstance(event_id, bool):
            raise ValueError("not a key")
        return when, event_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "the cursor is not one this API handed out; pass the next_cursor of the "
            "previous page unchanged, or leave it out to start from the newest event"
        ) from exc


_EVENT_SELECT = sql.SQL("""
    SELECT e.id, e.post_id, e.target_id, e.detected_at, e.kind, e.cause, e.cause_detail,
           e.candidates, e.platform, e.group_name AS "group", t.value AS target,
           t.key AS target_key, e.post_key, p.url, p.author, e.published_at,
           e.last_seen_visible, e.first_seen_gone, e.edit, e.evidence, v.title,
           v.raw_text AS text
    FROM events e
    JOIN targets t ON t.id = e.target_id
    JOIN posts p ON p.id = e.post_id
    -- the version the event is about, else the post's last one (as `takedown events`)
    LEFT JOIN versions v ON v.id = COALESCE(e.version_id, p.current_version_id)
""")

# Both halves are index-backed (versions_search, events_words_search); the UNION keeps
# the planner from turning an OR into a scan of every event.
_TEXT_MATCH = """e.id IN (
    SELECT ev.id FROM events ev WHERE ev.post_id IN (
        SELECT vs.post_id FROM versions vs
        WHERE takedown_search_doc(vs.title, vs.raw_text) @@ {tsq})
    UNION
    SELECT ew.id FROM events ew
    WHERE ew.evidence -> 'observed' ->> 'message' IS NOT NULL
      AND takedown_search_doc(NULL, ew.evidence -> 'observed' ->> 'message') @@ {tsq})"""


def text_query(text: str) -> sql.Composable | None:
    """The tsquery for a search: each term a phrase of its lexemes, all terms required.
    None when the text has no term."""
    terms = text.split()[:MAX_TERMS]
    if not terms:
        return None
    return sql.SQL("({})").format(sql.SQL(" && ").join(
        sql.SQL("phraseto_tsquery('simple', takedown_search_text({}))").format(sql.Literal(t))
        for t in terms))


def search_events(conn: Conn, f: EventQuery) -> tuple[list[dict[str, Any]], str | None]:
    """One page of events, newest first by (detected_at, id), and the cursor of the next
    page (None on the last). A page never repeats or skips a row of an earlier page,
    whatever is recorded between the two requests."""
    built = search_statement(f)
    if built is None:
        return [], None
    rows = conn.execute(*built).fetchall()
    if len(rows) <= f.limit:
        return rows, None
    rows = rows[: f.limit]
    return rows, encode_cursor(rows[-1]["detected_at"], rows[-1]["id"])


def search_statement(f: EventQuery) -> tuple[sql.Composed, dict[str, Any]] | None:
    """The statement :func:`search_events` runs (one row more than a page, to know
    whether another follows) and its parameters; None when ``q`` has no term. Separate
    so tests and the benchmark can EXPLAIN it."""
    if not 1 <= f.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    where: list[sql.Composable] = []
    params: dict[str, Any] = {}

    def add(clause: str, name: str, value: Any) -> None:
        where.append(sql.SQL(clause))
        params[name] = value

    if f.since:
        add("e.detected_at >= %(since)s", "since", f.since)
    if f.until:
        add("e.detected_at < %(until)s", "until", f.until)
    if f.platforms:
        add("e.platform = ANY(%(platforms)s)", "platforms", f.platforms)
    if f.groups:
        add("e.group_name = ANY(%(groups)s)", "groups", f.groups)
    if f.targets:
        add("(t.key = ANY(%(targets)s) OR t.value = ANY(%(targets)s))", "targets", f.targets)
    if f.target_ids:
        add("e.target_id = ANY(%(target_ids)s)", "target_ids", f.target_ids)
    if f.authors:
        add("p.author = ANY(%(authors)s)", "authors", f.authors)
    if f.kinds:
        add("e.kind = ANY(%(kinds)s)", "kinds", f.kinds)
    if f.causes:
        add("(e.cause = ANY(%(causes)s) OR e.cause_detail = ANY(%(causes)s))", "causes",
            f.causes)
    if f.cursor:
        at, event_id = decode_cursor(f.cursor)
        add("(e.detected_at, e.id) < (%(c_at)s, %(c_id)s)", "c_at", at)
        params["c_id"] = event_id
    if f.q is not None:
        tsq = text_query(f.q)
        if tsq is None:
            return None
        where.append(sql.SQL(_TEXT_MATCH).format(tsq=tsq))
    params["limit"] = f.limit + 1
    stmt = _EVENT_SELECT + sql.SQL("{where} ORDER BY e.detected_at DESC, e.id DESC "
                                   "LIMIT %(limit)s").format(
        where=sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""))
    return stmt, params


def event(conn: Conn, event_id: int) -> dict[str, Any] | None:
    """One event with the same fields as :func:`search_events` gives."""
    row = conn.execute(_EVENT_SELECT + sql.SQL("WHERE e.id = %s"), (event_id,)).fetchone()
    return row  # type: ignore[no-any-return]


# --- a post -------------------------------------------------------------------------


def post_detail(conn: Conn, post_id: int) -> dict[str, Any] | None:
    """The post, its versions (each with the word diff from the previous version of the
    same source), its observation timeline as runs, and its events; None if no such post."""
    post = conn.execute(
        "SELECT p.id, p.platform, p.post_key, p.url, p.author, p.published_at, p.first_seen,"
        " p.state, p.state_since, p.gone_cause, p.target_id, t.key AS target_key,"
        " t.value AS target, t.group_name AS \"group\""
        " FROM posts p JOIN targets t ON t.id = p.target_id WHERE p.id = %s",
        (post_id,)).fetchone()
    if post is None:
        return None
    events = conn.execute(
        _EVENT_SELECT + sql.SQL("WHERE e.post_id = %s ORDER BY e.detected_at, e.id"),
        (post_id,)).fetchall()
    return {
        "post": post,
        "versions": versions_with_diffs(q.post_versions(conn, post_id)),
        "timeline": timeline_runs(q.post_observations(conn, post_id), events),
        "events": events,
    }


def versions_with_diffs(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Versions oldest first, numbered, each diffed with the previous one of its own
    source, as ``takedown history`` shows them (two sources never diff together)."""
    previous: dict[str, diff.Normalised] = {}
    out = []
    for n, v in enumerate(versions, 1):
        current = diff.Normalised.from_json(v["content"])
        before = previous.get(current.source)
        change = diff.compare(before, current) if before is not None else None
        out.append({
            "id": v["id"], "number": n, "first_seen": v["first_seen"],
            "content_hash": v["content_hash"], "source": current.source,
            "title": current.title, "text": current.text, "media": list(current.media),
            "links": list(current.links), "warning": current.warning,
            "diff": change.to_json() if change else None,
            "diff_text": change.render(context=None) if change else None,
        })
        previous[current.source] = current
    return out


def timeline_runs(observations: list[dict[str, Any]], events: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """Observations merged into runs of one state, oldest first: ``visible`` (served),
    ``missing`` (not served), ``gone`` (a missing run in which a disappearance was
    confirmed, at ``confirmed_at``) and ``failed`` (the check itself failed: nothing
    learnt about the post). Each run: ``from``, ``to``, ``count`` (checks), and the last
    check's ``http_status`` and ``message`` (the platform's words)."""
    absent = {str(o) for o in ABSENT}
    runs: list[dict[str, Any]] = []
    for o in sorted(observations, key=lambda o: (o["first_at"], o["id"])):
        state = ("visible" if o["outcome"] == "ok" else
                 "missing" if o["outcome"] in absent else "failed")
        last = runs[-1] if runs else None
        if last is not None and last["state"] == state:
            last["to"] = max(last["to"], o["last_at"])
            last["count"] += o["repeats"]
            last["http_status"], last["message"] = o["http_status"], o["message"]
            last["outcomes"] = sorted({*last["outcomes"], o["outcome"]})
            continue
        runs.append({"state": state, "from": o["first_at"], "to": o["last_at"],
                     "count": o["repeats"], "http_status": o["http_status"],
                     "message": o["message"], "outcomes": [o["outcome"]],
                     "confirmed_at": None})
    confirmations = sorted(e["detected_at"] for e in events if e["kind"] == "disappeared")
    for run in runs:
        if run["state"] != "missing":
            continue
        inside = [at for at in confirmations if run["from"] <= at <= run["to"]]
        if inside:
            run["state"], run["confirmed_at"] = "gone", inside[0]
    return runs


# --- targets, accounts, the collectors ----------------------------------------------

_TARGETS_SQL = """
    SELECT t.id, t.key, t.group_name AS "group", t.platform, t.kind, t.value, t.active,
           t.single_post, t.last_ok_at, t.last_checked_at, t.last_outcome, t.error_streak,
           t.last_error, t.account_state,
           CASE WHEN t.single_post THEN (SELECT min(next_check) FROM posts
                                         WHERE target_id = t.id)
                ELSE t.next_due END AS next_due,
           count(p.id) AS posts,
           count(p.id) FILTER (WHERE p.state = 'visible') AS visible,
           count(p.id) FILTER (WHERE p.state = 'suspect') AS suspect,
           count(p.id) FILTER (WHERE p.state = 'gone') AS gone,
           count(p.id) FILTER (WHERE p.state = 'hidden') AS hidden,
           max(p.known ->> %(attention)s) AS attention
    FROM targets t LEFT JOIN posts p ON p.target_id = t.id
    WHERE (%(id)s::bigint IS NULL OR t.id = %(id)s)
      AND (%(groups)s::text[] IS NULL OR t.group_name = ANY(%(groups)s))
      AND (%(platforms)s::text[] IS NULL OR t.platform = ANY(%(platforms)s))
    GROUP BY t.id ORDER BY t.active DESC, t.group_name, t.key
"""


def _health(row: dict[str, Any]) -> dict[str, Any]:
    state = query.target_state(row)
    advice = query.ADVICE.get(row["last_outcome"] or "") if state == "failing" else None
    return {**row, "state": state, "attention_note": query.attention_note(row),
            "advice": advice.replace("KEY", row["key"]) if advice else None}


def targets(conn: Conn, *, groups: list[str] | None = None,
            platforms: list[str] | None = None) -> list[dict[str, Any]]:
    """Every target (active first) with its health: ``state`` (as ``takedown status``),
    posts by state, the attention note and, when failing, what to do."""
    from ..tokens import ATTENTION

    rows = conn.execute(_TARGETS_SQL, {"attention": ATTENTION, "id": None,
                                       "groups": groups, "platforms": platforms}).fetchall()
    return [_health(r) for r in rows]


def target_detail(conn: Conn, target_id: int, *, posts: int = 50, events: int = 50
                  ) -> dict[str, Any] | None:
    """A target's health, its most recent posts and events; None if no such target."""
    from ..tokens import ATTENTION

    row = conn.execute(_TARGETS_SQL, {"attention": ATTENTION, "id": target_id,
                                      "groups": None, "platforms": None}).fetchone()
    if row is None:
        return None
    recent = conn.execute(
        "SELECT id, post_key, author, state, state_since, url, first_seen FROM posts"
        " WHERE target_id = %s ORDER BY first_seen DESC, id DESC LIMIT %s",
        (target_id, posts)).fetchall()
    latest, _ = search_events(conn, EventQuery(target_ids=[target_id], limit=events))
    return {"target": _health(row), "posts": recent, "events": latest}


def accounts(conn: Conn, *, platforms: list[str] | None = None,
             groups: list[str] | None = None, author: str | None = None,
             min_posts: int = 1, limit: int = 100) -> list[dict[str, Any]]:
    """Per author handle within a platform: posts seen, posts that disappeared or were
    hidden (at least once), the deletion rate (disappeared / seen) and the last event;
    most deletions first."""
    return conn.execute(
        """
        SELECT p.platform, p.author, count(*) AS posts,
               count(*) FILTER (WHERE pe.disappeared) AS disappeared,
               count(*) FILTER (WHERE pe.hidden) AS hidden,
               round(count(*) FILTER (WHERE pe.disappeared)::numeric / count(*), 4)::float8
                   AS deletion_rate,
               max(pe.last_event) AS last_event
        FROM posts p JOIN targets t ON t.id = p.target_id
        LEFT JOIN LATERAL (
            SELECT bool_or(e.kind = 'disappeared') AS disappeared,
                   bool_or(e.kind = 'hidden') AS hidden, max(e.detected_at) AS last_event
            FROM events e WHERE e.post_id = p.id) pe ON true
        WHERE p.author IS NOT NULL
          AND (%(platforms)s::text[] IS NULL OR p.platform = ANY(%(platforms)s))
          AND (%(groups)s::text[] IS NULL OR t.group_name = ANY(%(groups)s))
          AND (%(author)s::text IS NULL OR p.author = %(author)s)
        GROUP BY p.platform, p.author
        HAVING count(*) >= %(min_posts)s
        ORDER BY disappeared DESC, deletion_rate DESC, p.platform, p.author
        LIMIT %(limit)s
        """,
        {"platforms": platforms, "groups": groups, "author": author,
         "min_posts": min_posts, "limit": limit}).fetchall()


def collector_status(conn: Conn) -> dict[str, Any]:
    """The collectors at a glance: targets by state, the failing ones worst first with
    since when they fail (the first failed check after the last success), and the
    backlog of overdue checks."""
    rows = q.status(conn)
    failing = q.failing_targets(conn)
    since = {r["key"]: r["since"] for r in conn.execute(
        """
        SELECT t.key, CASE WHEN t.single_post THEN
            (SELECT min(o.first_at) FROM posts p JOIN observations o ON o.post_id = p.id
             WHERE p.target_id = t.id AND o.mode = 'probe' AND o.outcome <> 'ok'
               AND o.last_at > COALESCE(t.last_ok_at, '-infinity'))
          ELSE
            (SELECT min(o.first_at) FROM observations o
             WHERE o.target_id = t.id AND o.post_id IS NULL AND o.outcome <> 'ok'
               AND o.last_at > COALESCE(t.last_ok_at, '-infinity'))
          END AS since
        FROM targets t WHERE t.active AND t.error_streak > 0
        """).fetchall()}
    counts: dict[str, int] = {}
    for r in rows:
        counts[query.target_state(r)] = counts.get(query.target_state(r), 0) + 1
    return {
        "targets": len(rows),
        "by_state": counts,
        "overdue": q.overdue(conn),
        "failing": [{**r, "group": r["group_name"], "failing_since": since.get(r["key"]),
                     "advice": query.ADVICE.get(r["last_outcome"] or "", "see `takedown "
                                                "status`").replace("KEY", r["key"])}
                    for r in failing],
        "attention": [{"key": r["key"], "group": r["group_name"], "platform": r["platform"],
                       "note": query.attention_note(r)}
                      for r in rows if r["active"] and r.get("attention")],
    }
