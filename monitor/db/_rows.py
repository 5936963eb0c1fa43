"""Reading rows whatever the connection's row factory (the pool's give dicts, a
worker's own presence connection tuples)."""

from __future__ import annotations

from typing import Any


def first(row: Any) -> Any:
    """The first column of ``row``."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
