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


# --- the core never imports the Scrapy side, nor the application ------------------------

#: Top-level packages that ``monitor/`` (the core) must never import, in any form: the
#: crawler, our Scrapy side, the command line's toolkit and the alerts (the application
#: in ``spiders/cli/`` wires the core to them, never the other way round).
CORE_FORBIDDEN = frozenset({"scrapy", "twisted", "spiders", "click", "alerts"})
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


def core_import_violations(source: str) -> list[str]:
    """The imports that break the core's rule in a module of ``monitor/``: ``line: module``."""
    return [f"{line}: {module}" for line, module in imported_modules(source)
            if module.split(".")[0] in CORE_FORBIDDEN]


@pytest.mark.parametrize("source, bad", [
    ("import scrapy", ["1: scrapy"]),
    ("from twisted.internet import reactor", ["1: twisted.internet"]),
    ("import os, scrapy.http as h", ["1: scrapy.http"]),
    ("def f():\n    from scrapy import Request\n", ["2: scrapy"]),
    ("if TYPE_CHECKING:\n    import twisted\n", ["2: twisted"]),
    ("importlib.import_module('scrapy.crawler')", ["1: scrapy.crawler"]),
    ("m = __import__('twisted')", ["1: twisted"]),
    ("def f():\n    from spiders.crawl import crawl\n", ["2: spiders.crawl"]),
    ("import click", ["1: click"]),
    ("if TYPE_CHECKING:\n    from alerts.config import AlertConfig\n", ["2: alerts.config"]),
    ("importlib.import_module('spiders.sandbox')", ["1: spiders.sandbox"]),
    ("from .spiders import x\nimport scrapyard\nimport monitor.twisted\nimport clickhouse", []),
    ("log = logging.getLogger('scrapy')", []),
])
def test_the_import_check_finds_forbidden_imports(source: str, bad: list[str]) -> None:
    assert core_import_violations(source) == bad


def test_the_core_imports_neither_the_crawler_nor_the_application() -> None:
    """No ``scrapy``/``twisted``/``spiders``/``click``/``alerts`` import under ``monitor/``:
    inject the crawl instead (see ``Worker``); commands live in ``spiders/cli/``."""
    offenders = {}
    modules = _modules("monitor")
    for path in modules:
        found = core_import_violations(path.read_text(encoding="utf-8"))
        if found:
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert len(modules) > 20
    assert offenders == {}


def test_the_application_lives_outside_the_core() -> None:
    """The command line, the demo and the sandbox left ``monitor/`` for good."""
    gone = ["monitor/cli.py", "monitor/demo.py", "monitor/__main__.py", "monitor/commands",
            "monitor/sandbox"]
    assert [rel for rel in gone if (ROOT / rel).exists()] == []
    assert (ROOT / "spiders/cli/__main__.py").is_file()
    assert (ROOT / "spiders/sandbox/fake.py").is_file()


# --- the sandbox knows no platform by name ----------------------------------------------

#: The shared sandbox server's package: platforms plug in through their fakes.
SANDBOX = "spiders/sandbox"


def platform_words() -> set[str]:
    """Every registered platform's name and aliases, and each platform package's name."""
    from monitor.platforms import registry

    words = {"mastodon", "rss", "atom", "rednote", "xiaohongshu", "xhs", "webpage"}
    for platform in registry().platforms.values():
        words |= {platform.name, *platform.aliases}
    return {w.lower() for w in words}


def platform_literals(source: str, words: set[str]) -> list[str]:
    """String literals (docstrings aside) that name a platform as a word: ``line: text``.
    A name in a literal is how a branch on a platform looks (``if p == "rss"``,
    ``EXPECT[("mastodon", …)]``, ``world.post("rednote", …)``)."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    # A name of one or two letters (X's ``x``) is a word in too many other strings
    # (``-X POST``, ``X-Sandbox-Country``): it names the platform only as a whole literal.
    short = {w for w in words if len(w) <= 2}
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(map(re.escape, words - short)))
                         + r")(?![A-Za-z0-9_])", re.IGNORECASE)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docs and (pattern.search(node.value)
                                              or node.value.strip().lower() in short)):
            found.append(f"{node.lineno}: {node.value[:60]!r}")
    return found


@pytest.mark.parametrize("source, named", [
    ('if post.platform == "rss":\n    pass', True),
    ('EXPECT = {("mastodon", "edit"): 1}', True),
    ('kind = "application/rss+xml"', True),
    ('world.post("RedNote", uid)', True),
    ('"""The sandbox serves Mastodon, RSS and RedNote fakes."""', False),
    ('x = "rsshub"', False),
    ('if platform == "x":\n    pass', True),
    ('args = ["curl", "-X", "POST", "-H", "X-Sandbox-Country: DE"]', False),
    ('HIDDEN = {"cause": "hidden_from_feed"}', False),  # a cause, not the alias "feed"
    ('if fake.claims(path):\n    pass', False),
])
def test_the_platform_literal_check_finds_names(source: str, named: bool) -> None:
    assert bool(platform_literals(source, platform_words())) is named


def test_the_sandbox_has_no_platform_branches() -> None:
    """No file of ``spiders/sandbox/`` names a platform in a string: what differs by
    platform goes in that platform's fake (``spiders/<platform>/fake``), so that adding
    a platform touches no sandbox file."""
    words = platform_words()
    modules = _modules(SANDBOX)
    offenders = {}
    for path in modules:
        found = platform_literals(path.read_text(encoding="utf-8"), words)
        if found:
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert len(modules) > 8
    assert offenders == {}


def test_every_fake_is_found_through_the_registry() -> None:
    """Each built-in platform with sandbox support names its fake, and the sandbox loads
    it from there (not from a list kept by hand)."""
    from monitor.platforms import registry
    from spiders.sandbox import fakes

    named = {n for n, p in registry().platforms.items() if p.fake}
    assert {"mastodon", "rss", "rednote", "webpage"} <= named
    assert set(fakes()) == named


# --- the core knows no kind by name ----------------------------------------------------

#: Kind names the core must not branch on: a platform declares its kinds, and whether a
#: kind is one post (``Kind.post_ref``) or its value a URL (``Kind.value_is_url``).
KIND_NAMES = frozenset({"post", "account", "feed"})
#: SQL that compares a kind column with a literal name: ``kind = 'post'``,
#: ``t.kind <> 'feed'``, ``kind IN ('feed', 'post')``.
SQL_KIND = re.compile(r"\bkind\s*(?:=|<>|!=)\s*'(\w+)'|\bkind\s+(?:NOT\s+)?IN\s*\(([^)]*)\)",
                      re.IGNORECASE)


def _is_kind(node: ast.expr) -> bool:
    """``kind``, ``x.kind`` or ``x["kind"]``: what holds a target's kind."""
    if isinstance(node, ast.Name):
        return node.id == "kind"
    if isinstance(node, ast.Attribute):
        return node.attr == "kind"
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and node.slice.value == "kind")


def _names(node: ast.expr) -> set[str]:
    """The string constants ``node`` is, or holds (a tuple, list or set of them)."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}


def kind_names_in(source: str) -> list[str]:
    """Where ``source`` compares a kind with a kind's name, in Python or in SQL text."""
    found = []
    tree = ast.parse(source)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for a, b in zip(sides, sides[1:], strict=False):
                for held, name in ((a, b), (b, a)):
                    if _is_kind(held) and (named := _names(name) & KIND_NAMES):
                        found.append(f"{node.lineno}: kind compared with {sorted(named)}")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docs):
            for match in SQL_KIND.finditer(node.value):
                named = {match[1]} if match[1] else set(re.findall(r"'(\w+)'", match[2]))
                if named & KIND_NAMES:
                    found.append(f"{node.lineno}: {' '.join(match[0].split())!r}")
    return found


@pytest.mark.parametrize("source, bad", [
    ('if target.kind == "post":\n    pass', ["1: kind compared with ['post']"]),
    ('x = "post" != t.kind', ["1: kind compared with ['post']"]),
    ('own = row["kind"] in ("feed", "post")', ["1: kind compared with ['feed', 'post']"]),
    ('single = kind not in {"post"}', ["1: kind compared with ['post']"]),
    ('q = "WHERE active AND kind <> \'post\' AND x"', ['1: "kind <> \'post\'"']),
    ('q = "CASE WHEN t.kind = \'post\' THEN 1"', ['1: "kind = \'post\'"']),
    ('q = "AND kind IN (\'feed\', \'post\')"', ['1: "kind IN (\'feed\', \'post\')"']),
    # Not kind names: an observation's post, the spool's "post" key, a mode, prose.
    ('if obs.post is not None and d["post"]:\n    pass', []),
    ('d["post"] = encode(obs.post)', []),
    ('if obs.mode == "probe" and kind == "thread":\n    pass', []),
    ('"""A post target: kind = \'post\' before migration 7."""', []),
    ('if suspicion.kind == "absence":\n    pass', []),
    ('q = "SELECT kind, single_post FROM targets WHERE single_post"', []),
])
def test_the_kind_check_finds_kind_names(source: str, bad: list[str]) -> None:
    assert kind_names_in(source) == bad


def test_the_core_names_no_kind() -> None:
    """No module of ``monitor/`` compares a target's kind with ``post`` (or ``feed``,
    ``account``): read ``TargetRow.single_post`` / ``targets.single_post`` or the
    platform's ``Kind`` declaration instead, so that a platform may call its kinds
    what it likes (``thread``, ``page``…)."""
    offenders = {}
    modules = _modules("monitor")
    for path in modules:
        found = kind_names_in(path.read_text(encoding="utf-8"))
        if found:
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert len(modules) > 20
    assert offenders == {}


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


# --- test helpers: `conftest` is whichever test folder's conftest was loaded last -------


def test_no_test_imports_helpers_from_conftest() -> None:
    """Each test folder has a ``conftest.py``, all imported under the one name
    ``conftest``, so ``from conftest import helper`` gets whichever folder's was loaded
    last (the crawling tests failed so once the web tests had a conftest). Helpers live
    in modules of their own (``crawl_helpers``, ``export_helpers``, ``access_helpers``)."""
    found = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for path in sorted((ROOT / "tests").rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.ImportFrom) and node.module == "conftest"
             or isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names)]
    assert found == []


#: The recorder's modules: the lifecycle, the diff engine and its libraries, the
#: evidence archive, the recording SQL.
RECORDER_MODULES = ("monitor.snapshot", "monitor.lifecycle", "monitor.diff", "monitor.words",
                    "monitor.reading", "monitor.archive", "monitor.db.tracking", "rapidfuzz",
                    "regex", "warcio")


def test_a_worker_that_records_in_a_process_loads_no_recording_code() -> None:
    """With ``RECORDER = process`` the crawl never records, so the crawl's process
    (the command line, the worker, the continuous loop, the recorder's parent side,
    the alerts and every platform's spider) imports none of the recorder's modules:
    they are the recorder process's memory alone. (The other way round, the recorder
    process, spawned, runs the ``takedown`` script's one import again, which stays
    light: ``tests/test_recorder_process.py``.) A fresh interpreter, because this one
    has loaded everything."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import alerts, spiders.cli\n"
        "import monitor.worker, monitor.continuous, monitor.recorder_process\n"
        "from monitor.platforms import PLATFORMS\n"
        "from spiders.crawl import spider_class\n"
        "names = list(PLATFORMS)\n"
        "for name in names:\n"
        "    spider_class(name)\n"
        f"print(len(names), [m for m in {RECORDER_MODULES!r} if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split(maxsplit=1)
    assert int(out[0]) >= 11, out  # every platform's spider was loaded
    assert out[1].strip() == "[]", f"the crawl's process loads recording code: {out[1]}"
