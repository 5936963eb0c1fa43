"""Tolerant readers for fields of untrusted JSON: an odd field reads as absent.

A platform's JSON is hostile input. A field of the wrong type (``null`` where an
object belongs, a string counter, an ``account`` given as a string) says nothing
about the post, so it is read as missing instead of failing the whole entry, and
one odd entry never fails the listing it is in.
"""

from __future__ import annotations

from typing import Any


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A text field: a string (or a number, as text); objects, lists and "" are absent."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def key(value: Any) -> str | None:
    """An id: a non-blank string or an integer; anything else is no id."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def count(value: Any) -> int | None:
    """A counter: an integer, or a string of digits; anything else is unknown (None)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdecimal() and len(value) < 40:
        return int(value.strip())
    return None
