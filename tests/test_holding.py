"""What recording holds in memory is bounded by the bodies it holds, not only by count.

A hostile host chooses its bodies' size (up to ``MAX_BODY_BYTES``); before these
bounds a recorder's queue of 2,000 and its batch of 500 held whatever they weighed.
The thread writer and the recorder process against real PostgreSQL
(``tests.test_database_errors``' six targets), bounds made small for the test.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from monitor import holding, recorder_process, snapshot
from monitor.holding import ALLOWANCE, ByteQueue, weight
from monitor.observation import Observation, Outcome, RawCapture
from monitor.signals import SignalManager, batch_committed
from monitor.snapshot import BackgroundRecorder, Recorder
from monitor.spool import Spool
from monitor.worker import Worker
from tests import test_database_errors
from tests.test_database_errors import T0, Site
from tests.test_recorder_process import SETTINGS, recorder

proxy = test_database_errors.proxy
site = test_database_errors.site

KB = 1024


def heavy(obs: Observation, size: int) -> Observation:
    """``obs`` with a raw capture whose body is ``size`` bytes."""
    return replace(obs, capture=RawCapture(
        method="GET", url="https://ex.social/api", request_headers=(), status=200,
        response_headers=(), body=b"x" * size, fetched_at=T0))


def bare(n: int = 0) -> Observation:
    return Observation(mode="probe", platform="rss", target_key="t", url=f"u{n}",
                       outcome=Outcome.OK)


def test_weight_is_the_body_and_an_allowance() -> None:
    assert weight(bare()) == ALLOWANCE
    assert weight(heavy(bare(), 300 * KB)) == ALLOWANCE + 300 * KB
    assert weight([bare(), heavy(bare(), 10)]) == 2 * ALLOWANCE + 10
    assert weight(None) == 0


def test_the_queue_is_full_by_weight_before_count_and_frees_it_as_taken() -> None:
    q = ByteQueue(100, 1000 * KB)
    for i in range(3):
        q.put_nowait(heavy(bare(i), 400 * KB))  # admitted while under 1,000 KB
    with pytest.raises(queue.Full):
        q.put_nowait(bare(9))  # 1,206 KB held: full, though 3 of 100
    assert q.full() and q.qsize() == 100 and q.held == 3 * (400 * KB + ALLOWANCE)
    assert q.get_nowait().url == "u0"
    q.put_nowait(bare(9))  # 804 KB: room again
    assert [q.get_nowait().url for _ in range(3)] == ["u1", "u2", "u9"]
    assert q.held == 0 and q.empty()


def test_an_empty_queue_takes_a_body_of_any_size_and_count_still_bounds() -> None:
    q = ByteQueue(2, 10 * KB)
    q.put_nowait(heavy(bare(), 50 * KB))  # over the bound alone: never stuck
    with pytest.raises(queue.Full):
        q.put_nowait(bare())
    small = ByteQueue(2, 10 * KB)
    small.put_nowait(bare(1))
    small.put_nowait(bare(2))
    with pytest.raises(queue.Full):  # 4 KB held, but 2 of 2
        small.put_nowait(bare(3))


def test_a_blocked_put_waits_for_weight_to_be_taken() -> None:
    q = ByteQueue(100, 100 * KB)
    q.put_nowait(heavy(bare(0), 200 * KB))
    done = threading.Event()

    def put() -> None:
        q.put(bare(1), timeout=10)
        done.set()

    threading.Thread(target=put, daemon=True).start()
    assert not done.wait(0.2)  # full by weight: the put waits
    q.get()
    assert done.wait(5)


def test_the_thread_writer_batches_by_bodies_and_the_crawl_waits_on_them(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six 400 KB observations: batches of at most two (800 KB >= 700 KB) though
    BATCH_SIZE is 50, every one recorded; while the writer is held, a queue of 700 KB
    turns the third waiting one away, as it would the crawl."""
    monkeypatch.setattr(snapshot, "BATCH_BYTES", 700 * KB)
    monkeypatch.setattr(snapshot, "QUEUE_BYTES", 700 * KB)
    batches: list[int] = []
    signals = SignalManager()
    signals.connect(lambda observations, events: batches.append(len(observations)),
                    batch_committed)
    rec = Recorder(site.proxied, SETTINGS, signals=signals)
    hold, entered = threading.Event(), threading.Event()
    record = rec.record

    def held(batch: list[Observation]) -> object:
        entered.set()
        hold.wait(10)
        return record(batch)

    monkeypatch.setattr(rec, "record", held)
    writer = BackgroundRecorder(rec, batch_size=50, max_wait=0.5,
                                spool=Spool(tmp_path / "spool"))
    observations = [heavy(o, 400 * KB) for o in site.observations()]
    try:
        assert writer.put(observations[0])  # taken by the writer, held in record()
        assert entered.wait(10)
        assert writer.put(observations[1]) and writer.put(observations[2])
        assert not writer.put(observations[3])  # 804 KB held: full by weight, 2 of 2,000
        hold.set()
        for obs in observations[3:]:
            asyncio.run(writer.aput(obs))
        writer.close()
    finally:
        hold.set()
    assert sum(batches) == 6 and max(batches) <= 2, batches
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


def test_the_recorder_process_gets_its_work_in_chunks_bounded_by_bodies(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Handed over as a crawl does (``aput`` on a loop), six 400 KB observations go in
    chunks of at most two when a chunk holds 700 KB (not the 100 by count), and all
    are recorded."""
    monkeypatch.setattr(recorder_process, "CHUNK_BYTES", 700 * KB)
    chunks: list[int] = []
    rec = recorder(site, tmp_path).open()
    hand_over = rec._hand_over

    def counted(child: object) -> bool:
        size = len(rec._chunk)
        handed = hand_over(child)  # type: ignore[arg-type]
        if handed and size:
            chunks.append(size)
        return handed

    monkeypatch.setattr(rec, "_hand_over", counted)

    async def crawl() -> None:
        for obs in site.observations():
            await rec.aput(heavy(obs, 400 * KB))

    try:
        asyncio.run(crawl())
        rec.close()
        assert rec.stats["observations"] == 6
    finally:
        rec.shutdown()
    assert sum(chunks) == 6 and max(chunks) == 2, chunks
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


@pytest.mark.parametrize("recording", ["thread", "process"])
def test_a_recorded_batch_holds_batch_count_observations_whatever_batch_size_claims(
        recording: str, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCH_SIZE (500) is how much a worker claims at once, not what its recorder holds
    in one transaction: six observations handed over together are written in batches of
    at most BATCH_COUNT (made 2 here), in the writer thread and in the recorder process
    alike (the worker tells the child its batch). Batched by BATCH_SIZE, they went as one."""
    monkeypatch.setattr(holding, "BATCH_COUNT", 2)
    assert SETTINGS["BATCH_SIZE"] == 500
    batches: list[int] = []
    signals = SignalManager()
    signals.connect(lambda observations, events: batches.append(len(observations)),
                    batch_committed)

    async def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("no crawl here")

    worker = Worker(site.proxied, SETTINGS, never, signals=signals,
                    spool_dir=tmp_path / "spool", recording=recording)
    try:
        writer = worker.open_writer()

        async def hand_over() -> None:
            for obs in site.observations():
                await writer.aput(heavy(obs, 1 * KB))

        asyncio.run(hand_over())
        writer.close()
    finally:
        worker.close()
    assert sum(batches) == 6 and max(batches) <= 2, batches
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


def test_the_bounds_hold_a_handful_of_the_largest_bodies() -> None:
    """At the default MAX_BODY_BYTES (5 MB) a batch holds at most four bodies and a
    queue at most fourteen, where 200 and 2,000 could be held by count alone."""
    largest = 5_000_000 + ALLOWANCE
    assert holding.BATCH_BYTES // largest + 1 == 4
    assert holding.QUEUE_BYTES // largest + 1 == 14

