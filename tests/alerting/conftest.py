"""Fixtures for the alerts tests (helpers in ``alerts_world.py``, importable by
name: pytest puts this folder on sys.path). The folder is named ``alerting``,
not ``alerts``, so it can never pass for the package it tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from alerts_world import Mailbox, Receiver, World, refused_url, start_receiver  # noqa: E402

from monitor.db import Database  # noqa: E402


@pytest.fixture(autouse=True)
def _forget_log_secrets() -> Iterator[None]:
    """from_watchlist registers secrets with the process-wide log filter: not across tests."""
    yield
    from alerts import redact

    redact.uninstall()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.stop()


@pytest.fixture
def refused() -> str:
    return refused_url()


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox(port)
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def world(db: Database) -> World:
    return World(db)
