"""The public read-only view (``PUBLIC_VIEW``): published events only, no token.

Published means: the event's group needs no review, or a reviewer approved it
(:func:`monitor.db.access.published_clause`). Each row carries only what the public
may see: no target ids or keys, no raw evidence beyond the platform's status,
words, body hash and time. With ``PUBLIC_PSEUDONYMS`` (the default) authors are
pseudonyms and the post's URL, which usually names the author, is left out; the
post's text and title are shown as the platform served them and may still name
people.

:func:`public_rows` is what the ``/public/`` pages render too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from ..access import pseudonym
from ..db import access as store
from .auth import ApiError

router = APIRouter()

#: The longest text a public row carries; the rest is cut (a post can be megabytes).
TEXT_LIMIT = 20_000


def public_rows(conn: Any, settings: Any, *, limit: int = 50, before: int | None = None,
                platform: str | None = None, group: str | None = None,
                kind: str | None = None) -> list[dict[str, Any]]:
    """Published events, newest first, shaped for the public (pseudonyms applied)."""
    rows = store.public_events(conn, limit=limit, before=before, platform=platform,
                               group=group, kind=kind)
    hide = bool(settings["PUBLIC_PSEUDONYMS"])
    key = store.pseudonym_secret(conn, settings) if hide and rows else b""
    out = []
    for r in rows:
        author = r["author"]
        if hide and author:
            author = pseudonym(key, author)
        status = r["observed_status"]
        out.append({
            "id": r["id"], "kind": r["kind"], "cause": r["cause"], "platform": r["platform"],
            "group": r["group_name"], "detected_at": r["detected_at"],
            "last_seen_visible": r["last_seen_visible"],
            "first_seen_gone": r["first_seen_gone"], "published_at": r["published_at"],
            "author": author, "url": None if hide else r["url"],
            "title": (r["title"] or None) and r["title"][:1000],
            "text": (r["text"] or None) and r["text"][:TEXT_LIMIT],
            "evidence": {"at": r["observed_at"], "outcome": r["observed_outcome"],
                         "http_status": int(status) if status and status.isdecimal() else None,
                         "words": r["observed_words"], "body_hash": r["observed_hash"]},
        })
    return out


def _read(request: Request, **filters: Any) -> list[dict[str, Any]]:
    with request.app.state.db.transaction() as conn:
        return public_rows(conn, request.app.state.settings, **filters)


@router.get("/api/v1/public/events", tags=["public"],
            summary="Published events (no token; only when PUBLIC_VIEW is on)")
async def public_events(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1,
                                            description="the 'next' of the previous page")
                          ] = None,
        platform: Annotated[str | None, Query(max_length=100)] = None,
        group: Annotated[str | None, Query(max_length=200)] = None,
        kind: Annotated[str | None, Query(max_length=50)] = None) -> dict[str, Any]:
    if not request.app.state.settings["PUBLIC_VIEW"]:
        raise ApiError(404, "the public view is off (the operator enables it with the "
                            "PUBLIC_VIEW setting)")
    for name, value in (("platform", platform), ("group", group), ("kind", kind)):
        if value is not None and "\x00" in value:
            raise ApiError(400, f"{name} cannot contain a NUL character")
    rows = await run_in_threadpool(_read, request, limit=limit, before=before,
                                   platform=platform, group=group, kind=kind)
    return {"events": rows, "next": rows[-1]["id"] if len(rows) == limit else None}
