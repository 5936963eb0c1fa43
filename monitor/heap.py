"""The cyclic garbage collector in the processes the monitor owns.

CPython's collector walks every tracked object of the generations it collects. The
oldest generation holds everything start-up built: the modules of Scrapy, Twisted,
psycopg and pydantic, the settings, the platforms' registry (about 100,000 objects
in a worker). A check cycle allocates a few container objects per post (requests,
jobs, observations), so the youngest generation fills every few posts and, now and
then, the collector walks all of start-up's objects again, finding nothing to free.
Measured with ``bench.cycle`` over 5,000 posts, the crawl spent 0.28 s in the
collector against the plain-Scrapy floor's 0.10 s.

:func:`settle`, once start-up is done, moves what start-up built out of the
collector's reach for good (:func:`gc.freeze`) and collects the youngest generation
every :data:`YOUNG` allocations instead of 700: 0.12 s in the same cycle. The
objects it freezes are those a long-lived process keeps anyway; the few of them that
die later and sit in a reference cycle are never freed (a cycle only the collector
could find), which bounds what this costs by start-up's own size.

It also drops the source lines start-up left in :mod:`linecache`: Scrapy's deprecation
shims call :func:`inspect.stack` as their modules load, which reads every file on the
importing stack whole (17 files, 3.3 MiB by tracemalloc in ``bench.cycle``'s crawl,
when the HTTP download handler loaded at the crawl's first request; :mod:`spiders.crawl`
now loads it at start-up, where the stack is short). Those are read again from their
files if a traceback ever needs them; lines registered without a file (attrs'
generated methods) and entries not read yet (:func:`linecache.lazycache`) stay.

Only a process the monitor owns settles: the ``takedown`` program, whose entry point
calls :func:`own`, and the recorder process. Code that runs the commands in a process
of its own (tests, a caller's script) keeps its collector as it was.
"""

from __future__ import annotations

import gc
import linecache
import logging

__all__ = ["YOUNG", "own", "settle"]

#: Allocations of container objects between two collections of the youngest
#: generation (CPython's default: 700).
YOUNG = 5000

log = logging.getLogger(__name__)

_owned = False
_settled = False


def own() -> None:
    """This process is the monitor's (its program's entry point, the recorder process):
    :func:`settle` may tune its collector."""
    global _owned
    _owned = True


def settle() -> bool:
    """Once start-up is done, in a process the monitor owns: freeze what exists now and
    collect the youngest generation less often. True when it did (the first call in an
    owned process); later calls, and calls in a process not owned, change nothing."""
    global _settled
    if not _owned or _settled:
        return False
    _forget_source_lines()
    gc.collect()  # start-up's own garbage goes first: what is frozen is never collected
    gc.freeze()
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG, older, oldest)
    _settled = True
    log.debug("collector settled: %d objects of start-up frozen, the youngest generation "
              "collected every %d allocations", gc.get_freeze_count(), YOUNG)
    return True


def _forget_source_lines() -> None:
    """Drop the cached lines that can be read again from their files (an entry with a
    modification time); keep those registered in memory, which cannot, and the lazy
    entries (a loader, not lines yet)."""
    for name, entry in list(linecache.cache.items()):
        if len(entry) == 4 and entry[1] is not None:
            linecache.cache.pop(name, None)
