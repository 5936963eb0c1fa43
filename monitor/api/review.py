"""The review queue over HTTP: events of reviewed groups wait here until a reviewer
approves them (published), rejects them (with a reason) or annotates them.

Also mounts :mod:`monitor.api.auth`'s routes (login, logout, tokens, audit log),
so that the access part needs no second entry in ``ROUTER_MODULES``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..db import access as store
from .auth import ApiError, Principal, require, safe_next
from .auth import router as auth_router

EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]

router = APIRouter()
router.include_router(auth_router)

#: The text field each decision reads, and whether it must be given.
_FIELDS = {"approved": ("note", False), "rejected": ("reason", True), "note": ("text", True)}


def _body_doc(field: str, required: bool) -> dict[str, Any]:
    schema = {"type": "object", "properties": {
        field: {"type": "string", "maxLength": 10000},
        "next": {"type": "string", "description": "form posts: where to go afterwards"}},
        "required": [field] if required else []}
    return {"requestBody": {"required": required, "content": {
        "application/json": {"schema": schema},
        "application/x-www-form-urlencoded": {"schema": schema}}}}


def _in_transaction(request: Request, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    with request.app.state.db.transaction() as conn:
        return fn(conn, *args, **kw)


def _cursor(text: str | None) -> tuple[datetime, int] | None:
    if not text:
        return None
    at, _, ident = text.rpartition("_")
    try:
        return datetime.fromisoformat(at), int(ident)
    except ValueError:
        raise ApiError(400, "bad cursor: pass the 'next' value of the previous page as it "
                            "came") from None


@router.get("/api/v1/review", tags=["review"],
            summary="Events awaiting review, oldest first")
async def queue(request: Request, _: Annotated[Principal, Depends(require("viewer"))],
                limit: Annotated[int, Query(ge=1, le=200)] = 50,
                cursor: Annotated[str | None, Query(max_length=100)] = None) -> dict[str, Any]:
    after = _cursor(cursor)
    rows = await run_in_threadpool(_in_transaction, request, store.pending, limit=limit,
                                   after=after)
    last = rows[-1] if len(rows) == limit else None
    return {"events": rows,
            "next": f"{last['detected_at'].isoformat()}_{last['id']}" if last else None}


@router.get("/api/v1/review/{event_id}", tags=["review"],
            summary="An event's review state and its history of decisions")
async def state(request: Request, event_id: EventId,
                _: Annotated[Principal, Depends(require("viewer"))]) -> dict[str, Any]:
    try:
        return await run_in_threadpool(_in_transaction, request, store.decisions,  # type: ignore[no-any-return]
                                       event_id)
    except store.UnknownEvent as exc:
        raise ApiError(404, str(exc)) from None


async def _text(request: Request, field: str) -> tuple[str | None, str | None]:
    """The decision's text and, for form posts, where to go next."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value, nxt = form.get(field), form.get("next")
        return (value if isinstance(value, str) else None,
                nxt if isinstance(nxt, str) else None)
    raw = await request.body()
    if not raw.strip():
        return None, None
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, f"send JSON like {{\"{field}\": \"...\"}} or a form") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"send a JSON object like {{\"{field}\": \"...\"}}")
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{field} must be a string")
    return value, None


async def _decide(request: Request, principal: Principal, event_id: int,
                  decision: str) -> Response:
    field, required = _FIELDS[decision]
    text, nxt = await _text(request, field)
    if required and not (text or "").strip():
        raise ApiError(400, f"give a {field}: it is required and cannot be empty")
    try:
        row = await run_in_threadpool(_in_transaction, request, store.decide, principal,
                                      event_id, decision, text)
    except store.UnknownEvent as exc:
        raise ApiError(404, str(exc)) from None
    except store.AccessError as exc:
        raise ApiError(400, str(exc)) from None
    if nxt is not None:
        return RedirectResponse(safe_next(nxt), status_code=303)
    return JSONResponse({"id": row["id"], "event_id": row["event_id"],
                         "decision": row["decision"], "text": row["text"],
                         "at": row["at"].isoformat(), "actor": row["actor"],
                         "deliveries_released": row["deliveries"]})


@router.post("/api/v1/review/{event_id}/approve", tags=["review"],
             summary="Approve an event for publication", openapi_extra=_body_doc("note", False))
async def approve(request: Request, event_id: EventId,
                  who: Annotated[Principal, Depends(require("reviewer"))]) -> Response:
    return await _decide(request, who, event_id, "approved")


@router.post("/api/v1/review/{event_id}/reject", tags=["review"],
             summary="Reject an event (a reason is required)",
             openapi_extra=_body_doc("reason", True))
async def reject(request: Request, event_id: EventId,
                 who: Annotated[Principal, Depends(require("reviewer"))]) -> Response:
    return await _decide(request, who, event_id, "rejected")


@router.post("/api/v1/review/{event_id}/note", tags=["review"],
             summary="Add a note to an event", openapi_extra=_body_doc("text", True))
async def note(request: Request, event_id: EventId,
               who: Annotated[Principal, Depends(require("reviewer"))]) -> Response:
    return await _decide(request, who, event_id, "note")
