"""Responses and time formats shared by the sandbox server and the platform fakes."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


class Query(dict[str, str]):
    """A request's query: one value per name (the last), as fakes mostly read it, and
    :meth:`getall` for a parameter the platform repeats (Bluesky's ``uris=a&uris=b``)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        super().__init__(pairs)
        self._all: dict[str, list[str]] = {}
        for name, value in pairs:
            self._all.setdefault(name, []).append(value)

    def getall(self, name: str) -> list[str]:
        return list(self._all.get(name, ()))


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
    """To the millisecond: ``2026-08-01T13:54:00.505Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def iso_s(ts: float) -> str:
    """RFC 3339 to the second: ``2026-08-01T09:00:00Z``."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(int(ts), UTC), usegmt=True)
