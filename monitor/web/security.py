"""Security headers for the web interface, and which links from hostile content may
become links.

Every HTML page carries a strict Content-Security-Policy: scripts, styles, images and
connections only from this server, no inline script or style at all, no framing, no
``<base>``. An injected element that slipped past escaping would still be inert.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "HEADERS", "apply", "install", "safe_href"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

#: Headers on every HTML page.
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

#: The API's own HTML (its Swagger UI loads scripts from a CDN) keeps the policy its
#: owner gives it.
_OWN_POLICY_PATHS = ("/api/", "/docs", "/redoc")


def apply(response: Response) -> Response:
    """Set :data:`HEADERS` on ``response`` (in place) and return it."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response


def install(app: FastAPI) -> None:
    """Add :data:`HEADERS` to every HTML answer of ``app`` that has no policy yet (the
    pages set them already; this covers HTML made elsewhere, such as error pages)."""
    app.add_middleware(_HtmlPolicy)


class _HtmlPolicy:
    """Pure ASGI, so streamed answers (exports) pass through untouched and unbuffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(_OWN_POLICY_PATHS):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_policy)


def safe_href(url: object) -> str | None:
    """``url`` if it may be a link (http or https, with a host, no credentials, no
    control characters), else None: the page then shows it as text."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u202a\u202b\u202c\u202d\u202e"
           "\u2066\u2067\u2068\u2069" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return url
