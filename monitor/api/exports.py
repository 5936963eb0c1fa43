"""Exports over HTTP: streamed tables, the research export and the Atom feeds.

- ``GET /api/v1/exports/{events|posts|versions|availability}.{csv|jsonl|parquet}``
  (viewer), with the filters of ``takedown events``;
- ``GET /api/v1/exports/research.{csv|jsonl|parquet}`` (viewer: it is strictly less
  than the events export a viewer may already take, since it holds only published
  events, under pseudonyms);
- ``GET /api/v1/feeds/events.atom`` (viewer: every event, with handles) and
  ``GET /public/feeds/events.atom`` (no token, only with ``PUBLIC_VIEW``: published
  events, authors pseudonymised when ``PUBLIC_PSEUDONYMS``).

Every export request is written to the audit log before its first byte is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from ..access import Principal
from ..db import access as access_store
from ..db.queries import EventFilter
from ..errors import StorageUnavailable, UnknownPlatform
from ..events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from ..exports import FORMATS, feed_bytes, public_author, research_bytes, table_bytes
from ..exports.atom import DEFAULT_ENTRIES, MAX_ENTRIES, MEDIA_TYPE, events_feed
from ..platforms import get_platform
from .auth import ApiError, require

log = logging.getLogger(__name__)

router = APIRouter()

Format = Literal["csv", "jsonl", "parquet"]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Names = Annotated[list[str] | None, Query(max_length=200)]


def _platform(name: str) -> str:
    try:
        return get_platform(name).name
    except UnknownPlatform as exc:
        raise ApiError(400, str(exc)) from None


def _text(values: list[str] | None) -> list[str] | None:
    """Names as given, refused if PostgreSQL cannot hold them (a NUL character)."""
    for value in values or []:
        if "\x00" in value:
            raise ApiError(400, "a filter value cannot contain a NUL character")
    return values or None


def _known(values: list[str] | None, known: list[str], what: str) -> list[str] | None:
    for value in values or []:
        if value not in known:
            raise ApiError(400, f"unknown {what} {value[:100]!r}; use one of: "
                                f"{', '.join(known)}")
    return values or None


def event_filter(
    since: Annotated[datetime | None, Query(description="Events detected at or after "
                                            "(ISO time with a zone).")] = None,
    until: Annotated[datetime | None, Query(description="Events detected before.")] = None,
    platform: Names = None, group: Names = None,
    target: Annotated[list[str] | None, Query(max_length=2000,
                                              description="Target key or value.")] = None,
    kind: Names = None,
    cause: Annotated[list[str] | None, Query(max_length=200, description=(
        "A cause or a removal detail (legal, policy, …)."))] = None,
    limit: Annotated[int | None, Query(ge=0, le=2**31,
                                       description="At most this many rows.")] = None,
) -> EventFilter:
    """The filters of ``takedown events``, checked: an unknown platform, kind or cause
    is a 400 naming the known values."""
    for when in (since, until):
        if when is not None and when.tzinfo is None:
            raise ApiError(400, "give since/until with a time zone, e.g. 2026-01-31T00:00:00Z")
    platforms = [_platform(p) for p in platform or []]
    return EventFilter(
        since=since, until=until, platforms=platforms or None, groups=_text(group),
        targets=_text(target), kinds=_known(kind, list(EVENT_KINDS), "kind"),
        causes=_known(cause, [*CAUSES, *REMOVAL_DETAILS], "cause"), limit=limit)


Filters = Annotated[EventFilter, Depends(event_filter)]


def _filter_detail(f: EventFilter) -> dict[str, Any]:
    return {"since": f.since.isoformat() if f.since else None,
            "until": f.until.isoformat() if f.until else None,
            "platforms": f.platforms, "groups": f.groups, "targets": f.targets,
            "kinds": f.kinds, "causes": f.causes, "limit": f.limit}


def _audit(request: Request, who: Principal, subject: str, detail: dict[str, Any]) -> None:
    with request.app.state.db.transaction() as conn:
        access_store.audit(conn, who, "export", subject, detail)


def _stream(request: Request, chunks: Iterator[bytes], name: str, fmt: str) -> Response:
    """A streamed download of ``chunks``. The first chunk is read here, so a failure to
    start (database down) is a proper error, not a cut-off file."""
    try:
        first = next(chunks, b"")
    except StorageUnavailable as exc:
        raise ApiError(503, f"the database is unavailable ({exc}); try again shortly"
                       ) from None
    now = request.app.state.clock.now().astimezone(UTC)
    # Only fixed names and the time: nothing a client sent reaches the header.
    filename = f"takedown-{name}-{now:%Y%m%dT%H%M%SZ}.{fmt}"
    return StreamingResponse(chain([first], chunks), media_type=FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    })


@router.get("/api/v1/exports/research.{fmt}", tags=["exports"],
            summary="The anonymised research export (pseudonyms, no handles or URLs)")
def research_export(request: Request, fmt: Format, who: Viewer, f: Filters,
                    table: Literal["events", "posts", "availability"] = "events",
                    with_text: Annotated[bool, Query(description=(
                        "Include titles and texts: they may name people."))] = False,
                    ) -> Response:
    """Published events (or posts) with pseudonymous ids for authors, posts and
    targets; no handles, no URLs, no target values. Times are kept."""
    _audit(request, who, f"exports/research.{fmt}",
           {**_filter_detail(f), "table": table, "with_text": with_text})
    settings = request.app.state.settings
    chunks = research_bytes(request.app.state.db, settings, table, fmt, f,
                            with_text=with_text)
    return _stream(request, chunks, f"research-{table}", fmt)


@router.get("/api/v1/exports/{export}.{fmt}", tags=["exports"],
            summary="Events, posts, versions or availability as CSV, JSON lines or Parquet "
                    "(streamed)")
def table_export(request: Request,
                 export: Literal["events", "posts", "versions", "availability"],
                 fmt: Format, who: Viewer, f: Filters) -> Response:
    """Events have the columns of ``takedown events --format json``. For posts and
    versions, since/until bound when they were first seen, and kind/cause keep posts
    with such an event. CSV cells that would start a spreadsheet formula are prefixed
    with an apostrophe."""
    _audit(request, who, f"exports/{export}.{fmt}", _filter_detail(f))
    return _stream(request, table_bytes(request.app.state.db, export, fmt, f), export, fmt)


def _feed(request: Request, f: EventFilter, entries: int, *, public: bool) -> Response:
    settings = request.app.state.settings
    db = request.app.state.db
    author = public_author(db, settings) if public else (lambda row: row.get("author"))
    spec = events_feed(str(request.base_url), str(request.url),
                       f.groups[0] if f.groups else None,
                       f.platforms[0] if f.platforms else None, public=public, author=author)
    body = feed_bytes(db, settings, spec, f, entries=entries,
                      now=request.app.state.clock.now(), public=public)
    return Response(body, media_type=MEDIA_TYPE, headers={"X-Content-Type-Options": "nosniff"})


Entries = Annotated[int, Query(ge=1, le=MAX_ENTRIES, description="Entries in the feed.")]
OneName = Annotated[str | None, Query(max_length=200)]


def _feed_filter(group: str | None, platform: str | None) -> EventFilter:
    return EventFilter(groups=_text([group] if group else None),
                       platforms=[_platform(platform)] if platform else None)


@router.get("/api/v1/feeds/events.atom", tags=["exports"],
            summary="An Atom feed of the newest events (per group, per platform)")
def private_feed(request: Request, _: Viewer, group: OneName = None,
                 platform: OneName = None, limit: Entries = DEFAULT_ENTRIES) -> Response:
    """Every event, newest first, with the authors' handles; entries link to the post
    page (/posts/{id})."""
    return _feed(request, _feed_filter(group, platform), limit, public=False)


@router.get("/public/feeds/events.atom", tags=["public"],
            summary="The public Atom feed: published events only (needs PUBLIC_VIEW)")
def public_feed(request: Request, group: OneName = None, platform: OneName = None,
                limit: Entries = DEFAULT_ENTRIES) -> Response:
    """Events that passed review (or whose group needs none), authors as pseudonyms
    when PUBLIC_PSEUDONYMS; 404 unless the operator turned PUBLIC_VIEW on."""
    if not request.app.state.settings["PUBLIC_VIEW"]:
        raise ApiError(404, "the public view is off (set PUBLIC_VIEW to serve it)")
    return _feed(request, _feed_filter(group, platform), limit, public=True)
