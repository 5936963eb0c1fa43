"""``takedown stats`` over the analyst history: each statistic in each format, and
its errors. Called through ``CliRunner`` on the command group itself."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from analyst_world import XSS
from click.testing import CliRunner, Result

from monitor.db import Database
from spiders.cli.context import Ctx
from spiders.cli.stats import stats


def _run(url: str, tmp_path: Path, *args: str) -> Result:
    env = {"TAKEDOWN_DATABASE_URL": url, "TAKEDOWN_WATCHLIST": str(tmp_path / "none.toml")}
    return CliRunner().invoke(stats, list(args), obj=Ctx(tmp_path / "none.toml", 0), env=env)


def test_survival_table_json_and_csv(analyst_db_url: str, tmp_path: Path,
                                     analyst_world: Any) -> None:
    table = _run(analyst_db_url, tmp_path, "survival", "--by", "platform")
    assert table.exit_code == 0, table.output
    assert "10 min" in table.output and "24 h" in table.output
    assert table.output.rstrip().endswith("row(s)")
    doc = json.loads(_run(analyst_db_url, tmp_path, "survival", "--format", "json").output)
    assert doc["by"] == "all" and doc["curves"][0]["points"]
    rows = list(csv.DictReader(io.StringIO(
        _run(analyst_db_url, tmp_path, "survival", "--by", "platform", "--format", "csv")
        .output)))
    assert {r["key"] for r in rows} == set(analyst_world.platforms)
    assert len(rows) == 4 * len(analyst_world.platforms)


def test_rates_and_keywords(analyst_db_url: str, tmp_path: Path) -> None:
    rates = _run(analyst_db_url, tmp_path, "rates", "--by", "cause", "--period", "week",
                 "--format", "json")
    assert rates.exit_code == 0, rates.output
    assert all(r["period"] and r["posts"] is None for r in json.loads(rates.output))
    words = _run(analyst_db_url, tmp_path, "keywords", "--min-count", "1", "--top", "5")
    assert words.exit_code == 0, words.output
    assert "removed and" in words.output


def test_hostile_names_stay_plain(analyst_db_url: str, tmp_path: Path) -> None:
    """A terminal escape in an account name is dropped from the table; a formula is
    quoted in CSV."""
    with Database(analyst_db_url) as db, db.transaction() as conn:
        conn.execute("UPDATE posts SET author = %s WHERE id IN (SELECT id FROM posts LIMIT 3)",
                     ("=HYPERLINK(\"http://x\")\x1b[31m" + XSS[0],))
    table = _run(analyst_db_url, tmp_path, "rates", "--by", "account")
    assert table.exit_code == 0 and "\x1b" not in table.output
    rows = list(csv.reader(io.StringIO(
        _run(analyst_db_url, tmp_path, "rates", "--by", "account", "--format", "csv").output)))
    assert any(r[0].startswith("'=HYPERLINK") for r in rows)


@pytest.mark.parametrize("args, message", [
    (["survival", "--by", "author"], "Invalid value for '--by'"),
    (["rates", "--since", "last tuesday"], "give an ISO date/time or a duration"),
    (["rates", "--platform", "myspace"], "myspace"),
    (["keywords", "--limit", "0"], "Invalid value for '--limit'"),
])
def test_bad_options_say_what_to_do(analyst_db_url: str, tmp_path: Path, args: list[str],
                                    message: str) -> None:
    result = _run(analyst_db_url, tmp_path, *args)
    assert result.exit_code == 2 and message in result.output
