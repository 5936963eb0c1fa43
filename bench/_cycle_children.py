"""What runs in :mod:`bench.cycle`'s child processes: one check cycle of the monitor
(:func:`child`), the plain-Scrapy floor (:func:`floor_child`), and what they measure
of themselves (peak RSS, the recorder process's use). Each child prints its figures as
one line of JSON for the parent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from monitor import heap
from monitor.db import Database

from ._common import (
    Stopwatch,
    crawl_settings,
    maxrss_mib,
    process_cpu_seconds,
    stop_reactor_threads,
)


def current_rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def hwm_mib(pid: int | str = "self") -> float:
    """Peak RSS of a process image since its exec (``VmHWM``): this one's, or ``pid``'s.

    Unlike ``ru_maxrss`` it does not inherit the spawning parent's high-water
    mark: Linux carries the pre-exec memory's peak into ``ru_maxrss`` across
    (v)fork + exec, so a child spawned by a big parent reports the parent's peak.
    """
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def child(url: str, concurrency: int, recheck: bool, recorder_mode: str,
          unrecorded: bool = False, recorder_priority: str = "normal") -> int:
    """Run one cycle over the database at ``url`` (with ``recheck``, then make every post
    due again and run a second, unchanged cycle); print the stats as JSON.

    ``unrecorded``: the worker hands its observations to a recorder that drops them
    (:class:`Dropping`; no recorder process), so the crawl's own cost shows without
    recording's."""
    from monitor.worker import Worker
    from spiders.crawl import crawl, event_loop, install_reactor

    install_reactor()
    settings = crawl_settings(url, concurrent_requests=concurrency,
                              concurrent_requests_per_host=concurrency,
                              recorder="thread" if unrecorded else recorder_mode,
                              recorder_priority=recorder_priority)
    db = Database(url)
    loop = event_loop()
    asyncio.set_event_loop(loop)
    crawl_s: list[float] = []

    async def timed_crawl(work: Any, sink: Any, settings: Any) -> Any:
        began = time.perf_counter()
        try:
            return await crawl(work, sink, settings)
        finally:
            crawl_s.append(time.perf_counter() - began)

    try:
        worker = Worker(db, settings, timed_crawl)
        if unrecorded:
            worker.open_placed = worker.open_writer = Dropping  # type: ignore[method-assign,assignment]
        heap.own()  # as `takedown check` does once its start-up is done
        heap.settle()
        rss_before = current_rss_mib()
        with Stopwatch() as sw:
            stats = loop.run_until_complete(worker.cycle())
        again: dict[str, Any] = {}
        if recheck:
            hwm_first = hwm_mib()
            with db.transaction() as conn:
                conn.execute("UPDATE posts SET next_check = now() - interval '1 second'")
            with Stopwatch() as sw2:
                second = loop.run_until_complete(worker.cycle())
            again = {"recheck_wall_s": sw2.wall, "recheck_cpu_s": sw2.cpu,
                     "recheck_observations": second["observations"],
                     "hwm_first_mib": hwm_first}
        recorder = recorder_usage(worker)
        worker.close()
    finally:
        db.close()
        stop_reactor_threads()
    print(json.dumps({**stats, **again, **recorder, **sw.thread_split(), "wall_s": sw.wall,
                      "cpu_s": sw.cpu, "crawl_s": crawl_s[0] if crawl_s else sw.wall,
                      "hwm_mib": hwm_mib(), "rss_before_cycle_mib": rss_before,
                      "maxrss_self_mib": maxrss_mib()}))
    return 0


class Dropping:
    """``--unrecorded``: the recorder a worker hands its observations to, dropping them.
    The crawl, its claims and its hand-over to the recording run as in a recorded cycle;
    nothing is pickled, sent nor written."""

    def __init__(self) -> None:
        from monitor.holding import zero_stats

        self.stats = zero_stats()

    async def aput(self, obs: Any) -> None:
        """Dropped."""

    def close(self, timeout: float | None = None) -> None:
        """Nothing is held."""

    def stop(self, grace: float = 60.0) -> None:
        """Nothing is held."""


def recorder_usage(worker: Any) -> dict[str, Any]:
    """The recorder process's peak RSS (VmHWM) and CPU seconds so far, read from /proc
    while it lives (RECORDER = process), and the seconds the crawl was held up on the
    hand-over to it (the wall time some put waited for room); empty with the thread
    recorder."""
    process = getattr(worker, "_process", None)
    child = getattr(process, "_child", None)
    if child is None:
        return {}
    pid = child.proc.pid
    return {"recorder_hwm_mib": hwm_mib(pid), "recorder_cpu_s": process_cpu_seconds(pid),
            "handover_waited_s": process.waited}


def project_concurrent_items() -> int:
    """The monitor crawl's CONCURRENT_ITEMS, as its Scrapy settings give it."""
    from spiders.settings import scrapy_settings

    return scrapy_settings(crawl_settings()).getint("CONCURRENT_ITEMS")


def floor_child(urls_file: str, base: str, concurrency: int) -> int:
    """Run the plain-Scrapy floor over the URLs in ``urls_file``; print its stats as JSON."""
    from spiders.crawl import install_reactor

    from ._floor import run

    install_reactor()
    with open(urls_file, encoding="utf-8") as fh:
        urls = fh.read().split()
    items = project_concurrent_items()
    rss_before = current_rss_mib()
    try:
        with Stopwatch() as sw:
            counts = run(urls, base, concurrency, items)
    finally:
        stop_reactor_threads()
    print(json.dumps({**counts, **sw.thread_split(), "wall_s": sw.wall, "cpu_s": sw.cpu,
                      "hwm_mib": hwm_mib(),
                      "rss_before_mib": rss_before, "concurrent_items": items}))
    return 0
