"""Authentication for the API and the pages: tokens, roles, the session cookie, CSRF.

A request authenticates with ``Authorization: Bearer <token>`` or the session
cookie that ``POST /login`` sets. Routes ask for a role with
``principal: Principal = Depends(require("viewer"))``.

The session cookie holds the token secret itself rather than a session id. That
is acceptable here because the cookie is HttpOnly (no script reads it),
SameSite=Strict (no other site sends it) and Secure over HTTPS, and every request
looks the token up again, so ``takedown token revoke`` ends every session of that
token at once; it saves a sessions table. The price: logging out clears the
cookie but does not end the token; revoke it for that.

CSRF: a write (any method but GET, HEAD, OPTIONS) authenticated by the cookie must
carry the session's CSRF token (:func:`csrf_token`) in the ``X-Takedown-CSRF``
header or the ``csrf_token`` form field. The token is an HMAC of the session, so
no other site can know it; Bearer requests need none (browsers never add that
header by themselves).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Form,
    HTTPException,
    Query,
    Request,
    Security,
)
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..access import ROLES, Principal, csrf_for, has_role
from ..db import access as store
from .deps import BEARER, SESSION

log = logging.getLogger(__name__)

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "SESSION_COOKIE", "ApiError", "AuthFailure", "Principal",
           "csrf_token", "install", "require", "router"]

SESSION_COOKIE = "takedown_session"
CSRF_HEADER = "X-Takedown-CSRF"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

router = APIRouter()


class ApiError(HTTPException):
    """An error the API answers as ``{"error": message}`` (once :func:`install` ran)."""

    def __init__(self, status_code: int, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, message, headers=headers)
        self.message = message


class AuthFailure(ApiError):
    """401 or 403; a 401 outside ``/api/`` redirects to the login page."""

    def __init__(self, status_code: int, message: str) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
        super().__init__(status_code, message, headers=headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _credentials(request: Request) -> tuple[str | None, str]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthFailure(401, "send the token as 'Authorization: Bearer <token>'")
        return value.strip(), "bearer"
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, "cookie") if cookie else (None, "")


def _lookup(request: Request, secret: str) -> Principal | None:
    with request.app.state.db.transaction() as conn:
        return store.authenticate(conn, secret)


async def _check_csrf(request: Request, secret: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    ctype = request.headers.get("content-type", "")
    if sent is None and ctype.startswith(("application/x-www-form-urlencoded",
                                          "multipart/form-data")):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), csrf_for(secret).encode()):
        raise AuthFailure(403, f"missing or wrong CSRF token: a write made with the session "
                               f"cookie needs the {CSRF_HEADER} header or the {CSRF_FIELD} "
                               "form field of the page (reload the page and try again)")


def require(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting a request with a live token of ``role`` or stronger."""
    has_role(role, role)  # fails now, at import, on a misspelt role

    # The two security schemes are parameters so that every route using ``require``
    # says in the OpenAPI document how to authenticate; the request itself is read below.
    async def dependency(request: Request,
                         _bearer: Annotated[Any, Security(BEARER)] = None,
                         _session: Annotated[Any, Security(SESSION)] = None) -> Principal:
        secret, via = _credentials(request)
        if secret is None:
            raise AuthFailure(401, "authentication required: send 'Authorization: Bearer "
                                   "<token>' (create one with `takedown token create NAME "
                                   "--role viewer`) or log in at /login")
        principal = await run_in_threadpool(_lookup, request, secret)
        if principal is None:
            raise AuthFailure(401, "this token is unknown or revoked; ask an admin for a new "
                                   "one (`takedown token create`)")
        if via == "cookie" and request.method not in _SAFE_METHODS:
            await _check_csrf(request, secret)
        if not has_role(principal.role, role):
            stronger = " or ".join(ROLES[ROLES.index(role):])
            raise AuthFailure(403, f"this needs the {role} role ({stronger}); the token "
                                   f"{principal.name!r} is a {principal.role}")
        request.state.principal = principal
        return principal

    return dependency


def csrf_token(request: Request) -> str:
    """The CSRF token for the current session ("" when not logged in by cookie): put
    it in forms as the ``csrf_token`` field, or send it as ``X-Takedown-CSRF``."""
    session = request.cookies.get(SESSION_COOKIE)
    return csrf_for(session) if session else ""


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site) becomes ``/``."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return "/"
    return target


def install(app: FastAPI) -> None:
    """Render :class:`ApiError` and :class:`AuthFailure` as the API and the pages want
    them (call once in ``create_app``)."""

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if isinstance(exc, AuthFailure) and exc.status_code == 401 and not _is_api(request):
            from urllib.parse import quote

            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(path, safe='')}", status_code=303)
        return JSONResponse({"error": exc.message}, status_code=exc.status_code,
                            headers=exc.headers)

    app.add_exception_handler(ApiError, handler)


# -- login and logout -------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@router.post("/login", tags=["auth"], summary="Log in with a token (sets the session cookie)")
async def login(request: Request, token: Annotated[str, Form(max_length=200)],
                next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    principal = await run_in_threadpool(_lookup, request, token.strip())
    target = safe_next(next)
    if principal is None:
        log.info("login refused from %s", request.client.host if request.client else "?")
        if _wants_html(request):
            from urllib.parse import quote

            return RedirectResponse(f"/login?failed=1&next={quote(target, safe='')}",
                                    status_code=303)
        return JSONResponse({"error": "this token is unknown or revoked; check it, or ask "
                                      "an admin for a new one"}, status_code=401)
    response: Response = (RedirectResponse(target, status_code=303) if _wants_html(request)
                          else JSONResponse({"name": principal.name, "role": principal.role}))
    response.set_cookie(SESSION_COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", tags=["auth"], summary="Log out (clears the session cookie)")
async def logout(request: Request) -> Response:
    response: Response = (RedirectResponse("/login", status_code=303) if _wants_html(request)
                          else JSONResponse({"ok": True}))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- tokens and the audit log over the API (admins) -------------------------------------


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern="^(viewer|reviewer|admin)$")


def _db_call(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    with request.app.state.db.transaction() as conn:
        return fn(conn, *args)


def _create(conn: Any, who: Principal, name: str, role: str) -> dict[str, Any]:
    token_id, secret = store.create_token(conn, name, role)
    store.audit(conn, who, "token.create", f"token:{token_id}", {"name": name, "role": role})
    return {"id": token_id, "name": name.strip(), "role": role, "secret": secret}


def _revoke(conn: Any, who: Principal, ref: str) -> dict[str, Any]:
    row = store.revoke_token(conn, ref)
    store.audit(conn, who, "token.revoke", f"token:{row['id']}", {"name": row["name"]})
    return row


@router.get("/api/v1/tokens", tags=["access"], summary="API tokens (never their secrets)")
async def tokens(request: Request,
                 _: Annotated[Principal, Depends(require("admin"))]) -> dict[str, Any]:
    rows = await run_in_threadpool(_db_call, request, store.list_tokens)
    return {"tokens": rows}


@router.post("/api/v1/tokens", tags=["access"], status_code=201,
             summary="Create a token (the secret is shown once)")
async def create(request: Request, body: TokenRequest,
                 who: Annotated[Principal, Depends(require("admin"))]) -> dict[str, Any]:
    try:
        return await run_in_threadpool(_db_call, request, _create, who, body.name, body.role)  # type: ignore[no-any-return]
    except store.AccessError as exc:
        raise ApiError(400, str(exc)) from None


@router.delete("/api/v1/tokens/{ref}", tags=["access"], summary="Revoke a token by id or name")
async def revoke(request: Request, ref: str,
                 who: Annotated[Principal, Depends(require("admin"))]) -> dict[str, Any]:
    try:
        return await run_in_threadpool(_db_call, request, _revoke, who, ref)  # type: ignore[no-any-return]
    except store.AccessError as exc:
        raise ApiError(404, str(exc)) from None


@router.get("/api/v1/audit", tags=["access"], summary="The audit log, newest first")
async def audit_log(request: Request, _: Annotated[Principal, Depends(require("admin"))],
                    action: Annotated[str | None, Query(max_length=100)] = None,
                    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    if action is not None and "\x00" in action:
        raise ApiError(400, "action cannot contain a NUL character")

    def read(conn: Any) -> list[dict[str, Any]]:
        return store.audit_rows(conn, action=action, before=before, limit=limit)

    rows = await run_in_threadpool(_db_call, request, read)
    return {"entries": rows, "next": rows[-1]["id"] if len(rows) == limit else None}

