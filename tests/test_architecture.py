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


# --- the core never imports the Scrapy side --------------------------------------------

#: Top-level packages that ``monitor/`` (the core) must never import, in any form.
CRAWLER_PACKAGES = frozenset({"scrapy", "twisted"})
#: Our own Scrapy side; only the application entry points below may import it.
SPIDERS = "spiders"
#: The modules of ``monitor/`` allowed to import ``spiders``: the application entry
#: points, which assemble the parts (``takedown run``/``check`` hand the worker
#: ``spiders.crawl.crawl``; the demo runs on the same crawl loop). They import it inside
#: the commands that crawl, and the issue (#7) wants them out of the core eventually.
#: ``scrapy``/``twisted`` themselves stay forbidden even here.
SPIDERS_ALLOWED = frozenset({"monitor/cli.py", "monitor/demo.py", "monitor/__main__.py"})
#: Calls that import a module named by a string.
IMPORT_CALLS = {"import_module", "__import__"}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every absolute module ``source`` imports, anywhere (inside functions and
    ``TYPE_CHECKING`` blocks too): ``import``, ``from … import`` and
    ``importlib.import_module("…")``/``__import__("…")`` with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in IMPORT_CALLS:
                found.append((node.lineno, node.args[0].value))
    return found


def core_import_violations(rel: str, source: str) -> list[str]:
    """The imports that break the core's rule in the module at ``rel``: ``line: module``."""
    bad = []
    for line, module in imported_modules(source):
        top = module.split(".")[0]
        if top in CRAWLER_PACKAGES or (top == SPIDERS and rel not in SPIDERS_ALLOWED):
            bad.append(f"{line}: {module}")
    return bad


@pytest.mark.parametrize("rel, source, bad", [
    ("monitor/x.py", "import scrapy", ["1: scrapy"]),
    ("monitor/x.py", "from twisted.internet import reactor", ["1: twisted.internet"]),
    ("monitor/x.py", "import os, scrapy.http as h", ["1: scrapy.http"]),
    ("monitor/x.py", "def f():\n    from scrapy import Request\n", ["2: scrapy"]),
    ("monitor/x.py", "if TYPE_CHECKING:\n    import twisted\n", ["2: twisted"]),
    ("monitor/x.py", "importlib.import_module('scrapy.crawler')", ["1: scrapy.crawler"]),
    ("monitor/x.py", "m = __import__('twisted')", ["1: twisted"]),
    ("monitor/x.py", "def f():\n    from spiders.crawl import crawl\n", ["2: spiders.crawl"]),
    ("monitor/cli.py", "def f():\n    from spiders.crawl import crawl\n", []),
    ("monitor/cli.py", "def f():\n    import scrapy\n", ["2: scrapy"]),
    ("monitor/x.py", "from .spiders import x\nimport scrapyard\nimport monitor.twisted", []),
    ("monitor/x.py", "log = logging.getLogger('scrapy')", []),
])
def test_the_import_check_finds_crawler_imports(rel: str, source: str, bad: list[str]) -> None:
    assert core_import_violations(rel, source) == bad


def test_the_core_never_imports_the_crawler() -> None:
    """No ``scrapy``/``twisted`` import under ``monitor/``, and ``spiders`` only in the
    entry points of :data:`SPIDERS_ALLOWED`: inject the crawl instead (see ``Worker``)."""
    offenders = {}
    modules = _modules("monitor")
    for path in modules:
        rel = path.relative_to(ROOT).as_posix()
        found = core_import_violations(rel, path.read_text(encoding="utf-8"))
        if found:
            offenders[rel] = found
    assert len(modules) > 20
    assert offenders == {}


def test_the_allowed_entry_points_exist() -> None:
    """An allowance for a module that is gone would hide a new one of the same name."""
    assert all((ROOT / rel).is_file() for rel in SPIDERS_ALLOWED)


# --- sizes ---------------------------------------------------------------------------

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
#: A long function states why on the line before its ``def`` or in its first lines:
#: ``# long:`` and the reason.
LONG_REASON = re.compile(r"#\s*long:\s*\S")


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions over ``limit`` lines (decorators not counted) without a ``# long:``
    reason in the comment block right above the ``def`` (and its decorators), on the
    ``def`` line, or on the two lines after it."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            top = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
            while top > 0 and lines[top - 1].lstrip().startswith("#"):
                top -= 1  # the comment block right above, however long
            near = lines[top : node.lineno + 2]
            if length > limit and not any(LONG_REASON.search(line) for line in near):
                found.append(f"{node.lineno}: {node.name} ({length} lines)")
    return found


def _body(n: int) -> str:
    return "".join("    x = 1\n" for _ in range(n))


@pytest.mark.parametrize("source, long", [
    ("def f():\n" + _body(79), []),  # 80 lines, the limit
    ("def f():\n" + _body(80), ["1: f (81 lines)"]),
    ("class C:\n    def m(self):\n" + _body(90).replace("    ", "        "),
     ["2: m (91 lines)"]),
    ("async def f():\n" + _body(80), ["1: f (81 lines)"]),
    ("# long: a table of settings, one per line\ndef f():\n" + _body(80), []),
    ("def f():\n    # long: a linear sequence of steps\n" + _body(80), []),
    ("# long: a click command's options\n@cli.command()\n@opt\ndef f():\n" + _body(80), []),
    ("# long: the reason, which\n# goes on here\ndef f():\n" + _body(80), []),
    ("# long: not this one's\nx = 1\ndef f():\n" + _body(80), ["3: f (81 lines)"]),
    ("# long:\ndef f():\n" + _body(80), ["2: f (81 lines)"]),  # a reason, not just the tag
    ("# long: reason for g only\ndef g():\n    pass\n\n\ndef f():\n" + _body(80),
     ["6: f (81 lines)"]),
])
def test_the_function_check_finds_long_functions(source: str, long: list[str]) -> None:
    assert long_functions(source) == long


def test_no_module_is_over_500_lines() -> None:
    """Split a module by responsibility before it reaches the limit (physical lines)."""
    modules = _modules("monitor", "spiders", "alerts")
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in modules}
    assert len(sizes) > 30
    assert {rel: n for rel, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_is_over_80_lines_without_a_reason() -> None:
    """Split a long function, or say why not in a ``# long:`` comment above its ``def``."""
    offenders = {}
    modules = _modules("monitor", "spiders", "alerts")
    for path in modules:
        found = long_functions(path.read_text(encoding="utf-8"))
        if found:
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert len(modules) > 30
    assert offenders == {}
