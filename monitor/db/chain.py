"""The hash chain's SQL: an append-only chain over recorded rows."""

from __future__ import annotations

from collections.abc import Sequence

from . import Connection as Conn


def append(conn: Conn, refs: Sequence[tuple[str, int]]) -> None:
    """Append one entry per ``(kind, row id)`` in the caller's transaction. (Stub.)"""
