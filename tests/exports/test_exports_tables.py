"""Events, posts and versions exported as CSV, JSON lines and Parquet, read back."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from analyst_world import ARABIC, CHINESE, RLO, XSS
from export_helpers import read_back

from monitor import query
from monitor.db import Database
from monitor.db import queries as q
from monitor.db.queries import EventFilter
from monitor.exports import TABLES, safe_cell, table_bytes

FORMATS = ["csv", "jsonl", "parquet"]


def export(db: Database, name: str, fmt: str, f: EventFilter | None = None,
           chunk: int = 7) -> bytes:
    # A small chunk: every export here spans many chunks (and Parquet row groups).
    return b"".join(table_bytes(db, name, fmt, f or EventFilter(), chunk=chunk))


def ids(db: Database, table: str) -> set[int]:
    with db.transaction() as conn:
        return {r["id"] for r in conn.execute(f"SELECT id FROM {table}")}  # noqa: S608


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["events", "posts", "versions"])
def test_each_export_round_trips(analyst_db: Database, name: str, fmt: str) -> None:
    columns, rows = read_back(export(analyst_db, name, fmt), fmt)
    assert columns == TABLES[name].names
    expected = ids(analyst_db, name)
    assert len(expected) > 20
    assert len(rows) == len(expected)
    assert {int(r["id"]) for r in rows} == expected


def test_event_columns_are_those_of_takedown_events_json(analyst_db: Database) -> None:
    """The JSON lines export is, line for line, what `takedown events --format json`
    prints for the same filter."""
    f = EventFilter(kinds=["disappeared", "edited"])
    with analyst_db.transaction() as conn:
        printed = query.format_events(q.events(conn, f), "json")
    assert export(analyst_db, "events", "jsonl", f).decode() == printed
    assert TABLES["events"].names == query.EVENT_FIELDS


@pytest.mark.parametrize("f", [
    EventFilter(platforms=["mastodon"]),
    EventFilter(kinds=["edited"]),
    EventFilter(causes=["ambiguous"]),
    EventFilter(groups=["sandbox"], limit=5),
    EventFilter(since=datetime(2100, 1, 1).astimezone()),
], ids=["platform", "kind", "cause", "group+limit", "future"])
def test_event_filters_are_those_of_takedown_events(analyst_db: Database,
                                                    f: EventFilter) -> None:
    with analyst_db.transaction() as conn:
        expected = [r["id"] for r in q.events(conn, f)]
    _, rows = read_back(export(analyst_db, "events", "parquet", f), "parquet")
    assert [r["id"] for r in rows] == expected


def test_post_filters(analyst_db: Database) -> None:
    with analyst_db.transaction() as conn:
        gone = {r["post_id"] for r in conn.execute(
            "SELECT DISTINCT post_id FROM events WHERE kind = 'disappeared'")}
        mastodon = {r["id"] for r in conn.execute(
            "SELECT id FROM posts WHERE platform = 'mastodon'")}
    _, rows = read_back(export(analyst_db, "posts", "jsonl",
                               EventFilter(kinds=["disappeared"])), "jsonl")
    assert {r["id"] for r in rows} == gone
    _, rows = read_back(export(analyst_db, "versions", "csv",
                               EventFilter(platforms=["mastodon"])), "csv")
    assert rows and {int(r["post_id"]) for r in rows} <= mastodon
    assert {r["platform"] for r in rows} == {"mastodon"}


def _event(rows: list[dict[str, Any]], event_id: int) -> dict[str, Any]:
    found = [r for r in rows if int(r["id"]) == event_id]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_and_international_text_survives_as_data(analyst_db: Database,
                                                         analyst_world: Any, fmt: str) -> None:
    _, rows = read_back(export(analyst_db, "events", fmt), fmt)
    hostile = _event(rows, analyst_world.hostile_event)
    assert hostile["text"] == f"<p>{' '.join(XSS)}</p><p>{XSS[0]}</p>"
    assert hostile["title"] == XSS[2]
    assert hostile["author"] == XSS[1]
    i18n = _event(rows, analyst_world.i18n_event)
    for piece in (CHINESE, ARABIC, RLO):
        assert piece in i18n["text"]
    evidence = _event(rows, analyst_world.hostile_words_event)["evidence"]
    if isinstance(evidence, str):  # CSV and Parquet carry JSON as text
        evidence = json.loads(evidence)
    assert evidence["observed"]["message"] == XSS[3] + XSS[4]


@pytest.mark.parametrize("value, safe", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("plain", "plain"), ("", ""), ("a=1", "a=1"), ("'quoted", "'quoted"),
    (-5.0, -5.0), (3, 3), (None, None),
])
def test_safe_cell(value: Any, safe: Any) -> None:
    assert safe_cell(value) == safe


def test_csv_neutralises_formulas_and_the_other_formats_keep_the_data(
        analyst_db: Database, analyst_world: Any) -> None:
    formula = "=cmd|' /C calc'!A0"
    with analyst_db.transaction() as conn:
        conn.execute("UPDATE versions SET raw_text = %s, title = %s WHERE post_id = %s",
                     (formula, "@SUM(1+1)", analyst_world.hostile_post))
        conn.execute("UPDATE posts SET author = %s WHERE id = %s",
                     ("+alice", analyst_world.hostile_post))
    _, rows = read_back(export(analyst_db, "events", "csv"), "csv")
    row = _event(rows, analyst_world.hostile_event)
    assert (row["text"], row["title"], row["author"]) == ("'" + formula, "'@SUM(1+1)",
                                                          "'+alice")
    _, rows = read_back(export(analyst_db, "posts", "csv"), "csv")
    post = _event(rows, analyst_world.hostile_post)
    assert (post["text"], post["author"]) == ("'" + formula, "'+alice")
    for fmt in ("jsonl", "parquet"):
        _, rows = read_back(export(analyst_db, "events", fmt), fmt)
        assert _event(rows, analyst_world.hostile_event)["text"] == formula


def test_parquet_types_and_row_groups(analyst_db: Database) -> None:
    data = export(analyst_db, "events", "parquet", chunk=10)
    file = pq.ParquetFile(io.BytesIO(data))
    assert file.num_row_groups == -(-len(ids(analyst_db, "events")) // 10)
    schema = file.schema_arrow
    assert schema.field("detected_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("candidates").type == pa.list_(pa.string())
    assert schema.field("id").type == pa.int64()
    row = file.read().to_pylist()[0]
    assert isinstance(row["detected_at"], datetime) and row["detected_at"].tzinfo


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_export_is_still_a_valid_file(analyst_db: Database, fmt: str) -> None:
    data = export(analyst_db, "events", fmt, EventFilter(limit=0))
    columns, rows = read_back(data, fmt)
    assert rows == []
    if fmt != "jsonl":  # JSON lines has no header: an empty file
        assert columns == TABLES["events"].names
    else:
        assert data == b""


def test_an_unknown_format_is_refused(analyst_db: Database) -> None:
    with pytest.raises(ValueError, match="csv, jsonl, parquet"):
        export(analyst_db, "events", "xlsx")
    with pytest.raises(ValueError, match="events, posts, versions"):
        export(analyst_db, "targets", "csv")
