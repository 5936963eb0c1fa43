"""The evidence archive's SQL: raw captures stored as gzipped WARC records."""

from __future__ import annotations

from collections.abc import Sequence

from ..observation import RawCapture
from . import Connection as Conn


def write(conn: Conn, items: Sequence[tuple[int, RawCapture]]) -> list[int]:
    """Store each ``(observation id, capture)``; return the new record ids. (Stub.)"""
    return []
