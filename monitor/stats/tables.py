"""The statistics as text for ``takedown stats``: a table, JSON or CSV.

Keys are account and group names as their owners wrote them: in a table, control and
format characters (terminal escapes, right-to-left overrides) are dropped; in CSV,
a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) is quoted
with a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..query import render_table, safe_cell

__all__ = ["FORMATS", "KEYWORD_COLUMNS", "RATE_COLUMNS", "SURVIVAL_COLUMNS", "keyword_rows",
           "render", "survival_rows"]

FORMATS = ("table", "json", "csv")

#: Columns of each statistic's rows.
SURVIVAL_COLUMNS = ["key", "within", "posts", "removed", "estimate", "lower", "upper",
                    "observed", "removed_share", "of_removed"]
RATE_COLUMNS = ["key", "period", "posts", "removed", "deletion_rate", "disappeared", "hidden",
                "edited", "restored"]
KEYWORD_COLUMNS = ["term", "z", "removed", "surviving"]


def survival_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per curve and headline threshold."""
    return [{"key": c["key"], "within": h["label"], "posts": c["posts"],
             "removed": c["removed"], **{k: h[k] for k in SURVIVAL_COLUMNS[4:]}}
            for c in answer["curves"] for h in c["headline"]]


def keyword_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: t[k] for k in KEYWORD_COLUMNS} for t in answer["terms"]]


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str,
           document: Any = None) -> str:
    """``rows`` under ``columns`` as ``fmt``; JSON prints ``document`` when given (the
    whole answer, curves and all), else the rows."""
    if fmt == "json":
        return json.dumps(rows if document is None else document, ensure_ascii=False,
                          default=_plain, indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv(row.get(c)) for c in columns])
        return out.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    body = render_table(list(columns), [[_cell(row.get(c)) for c in columns] for row in rows])
    return body + f"{len(rows)} row(s)\n"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    return "".join(c for c in str(value) if unicodedata.category(c)[0] != "C")


def _csv(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return safe_cell(value)
