"""``bench.cycle``'s child processes, run for real over a dozen statuses.

The figures the benchmark prints rest on these children: the recorded cycle must store
every post, and the ``--unrecorded`` one must crawl and claim the same work while storing
nothing (its recorder drops what it is handed), or "the crawl alone" measures
something else. The statuses are served by Python's HTTP server, not nginx (the
benchmark's server, which CI does not install), from the files the benchmark exports.
"""

from __future__ import annotations

import argparse
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench._static import export
from bench.cycle import run_size

POSTS = 12


class _Statuses(SimpleHTTPRequestHandler):
    """The exported files as an instance serves them: JSON, quietly."""

    def guess_type(self, path: Any) -> str:
        return "application/json"

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("statuses")
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_Statuses, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    ids = export(Path(root), POSTS, base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(
        ids=ids, base=base, tmp=str(root),
        status_url=lambda sid: f"{base}/@bench/{sid}",
        probe_url=lambda sid: f"{base}/api/v1/statuses/{sid}",
        proc=SimpleNamespace(poll=lambda: None))
    server.shutdown()
    server.server_close()


def _args(server_url: str) -> argparse.Namespace:
    return argparse.Namespace(database_url=server_url, embedded=False, concurrency=4,
                              recorder="process", recorder_priority="normal",
                              no_recheck=True)


def test_the_recorded_cycle_stores_every_post_through_its_recorder_process(
        site: SimpleNamespace, pg_server_url: str) -> None:
    run = run_size(site, POSTS, _args(pg_server_url))  # type: ignore[arg-type]
    assert run["claimed"] == POSTS
    assert run["check"]["observation_rows"] == POSTS
    assert run["check"]["outcomes"] == {"ok": POSTS}
    assert run["check"]["posts_visible"] == POSTS
    assert run["recorder_cpu_s"] > 0 and run["recorder_peak_rss_mib"] > 0
    assert 0 <= run["handover_waited_s"] <= run["cycle_s"]
    assert 0 < run["crawl_s"] <= run["cycle_s"]


def test_the_unrecorded_crawl_claims_and_fetches_the_same_work_and_stores_nothing(
        site: SimpleNamespace, pg_server_url: str) -> None:
    run = run_size(site, POSTS, _args(pg_server_url), unrecorded=True)  # type: ignore[arg-type]
    assert run["claimed"] == POSTS  # the same claims as a recorded cycle
    assert run["check"]["observation_rows"] == 0  # every observation was dropped
    assert run["check"]["posts_visible"] == 0
    assert run["recorder_cpu_s"] == 0  # no recorder process was started
    assert run["crawl_s"] > 0
