"""Helpers for the access tests (importable by name: pytest puts this folder on
sys.path), and the alerts tests' world (``tests/alerting/alerts_world.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from monitor.access import Principal
from monitor.db import Database
from monitor.db.access import sync_review_groups

# The alerts tests' world (real events through tracking.apply, local receivers).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "alerting"))

#: ``make_client(role=None, *, database=None, **settings)`` (the fixture).
Make = Callable[..., TestClient]

#: Who the tests' direct store calls are made as.
TESTER = Principal(None, "cli:tester", "admin")


def review_groups(db: Database, **groups: bool) -> None:
    with db.transaction() as conn:
        sync_review_groups(conn, groups)
