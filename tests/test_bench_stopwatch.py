"""The benchmarks' Stopwatch (bench/_common.py): besides wall, CPU and the thread's
schedule, the seconds the garbage collector ran inside the block and its collections
by generation; nothing is counted once the block has ended."""

from __future__ import annotations

import gc

from bench._common import Stopwatch


def test_the_stopwatch_times_the_collector_and_counts_its_collections_by_generation() -> None:
    with Stopwatch() as sw:
        gc.collect()
        gc.collect(0)
        gc.collect(0)
    assert sw.collections[0] >= 2 and sw.collections[2] >= 1
    assert sw.collector > 0.0
    assert sw.thread_split()["collector_s"] == round(sw.collector, 3)
    assert sw.thread_split()["collections"] == sw.collections
    seen, spent = list(sw.collections), sw.collector
    gc.collect()
    assert sw.collections == seen and sw.collector == spent  # the block has ended
    assert all(getattr(cb, "__self__", None) is not sw for cb in gc.callbacks)


def test_a_block_without_collections_reports_none_even_on_a_stopwatch_used_before() -> None:
    sw = Stopwatch()
    with sw:
        gc.collect()
    assert sw.collector > 0.0 and sw.collections[2] >= 1
    gc.disable()
    try:
        with sw:
            _ = [object() for _ in range(10)]
    finally:
        gc.enable()
    assert sw.collections == [0, 0, 0] and sw.collector == 0.0
