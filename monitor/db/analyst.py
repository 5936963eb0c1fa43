"""SQL for the analyst side (the JSON API and the web pages call these same functions).

- :func:`search_events`: every filter of ``takedown events`` plus full-text search,
  newest first, in cursor pages.
- :func:`post_detail`: a post, its versions with word diffs, its observations
  summarised into runs, its events.
- :func:`targets`, :func:`target_detail`: targets and their health.
- :func:`accounts`: per author within a platform, how many posts disappeared.
- :func:`collector_status`: what is failing, and since when.

Full-text search matches every version's title and text and the platform's words
(``evidence.observed.message``), through the documents migration 013 stores
(``versions.search_doc``, ``events.words_doc``, GIN-indexed). Each CJK character is its
own lexeme, so a Chinese query is a phrase of characters and ``审查`` finds
``关于审查的讨论`` without a word segmenter. Whitespace-separated terms must all match
(AND); no stemming (the ``simple`` configuration), the same in every locale.

How a search page is found (measured at 1,000,000 events, ``bench/README.md``): a
frequent term (a few % of posts) fills a page within the newest few thousand events,
so the newest :data:`SEARCH_WINDOW` events of the filters are probed one by one, in
index order, until a page is full. When they hold too few matches, the rate seen so
far says how far back the page ends: up to :data:`MAX_WALK` more events are probed,
else the rest is collected from the GIN indexes and sorted (cheap, as the term is
rare). The planner is not left to choose: its estimate of a phrase (characters taken
as independent) or of a word absent from the platform's words is off by 10-100x, and
a wrong LIMIT walk reads every event.
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

#: A search first tests the newest this many events of the page's filters, one by one.
SEARCH_WINDOW = 4000
#: ... and probes at most this many more before it collects matches from the GIN indexes.
MAX_WALK = 12000

# A match: any version of the post, or the platform's words. OFFSET 0 keeps the EXISTS
# a per-row probe (else the planner may hash every matching version first).
_MATCH = """(w.words_doc @@ {tsq} OR EXISTS (
    SELECT 1 FROM versions vs WHERE vs.post_id = w.post_id AND vs.search_doc @@ {tsq}
    OFFSET 0))"""
# The events of the filters newest first, in index order (OFFSET 0 keeps the order
# the outer query reads; its LIMIT stops the probes as soon as a page is full).
_WINDOW = """SELECT e.id, e.post_id, e.detected_at, e.words_doc FROM events e{joins}
    {where} ORDER BY e.detected_at DESC, e.id DESC {cap}"""
# Every match older than the window, collected from the GIN indexes. MATERIALIZED:
# planned for its total cost (no early stop is possible), never as a LIMIT walk.
_COLLECT = """WITH text_posts AS MATERIALIZED (
        SELECT DISTINCT vs.post_id FROM versions vs WHERE vs.search_doc @@ {tsq}),
    hits AS MATERIALIZED (
        SELECT e.id, e.detected_at FROM events e{joins}
        WHERE {filters} e.post_id IN (SELECT post_id FROM text_posts)
        UNION
        SELECT e.id, e.detected_at FROM events e{joins} WHERE {filters} e.words_doc @@ {tsq})
    SELECT id FROM hits ORDER BY detected_at DESC, id DESC LIMIT %(limit)s"""


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
    if f.q is None or text_query(f.q) is None:
        built = search_statement(f)
        rows = conn.execute(*built).fetchall() if built else []
    else:
        rows = _search_text(conn, f)
    if len(rows) <= f.limit:
        return rows, None
    rows = rows[: f.limit]
    return rows, encode_cursor(rows[-1]["detected_at"], rows[-1]["id"])


def _search_text(conn: Conn, f: EventQuery) -> list[dict[str, Any]]:
    """A page of a text search: walk windows of the newest events while the matches
    seen so far say a page is near, else collect the rest from the GIN indexes."""
    rows: list[dict[str, Any]] = []
    before: Key | None = None
    size = SEARCH_WINDOW
    for _ in range(3):
        need = f.limit + 1 - len(rows)
        found = conn.execute(*_window_edge(f, before, size)).fetchone()
        if found is None:  # no event older than `before` passes the filters
            return rows
        edge = (found["detected_at"], found["id"]) if found["n"] >= size else None
        built = search_statement(f, window=edge, before=before, limit=need)
        hits = conn.execute(*built).fetchall() if built else []
        rows += hits
        if len(rows) > f.limit or edge is None:
            return rows
        # Matches per event so far predict how far back the page ends; past
        # MAX_WALK events, probing one by one costs more than collecting.
        walk = (need - len(hits)) * found["n"] // len(hits) * 2 if hits else MAX_WALK + 1
        if walk > MAX_WALK:
            break
        before, size = edge, max(walk, SEARCH_WINDOW)
    rest = search_statement(f, before=edge, limit=f.limit + 1 - len(rows), collect=True)
    return rows + (conn.execute(*rest).fetchall() if rest else [])


Key = tuple[datetime, int]


def search_statement(f: EventQuery, *, window: Key | None = None, before: Key | None = None,
                     limit: int | None = None, collect: bool = False
                     ) -> tuple[sql.Composed, dict[str, Any]] | None:
    """A statement :func:`search_events` runs and its parameters (None when ``q`` has no
    term): the page (one row more, to know whether another follows); with ``q``, the
    ``limit`` newest matches older than ``before`` (else the cursor), probed one by one
    down to the key ``window`` (no bound when None) or, with ``collect``, gathered from
    the GIN indexes."""
    if not 1 <= f.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    where, params = _filters(f, before)
    params["limit"] = limit or f.limit + 1
    page = sql.SQL(" ORDER BY e.detected_at DESC, e.id DESC LIMIT %(limit)s")
    if f.q is None:
        return _EVENT_SELECT + _where(where) + page, params
    tsq = text_query(f.q)
    if tsq is None:
        return None
    if not collect:
        if window is not None:
            where.append(sql.SQL("(e.detected_at, e.id) >= (%(w_at)s, %(w_id)s)"))
            params["w_at"], params["w_id"] = window
        hits = sql.SQL("SELECT w.id FROM ({}) w WHERE {} ORDER BY w.detected_at DESC, "
                       "w.id DESC LIMIT %(limit)s").format(
            sql.SQL(_WINDOW).format(joins=_joins(f), where=_where(where),
                                    cap=sql.SQL("OFFSET 0")),
            sql.SQL(_MATCH).format(tsq=tsq))
    else:
        hits = sql.SQL(_COLLECT).format(
            tsq=tsq, joins=_joins(f),
            filters=sql.Composed([c + sql.SQL(" AND ") for c in where]))
    return _EVENT_SELECT + sql.SQL("WHERE e.id IN ({})").format(hits) + page, params


def _window_edge(f: EventQuery, before: Key | None, size: int
                 ) -> tuple[sql.Composed, dict[str, Any]]:
    """The oldest key of a search's window (``size`` events older than ``before``, else
    the cursor), and how many events it holds."""
    where, params = _filters(f, before)
    params["window"] = size
    return sql.SQL("SELECT w.detected_at, w.id, count(*) OVER () AS n FROM ({}) w "
                   "ORDER BY w.detected_at, w.id LIMIT 1").format(
        sql.SQL(_WINDOW).format(joins=_joins(f), where=_where(where),
                                cap=sql.SQL("LIMIT %(window)s"))), params


def _where(where: list[sql.Composable]) -> sql.Composable:
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")

def _joins(f: EventQuery) -> sql.Composable:
    """The tables a search's own filters need besides events."""
    return sql.Composed(
        ([sql.SQL(" JOIN targets t ON t.id = e.target_id")] if f.targets else [])
        + ([sql.SQL(" JOIN posts p ON p.id = e.post_id")] if f.authors else []))


def _filters(f: EventQuery, before: tuple[datetime, int] | None = None
             ) -> tuple[list[sql.Composable], dict[str, Any]]:
    """The page's conditions on ``e`` (events), ``t`` (targets), ``p`` (posts);
    ``before`` replaces the cursor's key (it is older)."""
    where: list[sql.Composable] = []
    params: dict[str, Any] = {}

    def one_of(columns: tuple[str, ...], name: str, values: list[Any] | None) -> None:
        if not values:
            return
        # One value is compared with `=`: PostgreSQL 15 cannot read a
        # (column, detected_at, id) index in order for `column = ANY(array)`, and would
        # sort all of a group's events to keep a page of them.
        single = len(values) == 1
        test = sql.SQL("{} = %({})s" if single else "{} = ANY(%({})s)")
        where.append(sql.SQL("({})").format(sql.SQL(" OR ").join(
            test.format(sql.SQL(c), sql.SQL(name)) for c in columns)))
        params[name] = values[0] if single else values

    if f.since:
        where.append(sql.SQL("e.detected_at >= %(since)s"))
        params["since"] = f.since
    if f.until:
        where.append(sql.SQL("e.detected_at < %(until)s"))
        params["until"] = f.until
    one_of(("e.platform",), "platforms", f.platforms)
    one_of(("e.group_name",), "groups", f.groups)
    one_of(("t.key", "t.value"), "targets", f.targets)
    one_of(("e.target_id",), "target_ids", f.target_ids)
    one_of(("p.author",), "authors", f.authors)
    one_of(("e.kind",), "kinds", f.kinds)
    one_of(("e.cause", "e.cause_detail"), "causes", f.causes)
    if f.cursor or before:
        at, event_id = before or decode_cursor(f.cursor or "")
        where.append(sql.SQL("(e.detected_at, e.id) < (%(c_at)s, %(c_id)s)"))
        params["c_at"], params["c_id"] = at, event_id
    return where, params


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
