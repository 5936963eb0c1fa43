"""The collector of the processes the monitor owns (monitor.heap): start-up's objects
frozen once start-up is done, the youngest generation collected less often; a process
the monitor does not own (this test run) keeps its collector as it was."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import heap
from tests import test_database_errors
from tests.test_database_errors import Site
from tests.test_recorder_process import captured, recorder

#: The test database behind a proxy, and six leased targets (as the recorder's tests use).
proxy = test_database_errors.proxy
site = test_database_errors.site

SETTLED = "collector settled"


def test_an_owned_process_settles_once_freezing_what_start_up_built() -> None:
    # A process of its own: a freeze here would keep this test run's objects for good.
    script = """
import gc, json
from monitor import heap
before = (gc.get_freeze_count(), gc.get_threshold())
first = heap.settle()  # not owned yet: nothing changes
after_unowned = (gc.get_freeze_count(), gc.get_threshold())
heap.own()
second = heap.settle()
frozen = gc.get_freeze_count()
kept = gc.get_threshold()
third = heap.settle()
print(json.dumps({"before": before, "first": first, "after_unowned": after_unowned,
                  "second": second, "frozen": frozen, "kept": kept, "third": third,
                  "frozen_after_third": gc.get_freeze_count()}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True, cwd=Path(__file__).resolve().parents[1])
    got = json.loads(done.stdout)
    assert got["first"] is False and got["after_unowned"] == got["before"]
    assert got["second"] is True
    assert got["frozen"] > 1000  # the modules' objects, at least
    assert got["kept"] == [heap.YOUNG, *got["before"][1][1:]]  # older generations as they were
    assert got["third"] is False and got["frozen_after_third"] == got["frozen"]


def test_settling_drops_the_source_lines_start_up_read_and_keeps_those_without_a_file(
        tmp_path: Path) -> None:
    """What :func:`inspect.stack` read at start-up (Scrapy's deprecation shims call it
    as they load) is let go, and a traceback reads it again. Lines registered in memory,
    as attrs registers its generated methods', cannot be read again, and a lazy entry has
    no lines yet: they stay."""
    script = tmp_path / "start_up.py"
    script.write_text("""
import inspect, json, linecache, traceback
from monitor import heap
inspect.stack()  # reads the files of this stack into linecache
linecache.cache["<generated>"] = (6, None, ["x = 1\\n"], "<generated>")
linecache.cache["<lazy>"] = (lambda: "y = 2\\n",)  # linecache.lazycache's shape
before = sorted(n for n, e in linecache.cache.items() if len(e) == 4 and e[1] is not None)
heap.own()
heap.settle()
after = sorted(linecache.cache)
try:
    raise LookupError("shown with its line")
except LookupError as exc:
    shown = "".join(traceback.format_exception(exc))
print(json.dumps({"script": __file__, "before": before, "after": after, "shown": shown}))
""", encoding="utf-8")
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, check=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": root})
    got = json.loads(done.stdout)
    assert got["script"] in got["before"]
    assert "<generated>" in got["after"] and "<lazy>" in got["after"]
    assert not set(got["before"]) & set(got["after"])
    assert 'raise LookupError("shown with its line")' in got["shown"]  # read again


def test_a_process_not_owned_keeps_its_collector() -> None:
    before = (gc.get_freeze_count(), gc.get_threshold())
    assert heap.settle() is False
    assert (gc.get_freeze_count(), gc.get_threshold()) == before


def test_the_recorder_process_settles_once_started(
        site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):  # the child logs at the level it is started with
        rec = recorder(site, tmp_path).open()
        try:
            for obs in map(captured, site.observations()):
                assert rec.put(obs)
            rec.close()
        finally:
            rec.shutdown()
    settled = [r for r in caplog.records if r.name == "monitor.heap"]
    assert len(settled) == 1 and SETTLED in settled[0].getMessage()
    assert settled[0].process not in (None, os.getpid())  # said by the child


def test_the_crawls_download_handler_is_part_of_start_up() -> None:
    """Scrapy loads its HTTP handler at a crawl's first request, deep in the crawl's
    stack, where its deprecation shims read every file of that stack (3 MiB): loaded
    with spiders.crawl, it is start-up's, frozen and its lines dropped by settle."""
    script = ("import sys, spiders.crawl; "
              "print('scrapy.core.downloader.handlers.http11' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True, cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == "True"
