"""What every benchmark shares: a throwaway database, the machine, the result file."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from monitor.recorder_priority import cpu_times

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The project's tables, whose sizes the storage benchmark adds up.
TABLES = ("targets", "posts", "versions", "observations", "events")

#: Scrapy-facing settings shared by every benchmark that crawls: no robots.txt
#: (nginx serves none), no AutoThrottle, wide concurrency to one local host.
CRAWL_SETTINGS: dict[str, Any] = {
    "robotstxt_obey": False,
    "autothrottle": False,
    "concurrent_requests": 64,
    "concurrent_requests_per_host": 64,
    "download_delay": 0,
    "retry_times": 0,
    # Issue 13's figures: recording in a process of its own (not yet the default).
    "recorder": "process",
}


def add_database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", default=DEFAULT_SERVER,
        help="PostgreSQL server to create the throwaway database on (default: %(default)s)",
    )
    parser.add_argument(
        "--embedded", action="store_true",
        help="use the embedded PostgreSQL (pgserver) in a temporary directory instead",
    )


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def machine() -> dict[str, Any]:
    """The hardware and software the numbers were taken on."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def server_facts(url: str) -> dict[str, Any]:
    """Server version and the settings that move the numbers."""
    names = ("server_version", "autovacuum", "autovacuum_naptime",
             "autovacuum_vacuum_scale_factor", "autovacuum_vacuum_threshold",
             "shared_buffers", "synchronous_commit", "fsync", "wal_level")
    with psycopg.connect(url, autocommit=True) as conn:
        return {name: scalar(conn, sql.SQL("SHOW {}").format(sql.Identifier(name)))
                for name in names}


@contextmanager
def fresh_database(server_url: str, embedded: bool = False,
                   prefix: str = "takedown_bench") -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it afterwards."""
    server = None
    tmp = None
    if embedded:
        from monitor.db._embedded import start_embedded

        tmp = tempfile.TemporaryDirectory(prefix="takedown-bench-pg-")
        server, server_url = start_embedded(Path(tmp.name))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
        if server is not None:
            server.cleanup()
        if tmp is not None:
            tmp.cleanup()


def sizes(url: str) -> dict[str, int]:
    """``pg_database_size`` and ``pg_total_relation_size`` of each project table."""
    with psycopg.connect(url, autocommit=True) as conn:
        out = {"database": scalar(conn, "SELECT pg_database_size(current_database())")}
        for table in TABLES:
            out[table] = scalar(conn, "SELECT pg_total_relation_size(%s::regclass)", (table,))
    out["tables"] = sum(out[t] for t in TABLES)
    return out


def scalar(conn: Any, query: Any, params: Any = None) -> Any:
    """The first column of the first row (rows may be tuples or dicts)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"no row from {query!r}")
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def maxrss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) another process has used so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()  # past the command, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_schedstat() -> tuple[float, float]:
    """The calling thread's seconds on a CPU and seconds runnable, waiting for one
    (Linux ``/proc/self/task/<tid>/schedstat``); zeros where the kernel has none."""
    return (cpu_times(os.getpid()) or {}).get(threading.get_native_id(), (0.0, 0.0))


class Stopwatch:
    """Wall and process CPU time of a block: ``with Stopwatch() as sw: ...``; the
    calling thread's share of the wall time: on a CPU (``ran``), runnable but waiting
    for one (``queued``: other processes or threads had the cores), the rest asleep
    (``slept``: an idle event loop, a lock, the GIL); and the seconds the process's
    cyclic garbage collector ran during the block, in any thread (``collector``, from
    :data:`gc.callbacks`), with the collections of each generation."""

    wall: float = 0.0
    cpu: float = 0.0
    ran: float = 0.0
    queued: float = 0.0
    collector: float = 0.0

    def __enter__(self) -> Stopwatch:
        # Each block's own: a Stopwatch used again starts from nothing.
        self.collector, self.collections, self._collecting = 0.0, [0, 0, 0], 0.0
        gc.callbacks.append(self._collected)
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        self._sched = thread_schedstat()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu
        ran, queued = thread_schedstat()
        self.ran, self.queued = ran - self._sched[0], queued - self._sched[1]
        gc.callbacks.remove(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        # A collection holds the GIL from start to stop: the two calls pair up.
        if phase == "start":
            self._collecting = time.perf_counter()
        else:
            self.collector += time.perf_counter() - self._collecting
            self.collections[info["generation"]] += 1

    @property
    def slept(self) -> float:
        return max(0.0, self.wall - self.ran - self.queued)

    def thread_split(self) -> dict[str, Any]:
        """The thread's split of the wall time, for a result's JSON."""
        return {"thread_ran_s": round(self.ran, 3), "thread_queued_s": round(self.queued, 3),
                "thread_slept_s": round(self.slept, 3), "collector_s": round(self.collector, 3),
                "collections": self.collections}


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "finished_at": datetime.now(UTC).isoformat(), **data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def print_block(title: str, rows: list[tuple[str, Any]]) -> None:
    """A fixed-width result block on stdout."""
    width = max((len(label) for label, _ in rows), default=0)
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))
    for label, value in rows:
        if label == "" and value == "":
            print()
        else:
            print(f"  {label.ljust(width)}  {value}")
    sys.stdout.flush()


def machine_rows(info: dict[str, Any], server: dict[str, Any] | None = None) -> list[
        tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("machine", f"{info['nproc']} cores, {info['cpu_model']}, {info['ram_gib']} GiB RAM"),
        ("python", info["python"]),
    ]
    if server:
        rows.append(("postgresql", f"{server['server_version']} (autovacuum="
                                   f"{server['autovacuum']}, synchronous_commit="
                                   f"{server['synchronous_commit']}, shared_buffers="
                                   f"{server['shared_buffers']})"))
    return rows


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def crawl_settings(database_url: str = "", **extra: Any) -> Any:
    """The monitor's Settings for a benchmark crawl (environment ignored on purpose)."""
    from monitor.settings import Settings

    return Settings.load({**CRAWL_SETTINGS, **extra}, environ={"TAKEDOWN_DATABASE_URL":
                                                               database_url})


def stop_reactor_threads() -> None:
    """Stop Twisted's thread pool after the last crawl (see spiders.crawl.shutdown)."""
    from spiders.crawl import shutdown

    shutdown()
