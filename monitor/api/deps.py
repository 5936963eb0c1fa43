"""What the API's routers share: the database, time and vocabulary parameters, and
turning rows into response records."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyCookie, HTTPBearer

from .. import query
from ..db import Connection
from ..errors import UnknownPlatform
from ..events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from ..platforms import get_platform
from ..settings import parse_duration
from .models import ErrorResponse

# Declared for the OpenAPI document only (auto_error=False: they never answer a request);
# monitor.api.auth.require does the checking.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearerAuth",
                    description="An API token: `takedown token create NAME --role viewer`.")
SESSION = APIKeyCookie(name="takedown_session", auto_error=False, scheme_name="sessionCookie",
                       description="Set by POST /login (the web interface).")
#: Router dependencies that make the OpenAPI document say how to authenticate.
AUTHENTICATED = [Security(BEARER), Security(SESSION)]

#: Error answers every authenticated JSON route can give, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No token, or an unknown or revoked one."},
    403: {"model": ErrorResponse, "description": "The token's role is too weak."},
    422: {"model": ErrorResponse,
          "description": "A parameter has a bad value; the error names the allowed ones."},
}
#: The 404 of a route that reads one row by id.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such row."}}


class SafeJSONResponse(JSONResponse):
    """JSON with ``<``, ``>``, ``&`` and the JavaScript line separators escaped as
    ``\\uXXXX``: the same values, but a payload in a post stays inert even if a client
    pastes the answer into HTML or a script."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        for char, escaped in _JSON_ESCAPES:
            text = text.replace(char, escaped)
        return text.encode("utf-8")


_JSON_ESCAPES = [("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029")]


@contextmanager
def transaction(request: Request) -> Iterator[Connection]:
    """A connection of the app's database inside one transaction."""
    with request.app.state.db.transaction() as conn:
        yield conn


def bad_request(message: str, status: int = 422) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def text(name: str, value: str | None) -> str | None:
    """``value``, refused with a 422 if it holds a NUL character (no stored text can)."""
    if value is not None and "\x00" in value:
        raise bad_request(f"{name}: the value holds a NUL character (\\0), which no stored "
                          "text can hold; remove it")
    return value


def texts(name: str, values: list[str] | None) -> list[str] | None:
    """Repeated ``values`` as :func:`text` checks them; None when there are none."""
    for value in values or ():
        text(name, value)
    return values or None


def when(request: Request, name: str, value: str | None) -> datetime | None:
    """An ISO date/time (UTC unless it says otherwise), or a duration ago (``24h``, ``7d``)
    counted from the app's clock."""
    if not value:
        return None
    try:
        return request.app.state.clock.now() - timedelta(  # type: ignore[no-any-return]
            seconds=parse_duration(value))
    except (ValueError, OverflowError):
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name}: {value[:40]!r} is neither an ISO date/time "
                          "(2025-01-31 or 2025-01-31T12:00:00Z) nor a duration ago "
                          "(90m, 24h, 7d)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def platforms(values: list[str] | None) -> list[str] | None:
    """Platform names (or aliases) as stored; a 422 naming the known ones otherwise."""
    if not values:
        return None
    try:
        return [get_platform(v).name for v in values]
    except UnknownPlatform as exc:
        raise bad_request(f"platform: {exc}") from None


def vocabulary(name: str, values: list[str] | None, known: Iterable[str]) -> list[str] | None:
    """``values`` if each is one of ``known``; a 422 naming the allowed values otherwise."""
    if not values:
        return None
    names = list(known)
    for value in values:
        if value not in names:
            close = difflib.get_close_matches(value, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise bad_request(f"{name}: unknown value {value[:40]!r}; {hint}allowed: "
                              + ", ".join(names))
    return values


def kinds(values: list[str] | None) -> list[str] | None:
    return vocabulary("kind", values, EVENT_KINDS)


def causes(values: list[str] | None) -> list[str] | None:
    return vocabulary("cause", values, [*CAUSES, *REMOVAL_DETAILS])


def event_record(row: dict[str, Any]) -> dict[str, Any]:
    """An event row as the :class:`~monitor.api.models.Event` model reads it."""
    life = query.lifetime(row)
    return {**row, "lifetime_seconds": life.total_seconds() if life else None}
