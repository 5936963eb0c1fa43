"""Responses, URLs, keys and time formats shared by the sandbox's renderers."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from ._world import Post, Site

#: Authority of the Atom ``tag:`` ids, so that ids do not depend on the port.
TAG_AUTHORITY = "sandbox.local"

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

# A 1×1 transparent PNG, served for every image URL.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None  # for non-standard codes such as 461

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", JSON_TYPE), *(headers or [])])


def html_response(status: int, page: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, page.encode(), [("Content-Type", HTML_TYPE), *(headers or [])])


def text_response(
    status: int, body: str, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    return Response(status, body.encode(), [("Content-Type", content_type)])


def redirect(location: str, status: int = 302) -> Response:
    href = html.escape(location)
    page = f'<html><body>Redirecting to <a href="{href}">{href}</a></body></html>'
    return Response(status, page.encode(), [("Location", location), ("Content-Type", HTML_TYPE)])


def simple_page(title: str, message: str) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )


# -- time ---------------------------------------------------------------------------


def iso_ms(ts: float) -> str:
    """Mastodon style: ``2026-08-01T13:54:00.505Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def iso_s(ts: float) -> str:
    """RFC 3339 to the second: ``2026-08-01T09:00:00Z``."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(int(ts), UTC), usegmt=True)


# -- URLs and keys --------------------------------------------------------------------


def status_url(base: str, post: Post) -> str:
    return f"{base}/@{post.owner}/{post.key}"


def status_api_url(base: str, post: Post) -> str:
    return f"{base}/api/v1/statuses/{post.key}"


def feed_url(base: str, site: Site) -> str:
    return f"{base}{site.feed_path}"


def article_url(base: str, post: Post) -> str:
    return f"{base}/articles/{post.owner}/{post.key}"


def atom_id(post: Post) -> str:
    return f"tag:{TAG_AUTHORITY},2026:{post.owner}/{post.key}"


def note_url(base: str, post: Post) -> str:
    return f"{base}/explore/{post.key}?xsec_token={quote(post.xsec_token)}&xsec_source=pc_feed"


def post_key(base: str, post: Post, fmt: str | None = None) -> str:
    """The key a spider reports: status id, Atom id or RSS guid (the article URL), note id."""
    if post.platform == "rss":
        return atom_id(post) if fmt == "atom" else article_url(base, post)
    return post.key


def post_url(base: str, post: Post) -> str:
    """The human-facing permalink."""
    if post.platform == "mastodon":
        return status_url(base, post)
    if post.platform == "rss":
        return article_url(base, post)
    return note_url(base, post)
