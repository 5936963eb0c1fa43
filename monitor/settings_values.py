"""The settings' value parsers: how a duration, a flag, a count or a URL is read from the
environment, the watchlist's ``[settings]`` table or a default. The typed fields built on
them are :mod:`monitor.settings`'s; this module imports no pydantic, so the recorder
process can format a duration without loading it (:mod:`monitor.collector`)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

# -- value parsers: durations, booleans, whole numbers ---------------------------------


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a duration; write it like 90s, 5m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
        try:
            if text and text[-1] in units:
                seconds = float(text[:-1]) * units[text[-1]]
            else:
                seconds = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a duration; write it like 90s, 5m, 2h or 1d"
                             ) from None
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("a duration cannot be negative")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration; write it like 90s, 5m or 2h")
    return seconds


def parse_durations(value: str | list[Any] | tuple[Any, ...]) -> tuple[float, ...]:
    """Durations from ``"2m,5m,1h"`` or a list of them."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError(f"{value!r} is not a list of durations; write it like \"2m,5m,1h\"")
    out = tuple(parse_duration(item) for item in items if str(item).strip())
    if not out:
        raise ValueError("give at least one duration")
    return out


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{value!r} is not a boolean; use true or false")


def parse_int(value: str | int | float) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def parse_number(value: str | int | float) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a usable number; give one of 0 or more")
    return number


def parse_text(value: str | int | float) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not text; write it in quotes")
    return str(value)


def format_duration(seconds: float) -> str:
    """``600.0`` → ``10m``: the largest unit that divides it evenly."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_http_url(value: str | int | float) -> str:
    """An http(s) URL with a host (a path prefix allowed), without a trailing ``/``."""
    text = parse_text(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError(f"{value!r} is not an http(s) URL; write it like "
                         "https://oauth.reddit.com")
    return text.rstrip("/")


def parse_http_urls(value: str | list[Any] | tuple[Any, ...]) -> tuple[str, ...]:
    """http(s) URLs from ``"https://a/tsr,https://b/"`` or a list of them (issue 11, C)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"{value!r} is not a list of URLs; write it like "
                         "\"https://freetsa.org/tsr\"")
    return tuple(dict.fromkeys(parse_http_url(item) for item in items if str(item).strip()))
