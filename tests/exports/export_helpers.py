"""Helpers for the export tests: an app over the analyst history, and the exports read
back into rows. A module of its own, not ``conftest``: every test folder has a
``conftest.py``, all imported under that one name."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from monitor.api import create_app
from monitor.api.auth import install
from monitor.db import Database
from monitor.settings import Settings

Make = Callable[..., TestClient]


def read_back(data: bytes, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """An export's column names and rows, parsed as a user's tool would."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        rows = list(reader)
        return list(reader.fieldnames or []), rows
    if fmt == "jsonl":
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        return (list(rows[0]) if rows else []), rows
    table = pq.read_table(io.BytesIO(data))
    return table.column_names, table.to_pylist()


def app_for(db: Database, **settings: Any) -> Any:
    app = create_app(Settings().replace(**settings), db)
    # create_app calls install() once the lead wires it; a second call is harmless.
    if not any(k is not None and k.__name__ == "ApiError" for k in app.exception_handlers):
        install(app)
    return app


