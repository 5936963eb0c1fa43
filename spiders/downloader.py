"""Scrapy's downloader, keeping a host's concurrency and pauses without a delay.

Scrapy 2.19's ``Downloader._process_queue`` starts each download as a task, and
the task counts its request in the slot's ``transferring`` only once it runs. With
a download delay of 0 the slot therefore sends every queued request at once, past
``CONCURRENT_REQUESTS_PER_DOMAIN``, and it never reads ``slot.lastseen``, where
:mod:`spiders.politeness` holds a paused host's queued requests. The monitor used
to work around both with a delay of ``MIN_SLOT_DELAY`` on every slot, at the price
of a timer and an event-loop turn per request (about 0.2 ms of CPU per request,
20% of a plain spider's cost, measured with ``bench.cycle``) and a ceiling of 1,000
requests a second per host.

:class:`MonitorDownloader` counts a request as transferring when it leaves the
slot's queue, and waits out a ``lastseen`` in the future whatever the delay, so a
slot's delay is what the settings say (``DOWNLOAD_DELAY``, AutoThrottle's, or the
politeness middleware's after a failure). Everything else is Scrapy's.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro

__all__ = ["MonitorDownloader"]


class MonitorDownloader(Downloader):
    """``DOWNLOADER`` of the monitor's crawls (see the module docstring)."""

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:
            return  # a wait is scheduled; it processes the queue when it ends
        now = monotonic()
        delay = slot.download_delay()
        # With a delay of 0 this is still positive while a pause holds the host.
        penalty = delay - now + slot.lastseen
        if penalty > 0:
            slot.latercall = call_later(penalty, self._latercall, slot)
            return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            # Counted now, not when the task runs: the loop must see the slot fill up.
            # Downloader._download adds it again (a set) and removes it when done.
            slot.transferring.add(request)
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:  # one request per delay, as Scrapy's
                self._process_queue(slot)
                break
