"""``/api/v1/events``: events with every filter of ``takedown events``, full-text search
and cursor pages; one event by id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ..db import analyst
from ..events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from .auth import Principal, require
from .deps import (
    AUTHENTICATED,
    ERRORS,
    NOT_FOUND,
    SafeJSONResponse,
    bad_request,
    causes,
    event_record,
    kinds,
    platforms,
    text,
    texts,
    transaction,
    when,
)
from .models import ErrorResponse, Event, EventPage

router = APIRouter(prefix="/api/v1", tags=["events"],
                   responses=ERRORS,
                   dependencies=AUTHENTICATED, default_response_class=SafeJSONResponse)

Viewer = Annotated[Principal, Depends(require("viewer"))]


@router.get("/events", response_model=EventPage, summary="Events, newest first",
            responses={400: {"model": ErrorResponse,
                             "description": "The cursor is malformed."}})
def list_events(
    request: Request,
    _: Viewer,
    since: Annotated[str | None, Query(
        max_length=64, description="From this ISO date/time, or a duration ago (24h, 7d).")
    ] = None,
    until: Annotated[str | None, Query(
        max_length=64, description="Before this ISO date/time, or a duration ago.")] = None,
    platform: Annotated[list[str] | None, Query(
        max_length=50, description="Repeatable: any of these platforms.")] = None,
    group: Annotated[list[str] | None, Query(
        max_length=50, description="Repeatable: any of these watchlist groups.")] = None,
    target: Annotated[list[str] | None, Query(
        max_length=50, description="Repeatable: a target key or value, as `takedown "
        "status` prints it.")] = None,
    kind: Annotated[list[str] | None, Query(
        max_length=10, description="Repeatable: " + ", ".join(EVENT_KINDS) + ".")] = None,
    cause: Annotated[list[str] | None, Query(
        max_length=20, description="Repeatable: " + ", ".join(CAUSES) + ", or a detail: "
        + ", ".join(REMOVAL_DETAILS) + ".")] = None,
    q: Annotated[str | None, Query(
        max_length=500, description="Full text over every version's title and text and "
        "the platform's words; every whitespace-separated term must match, Chinese and "
        "Japanese by character sequence (审查 finds 关于审查的讨论).")] = None,
    cursor: Annotated[str | None, Query(
        max_length=200, description="The previous page's next_cursor.")] = None,
    limit: Annotated[int, Query(ge=1, le=analyst.MAX_LIMIT)] = analyst.DEFAULT_LIMIT,
) -> dict[str, Any]:
    f = analyst.EventQuery(
        since=when(request, "since", since), until=when(request, "until", until),
        platforms=platforms(platform), groups=texts("group", group),
        targets=texts("target", target), kinds=kinds(kind), causes=causes(cause),
        q=text("q", q), cursor=cursor, limit=limit)
    try:
        with transaction(request) as conn:
            rows, next_cursor = analyst.search_events(conn, f)
    except analyst.InvalidCursor as exc:
        raise bad_request(str(exc), 400) from None
    return {"events": [event_record(r) for r in rows], "next_cursor": next_cursor,
            "limit": limit}


@router.get("/events/{event_id}", response_model=Event, summary="One event",
            responses=NOT_FOUND)
def get_event(request: Request, _: Viewer, event_id: int) -> dict[str, Any]:
    with transaction(request) as conn:
        row = analyst.event(conn, event_id) if 0 < event_id < 2**63 else None
    if row is None:
        raise HTTPException(404, f"no event has the id {event_id}; list them with "
                                 "GET /api/v1/events")
    return event_record(row)
