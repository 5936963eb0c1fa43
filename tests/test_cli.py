"""The command line, run as a user runs it, against a real database."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.sandbox import Sandbox


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory, pg_server_url: str,
            pg_template: str) -> dict[str, str]:
    """A database filled by `takedown check --once` over the sandbox, run twice."""
    import uuid

    import psycopg
    from psycopg import sql

    name = f"takedown_cli_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(pg_template)))
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    tmp = tmp_path_factory.mktemp("cli")
    watchlist = tmp / "watchlist.toml"
    with Sandbox(seed=2, scenario="demo") as sb:
        watchlist.write_text('[settings]\nconfirm_spacing = "0s"\nconfirm_retry = "0s"\n'
                             'recheck_schedule = "0s"\n\n' + sb.watchlist_toml(interval="1s"),
                             encoding="utf-8")
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": url, "TAKEDOWN_WATCHLIST": str(watchlist)}
        outputs = []
        for _ in range(4):
            done = subprocess.run([sys.executable, "-m", "monitor", "check", "--once"], env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
            sb.step(3)
    yield {"url": url, "watchlist": str(watchlist), "output": "".join(outputs)}
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def invoke(checked: dict[str, str], *args: str) -> str:
    env = {"TAKEDOWN_DATABASE_URL": checked["url"], "TAKEDOWN_WATCHLIST": checked["watchlist"]}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_check_once_prints_events_and_a_summary(checked: dict[str, str]) -> None:
    assert "checked" in checked["output"] and "observation(s)" in checked["output"]
    assert " edited " in checked["output"]


def test_events_in_three_formats(checked: dict[str, str]) -> None:
    table = invoke(checked, "events")
    assert "detected_at" in table.splitlines()[0] and "event(s)" in table
    lines = invoke(checked, "events", "--format", "json").splitlines()
    records = [json.loads(line) for line in lines]
    assert records and all(r["kind"] in {"edited", "disappeared", "hidden", "restored"}
                           for r in records)
    assert all("evidence" in r and "lifetime_seconds" in r for r in records)
    rows = list(csv.DictReader(io.StringIO(invoke(checked, "events", "--format", "csv"))))
    assert len(rows) == len(records)
    edited = invoke(checked, "events", "--kind", "edited", "--format", "json").splitlines()
    assert edited and all(json.loads(x)["kind"] == "edited" for x in edited)
    rss = [json.loads(x) for x in invoke(checked, "events", "--platform", "rss", "--format",
                                         "json").splitlines()]
    assert all(r["platform"] == "rss" for r in rss)
    assert invoke(checked, "events", "--until", "2000-01-01").endswith("0 event(s)\n")


def test_history_shows_versions_diffs_and_timeline(checked: dict[str, str]) -> None:
    record = json.loads(invoke(checked, "events", "--kind", "edited", "--format", "json"
                               ).splitlines()[0])
    out = invoke(checked, "history", record["post_key"])
    assert "Versions (2" in out or "Versions (3" in out
    assert "[-" in out or "{+" in out
    assert "Observations" in out and "Events" in out and "edited" in out


def test_history_of_an_unknown_post_says_what_to_do(checked: dict[str, str]) -> None:
    env = {"TAKEDOWN_DATABASE_URL": checked["url"], "TAKEDOWN_WATCHLIST": checked["watchlist"]}
    result = CliRunner().invoke(cli, ["history", "no-such-post"], env=env)
    assert result.exit_code == 1
    assert "takedown events" in result.output


def test_status_lists_every_target(checked: dict[str, str]) -> None:
    out = invoke(checked, "status")
    assert "10 target(s)" in out
    assert "mastodon:alice" in out


def test_watch_add_list_remove(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["-w", str(path), "watch", "add", "mastodon",
                                 "alice@example.social", "--group", "hk"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["-w", str(path), "watch", "add", "rss",
                                 "https://news.example/feed.xml"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["-w", str(path), "watch", "list"]).output
    assert "alice@example.social" in listed and "https://news.example/feed.xml" in listed
    result = runner.invoke(cli, ["-w", str(path), "watch", "remove",
                                 "https://news.example/feed.xml"])
    assert result.exit_code == 0, result.output
    assert "feed.xml" not in runner.invoke(cli, ["-w", str(path), "watch", "list"]).output


def test_unknown_platform_and_broken_watchlist_give_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('[groups.x]\n[[groups.x.targets]]\nplatform = "tiktokk"\naccount = "a"\n',
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "monitor", "-w", str(path), "check", "--once"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown platform 'tiktokk'" in done.stderr
    assert "mastodon, rednote, rss" in done.stderr
    assert "Traceback" not in done.stderr
