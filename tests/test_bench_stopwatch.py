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


def test_another_process_cpu_is_read_past_a_command_name_with_spaces_and_parentheses(
) -> None:
    """``process_cpu_seconds`` (a worker's recorder process, the database's backends):
    /proc/<pid>/stat puts the command name in parentheses, and a name may hold both."""
    import subprocess
    import sys

    from bench._common import process_cpu_seconds

    busy = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "open('/proc/self/comm', 'w').write('a) b (c')\n"
        "end = time.process_time() + 0.3\n"
        "while time.process_time() < end: pass\n"
        "print('done', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout is not None and busy.stdout.readline() == "done\n"
        with open(f"/proc/{busy.pid}/comm", encoding="ascii") as fh:
            assert fh.read().strip() == "a) b (c"
        assert 0.3 <= process_cpu_seconds(busy.pid) < 5.0
    finally:
        busy.kill()
        busy.wait()
