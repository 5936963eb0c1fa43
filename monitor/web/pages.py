"""The web interface's router: every page, its own static files and the login form.

``create_app`` includes :data:`router`; the pages themselves live in
:mod:`.feed`, :mod:`.detail`, :mod:`.operations`, :mod:`.statistics` and
:mod:`.public`. Everything is server-rendered (:mod:`.render`), with the strict
Content-Security-Policy of :mod:`.security` on every page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..api.auth import safe_next
from . import detail, feed, operations, public, statistics
from .common import context
from .render import page

router = APIRouter()
for _part in (feed, detail, operations, statistics, public):
    router.include_router(_part.router)

STATIC = Path(__file__).parent / "static"
#: The only files /static/ serves (a fixed list: no path from the request reaches the
#: file system), with their types.
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png"}
#: Read once: a few kilobytes, and never a file system access per request.
_FILES = {p.name: (p.read_bytes(), STATIC_TYPES[p.suffix]) for p in sorted(STATIC.iterdir())
          if p.suffix in STATIC_TYPES}


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    found = _FILES.get(name)
    if found is None:
        return Response("no such file\n", status_code=404, media_type="text/plain")
    body, media_type = found
    return Response(body, media_type=media_type, headers={
        "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request,
               next: Annotated[str | None, Query(max_length=2000)] = None,
               failed: Annotated[str | None, Query(max_length=10)] = None) -> HTMLResponse:
    return page(request, "login.html", context(None, "login", next=safe_next(next),
                                               failed=bool(failed)))

