"""RECORDER = auto with several workers on one machine: each counts the live workers
of its machine (their seats, by the kernel's boot id) and records in a process of its
own only where its CPUs, shared among them, give each two or more. Two workers on two
cores with a recorder process each ran four busy processes on two cores (x1.29 of one
worker, against x1.91 with threads, bench.workers)."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from monitor import recording
from monitor.cpus import machine_id, usable_cpus
from monitor.db import Database, workers
from monitor.observation import Observation, Outcome, WorkItem
from monitor.recorder_process import RecorderProcess
from monitor.recording import recording_for
from monitor.settings import Settings
from monitor.snapshot import BackgroundRecorder
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker


def crawl_each(after: Callable[[int], Awaitable[None]]) -> Any:
    """A crawl that observes each claimed item (OK, no entries) and then awaits
    ``after`` with how many it has observed so far."""
    async def crawl(work: Mapping[str, AsyncIterator[WorkItem]], sink: Any,
                    settings: Any) -> dict[str, int]:
        done = 0
        for items in work.values():
            async for item in items:
                obs = Observation(mode=item.mode, platform=item.platform,
                                  target_key=item.target_key, url=item.url,
                                  outcome=Outcome.OK, row_id=item.row_id)
                obs.entries = []
                await sink(obs)
                done += 1
                await after(done)
        return {"fetched": done}
    return crawl


def rss_targets(count: int) -> list[Any]:
    """``count`` feeds of one group, due hourly."""
    feeds = "".join(f'[[groups.g.targets]]\nplatform = "rss"\n'
                    f'feed = "http://127.0.0.1:9/f{i}.xml"\n' for i in range(count))
    return parse_watchlist('[groups.g]\ninterval = "1h"\n' + feeds).targets


@pytest.fixture(autouse=True)
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording, "usable_cpus", lambda: 2)


@pytest.fixture
def neighbour(db: Database) -> Iterator[workers.Presence]:
    """Another worker's seat on machine ``m``, taken when a test calls ``ensure()``."""
    seat = workers.Presence(db.url, "other", machine="m")
    yield seat
    seat.close()


def auto_worker(db: Database, machine: str = "m", crawl: Any = None,
                **settings: str) -> Worker:
    """A worker on ``machine`` (RECORDER = auto unless ``settings`` say)."""
    worker = Worker(db, Settings.load(settings, environ={}), crawl)
    worker.presence.machine = machine
    return worker


@pytest.mark.parametrize(("cpus", "sharing", "mode"), [
    (2, 1, "process"), (2, 2, "thread"), (4, 2, "process"), (5, 3, "thread"),
    (16, 0, "process"),  # nobody seated yet counts as one
])
def test_the_workers_of_a_machine_share_its_cpus(cpus: float, sharing: int,
                                                 mode: str) -> None:
    assert recording_for("auto", cpus, sharing=sharing) == mode
    assert recording_for("process", cpus, sharing=sharing) == "process"  # as given


def test_a_worker_counts_soon_after_it_starts_then_every_few_seconds_for_good() -> None:
    """Workers started together are counted within the first seconds; one that joins
    hours later is seen within PLACE_EVERY, however long the others have run."""
    counts = list(itertools.accumulate(itertools.islice(
        recording._schedule(recording.PLACE_AT, recording.PLACE_EVERY), 1000)))
    assert counts[:2] == [1.0, 3.0]
    assert max(b - a for a, b in itertools.pairwise(counts)) <= 10.0
    assert counts[-1] > 2 * 3600  # still counting hours in


def test_the_machine_is_the_kernels_boot_id_else_the_host_name(tmp_path: Path) -> None:
    boot = tmp_path / "boot_id"
    boot.write_text("6f1c2d3e-aaaa-bbbb-cccc-0123456789ab\n", encoding="ascii")
    assert machine_id(boot) == "boot:6f1c2d3e-aaaa-bbbb-cccc-0123456789ab"
    assert machine_id(tmp_path / "missing") == f"host:{socket.gethostname()}"
    boot.write_text("", encoding="ascii")
    assert machine_id(boot) == f"host:{socket.gethostname()}"


CONTAINER = ("--uts", "--pid", "--mount", "--net", "--ipc", "--fork", "--mount-proc")


@pytest.mark.parametrize("user_namespace", [False, True], ids=["rootful", "rootless"])
def test_containers_of_one_host_are_one_machine(user_namespace: bool) -> None:
    """What a container is to the kernel (namespaces of its own: host name, processes,
    mounts with a fresh /proc, network, IPC; a user namespace too when rootless): its
    workers name the host's machine, though its host name is its own, so ``auto``
    shares the host's CPUs among every container's workers."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs util-linux unshare to make the namespaces")
    flags = ("--user", "--map-root-user", *CONTAINER) if user_namespace else CONTAINER
    code = ("import socket; from monitor.cpus import machine_id; "
            "print(machine_id(), socket.gethostname())")
    inside = subprocess.run(
        [unshare, *flags, "sh", "-c",
         f'hostname takedown-container && exec "{sys.executable}" -c "{code}"'],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    if inside.returncode != 0 and inside.stderr.startswith("unshare:"):
        # unshare's own refusal (not permitted, user namespaces switched off), before
        # anything of ours ran: a failure of machine_id() shows as a traceback instead.
        pytest.skip(f"the namespaces cannot be made here: {inside.stderr.strip()}")
    assert inside.returncode == 0, inside.stderr
    machine, host = inside.stdout.split()
    assert host == "takedown-container" != socket.gethostname()
    assert machine == machine_id() and machine.startswith("boot:")


def test_live_workers_are_counted_by_their_machine(db: Database) -> None:
    seats = [workers.Presence(db.url, f"w{i}", machine=m)
             for i, m in enumerate(["m1", "m1", "m2"])]
    for seat in seats:
        assert seat.ensure() is not None
    with db.transaction() as conn:
        # A dead worker's row not reclaimed yet (no lock held) and an older version's.
        conn.execute("INSERT INTO workers (name, machine) VALUES ('dead', 'm1'), ('old', NULL)")
        assert workers.on_machine(conn, "m1") == 2
        assert workers.on_machine(conn, "m2") == 1
        assert workers.on_machine(conn, "m3") == 0
    seats[0].close()
    with db.transaction() as conn:
        assert workers.on_machine(conn, "m1") == 1
    for seat in seats[1:]:
        seat.close()


def test_a_worker_on_auto_moves_its_recording_as_workers_join_and_leave(
        db: Database, neighbour: workers.Presence) -> None:
    worker, other = auto_worker(db), neighbour
    try:
        assert worker.recording == "process"
        assert other.ensure() is not None
        # Not seated yet, it counts itself with the other one.
        assert worker.place() is True and worker.recording == "thread"
        other.close()
        worker._holder()
        assert worker.place() is True and worker.recording == "process"
        assert worker.place() is False  # nothing moved
        writer = worker.open_placed()
        assert isinstance(writer, RecorderProcess)
        writer.close()
        child = writer._child
        assert child is not None and child.proc.is_alive()

        joining = workers.Presence(db.url, "joining", machine="m")
        assert joining.ensure() is not None
        writer = worker.open_placed()  # between cycles: the process ends, a thread records
        assert isinstance(writer, BackgroundRecorder)
        assert worker.recording == "thread" and worker._process is None
        child.proc.join(10)
        assert not child.proc.is_alive()
        writer.close()
        joining.close()
    finally:
        worker.close()


def test_a_chosen_recorder_and_another_machines_workers_are_left_alone(
        db: Database) -> None:
    forced = auto_worker(db, recorder="process")
    alone = auto_worker(db, machine="elsewhere")
    try:
        forced._holder()
        alone._holder()
        assert forced.place() is False and forced.recording == "process"
        assert alone.place() is False and alone.recording == "process"
    finally:
        forced.close()
        alone.close()


def test_a_worker_keeps_its_recording_while_the_database_is_away(
        db: Database, neighbour: workers.Presence) -> None:
    worker = auto_worker(db)
    assert neighbour.ensure() is not None
    db.close()  # every transaction now fails as the database being away does
    assert worker.place() is False and worker.recording == "process"


@pytest.mark.parametrize("fails", [False, True])
def test_a_check_cycle_moves_its_recording_when_a_worker_joins_mid_cycle(
        db: Database, monkeypatch: pytest.MonkeyPatch, neighbour: workers.Presence,
        caplog: pytest.LogCaptureFixture, fails: bool) -> None:
    """Two ``takedown check`` workers started together: the one that counted before the
    other took its seat moves to a thread during its cycle, and records every item once.
    A new recorder that fails to open leaves the recording where it was, logged."""
    monkeypatch.setattr(recording, "PLACE_AT", ())
    monkeypatch.setattr(recording, "PLACE_EVERY", 0.05)
    other = neighbour
    moved_at: list[int] = []

    async def after(done: int) -> None:
        if done == 10:  # the other worker takes its seat; this one moves
            assert worker.recording == "process"
            if fails:
                monkeypatch.setattr(worker, "open_writer", refuse)
            assert other.ensure() is not None
            async with asyncio.timeout(20):
                while worker.recording != "thread":
                    await asyncio.sleep(0.02)
            moved_at.append(done)

    def refuse() -> None:
        raise OSError("no more processes")

    worker = auto_worker(db, crawl=crawl_each(after))
    try:
        worker.sync(rss_targets(30))
        stats = asyncio.run(worker.cycle())
        assert moved_at == [10]
        assert stats["claimed"] == 30 and stats["observations"] == 30  # both recorders'
        if fails:  # the process recorded it all (each later count tried the move again)
            assert worker._process is not None
            assert "moving the recording failed: OSError('no more processes')" in caplog.text
        else:
            assert worker.recording == "thread" and worker._process is None
        with db.transaction() as conn:
            rows = conn.execute("SELECT count(*) AS n, sum(repeats) AS checks "
                                "FROM observations").fetchone()
        assert (rows["n"], rows["checks"]) == (30, 30)  # none lost at the move, none twice
    finally:
        worker.close()


class Daemon:
    """A real ``takedown -v run`` process, pinned to two CPUs; its log lines kept."""

    def __init__(self, db_url: str, watchlist: Path, verbosity: str = "-v") -> None:
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url,
               "TAKEDOWN_WATCHLIST": str(watchlist), "TAKEDOWN_METRICS_ADDRESS": ""}
        env.pop("TAKEDOWN_RECORDER", None)
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0,1", sys.executable, "-m", "spiders.cli", verbosity, "run"],
            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60.0, times: int = 1,
                 unless: str | None = None) -> None:
        """Until ``times`` of its lines hold ``text``; a line with ``unless`` fails it."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < times:
            assert unless is None or not any(unless in line for line in self.lines), \
                f"{unless!r} before {times} x {text!r} in:\n" + "".join(self.lines)
            assert self.proc.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + "".join(self.lines)
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(60)
        self._reader.join(10)
        return code


@pytest.mark.skipif(shutil.which("taskset") is None or usable_cpus() < 2,
                    reason="needs taskset and two CPUs to pin the daemons to")
def test_two_real_daemons_on_one_machine_both_record_in_threads(
        db_url: str, tmp_path: Path) -> None:
    """Two ``takedown run`` processes on one 2-CPU machine (the kernel's boot id names it
    for both): the first records in its process while alone; once the second has its
    seat, each records in a thread. Stopping them ends cleanly."""
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text('[groups.g]\ninterval = "1h"\n[[groups.g.targets]]\nplatform = "rss"\n'
                         'feed = "http://127.0.0.1:9/feed.xml"\n', encoding="utf-8")
    moved = "share this machine's CPUs: recording in a thread from now on"
    first = Daemon(db_url, watchlist, "-vv")  # -vv: each count that moves nothing is logged
    second: Daemon | None = None
    try:
        first.wait_for("recording in a process of its own (RECORDER = auto")
        # Its counts at 1 and 3 s, alone on the machine: it stays.
        first.wait_for("1 worker(s) share this machine's CPUs: recording stays in a process",
                       times=2, unless=moved)
        alone = len(first.lines)
        assert not any(moved in line for line in first.lines)
        second = Daemon(db_url, watchlist)
        second.wait_for(moved)  # it counts the first at once
        # The first at its next count: past its first ones (1 and 3 s in), one every
        # PLACE_EVERY (the slack is for a loaded machine starting the second).
        first.wait_for(moved, timeout=recording.PLACE_EVERY + 20)
        assert not any(moved in line for line in first.lines[:alone])
    finally:
        codes = [daemon.stop() for daemon in (first, second) if daemon is not None]
    assert codes == [0, 0], "".join(first.lines)
    assert not any("Traceback" in line for line in first.lines + second.lines)


class FakeWriter:
    def __init__(self) -> None:
        self.stats = {"observations": 0}
        self.closed = False

    async def aput(self, obs: Observation) -> None:
        self.stats["observations"] += 1

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


class MovingWorker:
    """What a Recording asks of its worker: placed once, to a recorder that opens only
    when ``opening`` is set, then fails."""

    placing = watching = True
    recording = "process"

    def __init__(self) -> None:
        self.first = FakeWriter()
        self.opening = threading.Event()
        self.asked = threading.Event()

    def open_placed(self) -> FakeWriter:
        return self.first

    def place(self) -> bool:
        if self.asked.is_set():
            return False
        self.recording = "thread"
        return True

    def open_writer(self) -> FakeWriter:
        self.asked.set()
        self.opening.wait(10)
        raise OSError("no more processes")

    def retire_process(self) -> None:
        raise AssertionError("nothing moved: nothing to retire")


def test_a_move_that_fails_while_the_recording_closes_is_logged_and_loses_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    """The cycle ending while a move is under way: closing stops the placing, waits for
    the move, whose failure is logged (it was lost with the placing task it ran under),
    and closes the recorder that still held the observations."""
    worker = MovingWorker()
    rec = recording.Recording(worker, place_at=(0.0,))  # type: ignore[arg-type]

    async def main() -> dict[str, int]:
        await rec.open()
        await rec.put(Observation(mode="listing", platform="rss", target_key="k", url="u",
                                  outcome=Outcome.OK))
        await asyncio.to_thread(worker.asked.wait, 10)  # the move is under way
        closing = asyncio.ensure_future(rec.close())
        await asyncio.sleep(0)  # the close has cancelled the placing and waits
        worker.opening.set()
        return await closing

    stats = asyncio.run(main())
    assert stats["observations"] == 1 and worker.first.closed
    assert worker.recording == "process"  # where it still records: the next count retries
    assert "moving the recording failed: OSError('no more processes')" in caplog.text


class CountFails(MovingWorker):
    """A worker whose count of its machine's workers fails unexpectedly (not the
    database away, which ``place`` answers itself)."""

    calls = 0

    def place(self) -> bool:
        self.calls += 1
        if self.calls == 2:  # the first failure was handled: counting went on
            self.asked.set()
        raise ValueError("unexpected row")


def test_a_count_that_fails_is_logged_and_the_recording_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    worker = CountFails()
    rec = recording.Recording(worker, place_at=(0.0,), place_every=0.01)  # type: ignore[arg-type]

    async def main() -> dict[str, int]:
        await rec.open()
        await asyncio.to_thread(worker.asked.wait, 10)  # a count failed, the next ran
        await rec.put(Observation(mode="listing", platform="rss", target_key="k", url="u",
                                  outcome=Outcome.OK))
        return await rec.close()

    stats = asyncio.run(main())
    assert stats["observations"] == 1 and worker.first.closed
    assert "counting this machine's workers failed: ValueError('unexpected row')" in caplog.text
    assert worker.recording == "process"
