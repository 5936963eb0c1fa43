"""``monitor.observation.SIGNALS`` documents what is emitted (issue 7): every literal
key a spider or the core writes into an observation's signals is documented there,
and every documented key is still written somewhere or read by the core.

The keys are collected from the source by AST, never by importing and running
the spiders; the collector is tested on snippets first, so it cannot find nothing.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monitor.observation import SIGNALS

ROOT = Path(__file__).resolve().parent.parent
#: Where observations are made (spiders/) or amended (monitor/: the sanitiser).
EMITTERS = ("spiders", "monitor")
CORE = "monitor"
#: dict methods whose result is not a function of ours that builds signals.
_DICT_METHODS = frozenset({"get", "pop", "copy", "setdefault", "items", "keys", "values"})
#: In the core, the classifier merges context and every probe's signals into one
#: mapping it reads by these names (monitor.classify._signals).
_MERGED = frozenset({"ctx", "context"})

Where = list[str]  # "path:line" of each place


def _named(name: str) -> bool:
    return name == "signals" or name.endswith("_signals")


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def is_signals(node: ast.AST) -> bool:
    """``signals``, ``x.signals``, ``x.extra_signals``, ``x["signals"]``, ``x.get("signals")``."""
    if isinstance(node, ast.Name):
        return _named(node.id)
    if isinstance(node, ast.Attribute):
        return _named(node.attr)
    if isinstance(node, ast.Subscript):
        return _text(node.slice) == "signals"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "get" and bool(node.args) and _text(node.args[0]) == "signals"
    return False


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


@dataclass
class Found:
    """Literal signal keys, each with where it was written (or read)."""

    written: dict[str, Where] = field(default_factory=lambda: defaultdict(list))
    read: dict[str, Where] = field(default_factory=lambda: defaultdict(list))
    #: Functions whose result becomes signals (``signals=feed.signals()``,
    #: ``obs.signals.update(batch.evidence(item))``), by name, with where used.
    producers: dict[str, Where] = field(default_factory=lambda: defaultdict(list))


class _Collector(ast.NodeVisitor):
    def __init__(self, where: str, found: Found, core: bool) -> None:
        self.where, self.found, self.core = where, found, core

    def _at(self, node: ast.AST) -> str:
        return f"{self.where}:{getattr(node, 'lineno', 0)}"

    def value(self, node: ast.AST | None, at: ast.AST) -> None:
        """Keys of a value that becomes signals: a dict literal, ``dict(k=…)``, a branch
        of ``a if c else b`` or ``a or b``, or the result of one of our functions."""
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if (text := _text(key)) is not None:
                    self.found.written[text].append(self._at(at))
        elif isinstance(node, ast.IfExp):
            self.value(node.body, at)
            self.value(node.orelse, at)
        elif isinstance(node, ast.BoolOp):
            for part in node.values:
                self.value(part, at)
        elif isinstance(node, ast.Call):
            name = _callee(node)
            if name == "dict":
                for kw in node.keywords:
                    if kw.arg:
                        self.found.written[kw.arg].append(self._at(at))
                for arg in node.args:
                    self.value(arg, at)
            elif name and name not in _DICT_METHODS:
                self.found.producers[name].append(self._at(at))

    def _target(self, target: ast.AST, value: ast.AST | None, node: ast.AST) -> None:
        if isinstance(target, ast.Subscript) and is_signals(target.value):
            if (key := _text(target.slice)) is not None:
                self.found.written[key].append(self._at(node))
        elif is_signals(target):
            self.value(value, node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node.value, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node.value, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:  # signals["n"] += 1; signals |= {…}
        self._target(node.target, node.value if isinstance(node.op, ast.BitOr) else None, node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and is_signals(func.value):
            if func.attr == "update":
                for arg in node.args:
                    self.value(arg, node)
                for kw in node.keywords:
                    if kw.arg:
                        self.found.written[kw.arg].append(self._at(node))
                    else:
                        self.value(kw.value, node)
            elif func.attr in ("setdefault", "get") and node.args:
                if (key := _text(node.args[0])) is not None:
                    kind = self.found.written if func.attr == "setdefault" else self.found.read
                    kind[key].append(self._at(node))
        elif (self.core and isinstance(func, ast.Attribute) and func.attr == "get"
              and isinstance(func.value, ast.Name) and func.value.id in _MERGED and node.args
              and (key := _text(node.args[0])) is not None):
            self.found.read[key].append(self._at(node))
        for kw in node.keywords:  # Observation(signals={…}), Notice(extra_signals={…})
            if kw.arg and _named(kw.arg):
                self.value(kw.value, node)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:  # {"signals": {…}}
        for key, value in zip(node.keys, node.values, strict=True):
            if _text(key) == "signals":
                self.value(value, node)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if (isinstance(node.ctx, ast.Load) and is_signals(node.value)
                and (key := _text(node.slice)) is not None):
            self.found.read[key].append(self._at(node))
        self.generic_visit(node)


def _returned(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[tuple[ast.AST, ast.AST]]:
    """What a producer function builds: each returned value, and for ``return out``
    every ``out = {…}`` / ``out["k"] = …`` in its body, as (value-or-target, node)."""
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            if isinstance(node.value, ast.Name):
                names.add(node.value.id)
            else:
                yield node.value, node
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names:
                    yield node.value or ast.Constant(None), node
                elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                      and target.value.id in names):
                    yield ast.Dict(keys=[target.slice], values=[ast.Constant(None)]), node


def collect(sources: Iterable[tuple[str, str]], core: Iterable[str] = ()) -> Found:
    """Signal keys written (and read) in ``sources`` ((where, text) pairs); reads through
    the classifier's merged mapping count only in files named in ``core``."""
    found = Found()
    trees = {where: ast.parse(text) for where, text in sources}
    core = set(core)
    for where, tree in trees.items():
        _Collector(where, found, where in core).visit(tree)
    functions: dict[str, list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]] = \
        defaultdict(list)
    for where, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[node.name].append((where, node))
    done: set[str] = set()
    while pending := [name for name in found.producers if name not in done]:
        for name in pending:  # a producer may call another producer
            done.add(name)
            for where, fn in functions.get(name, ()):
                visitor = _Collector(where, found, where in core)
                for value, node in _returned(fn):
                    visitor.value(value, node)
    return found


def collect_source(text: str) -> set[str]:
    return set(collect([("snippet.py", text)]).written)


# --- the collector, on snippets ---------------------------------------------------

@pytest.mark.parametrize(("snippet", "keys"), [
    ('signals["a"] = 1', {"a"}),
    ('obs.signals["a"] = 1', {"a"}),
    ('obs.signals["a"] += 1', {"a"}),
    ('job.state["signals"]["a"] = 1', {"a"}),
    ('job.state.get("signals")["a"] = 1', {"a"}),
    ('self.extra_signals["a"] = 1', {"a"}),
    ('signals.update({"a": 1, "b": 2})', {"a", "b"}),
    ('obs.signals.update(a=1, **more)', {"a"}),
    ('obs.signals.update(dict(a=1))', {"a"}),
    ('obs.signals.setdefault("a", 0)', {"a"}),
    ('signals |= {"a": 1}', {"a"}),
    ('signals = {**old, "a": not done}', {"a"}),
    ('signals: dict[str, int] = {"a": 1}', {"a"}),
    ('yield self.conclude(job, Outcome.OK, signals={"a": 1})', {"a"}),
    ('Notice(Outcome.OK, extra_signals={"a": rule.name})', {"a"}),
    ('conclude(signals={"a": 1} if said else {"b": 2})', {"a", "b"}),
    ('conclude(signals=extra or {"a": 1})', {"a"}),
    ('out.append({"outcome": "ok", "signals": {"a": 1}})', {"a"}),
    ('job.state.update(base=b, signals={"a": 1})', {"a"}),
    # Through a function of ours that builds them, however deep.
    ('def signals(self):\n    return {"a": 1}\nconclude(signals=feed.signals())', {"a"}),
    ('def signals(self):\n    out = dict(self.x)\n    out["a"] = 1\n    return out\n'
     'Observation(signals=n.signals())', {"a"}),
    ('def evidence(self, item):\n    return {"a": 1}\n'
     'obs.signals.update(batch.evidence(item))', {"a"}),
    ('def inner():\n    return {"a": 1}\ndef outer():\n    return inner()\n'
     'conclude(signals=outer())', {"a"}),
])
def test_the_collector_finds_each_way_of_writing_a_signal(snippet: str, keys: set[str]) -> None:
    assert collect_source(snippet) == keys


@pytest.mark.parametrize("snippet", [
    'other["a"] = 1',
    'x = signals["a"]',  # a read, not a write
    'x = obs.signals.get("a")',
    'signals[key] = 1',  # not a literal
    'job.state["other"]["a"] = 1',
    'job.state.update(pages=0, entries=[], signals={})',
    'crawler.signals.connect(handler, signal=item_scraped)',
    'd = {"a": 1}',
    'conclude(detail={"a": 1})',
    'Worker(db, signals=SignalManager())',
    'conclude(signals=fields.pop("signals", {}))',
    'def signals(self):\n    return {"a": 1}\nx = feed.signals()',  # built, never used as signals
    'ctx = {**signals, "a": 1}',
])
def test_the_collector_ignores_what_is_no_signal_write(snippet: str) -> None:
    assert collect_source(snippet) == set()


def test_reads_in_the_core_count_through_the_merged_mapping_only_there() -> None:
    text = 'x = ctx.get("a")\ny = obs.signals.get("b")\nz = probe["signals"]["c"]'
    assert set(collect([("m.py", text)], core=["m.py"]).read) == {"a", "b", "c"}
    assert set(collect([("m.py", text)]).read) == {"b", "c"}


# --- the tree ------------------------------------------------------------------

def _tree(*packages: str) -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8"))
            for package in packages for p in sorted((ROOT / package).rglob("*.py"))]


@pytest.fixture(scope="module")
def found() -> Found:
    sources = _tree(*EMITTERS)
    return collect(sources, core=[where for where, _ in sources if where.startswith(CORE + "/")])


def test_the_tree_scan_finds_the_signals_we_know(found: Found) -> None:
    # Written in five different ways in four files: if the scan goes blind, this fails.
    assert {"notice", "account_state", "retry_after", "skipped_entries", "listing_end",
            "tombstone_by", "sanitised", "robots_txt"} <= set(found.written)
    assert {"account_state", "notice", "retry_after"} <= set(found.read)


def test_every_emitted_signal_is_documented(found: Found) -> None:
    missing = {key: sorted(set(where)) for key, where in found.written.items()
               if key not in SIGNALS}
    assert missing == {}, "document these in monitor.observation.SIGNALS: " + "; ".join(
        f"{key} (written at {', '.join(where)})" for key, where in sorted(missing.items()))


def test_every_documented_signal_is_emitted_or_read(found: Found) -> None:
    stale = sorted(key for key in SIGNALS if key not in found.written and key not in found.read)
    assert stale == [], f"SIGNALS documents keys nothing writes or reads: {stale}"
