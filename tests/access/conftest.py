"""Fixtures for the access tests: an app over a real database, clients holding a
token of each role (helpers in ``access_helpers.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from access_helpers import Make
from fastapi.testclient import TestClient

from monitor.api import create_app
from monitor.db import Database
from monitor.db.access import create_token
from monitor.settings import Settings


def _app(db: Database, **settings: Any) -> Any:
    return create_app(Settings().replace(**settings), db)


@pytest.fixture
def make_client(db: Database) -> Iterator[Make]:
    """``make_client(role=None, **settings)``: a client over ``db``, with a Bearer token
    of that role (none when ``role`` is None)."""
    clients: list[TestClient] = []

    def make(role: str | None = None, *, database: Database | None = None,
             **settings: Any) -> TestClient:
        target = database or db
        client = TestClient(_app(target, **settings), base_url="http://127.0.0.1",
                            follow_redirects=False)
        if role:
            with target.transaction() as conn:
                _, secret = create_token(conn, f"test-{role}-{len(clients)}", role)
            client.headers["Authorization"] = f"Bearer {secret}"
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()
