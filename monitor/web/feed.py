"""The event feed (``/``): filters, cursor pages ("older"), live updates.

Filters are the query string, so a filtered feed is a link people can share, and
the page works without JavaScript; ``static/app.js`` polls the JSON API with the
same filters and prepends new rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ..api.auth import Principal, require
from ..db import analyst
from ..db import queries as store
from ..events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from ..platforms import PLATFORMS
from ..settings import parse_duration
from .common import context, read
from .render import page, query_string

router = APIRouter()

#: Rows per page of the feed.
PAGE_SIZE = 50
#: The filters the feed reads from its query string, in the order links write them.
FILTERS = ("q", "platform", "group", "kind", "cause", "since", "until")
#: Longest value of any filter: longer input is refused, never cut silently.
MAX_FILTER = 500


class FilterError(ValueError):
    """A filter value the feed cannot use; the message says what to write instead."""


@dataclass
class Feed:
    """The feed's filters as typed, and as the query its store function takes."""

    values: dict[str, str] = field(default_factory=dict)
    query: analyst.EventQuery = field(default_factory=analyst.EventQuery)


def parse_time(value: str, now: datetime, name: str) -> datetime:
    """``7d``/``90m`` ago, or an ISO date or time (UTC unless it says otherwise)."""
    text = value.strip()
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{name}: write a time like 2026-11-01, 2026-11-01T12:00 or a "
                          "duration ago like 7d or 90m") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_filters(params: dict[str, str], now: datetime, platforms: list[str]) -> Feed:
    """The feed's filters from the query string; :class:`FilterError` on a bad value."""
    values = {k: params[k].strip() for k in FILTERS if params.get(k, "").strip()}
    for name, value in values.items():
        if len(value) > MAX_FILTER:
            raise FilterError(f"{name}: keep it under {MAX_FILTER} characters")
    f = analyst.EventQuery(limit=PAGE_SIZE)
    if "platform" in values:
        if values["platform"] not in platforms:
            raise FilterError("platform: pick one of the list")
        f.platforms = [values["platform"]]
    if "kind" in values:
        if values["kind"] not in EVENT_KINDS:
            raise FilterError("kind: pick one of " + ", ".join(EVENT_KINDS))
        f.kinds = [values["kind"]]
    if "cause" in values:
        if values["cause"] not in CAUSES and values["cause"] not in REMOVAL_DETAILS:
            raise FilterError("cause: pick one of the list")
        f.causes = [values["cause"]]
    if "group" in values:
        f.groups = [values["group"]]
    if "q" in values:
        f.q = values["q"]
    if "since" in values:
        f.since = parse_time(values["since"], now, "From")
    if "until" in values:
        f.until = parse_time(values["until"], now, "Until")
    return Feed(values, f)


def live_url(values: dict[str, str]) -> str:
    """The JSON API request behind the live updates: the same filters, newest first."""
    return "/api/v1/events" + query_string(values, limit=PAGE_SIZE)


def _groups(conn: Any) -> list[str]:
    return sorted({r["group_name"] for r in store.target_names(conn)})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def feed(request: Request, principal: Annotated[Principal, Depends(require("viewer"))],
         cursor: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    platforms = sorted(PLATFORMS)
    params = dict(request.query_params)
    problem = None
    try:
        parsed = parse_filters(params, request.app.state.clock.now(), platforms)
        parsed.query.cursor = cursor or None
        rows, next_cursor = read(request, analyst.search_events, parsed.query)
    except (FilterError, analyst.InvalidCursor) as exc:
        problem, rows, next_cursor = str(exc), [], None
        parsed = Feed({k: params[k][:MAX_FILTER] for k in FILTERS if params.get(k)})
    values = parsed.values
    return page(request, "feed.html", context(
        principal, "feed", events=rows, filters=values, cursor=cursor,
        next_cursor=next_cursor, problem=problem, platforms=platforms,
        groups=read(request, _groups), kinds=list(EVENT_KINDS),
        causes=[*CAUSES, *REMOVAL_DETAILS],
        live_url=None if cursor or problem else live_url(values),
        newest=max((r["id"] for r in rows), default=0)),
        status_code=400 if problem else 200)
