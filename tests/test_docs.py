"""The README documents every setting, event kind, cause and command."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import cli
from monitor.events import CAUSES, EVENT_KINDS
from monitor.settings import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_setting_is_documented(name: str) -> None:
    assert f"| `{name}` |" in README


@pytest.mark.parametrize("name", sorted(EVENT_KINDS) + sorted(CAUSES))
def test_every_event_kind_and_cause_is_documented(name: str) -> None:
    assert f"| `{name}` |" in README


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_documented(name: str) -> None:
    assert f"`takedown {name}" in README


def test_changelog_follows_keep_a_changelog() -> None:
    text = (Path(__file__).resolve().parent.parent / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text and "Keep a Changelog" in text


def test_every_metric_is_documented() -> None:
    from monitor.metrics import METRICS

    missing = [name for name in METRICS if f"| `{name}` |" not in README]
    assert missing == []
