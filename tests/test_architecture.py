"""Architecture checks a reviewer can run: the layers keep to their contracts."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The stores: the only modules that speak SQL (one per package with its own migrations).
SQL_STORES = ("monitor/db/", "alerts/store.py")

#: SQL as this project writes it: upper-case keywords in a string literal.
SQL = re.compile(r"\bSELECT\s|\bINSERT\s+INTO\b|\bUPDATE\s+\w+(\s+\w+)?\s+SET\b"
                 r"|\bDELETE\s+FROM\b|\bCOPY\s+\w+|\bpg_advisory")
#: Calls that send SQL to a connection or cursor (``cursor.copy`` is caught by its
#: ``COPY`` string: ``.copy()`` alone is a dict's).
SQL_CALLS = {"execute", "executemany"}


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose may name SQL keywords)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                found.add(id(body[0].value))
    return found


def sql_in(source: str) -> list[str]:
    """Where ``source`` speaks SQL: ``line: what``, for an assertion message."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS):
            found.append(f"{node.lineno}: .{node.func.attr}(...)")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docs and SQL.search(node.value)):
            found.append(f"{node.lineno}: {' '.join(node.value.split())[:60]!r}")
    return found


@pytest.mark.parametrize("source, speaks", [
    ('conn.execute("SELECT 1")', True),
    ('rows = db.executemany(q, [])', True),
    ('q = "DELETE FROM targets WHERE id = %s"', True),
    ('q = "UPDATE posts p SET lease_until = NULL"', True),
    ('q = "INSERT INTO events (id) VALUES (1)"', True),
    ('q = "SELECT pg_advisory_xact_lock(1, 2)"', True),
    ('with cur.copy("COPY posts FROM STDIN") as c: pass', True),
    ('"""Claims use SELECT ... FOR UPDATE SKIP LOCKED (prose in a docstring)."""', False),
    ('msg = "select the posts to show"', False),
    ('log.info("updated %d posts", n)', False),
    ('known = row.copy()', False),
])
def test_the_sql_check_finds_sql_and_only_sql(source: str, speaks: bool) -> None:
    assert bool(sql_in(source)) is speaks


def test_only_the_stores_speak_sql() -> None:
    """No SQL in ``monitor/``, ``alerts/`` or ``spiders/`` outside ``monitor/db/`` and
    ``alerts/store.py``: move a query behind a store function instead."""
    offenders = {}
    checked = 0
    for path in _modules("monitor", "alerts", "spiders"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(SQL_STORES):
            continue
        checked += 1
        found = sql_in(path.read_text(encoding="utf-8"))
        if found:
            offenders[rel] = found
    assert checked > 30  # the walk saw the packages
    assert offenders == {}


def test_the_stores_do_speak_sql() -> None:
    """The check would see SQL where it is: the exemption is not what keeps it quiet."""
    for store in ("monitor/db/tracking.py", "alerts/store.py"):
        assert sql_in((ROOT / store).read_text(encoding="utf-8")), store
