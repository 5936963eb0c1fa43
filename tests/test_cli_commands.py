"""The ``takedown`` group loads the commands of other modules only when they are used."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from spiders.cli import app
from spiders.cli.app import LAZY_COMMANDS, cli, load_command


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_every_lazy_command_loads_under_its_own_name(name: str) -> None:
    command = load_command(name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert cli.get_command(click.Context(cli), name) is command


def test_help_lists_the_commands_of_every_module() -> None:
    done = CliRunner().invoke(cli, ["--help"])
    assert done.exit_code == 0, done.output
    listed = {line.split()[0] for line in done.output.split("Commands:")[1].splitlines()
              if line.strip()}
    assert listed == {*LAZY_COMMANDS, "check", "run", "sandbox", "demo"}


def test_a_lazy_command_runs_from_the_command_line() -> None:
    done = CliRunner().invoke(cli, ["platforms", "--json"])
    assert done.exit_code == 0, done.output
    assert "mastodon" in {json.loads(line)["name"] for line in done.output.splitlines()}


def test_an_entry_naming_another_command_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.LAZY_COMMANDS, "events", "spiders.cli.records:history")
    with pytest.raises(TypeError, match="not the 'events' command"):
        load_command("events")


def test_an_unknown_command_is_still_named() -> None:
    done = CliRunner().invoke(cli, ["evnets"])
    assert done.exit_code == 2
    assert "No such command 'evnets'" in done.output


def test_check_does_not_import_what_only_other_commands_use() -> None:
    """A worker's ``check`` pays no import of the statistics, the capture importers, the
    web server or the other commands' modules (a fresh interpreter: nothing loaded yet)."""
    code = ("import sys, click\n"
            "from spiders.cli import cli\n"
            "cli.get_command(click.Context(cli), 'check')\n"
            "print(sorted(sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    loaded = set(eval(done.stdout))  # noqa: S307 (our own child's repr of a list of str)
    unused = {"numpy", "monitor.stats", "spiders.cli.stats", "spiders.cli.imports",
              "spiders.cli.serve", "spiders.cli.exports", "spiders.cli.evidence",
              "spiders.cli.access", "spiders.cli.records", "spiders.cli.watch", "alerts.cli",
              "monitor.api"}
    assert loaded & unused == set()
    assert "spiders.cli.app" in loaded  # the probe did load the group
