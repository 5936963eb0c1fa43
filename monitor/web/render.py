"""Jinja2 for the pages: autoescape on for every template, and the filters they use.

Nothing derived from data is ever marked safe: post text, titles, author names and
the platform's words are hostile, and reach the page only through autoescaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from ..text import html_text
from . import security

__all__ = ["ENV", "page", "query_string"]

TEMPLATES = Path(__file__).parent / "templates"


def when(value: Any) -> str:
    """A timestamp as people read it, in UTC, to the second."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: Any) -> str:
    """A timestamp for ``<time datetime>``."""
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def duration(value: Any) -> str:
    """``3d 4h``, ``12 min``, ``40 s`` from seconds or a timedelta."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, int | float):
        return ""
    seconds = int(value)
    if seconds < 0:
        return ""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def percent(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "–"


def plain(value: Any, length: int = 200) -> str:
    """A short plain-text summary of post text that may be HTML (tags dropped, entities
    decoded, whitespace squashed); autoescaping still applies to what it returns."""
    if not value:
        return ""
    text = html_text(str(value)[: 20 * length], layout=False)
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def query_string(params: Mapping[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied; empty values dropped."""
    merged = {**params, **changes}
    pairs = [(k, str(v)) for k, v in merged.items() if v not in (None, "", [])]
    return "?" + urlencode(pairs) if pairs else ""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, iso=iso, duration=duration, percent=percent, plain=plain,
                       href=security.safe_href)
    env.globals.update(query_string=query_string)
    return env


ENV = _environment()


def page(request: Request, template: str, context: Mapping[str, Any], *,
         status_code: int = 200) -> HTMLResponse:
    """Render ``template`` with ``context`` into a response carrying the security
    headers (:mod:`monitor.web.security`)."""
    body = ENV.get_template(template).render(request=request, **context)
    response = HTMLResponse(body, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return security.apply(response)  # type: ignore[return-value]
