"""The README documents every setting, event kind, cause and command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from monitor.events import CAUSES, EVENT_KINDS
from monitor.settings import SETTINGS, settings_table
from spiders.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_setting_is_documented(name: str) -> None:
    assert f"| `{name}` |" in README


def settings_rows(readme: str) -> dict[str, tuple[str, str]]:
    """The ``## Settings`` table of ``readme``: name → (default as shown, help text)."""
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            name, default, meaning = (cell.strip() for cell in line.strip("|").split(" | "))
            rows[name.strip("`")] = (default, meaning)
    return rows


def settings_table_problems(readme: str) -> list[str]:
    """How the README's settings table differs from the model (names, defaults, help)."""
    documented = settings_rows(readme)
    wanted = settings_rows("\n## Settings\n" + settings_table())
    problems = [f"{name}: not in the README" for name in wanted if name not in documented]
    problems += [f"{name}: no such setting" for name in documented if name not in wanted]
    for name, (default, meaning) in wanted.items():
        if name in documented and documented[name][0] != default:
            problems.append(f"{name}: the README says default {documented[name][0]}, "
                            f"the model {default}")
        if name in documented and documented[name][1] != meaning:
            problems.append(f"{name}: the README's help text differs from the model's")
    return problems


def test_the_settings_table_matches_the_model() -> None:
    """Regenerate it with ``python -m monitor.settings --markdown``."""
    assert settings_table_problems(README) == []
    assert settings_table() in README


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("| `CONFIRM_SPACING` | `5m` |", "| `CONFIRM_SPACING` | `10m` |",
     "CONFIRM_SPACING: the README says default `10m`, the model `5m`"),
    ("| `DATABASE_URL` | (empty) |", "| `DATABASE_URL` | `x` |",
     "DATABASE_URL: the README says default `x`, the model (empty)"),
    ("Honour robots.txt.", "Obey robots.txt.",
     "ROBOTSTXT_OBEY: the README's help text differs from the model's"),
    ("| `TICK` |", "| `TOCK` |", "TICK: not in the README"),
])
def test_the_settings_table_check_finds_a_wrong_row(old: str, new: str, problem: str) -> None:
    assert old in README
    assert problem in settings_table_problems(README.replace(old, new, 1))


@pytest.mark.parametrize("name", sorted(EVENT_KINDS) + sorted(CAUSES))
def test_every_event_kind_and_cause_is_documented(name: str) -> None:
    assert f"| `{name}` |" in README


@pytest.mark.parametrize("name", cli.list_commands(click.Context(cli)))
def test_every_command_is_documented(name: str) -> None:
    assert f"`takedown {name}" in README


def test_changelog_follows_keep_a_changelog() -> None:
    text = (Path(__file__).resolve().parent.parent / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text and "Keep a Changelog" in text


def test_every_metric_is_documented() -> None:
    from monitor.metrics import METRICS

    missing = [name for name in METRICS if f"| `{name}` |" not in README]
    assert missing == []
