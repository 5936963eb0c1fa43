"""What every page handler shares: a transaction on the app's database, the context
every template reads, and the error page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..access import Principal
from .render import page

T = TypeVar("T")


def read(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(conn, *args, **kwargs)`` in one transaction (page handlers are sync, so this
    runs in FastAPI's thread pool, never on the event loop)."""
    with request.app.state.db.transaction() as conn:
        return fn(conn, *args, **kwargs)


def context(principal: Principal | None, section: str, **values: Any) -> dict[str, Any]:
    """The values ``base.html`` reads, plus ``values``."""
    return {"principal": principal, "section": section, "public": False, **values}


def error_page(request: Request, status_code: int, heading: str, message: str, *,
               principal: Principal | None = None, public: bool = False) -> HTMLResponse:
    """An error as a page, with what to do next in ``message``."""
    return page(request, "error.html", {**context(principal, ""), "public": public,
                                        "heading": heading, "message": message},
                status_code=status_code)
