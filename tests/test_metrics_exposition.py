"""Metrics: what a scrape shows (names, labels, build and process metrics) and how it
is served (the HTTP endpoint, its address, several processes adding up)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from metrics_support import POST_URL, event, obs, value
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.db import Database
from monitor.errors import ConfigError
from monitor.metrics import LABELS, METRICS, Metrics, parse_address
from monitor.observation import Outcome

# --- names, labels and docs ----------------------------------------------------------------


def test_every_metric_is_named_and_labelled_as_documented(tracked: Database) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, tracked)
    with tracked.transaction() as conn:
        conn.execute("DROP TABLE IF EXISTS deliveries CASCADE")
        conn.execute("CREATE TABLE deliveries (id bigserial PRIMARY KEY, state text NOT NULL)")
    metrics.recorded([obs(), obs(mode="listing")], [event(), event(kind="edited", cause=None)])
    metrics.delivery("webhook", "sent")

    names = set()
    forbidden = {POST_URL, "110000000000000001", "alice", "mastodon:account:alice@ex.social",
                 "https://news.example.org/feed.xml"}
    for family in registry.collect():
        if family.name.startswith("process_"):  # prometheus_client's ProcessCollector
            continue
        # prometheus_client strips _total from a counter family's name.
        names.add(family.name + "_total" if family.type == "counter" else family.name)
        assert family.name.startswith("takedown_")
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= LABELS, sample
            assert not forbidden & set(sample.labels.values()), sample
            assert not any("://" in v for v in sample.labels.values()), sample
    assert names == set(METRICS)
    assert all(text.strip() for text in METRICS.values())


def test_build_info_and_process_metrics(registry: CollectorRegistry) -> None:
    import platform

    from monitor import __version__

    Metrics(registry)
    assert value(registry, "takedown_build_info", version=__version__,
                 python_version=platform.python_version()) == 1
    assert value(registry, "process_cpu_seconds_total") is not None
    assert (value(registry, "process_resident_memory_bytes") or 0) > 0
    assert (value(registry, "process_start_time_seconds") or 0) > 0


def test_the_default_registry_keeps_its_own_process_collector() -> None:
    """prometheus_client.REGISTRY has process_* already: no second collector (it would
    raise on duplicate names)."""
    from platform import python_version

    from prometheus_client import REGISTRY

    from monitor import __version__

    metrics = Metrics(REGISTRY)
    try:
        assert REGISTRY.get_sample_value("process_cpu_seconds_total") is not None
        assert REGISTRY.get_sample_value("takedown_build_info", {
            "version": __version__, "python_version": python_version()}) == 1
    finally:
        for collector in (*metrics.collectors, metrics.checks, metrics.events,
                          metrics.deliveries, metrics.check_duration, metrics.time_to_takedown):
            REGISTRY.unregister(collector)


# --- the HTTP endpoint -------------------------------------------------------------------


def scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.fixture
def no_multiproc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.mark.usefixtures("no_multiproc")
def test_serve_scrape_and_stop(tracked: Database) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, tracked)
    metrics.recorded([obs(outcome=Outcome.NOT_FOUND)], [event()])
    stop = metrics.serve("127.0.0.1:0")
    try:
        assert stop.host == "127.0.0.1" and stop.port > 0
        families = scrape(stop.port)
        checks = families["takedown_checks"]
        assert checks.type == "counter"
        assert [s.value for s in checks.samples if s.name == "takedown_checks_total"
                and s.labels["outcome"] == "not_found"] == [1.0]
        assert families["takedown_collector_up"].samples[0].value == 1.0
        assert families["takedown_time_to_takedown_seconds"].type == "histogram"
        assert {s.labels["platform"] for s in families["takedown_tracked_targets"].samples} == {
            "mastodon", "rss"}
        # No _created series: they double the series count and no rule reads them.
        samples = [s.name for f in families.values() for s in f.samples]
        assert samples and not [n for n in samples if n.endswith("_created")]
        assert families["takedown_build_info"].samples[0].value == 1.0
        assert "process_cpu_seconds" in families
    finally:
        stop()
    stop()  # idempotent
    with pytest.raises(urllib.error.URLError):
        scrape(stop.port)


@pytest.mark.usefixtures("no_multiproc")
def test_serve_port_in_use_is_a_config_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="Choose a free port"):
            Metrics().serve(f"127.0.0.1:{port}")


@pytest.mark.parametrize("address", ["9464", "localhost", "127.0.0.1:http", "127.0.0.1:70000",
                                     "::1:9464", "", "http://127.0.0.1:9464"])
def test_bad_address_is_a_config_error(address: str) -> None:
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:9464"):
        Metrics().serve(address)


@pytest.mark.parametrize("address,expected", [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)),
    (":9464", ("0.0.0.0", 9464)),
    ("[::1]:9464", ("::1", 9464)),
    (" localhost:0 ", ("localhost", 0)),
])
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


# --- several processes -------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys, urllib.request
    from monitor.metrics import Metrics
    from monitor.observation import Observation, Outcome

    metrics = Metrics()
    o = Observation(mode="probe", platform="rss", target_key="k", url="u", outcome=Outcome.OK,
                    elapsed_ms=50.0)
    metrics.recorded([o] * int(sys.argv[1]), [])
    if sys.argv[2] == "serve":
        stop = metrics.serve("127.0.0.1:0")
        with urllib.request.urlopen(f"http://127.0.0.1:{stop.port}/metrics") as resp:
            print(resp.read().decode())
        stop()
""")


def test_multiprocess_mode_adds_up_across_processes(tmp_path: Path) -> None:
    shared = tmp_path / "prom"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def child(count: int, mode: str) -> str:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(count), mode], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    child(2, "count")
    child(3, "count")
    families = {f.name: f for f in text_string_to_metric_families(child(1, "serve"))}
    ok = [s.value for s in families["takedown_checks"].samples
          if s.name == "takedown_checks_total" and s.labels.get("outcome") == "ok"]
    assert ok == [6.0]
    count = [s.value for s in families["takedown_check_duration_seconds"].samples
             if s.name == "takedown_check_duration_seconds_count"]
    assert count == [6.0]
