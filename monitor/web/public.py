"""The public view (``/public/``): published events only, no login, when PUBLIC_VIEW
is on. What is published, and how authors are shown, is the access part's
:func:`monitor.api.public.public_rows`; this module only renders it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ..api.public import public_rows
from ..events import EVENT_KINDS
from ..platforms import PLATFORMS
from .common import error_page, read
from .render import page

router = APIRouter()

PAGE_SIZE = 50


@router.get("/public/", response_class=HTMLResponse, include_in_schema=False)
def public_page(request: Request,
                platform: Annotated[str | None, Query(max_length=100)] = None,
                group: Annotated[str | None, Query(max_length=200)] = None,
                kind: Annotated[str | None, Query(max_length=50)] = None,
                before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None
                ) -> HTMLResponse:
    settings = request.app.state.settings
    if not settings["PUBLIC_VIEW"]:
        return error_page(request, 404, "No public view",
                          "This monitor does not publish its events. Its operator can turn "
                          "the public view on with the PUBLIC_VIEW setting.", public=True)
    filters = {"platform": platform or "", "group": group or "", "kind": kind or ""}
    if (platform and platform not in PLATFORMS) or (kind and kind not in EVENT_KINDS) \
            or (group and "\x00" in group):
        return error_page(request, 400, "Unknown filter",
                          "Pick the platform and kind from the lists.", public=True)
    rows = read(request, public_rows, settings, limit=PAGE_SIZE, before=before,
                platform=platform or None, group=group or None, kind=kind or None)
    return page(request, "public.html", {
        "principal": None, "section": "public", "public": True, "events": rows,
        "filters": filters, "platforms": sorted(PLATFORMS), "kinds": list(EVENT_KINDS),
        "pseudonyms": bool(settings["PUBLIC_PSEUDONYMS"]),
        "older": rows[-1]["id"] if len(rows) == PAGE_SIZE else None})
