"""RECORDER_PRIORITY = idle and its way back: a recorder process under SCHED_IDLE that
starves (the crawl waits on it while it waits for a CPU) is lifted to normal scheduling,
or, where the system refuses that, replaced by a recorder process at normal priority;
a database that is away is no starvation. Real processes, real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import recorder_child, recorder_priority, recording
from monitor.db import Database
from monitor.observation import Observation, Outcome
from monitor.recorder_priority import Span, Watch, cpu_times, lift, sched_idle_tasks
from monitor.recorder_process import RecorderProcess
from monitor.settings import Settings
from monitor.signals import SignalManager
from monitor.spool import Spool
from monitor.worker import Worker
from tests import test_database_errors
from tests.test_database_errors import T0, Proxy, Site
from tests.test_recorder_process import _run_where_the_scheduler_refuses, wait_for
from tests.test_recording_placement import crawl_each, rss_targets

proxy = test_database_errors.proxy
site = test_database_errors.site

IDLE = Settings.load({"RECORDER_PRIORITY": "idle"}, environ={})
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="leaving SCHED_IDLE needs root (or "
                                "CAP_SYS_NICE); unprivileged, lift() is refused")


@pytest.mark.parametrize(("span", "starved"), [
    (Span(10.0, 2.5, 1.0, 5.0), True),   # the crawl waited a quarter, a thread half
    (Span(10.0, 2.4, 1.0, 5.0), False),  # the crawl hardly waited
    (Span(10.0, 9.0, 5.0, 4.9), False),  # it got a CPU most of the time: slow, not starved
    (Span(10.0, 9.0, 0.1, 0.2), False),  # asleep (a database away): it hardly queued
    (Span(0.0, 0.0, 0.0, 0.0), False),
])
def test_a_span_is_starved_when_the_crawl_and_the_recorder_both_waited(
        span: Span, starved: bool) -> None:
    assert span.starved is starved


def test_a_span_says_what_it_measured() -> None:
    assert str(Span(10.0, 2.5, 1.0, 5.0)) == (
        "in 10.0 s the crawl waited 2.5 s for it; it ran 1.0 s and waited up to 5.0 s for "
        "a CPU")


def test_the_watch_measures_a_process_span_after_span() -> None:
    """Its first look only starts; the next ones give the span since the last; a
    process that is gone (or a kernel that does not say) gives nothing."""
    now = [100.0]
    watch = Watch(os.getpid(), clock=lambda: now[0])
    assert watch.starved(waited=1.0) is None
    began = time.process_time()
    while time.process_time() - began < 0.05:  # run on a CPU
        pass
    now[0] = 104.0
    span = watch.starved(waited=3.0)
    assert span is not None
    assert (span.seconds, span.waited) == (4.0, 2.0)
    assert span.ran >= 0.04  # this process's own CPU time, as the kernel counts it
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    assert cpu_times(int(gone.stdout)) is None
    assert Watch(int(gone.stdout)).starved(0.0) is None


def test_a_span_adds_up_what_the_threads_ran_and_keeps_the_longest_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Several threads each waiting a little are not one thread waiting all along; a
    thread started since the last look counts whole, one ended since counts no more."""
    readings = iter([
        {1: (1.0, 0.5), 2: (2.0, 1.0), 3: (0.5, 0.5)},
        {1: (1.5, 0.8), 2: (2.1, 1.3), 4: (0.2, 0.4)},  # 3 ended, 4 started
    ])
    monkeypatch.setattr(recorder_priority, "cpu_times", lambda pid: next(readings))
    now = iter([10.0, 11.0])
    watch = Watch(1234, clock=lambda: next(now))
    assert watch.starved(waited=0.0) is None
    span = watch.starved(waited=0.5)
    assert span == Span(seconds=1.0, waited=0.5, ran=pytest.approx(0.8),
                        queued=pytest.approx(0.4))
    assert not span.starved  # three threads queued 1.0 s in all, none half the second


@pytest.fixture
def idle_process() -> Iterator[int]:
    """A process under SCHED_IDLE with a second thread started after, sleeping."""
    code = ("import os, threading, time\n"
            "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_refused_lift_says_why_and_leaves_the_process_idle(
        idle_process: int, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(sched_idle_tasks(idle_process)) == 2

    def refuse(*_: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    assert lift(idle_process) == "sched_setscheduler: Operation not permitted"
    assert len(sched_idle_tasks(idle_process)) == 2


@needs_root
def test_lift_moves_every_thread_of_the_process_to_normal_scheduling(
        idle_process: int) -> None:
    assert lift(idle_process) is None
    tasks = os.listdir(f"/proc/{idle_process}/task")
    assert len(tasks) == 2
    assert {os.sched_getscheduler(int(t)) for t in tasks} == {os.SCHED_OTHER}
    assert sched_idle_tasks(idle_process) == []


@contextlib.contextmanager
def hogged(pid: int) -> Iterator[None]:
    """Every thread of ``pid`` kept to one CPU, and a normal-priority busy loop on it:
    a SCHED_IDLE process there all but stops; a normal one gets half of it."""
    cpu = min(os.sched_getaffinity(0))
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), {cpu})
    hog = subprocess.Popen([sys.executable, "-c",
                            f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def flood(rec: RecorderProcess, site: Site, count: int,
          look: Any, every: float = 0.2, timeout: float = 60.0) -> list[Span]:
    """``count`` observations handed to ``rec`` as a crawl does (waiting for room), while
    ``look`` is called every ``every`` seconds with each span ``rec`` judged."""
    spans: list[Span] = []

    async def crawl() -> None:
        for i in range(count):
            await rec.aput(site.observations(T0 + timedelta(seconds=i))[i % 6])

    async def watch() -> None:
        while True:
            await asyncio.sleep(every)
            span = await asyncio.to_thread(rec.judge)
            if span is not None:
                spans.append(span)
                look(span)

    async def main() -> None:
        watching = asyncio.ensure_future(watch())
        try:
            async with asyncio.timeout(timeout):
                await crawl()
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching

    asyncio.run(main())
    return spans


def idle_recorder(site: Site, tmp_path: Path) -> RecorderProcess:
    """A recorder process at idle priority with a small hand-over, connected."""
    rec = RecorderProcess(site.proxied, IDLE, signals=SignalManager(),
                          spool=Spool(tmp_path / "spool"), batch_size=4, max_queue=100).open()
    assert rec.put(site.observations()[0])
    rec.close()  # the child is up and has its connection
    assert rec.priority == "idle" and rec.judge() is None  # the first look only starts
    return rec


@pytest.mark.realtime  # it keeps a CPU busy; judged on how the kernel scheduled it
@needs_root
def test_an_idle_recorder_on_a_busy_cpu_starves_and_once_lifted_records_everything(
        site: Site, tmp_path: Path) -> None:
    rec = idle_recorder(site, tmp_path)
    assert rec._child is not None
    pid = rec._child.proc.pid
    lifted: list[Span] = []

    def look(span: Span) -> None:
        if span.starved and not lifted:
            assert rec.lift() is None
            lifted.append(span)

    try:
        with hogged(pid):
            spans = flood(rec, site, 3000, look)
            rec.close()
        assert lifted, f"never starved: {spans}"
        assert lifted[0].waited >= 0.25 * lifted[0].seconds
        assert rec.priority == "normal" and rec.judge() is None  # nothing more to watch
        assert {os.sched_getscheduler(int(t)) for t in os.listdir(f"/proc/{pid}/task")} == {
            os.SCHED_OTHER}
        assert rec.stats["observations"] == 3000
    finally:
        rec.shutdown()
    assert site.counts()["leased"] == 0


@pytest.mark.realtime  # on a saturated machine it would starve indeed
def test_a_recorder_waiting_on_a_database_that_is_away_is_not_starved(
        site: Site, proxy: Proxy, tmp_path: Path) -> None:
    """The hand-over fills and the crawl waits, but the recorder sleeps between its
    retries: no span says starved; once the database is back, all is recorded."""
    rec = idle_recorder(site, tmp_path)
    spans: list[Span] = []
    try:
        proxy.cut()
        with pytest.raises(TimeoutError):  # the crawl is held up: the queue is full
            flood(rec, site, 3000, spans.append, every=1.0, timeout=4.5)
        proxy.restore()
        rec.close()
        assert rec.stats["observations"] > 100  # what was held, recorded once it was back
        assert rec.priority == "idle"
    finally:
        rec.shutdown()
    assert [s for s in spans if s.waited >= 0.25 * s.seconds], spans  # the crawl waited
    assert not [s for s in spans if s.starved], spans


def test_a_lifted_recorder_starts_its_next_child_at_normal_priority(
        site: Site, tmp_path: Path) -> None:
    """A recorder process lifted to normal priority whose child then dies: the child
    started for the next span runs at normal priority too, never idle and unwatched."""
    rec = idle_recorder(site, tmp_path)
    try:
        child = rec._child
        assert child is not None and child.priority == "idle"
        rec.priority = "normal"  # what lift() leaves (which needs root to run for real)
        os.kill(child.proc.pid, signal.SIGKILL)
        wait_for(child.gone.is_set)
        rec.open()
        assert rec._child is not None and rec._child is not child
        assert rec.put(site.observations()[0])
        rec.close()
        assert rec._child.priority == "normal"
        pid = rec._child.proc.pid
        assert {os.sched_getscheduler(int(t)) for t in os.listdir(f"/proc/{pid}/task")} == {
            os.SCHED_OTHER}
    finally:
        rec.shutdown()


def test_a_child_that_refused_idle_is_watched_no_more(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_child, "run", _run_where_the_scheduler_refuses)
    rec = RecorderProcess(site.proxied, IDLE, signals=SignalManager(),
                          spool=Spool(tmp_path / "spool"), batch_size=4).open()
    try:
        assert rec.put(site.observations()[0])
        rec.close()
        assert rec.priority == "idle"
        assert rec.judge() is None and rec.priority == "normal"
    finally:
        rec.shutdown()


def idle_worker(db: Database, crawl: Any) -> Worker:
    return Worker(db, Settings.load({"RECORDER": "process", "RECORDER_PRIORITY": "idle"},
                                    environ={}), crawl)


STARVED = Span(1.0, 0.9, 0.05, 0.9)


@pytest.mark.parametrize("lifts", [pytest.param(True, marks=needs_root), False])
def test_a_worker_whose_idle_recorder_starves_records_at_normal_priority_from_then_on(
        db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        lifts: bool) -> None:
    """Mid-cycle the recorder process starves: lifted where the system allows it (the
    same process), else the recording moves to a new recorder process at normal priority
    (the old one commits what it holds and ends). Either way every item is recorded
    once, and the next cycle stays at normal priority."""
    monkeypatch.setattr(recording, "PLACE_AT", ())
    monkeypatch.setattr(recording, "PLACE_EVERY", 0.05)
    starving = [False]
    real_judge = RecorderProcess.judge

    def judge(self: RecorderProcess) -> Span | None:
        real = real_judge(self)  # the real look goes on (a child at idle priority)
        return STARVED if starving[0] and real is not None else real

    monkeypatch.setattr(RecorderProcess, "judge", judge)
    if not lifts:
        monkeypatch.setattr(recorder_priority.os, "sched_setscheduler", refuse)
    first: list[RecorderProcess] = []

    async def after(done: int) -> None:
        if done == 10 and not first:  # in the first cycle
            assert worker._process is not None and worker.priority == "idle"
            first.append(worker._process)
            starving[0] = True
            async with asyncio.timeout(20):
                while worker.priority != "normal" or (
                        not lifts and worker._process is first[0]):
                    await asyncio.sleep(0.02)

    worker = idle_worker(db, crawl_each(after))
    try:
        worker.sync(rss_targets(30))
        with caplog.at_level(logging.WARNING, logger="monitor.worker"):
            stats = asyncio.run(worker.cycle())
        assert stats["claimed"] == 30 and stats["observations"] == 30
        now = worker._process
        assert now is not None and now.priority == "normal"
        assert now._child is not None
        pid = now._child.proc.pid
        assert {os.sched_getscheduler(int(t)) for t in os.listdir(f"/proc/{pid}/task")} == {
            os.SCHED_OTHER}
        said = [r.getMessage() for r in caplog.records if r.name == "monitor.worker"]
        if lifts:
            assert now is first[0]
            assert said == [f"the recorder process at idle priority fell behind ({STARVED}): "
                            "it runs at normal priority from now on (RECORDER_PRIORITY = "
                            "idle)"]
        else:
            assert now is not first[0] and first[0]._child is None  # the old one ended
            assert said == [f"the recorder process at idle priority fell behind ({STARVED}) "
                            "and cannot leave it (sched_setscheduler: Operation not "
                            "permitted): the recording moves to a new recorder process at "
                            "normal priority (RECORDER_PRIORITY = idle)"]
        with db.transaction() as conn:
            rows = conn.execute("SELECT count(*) AS n, sum(repeats) AS checks "
                                "FROM observations").fetchone()
        assert (rows["n"], rows["checks"]) == (30, 30)  # none lost at the move, none twice
        # The next cycle keeps the normal-priority recorder.
        with db.transaction() as conn:
            conn.execute("UPDATE targets SET next_due = now() - interval '1 second'")
        assert asyncio.run(worker.cycle())["observations"] == 30
        assert worker._process is now and worker.priority == "normal"
    finally:
        worker.close()


def refuse(*_: Any) -> None:
    raise PermissionError(1, "Operation not permitted")


def test_the_crawls_wait_counts_the_time_some_put_waited_not_each_put(
        db: Database, tmp_path: Path) -> None:
    """Five puts held up together for half a second are half a second of the crawl's
    wait, not two and a half; a wait still under way counts up to now."""
    rec = RecorderProcess(db, IDLE, signals=SignalManager(), spool=Spool(tmp_path / "s"),
                          batch_size=4)
    rec.put = lambda obs: False  # type: ignore[method-assign]  # the hand-over is full
    obs = Observation(mode="listing", platform="rss", target_key="k", url="u",
                      outcome=Outcome.OK)

    async def main() -> float:
        puts = [asyncio.ensure_future(rec.aput(obs)) for _ in range(5)]
        await asyncio.sleep(0.25)
        midway = rec.waited
        await asyncio.sleep(0.25)
        for put in puts:
            put.cancel()
        await asyncio.gather(*puts, return_exceptions=True)
        return midway

    midway = asyncio.run(main())
    assert 0.2 <= midway <= 0.45
    assert 0.45 <= rec.waited <= 0.9
    assert rec._waiters == 0


CALM = Span(1.0, 0.9, 0.5, 0.1)


def test_a_recorder_starved_at_one_look_only_is_left_idle(
        db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A burst (one starved look between calm ones) moves nothing: the worker acts on
    STARVED_LOOKS looks in a row."""
    monkeypatch.setattr(recording, "PLACE_AT", ())
    monkeypatch.setattr(recording, "PLACE_EVERY", 0.02)
    looks: list[Span] = []

    def judge(self: RecorderProcess) -> Span | None:
        looks.append(STARVED if len(looks) % 2 == 0 else CALM)
        return looks[-1]

    monkeypatch.setattr(RecorderProcess, "judge", judge)

    async def after(done: int) -> None:
        await asyncio.sleep(0.05)  # a look or two between items

    worker = idle_worker(db, crawl_each(after))
    try:
        worker.sync(rss_targets(10))
        with caplog.at_level(logging.WARNING, logger="monitor.worker"):
            assert asyncio.run(worker.cycle())["observations"] == 10
        assert len(looks) >= 6 and STARVED in looks
        assert worker.priority == "idle" and worker._process is not None
        assert worker._process.priority == "idle"
        assert not [r for r in caplog.records if r.name == "monitor.worker"]
    finally:
        worker.close()
