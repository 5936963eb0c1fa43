"""Tabular writers: CSV, JSON lines and Parquet, streamed chunk by chunk.

A :class:`Table` names its columns and their types and turns a database row into a
record of Python values; :func:`encode` turns an iterator of row chunks into an
iterator of bytes, holding one chunk at a time.

Parquet is written with pyarrow rather than DuckDB: no second database engine to
embed next to PostgreSQL, and ``ParquetWriter`` writes one row group per chunk to a
plain stream, so the file is produced as the rows arrive.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..query import _csv_value

#: Formats and their media types.
FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}

#: Column types and how Parquet stores them. ``json`` values (dicts, lists of
#: objects) are JSON text in CSV and Parquet, nested in JSON lines.
ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "text": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "texts": pa.list_(pa.string()),
    "json": pa.string(),
}

#: A spreadsheet runs a cell starting with one of these as a formula.


@dataclass(frozen=True, slots=True)
class Table:
    """An export's columns (name, type) and how a database row becomes a record."""

    name: str
    columns: tuple[tuple[str, str], ...]
    record: Callable[[dict[str, Any]], dict[str, Any]]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def schema(self) -> pa.Schema:
        return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in self.columns])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _json_line(table: Table, record: dict[str, Any]) -> str:
    # Same encoding as `takedown events --format json` (monitor.query.format_events).
    values = {name: _plain(record.get(name)) for name in table.names}
    return json.dumps(values, ensure_ascii=False, default=str) + "\n"


def _csv_chunks(table: Table, chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.names)
    for rows in chunks:
        for row in rows:
            record = table.record(row)
            writer.writerow([_csv_value(name, _plain(record.get(name)))
                             for name in table.names])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode()


def _jsonl_chunks(table: Table, chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    for rows in chunks:
        yield "".join(_json_line(table, table.record(row)) for row in rows).encode()


def _arrow_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, default=str)
    if kind == "texts":
        return [str(v) for v in value]
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


class _Drain:
    """A write-only stream that hands back what was written since the last drain."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _parquet_chunks(table: Table, chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    schema = table.schema()
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for rows in chunks:
            records = [table.record(row) for row in rows]
            arrays = [pa.array([_arrow_value(kind, r.get(name)) for r in records],
                               type=ARROW_TYPES[kind]) for name, kind in table.columns]
            # One row group per chunk: the file grows as the rows arrive.
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            yield sink.drain()
    finally:
        writer.close()
    yield sink.drain()


_WRITERS = {"csv": _csv_chunks, "jsonl": _jsonl_chunks, "parquet": _parquet_chunks}


def encode(table: Table, chunks: Iterable[list[dict[str, Any]]], fmt: str) -> Iterator[bytes]:
    """``chunks`` of database rows as ``fmt`` (csv, jsonl or parquet), in pieces."""
    if fmt not in _WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return (data for data in _WRITERS[fmt](table, chunks) if data)
