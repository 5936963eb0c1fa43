"""Fixtures for the export tests; the helpers live in ``export_helpers``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from export_helpers import Make, app_for
from fastapi.testclient import TestClient

from monitor.db import Database
from monitor.db.access import create_token


@pytest.fixture
def make_client(analyst_db: Database) -> Iterator[Make]:
    """``make_client(role=None, **settings)``: a client over the analyst history, with
    a Bearer token of that role (none when ``role`` is None)."""
    clients: list[TestClient] = []

    def make(role: str | None = None, **settings: Any) -> TestClient:
        client = TestClient(app_for(analyst_db, **settings), base_url="http://127.0.0.1",
                            follow_redirects=False)
        if role:
            with analyst_db.transaction() as conn:
                _, secret = create_token(conn, f"export-{role}-{len(clients)}", role)
            client.headers["Authorization"] = f"Bearer {secret}"
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()
