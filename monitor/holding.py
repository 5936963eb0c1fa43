"""How much recording work is held in memory: bounded in bytes as well as in count.

An observation keeps its raw exchange (:class:`~monitor.observation.RawCapture`)
until it is recorded, and a body may be as large as ``MAX_BODY_BYTES`` (5 MB by
default), a size the fetched site chooses. Counted in observations alone, the
recorder's queue (2,000) and its batch (:data:`BATCH_COUNT`, 200) could then hold
gigabytes for one hostile host serving large pages. So each is also bounded by the
bodies it holds: a queue by :data:`QUEUE_BYTES`, a batch (one transaction) by
:data:`BATCH_BYTES`, a chunk sent to a recorder process by :data:`CHUNK_BYTES`. One
observation always goes through, whatever its size, so a bound never stops the
recording; what it holds stays under the bound plus one body.

Also the counts a recorder keeps of what went through it (:func:`zero_stats`), here so
that a worker whose recorder runs in a process of its own reads them without loading
the recorder.
"""

from __future__ import annotations

import queue
from typing import Any

from .observation import Observation

MiB = 1 << 20
#: Bodies a recorder's queue holds at most (the crawl waits beyond it).
QUEUE_BYTES = 64 * MiB
#: Bodies one recorded batch holds at most.
BATCH_BYTES = 16 * MiB
#: Observations one recorded batch (one transaction) holds at most, whatever
#: ``BATCH_SIZE`` claims at once. Measured (``bench.cycle`` at 20,000 posts, recorder
#: process): batches of 500 held the recorder at 68 MiB, of 200 at 62 MiB for the
#: same CPU (10.0 and 10.1 s); of 100, 60 MiB for 10% more CPU.
BATCH_COUNT = 200
#: Bodies one chunk handed to a recorder process holds at most.
CHUNK_BYTES = 4 * MiB
#: The counts a recorder keeps per span (``Recorder.stats``, ``RecorderProcess.stats``).
RECORDER_COUNTS = ("observations", "events", "batches", "db_retries", "malformed",
                   "unstorable", "fenced")


def zero_stats() -> dict[str, int]:
    """A recorder's counts, all zero."""
    return dict.fromkeys(RECORDER_COUNTS, 0)


#: What an observation holds besides its body (its fields, parsed post, headers).
ALLOWANCE = 2048


def weight(item: Any) -> int:
    """The bytes an observation (or a list of them) holds, about: its raw body and
    :data:`ALLOWANCE`. Anything else (a flush marker, the end's None) weighs nothing."""
    if isinstance(item, Observation):
        capture = item.capture
        return ALLOWANCE + (len(capture.body) if capture is not None else 0)
    if isinstance(item, list):
        return sum(weight(i) for i in item)
    return 0


class ByteQueue(queue.Queue):  # type: ignore[type-arg]
    """A :class:`queue.Queue` that is full at ``maxsize`` items or once what it holds
    weighs ``max_bytes`` (:func:`weight`), whichever comes first. It admits items
    while under the weight, so an empty queue takes an item of any size.

    Built on the queue's own extension points (``_put``, ``_get``, ``_qsize``, as
    :class:`queue.PriorityQueue` is), which run under its lock."""

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        super().__init__(max(1, maxsize))
        self.max_bytes = max_bytes
        #: The weight of what it holds now.
        self.held = 0

    def _put(self, item: Any) -> None:
        self.held += weight(item)
        super()._put(item)  # type: ignore[misc]

    def _get(self) -> Any:
        item = super()._get()  # type: ignore[misc]
        self.held -= weight(item)
        return item

    def _qsize(self) -> int:
        n = len(self.queue)  # type: ignore[attr-defined]
        # Full by weight: reported as full by count, the one test put() makes.
        return max(n, self.maxsize) if n and self.held >= self.max_bytes else n
