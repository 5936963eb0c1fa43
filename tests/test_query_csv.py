"""``takedown events --format csv``: post text is written by strangers, and a CSV is
opened in spreadsheets, so a cell that would start a formula must arrive as text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from monitor.query import format_events


def _row(text: str) -> dict[str, object]:
    return {"id": 1, "detected_at": datetime(2026, 8, 1, tzinfo=UTC), "kind": "disappeared",
            "cause": "deleted_by_author", "platform": "mastodon", "group": "g",
            "post_key": "1", "title": text, "text": text, "author": text,
            "candidates": [], "evidence": {}}


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd|' /C calc'!A0",
                                  "-2+3", "@SUM(A1)", "\tX", "\rX"])
def test_a_formula_in_post_text_is_written_as_text(text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(format_events([_row(text)], "csv"))))
    assert rows[0]["text"] == "'" + text
    assert rows[0]["title"] == "'" + text
    assert rows[0]["author"] == "'" + text


def test_ordinary_text_is_unchanged() -> None:
    rows = list(csv.DictReader(io.StringIO(format_events([_row("因违规被删除 ok")], "csv"))))
    assert rows[0]["text"] == "因违规被删除 ok"
