"""``/api/v1/targets``, ``/api/v1/accounts`` and ``/api/v1/status``: what is watched, how
healthy it is, and which accounts lose posts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ..db import analyst
from .auth import Principal, require
from .deps import (
    AUTHENTICATED,
    ERRORS,
    NOT_FOUND,
    SafeJSONResponse,
    event_record,
    platforms,
    text,
    texts,
    transaction,
)
from .models import AccountList, CollectorStatus, TargetDetail, TargetList

router = APIRouter(prefix="/api/v1", responses=ERRORS,
                   dependencies=AUTHENTICATED, default_response_class=SafeJSONResponse)

Viewer = Annotated[Principal, Depends(require("viewer"))]
Platforms = Annotated[list[str] | None, Query(
    max_length=50, description="Repeatable: any of these platforms.")]
Groups = Annotated[list[str] | None, Query(
    max_length=50, description="Repeatable: any of these watchlist groups.")]


@router.get("/targets", response_model=TargetList, tags=["targets"],
            summary="Every target with its health, active ones first")
def list_targets(request: Request, _: Viewer, platform: Platforms = None,
                 group: Groups = None) -> dict[str, Any]:
    chosen = platforms(platform)
    with transaction(request) as conn:
        return {"targets": analyst.targets(conn, groups=texts("group", group),
                                           platforms=chosen)}


@router.get("/targets/{target_id}", response_model=TargetDetail, tags=["targets"],
            summary="A target: health, recent posts, recent events", responses=NOT_FOUND)
def get_target(request: Request, _: Viewer, target_id: int) -> dict[str, Any]:
    with transaction(request) as conn:
        detail = analyst.target_detail(conn, target_id) if 0 < target_id < 2**63 else None
    if detail is None:
        raise HTTPException(404, f"no target has the id {target_id}; GET /api/v1/targets "
                                 "lists them")
    detail["events"] = [event_record(e) for e in detail["events"]]
    return detail


@router.get("/accounts", response_model=AccountList, tags=["accounts"],
            summary="Deletion rates per author, most deletions first")
def list_accounts(
    request: Request, _: Viewer, platform: Platforms = None, group: Groups = None,
    author: Annotated[str | None, Query(max_length=500,
                                        description="Only this handle.")] = None,
    min_posts: Annotated[int, Query(ge=1, le=1_000_000,
                                    description="Only authors with this many posts.")] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    chosen = platforms(platform)
    with transaction(request) as conn:
        rows = analyst.accounts(conn, platforms=chosen, groups=texts("group", group),
                                author=text("author", author), min_posts=min_posts,
                                limit=limit)
    return {"accounts": rows}


@router.get("/status", response_model=CollectorStatus, tags=["status"],
            summary="The collectors: what is failing, since when, what needs attention")
def collector_status(request: Request, _: Viewer) -> dict[str, Any]:
    from ..db import collector as collector_store

    with transaction(request) as conn:
        return {**analyst.collector_status(conn), "paused": collector_store.paused(conn)}
