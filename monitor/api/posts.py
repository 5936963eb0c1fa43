"""``/api/v1/posts/{id}``: a post with its versions, word diffs, observation timeline and
events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from ..db import analyst
from .auth import Principal, require
from .deps import AUTHENTICATED, ERRORS, NOT_FOUND, SafeJSONResponse, event_record, transaction
from .models import PostDetail

router = APIRouter(prefix="/api/v1", tags=["posts"],
                   responses=ERRORS,
                   dependencies=AUTHENTICATED, default_response_class=SafeJSONResponse)


@router.get("/posts/{post_id}", response_model=PostDetail, response_model_by_alias=True,
            summary="A post: versions with word diffs, timeline runs, events",
            responses=NOT_FOUND)
def get_post(request: Request, _: Annotated[Principal, Depends(require("viewer"))],
             post_id: int) -> dict[str, Any]:
    with transaction(request) as conn:
        detail = analyst.post_detail(conn, post_id) if 0 < post_id < 2**63 else None
    if detail is None:
        raise HTTPException(404, f"no post has the id {post_id}; events name their post "
                                 "in post_id (GET /api/v1/events)")
    detail["events"] = [event_record(e) for e in detail["events"]]
    return detail
