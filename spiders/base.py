"""The spider base class: one WorkItem in, exactly one Observation out.

Subclasses implement :meth:`MonitorSpider.start_job` and step callbacks of
the form ``step(response, job) -> Iterable[Request | Observation]``. The base
class makes the "exactly one" promise hold: a step that raises becomes a
MALFORMED observation, a failed download becomes an observation with the
failure's outcome, and a request Scrapy drops without calling back is still
answered when the spider goes idle.

What a spider declares, besides ``name`` and ``platform``:

- ``probe_batch``: most posts one re-check request may cover (Reddit
  ``/api/info`` 100, Bluesky ``getPosts`` 25). Above 1, probe work arrives in
  groups through ``start_batch(batch)``; each post still ends in its own
  Observation, and a post a batch answer leaves out is probed on its own
  (``start_job``), never called gone. See :mod:`spiders.batch`.
- ``second_signals``: the names of the follow-up requests a probe may make
  before its verdict (Mastodon: the account, the web profile, the edit
  history). A probe keeps its main answer with :meth:`MonitorSpider.hold`,
  asks with :meth:`MonitorSpider.follow_up` and ends with
  :meth:`MonitorSpider.finish`. Each follow-up is listed in
  ``signals["followups"]`` (``name``, ``url``, ``status`` or ``outcome``); one
  that fails (download error, 5xx, 429, anti-bot, or a step that calls
  :meth:`MonitorSpider.second_signal_failed`) sets ``signals["followup_failed"]``
  and the probe concludes with its main answer: the core then waits for
  another probe before deciding a cause on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request, Response

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.observation import Observation, Outcome, RawCapture, WorkItem, body_hash

from .batch import Batch, BatchProbes, Group
from .responses import (
    header,
    header_pairs,
    is_challenge,
    outcome_for_failure,
    outcome_for_status,
    parse_retry_after,
)
from .settings import PlatformDefaults
from .urlpolicy import UrlRefused
from .vantage import stamp_slot

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

__all__ = ["Batch", "Job", "MonitorSpider", "Output", "Step"]

logger = logging.getLogger(__name__)

Output = Iterable[Request | Observation]
Step = Callable[[Response, "Job"], Output]

#: Event-loop turns a pending batch waits for the next work item: an item
#: that is not ready by then is not "immediately available" (no timer).
_READY_TURNS = 4


class Job:
    """One WorkItem on its way to its Observation, with the state its steps share."""

    __slots__ = ("item", "started", "done", "state")

    def __init__(self, item: WorkItem) -> None:
        self.item = item
        self.started = time.monotonic()
        self.done = False
        #: Scratch space for multi-request walks (pages so far, signals, …).
        self.state: dict[str, Any] = {}

    def __repr__(self) -> str:
        it = self.item
        return f"<Job {it.platform} {it.mode} {it.target_key} {it.url}>"


class MonitorSpider(BatchProbes, PlatformDefaults, scrapy.Spider):
    """Base of the monitor's spiders. ``work`` may be a sync or an async iterable."""

    #: Canonical platform name (see :data:`monitor.platforms.PLATFORMS`).
    platform: ClassVar[str] = ""
    #: The follow-up requests (second signals) a probe may make before its
    #: verdict, by name; :meth:`follow_up` refuses any other.
    second_signals: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        work: Iterable[WorkItem] | AsyncIterable[WorkItem] = (),
        sink: Callable[[Observation], Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.work = work
        self.sink = sink
        #: Why this crawl must be reported as failed (the work iterator or the
        #: sink raised); :func:`spiders.crawl.crawl` re-raises it at the end.
        self.failure: BaseException | None = None
        self._open: set[Job] = set()
        self._in_flight = 0
        self._room = asyncio.Event()
        self._flushing: set[asyncio.Future[None]] = set()
        #: Settings of the running crawl read so far (:meth:`_setting`).
        self._settings_read: dict[str, Any] = {}
        #: Each response's capture, shared by the posts of a batched answer (:meth:`_capture`).
        self._captures: weakref.WeakKeyDictionary[Response, RawCapture] = \
            weakref.WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(spider._delivered, signal=signal)
        crawler.signals.connect(spider._on_idle, signal=signals.spider_idle)
        return spider

    # --- work intake ---------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        """Turn work items into requests lazily, never more than MONITOR_MAX_IN_FLIGHT.

        With ``probe_batch`` > 1, probe items are grouped: a group is sent when
        full, when the work ends, when the next item is not immediately
        available, or when the in-flight bound is reached. Listings go alone.
        """
        limit = self.settings.getint("MONITOR_MAX_IN_FLIGHT", 64)
        size = max(1, int(self.probe_batch))
        items = aiter(_aiter(self.work))
        group = Group()
        pending: asyncio.Future[WorkItem] | None = None
        try:
            while self.failure is None:
                # Waiting here leaves the rest of the work unclaimed in the caller's
                # iterator, so a 50,000-item cycle never sits in the scheduler.
                while self._in_flight >= limit:
                    if group:  # its items count as in flight: send it, or wait forever
                        for out in self._send_batch(group.flush()):
                            yield out
                        continue
                    self._room.clear()
                    await self._room.wait()
                try:
                    if group:
                        pending = asyncio.ensure_future(anext(items))
                        if not await _ready(pending):
                            for out in self._send_batch(group.flush()):
                                yield out
                        item = await pending
                        pending = None
                    else:
                        item = await anext(items)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    # Work already started still ends in observations; no more is taken.
                    logger.exception("The %s work iterator failed: %s", self.platform, exc)
                    self.failure = exc
                    break
                self._in_flight += 1
                job = Job(item)
                self._open.add(job)
                if size > 1 and item.mode == "probe":
                    key, scope = self.batch_key(job), self.batch_scope(job)
                    if item.vantage is not None:  # one batch leaves through one proxy
                        scope = f"{scope} via {item.vantage.name}"
                    if not group.fits(key, scope):
                        for out in self._send_batch(group.flush()):
                            yield out
                    group.add(job, key, scope)
                    if len(group) >= size:
                        for out in self._send_batch(group.flush()):
                            yield out
                    continue
                for out in self._guard(job, None, partial(self._first, job)):
                    yield out
            for out in self._send_batch(group.flush()):
                yield out
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    def _first(self, job: Job) -> Output:
        if job.item.mode not in ("listing", "probe"):
            return [self.conclude(job, Outcome.MALFORMED,
                                  detail=f"unknown work mode {job.item.mode!r}")]
        return self.start_job(job)

    def start_job(self, job: Job) -> Output:
        """The first request(s) for a work item (or an Observation at once)."""
        raise NotImplementedError

    def _delivered(self, item: Any, **kwargs: Any) -> None:
        if isinstance(item, Observation):
            self._in_flight = max(0, self._in_flight - 1)
            self._room.set()

    # --- requests and callbacks ----------------------------------------------

    def request(
        self,
        job: Job,
        url: str,
        step: Step,
        on_error: Callable[[BaseException, Job, Request], Output] | None = None,
        **kwargs: Any,
    ) -> Request:
        """A request whose response goes to ``step`` and whose failure to ``on_error``."""
        meta = kwargs.pop("meta", {})
        meta.update({"job": job, "step": step.__name__,
                     "on_error": on_error.__name__ if on_error else None})
        # dont_filter: two work items may share a URL, and each needs its answer.
        return stamp_slot(Request(url, callback=self._on_response, errback=self._on_failure,
                                  dont_filter=True, meta=meta, **kwargs))

    def _on_response(self, response: Response) -> Iterator[Any]:
        job: Job = response.meta["job"]
        step: Step = getattr(self, response.meta["step"])
        if response.meta.get("followup"):
            step = partial(self._followed_up, step=step)
        yield from self._guard(job, response, partial(step, response, job))

    def _on_failure(self, failure: Failure) -> Iterator[Any]:
        request: Request = failure.request  # type: ignore[attr-defined]
        job: Job = request.meta["job"]
        exc = failure.value
        name = request.meta.get("on_error")
        handler = getattr(self, name) if name else self.failed
        if request.meta.get("followup"):
            handler = self._follow_up_lost
        yield from self._guard(job, None, partial(handler, exc, job, request))

    def failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        """Default failure handler: the failure's outcome ends the job."""
        return [self.failure_observation(exc, job, request)]

    def failure_observation(self, exc: BaseException, job: Job, request: Request) -> Observation:
        """Conclude ``job`` with what a failed download of ``request`` says."""
        outcome, detail = outcome_for_failure(exc)
        logger.info("%s %s for %s (%s): %s", job.item.platform, outcome.value,
                    job.item.target_key, request.url, detail)
        obs = self.conclude(job, outcome, detail=detail)
        if obs.final_url is None:
            obs.final_url = request.url
        if detail == "forbidden by robots.txt":
            obs.signals["robots_txt"] = "disallowed"
        if isinstance(exc, UrlRefused):
            obs.signals["url_policy"] = exc.rule
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int):  # not fetched: its host is paused (politeness)
            obs.signals["retry_after"] = retry_after
        return obs

    def _guard(self, job: Job, response: Response | None,
               produce: Callable[[], Output]) -> Iterator[Any]:
        produced: list[Any] = []
        try:
            for out in produce():
                produced.append(out)
        except Exception as exc:
            if job.done:
                logger.exception("Step failed after %s was concluded", job)
                # Keep the observation it made before failing: one per item.
                yield from (out for out in produced if isinstance(out, Observation))
                return
            logger.warning("Could not parse %s for %s: %s", job.item.url,
                           job.item.target_key, exc, exc_info=True)
            yield self.conclude(job, Outcome.MALFORMED, response,
                                detail=f"{type(exc).__name__}: {exc}")
            return
        yield from produced

    def _on_idle(self) -> None:
        orphans = [job for job in self._open if not job.done]
        if not orphans:
            return
        # Scrapy dropped a request without calling back (should not happen with
        # dont_filter, but the promise is one observation per item).
        logger.warning("%d work item(s) got no response; recording them", len(orphans))
        scraper = self.crawler.engine.scraper
        for job in orphans:
            obs = self.conclude(job, Outcome.CONNECTION_ERROR,
                                detail="request dropped without a response")
            # Straight to the item pipelines: no request, so no download handler.
            task = asyncio.ensure_future(scraper.start_itemproc_async(obs, response=None))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        # The engine checks idleness again on its heartbeat, after the pipelines ran.
        raise DontCloseSpider

    # --- second signals ------------------------------------------------------

    def hold(self, job: Job, outcome: Outcome, response: Response | None = None,
             **fields: Any) -> None:
        """Keep a probe's main answer (its evidence) while its follow-ups run."""
        if response is not None:
            job.state["primary"] = response
        job.state["held"] = (outcome, fields)

    def follow_up(self, job: Job, url: str, step: Step, name: str, **kwargs: Any) -> Request:
        """A second-signal request of a held probe, listed in ``signals["followups"]``.

        A failed download, or an answer that is 5xx, 429, anti-bot or otherwise
        transient, never reaches ``step``: it is recorded as a failed follow-up
        and the probe concludes with its held answer (:meth:`finish`).
        """
        if name not in self.second_signals:
            raise ValueError(f"{type(self).__name__} does not declare the second signal "
                             f"{name!r} (second_signals = {self.second_signals!r})")
        if "held" not in job.state:
            raise RuntimeError(f"{job!r}: hold() the main answer before a follow-up")
        meta = kwargs.pop("meta", {})
        meta["followup"] = name
        return self.request(job, url, step, meta=meta, **kwargs)

    def second_signal_failed(self, job: Job, detail: str) -> None:
        """The latest follow-up answered, but not usably: the signals are incomplete."""
        job.state["followup_failed"] = True
        job.state["detail"] = detail
        entries = job.state.get("followups")
        if entries:
            entries[-1]["failed"] = True

    def finish(self, job: Job) -> Observation:
        """Conclude a held probe: its main answer plus what the follow-ups said."""
        outcome, fields = job.state["held"]
        fields = dict(fields)
        signals = {**fields.pop("signals", {}), **job.state.get("signals", {})}
        if job.state.get("followups"):
            signals["followups"] = job.state["followups"]
        if job.state.get("followup_failed"):
            signals["followup_failed"] = True
        if job.state.get("detail"):
            fields["detail"] = job.state["detail"]
        return self.conclude(job, outcome, signals=signals, **fields)

    def _followed_up(self, response: Response, job: Job, step: Step) -> Output:
        name = response.meta["followup"]
        entry: dict[str, Any] = {"name": name, "url": response.url, "status": response.status}
        job.state.setdefault("followups", []).append(entry)
        outcome = self.status_outcome(response)
        if outcome is not None and outcome.transient:
            entry["outcome"] = outcome.value
            self.second_signal_failed(job, f"{name} check: HTTP {response.status}")
            return [self.finish(job)]
        produced: list[Any] = []
        try:
            for out in step(response, job):
                produced.append(out)
            return produced
        except Exception as exc:
            if job.done:
                logger.exception("The %s check failed after %s was concluded", name, job)
                return [out for out in produced if isinstance(out, Observation)]
            # An unreadable second signal is a missing one; the main answer stands.
            logger.warning("Could not read the %s check %s for %s: %s", name, response.url,
                           job.item.target_key, exc, exc_info=True)
            self.second_signal_failed(job, f"{name} check: {type(exc).__name__}: {exc}")
            return [self.finish(job)]

    def _follow_up_lost(self, exc: BaseException, job: Job, request: Request) -> Output:
        outcome, detail = outcome_for_failure(exc)
        name = request.meta["followup"]
        job.state.setdefault("followups", []).append(
            {"name": name, "url": request.url, "outcome": outcome.value})
        self.second_signal_failed(job, f"{name} check: {detail}")
        return [self.finish(job)]

    # --- observations --------------------------------------------------------

    def status_outcome(self, response: Response) -> Outcome | None:
        """ANTI_BOT for challenge pages, else what the status alone says."""
        if is_challenge(response):
            return Outcome.ANTI_BOT
        return outcome_for_status(response.status)

    def conclude(self, job: Job, outcome: Outcome, response: Response | None = None,
                 **fields: Any) -> Observation:
        """Build the job's one Observation and mark the job done."""
        if job.done:
            raise RuntimeError(f"{job!r} already has its observation")
        job.done = True
        self._open.discard(job)
        item = job.item
        obs = Observation(
            mode=item.mode,
            platform=item.platform,
            target_key=item.target_key,
            url=item.url,
            outcome=outcome,
            row_id=item.row_id,
            post_key=item.post_key,
            vantage=item.vantage.name if item.vantage is not None else self._vantage(),
            observed_at=self._clock().now(),
            elapsed_ms=round((time.monotonic() - job.started) * 1000, 1),
        )
        country = item.vantage.country if item.vantage is not None else self._own_country()
        if country:
            obs.signals["country"] = country
        primary = response if response is not None else job.state.get("primary")
        if primary is not None:
            obs.http_status = primary.status
            obs.final_url = primary.url
            obs.body_hash = body_hash(primary.body)
            obs.capture = self._capture(primary, obs)
            if outcome in (Outcome.RATE_LIMITED, Outcome.SERVER_ERROR):
                wait = parse_retry_after(header(primary, "Retry-After"))
                if wait is not None:
                    obs.signals["retry_after"] = int(wait)
        for name, value in fields.items():
            if name == "signals":
                obs.signals.update(value)
            else:
                setattr(obs, name, value)
        return obs

    def _capture(self, response: Response, obs: Observation) -> RawCapture | None:
        """The raw exchange behind ``response`` for the evidence archive, unless the
        ARCHIVE setting is off. Built once per response: the posts of one batched answer
        share it, and the store keeps it once (:mod:`monitor.db.archive`)."""
        settings = self._setting("MONITOR_SETTINGS")
        if settings is not None and not settings["ARCHIVE"]:
            return None
        capture: RawCapture | None = self._captures.get(response)
        if capture is None:
            request = response.request
            capture = self._captures[response] = RawCapture(
                method=request.method if request is not None else "GET",
                url=request.url if request is not None else response.url,
                request_headers=header_pairs(request.headers) if request is not None else (),
                status=response.status, response_headers=header_pairs(response.headers),
                body=response.body, fetched_at=obs.observed_at, vantage=obs.vantage)
        return capture

    def _clock(self) -> Clock:
        """MONITOR_CLOCK (a :class:`monitor.clock.Clock`, injected by tests and the
        sandbox's driver together with the worker's), else the system clock."""
        clock = self._setting("MONITOR_CLOCK")
        return clock if clock is not None else SYSTEM_CLOCK

    def _own_country(self) -> str | None:
        """This machine's country (``VANTAGE_COUNTRY``) for direct requests; None if unset."""
        value = self._setting("MONITOR_VANTAGE_COUNTRY")
        return str(value).upper() if value else None

    def _vantage(self) -> str:
        return str(self._setting("MONITOR_VANTAGE") or "local")

    def _setting(self, name: str) -> Any:
        """A Scrapy setting of the crawl this spider runs in; None outside a crawl.

        Read for every observation (its clock, vantage point, country, whether to
        archive), so each is looked up once: a running crawl's settings are frozen."""
        crawler = getattr(self, "crawler", None)
        if crawler is None:
            return None
        if not crawler.settings.frozen:
            return crawler.settings.get(name)
        try:
            return self._settings_read[name]
        except KeyError:
            value = self._settings_read[name] = crawler.settings.get(name)
            return value


async def _ready(pending: asyncio.Future[Any]) -> bool:
    """Whether ``pending`` completes within a few loop turns (no timer)."""
    for _ in range(_READY_TURNS):
        if pending.done():
            return True
        await asyncio.sleep(0)
    return pending.done()


async def _aiter(work: Iterable[WorkItem] | AsyncIterable[WorkItem]) -> AsyncIterator[WorkItem]:
    if isinstance(work, AsyncIterable):
        async for item in work:
            yield item
    else:
        for item in work:
            yield item
            # Let the engine run between items of a long synchronous list.
            await asyncio.sleep(0)
