"""The ASGI application: :func:`create_app` wires the routers to one database.

Why FastAPI: the settings, the watchlist and the platforms' declarations are already
pydantic models, and FastAPI builds the OpenAPI document from the same pydantic types
that validate each request's parameters and each answer (``monitor/api/models.py``),
so the document cannot drift from what the server does. Starlette alone would need a
second, hand-written schema. FastAPI runs the plain ``def`` routes in a thread pool,
which suits the synchronous psycopg pool of :class:`~monitor.db.Database`.

Every error of a JSON route is ``{"error": "<what happened and what to do>"}``
(401/403 come from :mod:`monitor.api.auth`); a server error is logged with its stack
and answered with a reference to the log, never with the stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..clock import Clock, SystemClock
from ..db import Database
from ..errors import StorageError, StorageUnavailable
from ..settings import Settings
from .deps import SafeJSONResponse

log = logging.getLogger(__name__)

#: Modules that each define ``router`` (an ``APIRouter``), included in this order.
#: (``monitor.api.review`` mounts :mod:`monitor.api.auth`'s login and token routes.)
ROUTER_MODULES = [
    "monitor.api.events", "monitor.api.posts", "monitor.api.targets",
    "monitor.api.review", "monitor.api.stats", "monitor.api.exports", "monitor.api.evidence",
    "monitor.api.public", "monitor.web.pages",
]

TITLE = "Takedown Monitor API"
DESCRIPTION = """\
What the monitor recorded: takedown events, posts with their versions and observation
timelines, targets and their health, accounts' deletion rates, statistics, the review
queue and exports.

**Authentication**: send `Authorization: Bearer <token>`. An admin creates tokens with
`takedown token create NAME --role viewer|reviewer|admin`. Roles are ordered
viewer < reviewer < admin. The web interface's session cookie works too.

**Pages**: lists of events are newest first; pass the answer's `next_cursor` as `cursor`
to get the next page. A page never repeats or skips an event, whatever is recorded in
between.

**Errors**: every error is `{"error": "..."}`, saying what happened and what to do.

**Content is untrusted**: post text, titles, authors, target names and the platforms'
words are whatever the watched accounts and platforms wrote. Escape them wherever you
show them.
"""

def create_app(settings: Settings, db: Database, *, clock: Clock | None = None) -> FastAPI:
    app = FastAPI(title=TITLE, version="1", description=DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs",
                  redoc_url=None, lifespan=_lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock or SystemClock()
    for name in ROUTER_MODULES:
        module: Any = importlib.import_module(name)
        app.include_router(module.router)
    _install_errors(app)
    from ..web import security

    security.install(app)  # the pages' Content-Security-Policy and friends
    app.add_middleware(_SecurityHeaders)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While served: keep the common statistics answers fresh in the background."""
    every = app.state.settings["STATS_MAX_AGE"]
    task = None
    if every > 0 and app.state.db is not None:
        from ..stats.cache import refresh_forever

        task = asyncio.create_task(refresh_forever(app.state.db, app.state.clock, every),
                                   name="takedown-stats-refresh")
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# --- errors --------------------------------------------------------------------------

_GENERIC = {
    404: "nothing here; the API's routes are listed at /api/v1/docs",
    405: "this route does not take that method; see /api/v1/docs",
}


def _answer(request: Request, status: int, message: str,
            headers: Mapping[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return SafeJSONResponse({"error": message}, status_code=status,
                                headers=dict(headers or {}))
    return PlainTextResponse(message, status_code=status, headers=dict(headers or {}))


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    kinds = {"query": "query parameter", "path": "path parameter", "body": "body field",
             "header": "header", "cookie": "cookie"}
    if loc and loc[0] in kinds:
        rest = ".".join(str(x) for x in loc[1:])
        return f"{kinds[loc[0]]} {rest!r}" if rest else kinds[loc[0]]
    return ".".join(str(x) for x in loc)


def _install_errors(app: FastAPI) -> None:
    from . import auth

    auth.install(app)  # ApiError and AuthFailure (401 on a page: to the login page)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code in _GENERIC and detail in ("Not Found", "Method Not Allowed"):
            detail = _GENERIC[exc.status_code]
        return _answer(request, exc.status_code, detail, exc.headers)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # The input is left out on purpose: it is the client's own, and may be huge.
        problems = [f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}"
                    for e in exc.errors()[:10]]
        return _answer(request, 422, "; ".join(problems) + "; the parameters are described "
                       "at /api/v1/docs")

    async def storage(request: Request, exc: Exception) -> Response:
        log.warning("request %s failed on the database: %s", request.url.path, exc)
        return _answer(request, 503, "the database is not answering; retry in a minute",
                       {"Retry-After": "30"})

    async def crash(request: Request, exc: Exception) -> Response:
        ref = uuid.uuid4().hex[:12]
        log.error("request %s %s failed (ref %s)", request.method, request.url.path, ref,
                  exc_info=exc)
        return _answer(request, 500, f"internal error (ref {ref}, in the server log); try "
                       "again, and report it if it persists")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StorageUnavailable, storage)
    app.add_exception_handler(StorageError, storage)
    app.add_exception_handler(Exception, crash)


class _SecurityHeaders:
    """Headers every answer carries: no MIME sniffing, no referrer; API answers are not
    cached (they hold what a token may read)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer")]
                if api:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
