"""Fixtures for the evidence tests: local timestamp authorities (``tsa_server``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tsa_server import LocalAuthority


@pytest.fixture(scope="session")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAuthority]:
    """A timestamp authority on 127.0.0.1 (shared: tests that switch it off put it back)."""
    tsa = LocalAuthority(tmp_path_factory.mktemp("tsa"))
    yield tsa
    tsa.close()


@pytest.fixture
def second_authority(tmp_path: Path) -> Iterator[LocalAuthority]:
    """Another authority, with a CA of its own."""
    tsa = LocalAuthority(tmp_path / "tsa2")
    yield tsa
    tsa.close()


@pytest.fixture
def live_authority(authority: LocalAuthority) -> Iterator[LocalAuthority]:
    """The shared authority, up, and up again after the test."""
    authority.up = True
    yield authority
    authority.up = True
