"""The watchlist ``bench.workers`` writes is one the CLI accepts.

It once named ``recorder`` twice (its own line and the benchmarks' shared settings):
``takedown check`` refused the TOML, and the benchmark could not run at all.
"""

from __future__ import annotations

from types import SimpleNamespace

from bench.workers import watchlist
from monitor.watchlist import parse_watchlist


def test_the_workers_benchmark_watchlist_parses_with_its_settings() -> None:
    site = SimpleNamespace(ids=["101", "102", "103"],
                           status_url=lambda sid: f"http://127.0.0.1:8080/@bench/{sid}")
    parsed = parse_watchlist(watchlist(site, 2, 16), "bench-workers.toml")  # type: ignore[arg-type]
    assert [t.value for t in parsed.targets] == ["http://127.0.0.1:8080/@bench/101",
                                                 "http://127.0.0.1:8080/@bench/102"]
    settings = parsed.settings(environ={})
    assert settings["RECORDER"] == "process"
    assert settings["CONCURRENT_REQUESTS"] == 16 and settings["VANTAGE"] == "bench"


def test_the_workers_benchmark_can_give_each_worker_the_thread_recorder() -> None:
    site = SimpleNamespace(ids=["101"], status_url=lambda sid: f"http://127.0.0.1:8080/@b/{sid}")
    text = watchlist(site, 1, 16, "thread")  # type: ignore[arg-type]
    assert parse_watchlist(text, "bench-workers.toml").settings(environ={})["RECORDER"] == "thread"
