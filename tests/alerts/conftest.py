"""Fixtures for the alerts tests (helpers in ``alerts_world.py``).

This folder has no ``__init__.py`` on purpose: with one, pytest would import it
as a package named ``alerts`` (tests/ is on sys.path) and hide the real one.
Without one it is at most a namespace portion, which the real package (the
project root is on sys.path, ``pythonpath`` in pyproject.toml; put first here
too, as tests/spiders does) always beats.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
if getattr(sys.modules.get("alerts"), "__file__", None) is None:
    sys.modules.pop("alerts", None)
sys.path.insert(1, str(Path(__file__).resolve().parent))

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
