"""The logged-out visitor session the mobile site expects (Scrapy-free helpers).

Since mid-2025 m.weibo.cn answers cookie-less API calls with HTTP 432. The
spider warms the session with a GET of the base (as the browser does), asks
``genvisitor2`` for a visitor cookie (``SUB``/``SUBP``), and sends it with
``Referer`` on every API request. Scrapy's cookie middleware is off for the
whole crawl (one target's session must never carry into another's), so the
spider keeps this one anonymous cookie itself, per base URL, in :data:`SESSIONS`,
for ``WEIBO_VISITOR_TTL`` seconds (real ones last about five minutes), across
crawls: a cycle does not cost two extra requests. It is dropped as soon as an
answer says the session is refused; the next work item asks for a new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from monitor.platform import join_base

from .platform import BASE_URL

#: Where the real site issues visitor cookies (a mirror or the sandbox serves it
#: under its base). Fetching it needs ``allow_hosts = ["passport.weibo.com"]``.
PASSPORT_VISITOR = "https://passport.weibo.com/visitor/genvisitor2"
_COOKIE_NAMES = ("SUB", "SUBP")
#: base URL -> (visitor cookie, when it was issued), shared by the crawls of a process.
SESSIONS: dict[str, tuple[str, datetime]] = {}
#: Bases whose session was warmed up once (a GET of the base) in this process.
WARMED: set[str] = set()


def session(base: str, now: datetime, ttl: float) -> str | None:
    """The visitor cookie for ``base`` issued less than ``ttl`` seconds ago, if any."""
    found = SESSIONS.get(base)
    if found is None or not 0 <= (now - found[1]).total_seconds() < ttl:
        return None
    return found[0]


def forget(base: str, cookie: str | None) -> None:
    """Drop ``base``'s cookie if it is still ``cookie`` (a refused session)."""
    if cookie is not None and SESSIONS.get(base, ("", None))[0] == cookie:
        del SESSIONS[base]
_MAX_COOKIE = 4096


def visitor_url(base: str, configured: str | None = None) -> str:
    """The ``genvisitor2`` URL for ``base``: the setting, else passport.weibo.com for
    the real site, else the same path under the base."""
    if configured:
        return configured
    if urlsplit(base).netloc == urlsplit(BASE_URL).netloc:
        return PASSPORT_VISITOR
    return join_base(base, "visitor/genvisitor2")


def cookie_from(set_cookies: Iterable[bytes], body: str) -> str | None:
    """``SUB=…; SUBP=…`` from the answer's Set-Cookie headers, else from the
    ``data.sub``/``data.subp`` of its (JSONP-wrapped) body; None if neither."""
    found: dict[str, str] = {}
    for raw in set_cookies:
        pair = raw.decode("latin-1").split(";", 1)[0]
        key, _, raw_value = pair.partition("=")
        if key.strip() in _COOKIE_NAMES and raw_value.strip():
            found[key.strip()] = raw_value.strip()
    if "SUB" not in found:
        data = _jsonp(body)
        inner = data.get("data") if isinstance(data, dict) else None
        if isinstance(inner, dict):
            for name in _COOKIE_NAMES:
                value = inner.get(name.lower())
                if isinstance(value, str) and value:
                    found[name] = str(value)
    if "SUB" not in found:
        return None
    cookie = "; ".join(f"{k}={v}" for k, v in found.items())
    if len(cookie) > _MAX_COOKIE or any(c in cookie for c in "\r\n\x00"):
        return None
    return cookie


def _jsonp(body: str) -> Any:
    """``gen_callback({...})`` or plain JSON, parsed; None when neither."""
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        return json.loads(body[start:end + 1])
    except (ValueError, RecursionError):
        return None


def api_headers(base: str, cookie: str) -> dict[str, str]:
    """What the mobile site's own API calls carry."""
    return {"Cookie": cookie, "Referer": base.rstrip("/") + "/",
            "X-Requested-With": "XMLHttpRequest", "MWeibo-Pwa": "1",
            "Accept": "application/json, text/plain, */*"}
