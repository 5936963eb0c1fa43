"""Pages for running the monitor: the collectors' status and the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ..access import has_role
from ..api.auth import Principal, csrf_token, require
from ..db import access, analyst, collector
from .common import context, error_page, read
from .render import page

router = APIRouter()

#: Events per page of the review queue.
QUEUE_PAGE = 50


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request,
                principal: Annotated[Principal, Depends(require("viewer"))]) -> HTMLResponse:
    def load(conn: analyst.Conn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        status = {**analyst.collector_status(conn), "paused": collector.paused(conn)}
        return status, analyst.targets(conn)

    status, targets = read(request, load)
    ids = {t["key"]: t["id"] for t in targets}
    return page(request, "status.html", context(principal, "status", status=status,
                                                targets=targets, ids=ids))


def _after(text: str | None) -> tuple[datetime, int] | None:
    """The queue position ``iso-time_id`` of a "later events" link."""
    if not text:
        return None
    at, _, ident = text.rpartition("_")
    try:
        when = datetime.fromisoformat(at)
        return (when, int(ident)) if when.tzinfo else None
    except ValueError:
        return None


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(request: Request,
                principal: Annotated[Principal, Depends(require("viewer"))],
                after: Annotated[str | None, Query(max_length=100)] = None) -> HTMLResponse:
    position = _after(after)
    if after and position is None:
        return error_page(request, 400, "Bad queue position",
                          "Follow the queue's own links, or open the queue from its start.",
                          principal=principal)
    rows = read(request, access.pending, limit=QUEUE_PAGE, after=position)
    last = rows[-1] if len(rows) == QUEUE_PAGE else None
    return page(request, "review.html", context(
        principal, "review", events=rows, csrf=csrf_token(request),
        can_decide=has_role(principal.role, "reviewer"),
        next_page=f"{last['detected_at'].isoformat()}_{last['id']}" if last else None))
