"""``takedown export``, run through click as a user runs it, against the analyst
history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from export_helpers import read_back
from lxml import etree

from monitor.db import Database
from monitor.exports import TABLES, research_table
from spiders.cli.context import Ctx
from spiders.cli.exports import export


@click.group()
@click.pass_context
def root(ctx: click.Context) -> None:
    # The lead registers `export` in `takedown`; until then, a group of its own.
    ctx.obj = Ctx(Path("/nonexistent/watchlist.toml"), 0)


root.add_command(export)


@pytest.fixture
def run(analyst_db_url: str) -> Any:
    def invoke(*args: str, **env: str) -> Result:
        env = {"TAKEDOWN_DATABASE_URL": analyst_db_url, **env}
        return CliRunner().invoke(root, ["export", *args], env=env)

    return invoke


def _count(db: Database, table: str) -> int:
    with db.transaction() as conn:
        return int(conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"])  # noqa: S608


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_go_to_standard_output(run: Any, analyst_db: Database, fmt: str) -> None:
    result = run("events", "--format", fmt)
    assert result.exit_code == 0, result.output
    columns, rows = read_back(result.stdout_bytes, fmt)
    assert len(rows) == _count(analyst_db, "events")
    assert columns == TABLES["events"].names


def test_parquet_needs_a_file(run: Any, tmp_path: Path, analyst_db: Database) -> None:
    result = run("posts", "--format", "parquet")
    assert result.exit_code == 2
    assert "-o FILE.parquet" in result.output
    out = tmp_path / "posts.parquet"
    result = run("posts", "--format", "parquet", "-o", str(out), "--platform", "weibo")
    assert result.exit_code == 0, result.output
    _, rows = read_back(out.read_bytes(), "parquet")
    assert rows and {r["platform"] for r in rows} == {"weibo"}
    assert not (tmp_path / "posts.parquet.part").exists()


def test_filters_are_checked_as_takedown_events_checks_them(run: Any) -> None:
    result = run("events", "--group", "sandbx")
    assert result.exit_code == 2 and "did you mean 'sandbox'" in result.output
    result = run("versions", "--kind", "exploded")
    assert result.exit_code == 2 and "known kinds" in result.output
    result = run("events", "--format", "xlsx")
    assert result.exit_code == 2


def test_a_failed_export_leaves_no_file(run: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    result = run("events", "-o", str(out), TAKEDOWN_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")
    assert result.exit_code != 0
    assert not out.exists() and not (tmp_path / "events.csv.part").exists()


def test_research_export(run: Any, analyst_db: Database, tmp_path: Path) -> None:
    result = run("research", "--format", "jsonl", PSEUDONYM_SECRET="k")
    assert result.exit_code == 0, result.output
    columns, rows = read_back(result.stdout_bytes, "jsonl")
    assert columns == research_table("events", b"k").names
    assert len(rows) == _count(analyst_db, "events")  # no group needs review here
    out = tmp_path / "posts.csv"
    result = run("research", "--table", "posts", "--with-text", "-o", str(out))
    assert result.exit_code == 0, result.output
    columns, rows = read_back(out.read_bytes(), "csv")
    assert columns == research_table("posts", b"k", with_text=True).names
    assert len(rows) == _count(analyst_db, "posts")


def test_atom_feed(run: Any, analyst_db: Database) -> None:
    result = run("atom", "--platform", "weibo", "--limit", "500",
                 "--base-url", "https://monitor.example/sub")
    assert result.exit_code == 0, result.output
    root = etree.fromstring(result.stdout_bytes)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = root.findall("a:entry", ns)
    with analyst_db.transaction() as conn:
        weibo = conn.execute("SELECT count(*) AS n FROM events WHERE platform = 'weibo'"
                             ).fetchone()["n"]
    assert len(entries) == weibo > 0
    assert all(e.find("a:link", ns).get("href").startswith("https://monitor.example/sub/posts/")
               for e in entries)
    public = run("atom", "--public", PSEUDONYM_SECRET="k")
    assert public.exit_code == 0, public.output
    authors = etree.fromstring(public.stdout_bytes).findall("a:entry/a:author/a:name", ns)
    assert authors and all(a.text.startswith("anon-") for a in authors)
    assert run("atom", "--platform", "mastodn").exit_code == 2


def test_a_file_cut_off_by_an_error_is_removed(tmp_path: Path) -> None:
    from spiders.cli.exports import _write

    def chunks() -> Any:
        yield b"id\n1\n"
        raise RuntimeError("the database went away")

    out = tmp_path / "events.csv"
    out.write_bytes(b"an earlier export\n")
    with pytest.raises(RuntimeError):
        _write(chunks(), out)
    assert out.read_bytes() == b"an earlier export\n"  # untouched
    assert not (tmp_path / "events.csv.part").exists()
