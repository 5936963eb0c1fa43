"""Per-host politeness that outlives a crawl: pauses, back-off, throttle state, robots.txt.

The daemon builds a new crawler for every cycle, but a host's manners must
not be forgotten between cycles. :class:`HostRegistry` keeps, per host (see
:func:`host_key`), for the life of the process:

- a pause ("no request before T"), set by ``Retry-After`` or by the
  exponential back-off after 5xx/429 answers, timeouts and refused connections;
- the count of such failures in a row and the last one's outcome;
- the slot's download delay (AutoThrottle's, or ours after a failure), restored
  into the next crawler's slots instead of AutoThrottle's start delay;
- the parsed robots.txt, until its ``Cache-Control``/``Expires`` say it is
  stale (ROBOTSTXT_CACHE at most, a day by default, per RFC 9309).

:class:`PoliteScheduler` keeps requests for a paused host out of the
downloader, so they do not hold ``CONCURRENT_REQUESTS`` while other hosts
wait; :class:`HostPolitenessMiddleware` sets the pauses and refuses to send
during one (a pause longer than RETRY_AFTER_MAX is not waited out: the request
ends at once as :class:`HostPaused`, recorded with ``retry_after`` so the
scheduler postpones the check).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.core.scheduler import Scheduler
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached
from twisted.python.failure import Failure

from monitor.cadence import backoff
from monitor.observation import Outcome

from .responses import header, outcome_for_failure, parse_retry_after

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

#: Failures of these kinds slow the host down (the server, not the content, failed).
BACKOFF_OUTCOMES = frozenset({Outcome.TIMEOUT, Outcome.CONNECTION_ERROR})

DAY = 86400.0

#: A slot with no delay never checks ``lastseen``; this one is too small to matter.
MIN_SLOT_DELAY = 0.001


@dataclass(slots=True)
class HostState:
    not_before: float = 0.0
    failures: int = 0
    last_outcome: Outcome = Outcome.SERVER_ERROR
    delay: float | None = None


class HostRegistry:
    """Per-host state for the life of the process (see the module docstring).

    ``clock`` is a monotonic clock in seconds; ``rng`` draws the jitter. Both
    are injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self.hosts: dict[str, HostState] = {}
        #: The latest ``not_before`` :meth:`pause` has set: once the clock passes it, no
        #: host is paused, which :meth:`any_paused` answers without a look-up per host.
        self.paused_until = 0.0
        self._robots: dict[str, tuple[RobotParser | None, float]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> HostRegistry:
        # Scrapy deep-copies a crawler's settings; the registry is shared on purpose.
        return self

    def state(self, key: str) -> HostState:
        return self.hosts.setdefault(key, HostState())

    # --- pauses and back-off ------------------------------------------------

    def remaining(self, key: str) -> float:
        """Seconds until ``key`` may be fetched again (0 when it may now)."""
        host = self.hosts.get(key)
        return 0.0 if host is None else max(0.0, host.not_before - self.clock())

    def pause(self, key: str, seconds: float) -> None:
        """No request to ``key`` for ``seconds`` (an earlier, longer pause stands)."""
        host = self.state(key)
        host.not_before = max(host.not_before, self.clock() + seconds)
        self.paused_until = max(self.paused_until, host.not_before)

    def any_paused(self) -> bool:
        """Whether a host may be paused now; False means none is."""
        return self.paused_until > self.clock()

    def failed(self, key: str, outcome: Outcome, base: float, cap: float,
               jitter: float = 0.5) -> float:
        """Count a failure of ``key`` and pause it: ``base`` doubling per failure in
        a row, times a random 1..1+jitter, at most ``cap``. Returns the pause."""
        host = self.state(key)
        host.failures += 1
        host.last_outcome = outcome
        wait = backoff(host.failures - 1, base, cap, jitter=jitter, rand=self.rng.random())
        self.pause(key, wait)
        return wait

    def succeeded(self, key: str) -> None:
        """An answer that was not a failure: the failure streak ends (a pause stands)."""
        host = self.hosts.get(key)
        if host is not None:
            host.failures = 0

    # --- robots.txt -----------------------------------------------------------

    def robots(self, origin: str) -> tuple[bool, RobotParser | None]:
        """``(True, parser)`` while a fresh robots.txt of ``origin`` is cached."""
        entry = self._robots.get(origin)
        if entry is None or entry[1] <= self.clock():
            self._robots.pop(origin, None)
            return False, None
        return True, entry[0]

    def store_robots(self, origin: str, parser: RobotParser | None, ttl: float) -> None:
        if ttl > 0:
            self._robots[origin] = (parser, self.clock() + ttl)


#: The process's registry; a crawl may use another through MONITOR_HOSTS.
HOSTS = HostRegistry()


def registry_for(crawler: Crawler) -> HostRegistry:
    registry = crawler.settings.get("MONITOR_HOSTS")
    return registry if isinstance(registry, HostRegistry) else HOSTS


def host_key(request: Request) -> str:
    """The unit of politeness: the request's host and port (its downloader slot).

    Scrapy keys slots by host name alone; the port is added so two services on
    one machine (the sandbox, test servers) are two hosts. For real platforms,
    on their default ports, it is the same thing.
    """
    return request.meta.get("download_slot") or urlparse_cached(request).netloc


def robots_ttl(response: Response, default: float, now: float | None = None) -> float:
    """How long a robots.txt answer may be reused: ``Cache-Control: max-age``
    (``no-store``/``no-cache`` mean not at all), else ``Expires`` − ``Date``,
    else ``default``; never longer than ``default`` (RFC 9309: 24 hours)."""
    control = (header(response, "Cache-Control") or "").lower()
    for part in (p.strip() for p in control.split(",")):
        if part in {"no-store", "no-cache"}:
            return 0.0
        if part.startswith(("max-age=", "s-maxage=")):
            try:
                return max(0.0, min(default, float(part.split("=", 1)[1])))
            except ValueError:
                continue
    expires = header(response, "Expires")
    if expires:
        try:
            until = parsedate_to_datetime(expires).timestamp()
            date = header(response, "Date")
            base = parsedate_to_datetime(date).timestamp() if date else (now or time.time())
        except (TypeError, ValueError, OverflowError):
            return 0.0  # RFC 9111: an invalid Expires means already expired
        return max(0.0, min(default, until - base))
    return default


class HostPaused(IgnoreRequest):
    """Not fetched: the host is paused for longer than RETRY_AFTER_MAX."""

    def __init__(self, key: str, remaining: float, outcome: Outcome, failures: int) -> None:
        self.retry_after = max(1, round(remaining))
        self.outcome = outcome
        why = (f"after {failures} failure(s) in a row" if failures else
               "as its Retry-After asked")
        super().__init__(
            f"not fetched: {key} is paused for {self.retry_after}s more {why}; "
            f"the check is postponed (RETRY_AFTER_MAX bounds what is waited out)")


class HostPolitenessMiddleware:
    """Pause a host after 5xx/429/timeouts (exponential, with jitter) and on
    ``Retry-After``; never send to a paused host.

    Settings: RETRY_BACKOFF_BASE, RETRY_BACKOFF_MAX, RETRY_AFTER_MAX,
    RETRY_HTTP_CODES, MONITOR_HOSTS.
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.hosts = registry_for(crawler)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 600.0)
        self.max_wait = settings.getfloat("RETRY_AFTER_MAX", 120.0)
        self.codes = {int(c) for c in settings.getlist("RETRY_HTTP_CODES")}
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)
        crawler.signals.connect(self._downloaded, signal=signals.response_downloaded)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # --- throttle state across crawlers -------------------------------------

    def _opened(self, spider: Spider) -> None:
        downloader = self.crawler.engine.downloader  # type: ignore[union-attr]
        for key, host in self.hosts.hosts.items():
            if host.delay is not None:
                downloader.per_slot_settings.setdefault(key, {}).setdefault("delay", host.delay)

    def _closed(self, spider: Spider) -> None:
        for key, slot in self.crawler.engine.downloader.slots.items():  # type: ignore[union-attr]
            self.hosts.state(key).delay = slot.delay

    # --- requests and answers -------------------------------------------------

    async def process_request(self, request: Request) -> None:
        key = host_key(request)
        request.meta["download_slot"] = key  # the downloader's slot is this host too
        remaining = self.hosts.remaining(key)
        if remaining <= 0:
            return
        if remaining > self.max_wait:
            host = self.hosts.state(key)
            raise HostPaused(key, remaining, host.last_outcome, host.failures)
        # Only requests that slipped past PoliteScheduler (robots.txt fetches,
        # a pause set while they were on their way) wait here.
        await asyncio.sleep(remaining)

    def _downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        # A signal, not process_response: it fires before the downloader frees
        # the slot and sends the next queued request to the same host.
        key = host_key(request)
        status = response.status
        if status in self.codes or 500 <= status < 600:
            outcome = Outcome.RATE_LIMITED if status == 429 else Outcome.SERVER_ERROR
            self._failed(key, outcome, parse_retry_after(header(response, "Retry-After")))
        else:
            self.hosts.succeeded(key)

    def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, IgnoreRequest):
            return None
        outcome, _ = outcome_for_failure(exception)
        if outcome in BACKOFF_OUTCOMES:
            self._failed(host_key(request), outcome, None)
        return None

    def _failed(self, key: str, outcome: Outcome, retry_after: float | None) -> None:
        wait = self.hosts.failed(key, outcome, self.base, self.cap)
        if retry_after is not None:
            retry_after = min(retry_after, DAY)  # a hostile server cannot mute us for good
            self.hosts.pause(key, retry_after)
            wait = max(wait, retry_after)
        logger.debug("Pausing %s for %.1fs (%s)", key, wait, outcome.value)
        slot = self.crawler.engine.downloader.slots.get(key)  # type: ignore[union-attr]
        if slot is None:
            return
        # Requests already queued in the host's slot wait out the pause too: the
        # slot sends nothing before lastseen + delay (jitter included; a delay of
        # 0 would skip that check), or they end now when the pause is long.
        if wait > self.max_wait:
            host = self.hosts.state(key)
            while slot.queue:
                _request, deferred = slot.queue.popleft()
                deferred.errback(Failure(HostPaused(key, wait, outcome, host.failures)))
            return
        slot.delay = max(slot.delay, MIN_SLOT_DELAY)
        slot.lastseen = max(slot.lastseen,
                            time.monotonic() + wait - slot.delay * max(0.0, 1 - slot.jitter))


class PoliteScheduler(Scheduler):
    """Scrapy's scheduler, holding back requests for a paused host.

    Such requests are parked here, outside the downloader, so they hold no
    share of CONCURRENT_REQUESTS; the engine is woken when a pause ends. A
    request for a host paused longer than RETRY_AFTER_MAX is not parked: it
    goes on, and HostPolitenessMiddleware ends it at once (HostPaused).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parked: dict[str, deque[Request]] = {}
        self._wake: asyncio.TimerHandle | None = None

    @cached_property
    def _hosts(self) -> HostRegistry:
        """The crawl's host registry (asked for each request: looked up once)."""
        return registry_for(self.crawler) if self.crawler is not None else HOSTS

    def __len__(self) -> int:
        if not self._parked:
            return super().__len__()
        return super().__len__() + sum(len(q) for q in self._parked.values())

    @cached_property
    def _max_wait(self) -> float:
        """RETRY_AFTER_MAX (asked for each request: read once; a crawl's settings are
        frozen)."""
        if self.crawler is None:
            return 120.0
        return self.crawler.settings.getfloat("RETRY_AFTER_MAX", 120.0)

    def next_request(self) -> Request | None:
        hosts = self._hosts
        if not self._parked and not hosts.any_paused():
            # Nothing parked and no host paused, as in nearly every call: Scrapy's
            # next request as it is, without reading its host.
            return super().next_request()
        waits = []
        for key in list(self._parked):
            remaining = hosts.remaining(key)
            if remaining > 0:
                waits.append(remaining)
                continue
            queue = self._parked[key]
            released = queue.popleft()
            if not queue:
                del self._parked[key]
            return released
        if waits:
            self._wake_in(min(waits))
        max_wait = self._max_wait
        for _ in range(super().__len__()):
            request = super().next_request()
            if request is None:
                return None
            key = host_key(request)
            remaining = hosts.remaining(key)
            if remaining <= 0 or remaining > max_wait:
                return request
            self._parked.setdefault(key, deque()).append(request)
            self._wake_in(remaining)
        return None

    def _wake_in(self, seconds: float) -> None:
        """Have the engine ask for requests again in ``seconds`` (one timer, the
        earliest; a later pause is found and timed when it fires)."""
        engine = getattr(self.crawler, "engine", None)
        slot = getattr(engine, "_slot", None)  # the engine's "run the loop again" call
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is None:
            return  # the engine's heartbeat (every 5 s) wakes it anyway
        loop = asyncio.get_event_loop()
        when = loop.time() + seconds + 0.01
        if self._wake is not None and not self._wake.cancelled() and self._wake.when() <= when:
            return
        if self._wake is not None:
            self._wake.cancel()

        def woken() -> None:
            self._wake = None
            nextcall.schedule()

        self._wake = loop.call_at(when, woken)

    def close(self, reason: str) -> Any:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._parked:
            logger.debug("Closing with %d request(s) parked for paused hosts",
                         sum(len(q) for q in self._parked.values()))
        return super().close(reason)
