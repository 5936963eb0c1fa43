"""Batched probes: one request re-checks many posts, each still gets its own Observation.

A spider that sets ``probe_batch`` above 1 receives its probe work in groups
(:meth:`MonitorSpider.start` builds them) through ``start_batch(batch)``, makes
one request with :meth:`BatchProbes.batch_request`, and its batch step
``step(response, batch)`` concludes each post it reads with
:meth:`BatchProbes.conclude_item`. The rules the base keeps:

- a failed batch download, or a transient batch answer (5xx, 429, anti-bot…),
  concludes every job of the batch with that outcome;
- the batch request is fetched under the fetch policy of its jobs' targets
  (:mod:`spiders.urlpolicy`): a job whose policy refuses the batch URL is
  probed alone instead;
- a step that raises concludes every job still open as MALFORMED (the
  observations it already made are kept);
- a post the answer leaves out, or answers with an item the spider could not
  read (:meth:`Batch.alone`), is probed on its own (``start_job``): absence from
  a batch answer is never a deletion, only the single probe decides;
- an item for an id not asked, or asked and already answered, is ignored
  (:meth:`Batch.take` returns None), so a hostile answer never concludes
  someone else's job.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.http import Request, Response

from monitor.observation import Observation, Outcome

from .urlpolicy import FetchPolicy
from .vantage import stamp_slot

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from .base import Job, Output

logger = logging.getLogger(__name__)

BatchStep = Callable[[Response, "Batch"], "Output"]


def item_hash(item: Any) -> str:
    """SHA-256 of one answer item: its bytes, or its canonical JSON (sorted keys)."""
    if isinstance(item, str):
        data = item.encode("utf-8", "surrogatepass")
    elif isinstance(item, bytes | bytearray):
        data = bytes(item)
    else:
        data = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=repr).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


class Batch:
    """The jobs of one batch request, by the key the answer names them with."""

    __slots__ = ("jobs", "keys", "state", "outstanding", "_by_key", "_taken", "_alone")

    # A job whose key repeats an earlier job's is never answered by the batch
    # (take() gives the first): it ends in the leftovers, probed alone.

    def __init__(self, jobs: list[Job], keys: list[str]) -> None:
        self.jobs = jobs
        #: The keys asked for, in order (build the request from these).
        self.keys = keys
        #: Scratch space for the batch's steps.
        self.state: dict[str, Any] = {}
        #: Batch requests sent and not yet answered.
        self.outstanding = 0
        self._by_key: dict[str, Job] = {}
        for key, job in zip(keys, jobs, strict=True):
            self._by_key.setdefault(key, job)
        self._taken: set[str] = set()
        self._alone: set[str] = set()

    def __len__(self) -> int:
        return len(self.jobs)

    def __repr__(self) -> str:
        return f"<Batch of {len(self.jobs)}: {', '.join(self.keys[:3])}…>"

    def take(self, key: Any) -> Job | None:
        """The open job asked for under ``key``, once; None for keys not asked or
        already answered (extra ids, duplicates) and for anything not a string."""
        if not isinstance(key, str) or key in self._taken or key in self._alone:
            return None
        job = self._by_key.get(key)
        if job is None or job.done:
            return None
        self._taken.add(key)
        return job

    def alone(self, job: Job) -> None:
        """Probe this job on its own instead: its item could not be read, or the
        batch URL is outside its target's fetch policy."""
        for key, candidate in self._by_key.items():
            if candidate is job:
                self._alone.add(key)

    def open(self) -> list[Job]:
        """Jobs still open that the batch answers for (not set to be probed alone)."""
        return [job for key, job in zip(self.keys, self.jobs, strict=True)
                if not job.done and key not in self._alone]

    def leftovers(self) -> list[Job]:
        """Jobs still open that the answer did not settle: left out, or unreadable."""
        return [job for key, job in zip(self.keys, self.jobs, strict=True)
                if not job.done and (key not in self._taken or key in self._alone
                                     or self._by_key[key] is not job)]

    def evidence(self, item: Any) -> dict[str, Any]:
        """The signals that make one post's evidence its own inside a shared answer."""
        return {"batch_size": len(self.jobs), "item_hash": item_hash(item)}


class Group:
    """Probe jobs waiting to be sent as one batch: distinct keys, one scope."""

    __slots__ = ("jobs", "_keys", "_scope")

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._keys: set[str] = set()
        self._scope: str | None = None

    def __len__(self) -> int:
        return len(self.jobs)

    def fits(self, key: str, scope: str) -> bool:
        """Whether a job may join: the same post twice needs two answers, and
        another scope (host) another request."""
        return not self.jobs or (key not in self._keys and scope == self._scope)

    def add(self, job: Job, key: str, scope: str) -> None:
        self.jobs.append(job)
        self._keys.add(key)
        self._scope = scope

    def flush(self) -> list[Job]:
        """The jobs to send, leaving the group empty."""
        jobs, self.jobs, self._keys, self._scope = self.jobs, [], set(), None
        return jobs


class BatchProbes:
    """The batch half of :class:`spiders.base.MonitorSpider` (see the module docstring)."""

    #: Most posts one batch request may cover; 1 means no batching.
    probe_batch: ClassVar[int] = 1

    if TYPE_CHECKING:
        def conclude(self, job: Job, outcome: Outcome, response: Response | None = None,
                     **fields: Any) -> Observation: ...
        def start_job(self, job: Job) -> Output: ...
        def status_outcome(self, response: Response) -> Outcome | None: ...
        def failure_observation(self, exc: BaseException, job: Job,
                                request: Request) -> Observation: ...
        def _guard(self, job: Job, response: Response | None,
                   produce: Callable[[], Output]) -> Iterator[Any]: ...

    def batch_key(self, job: Job) -> str:
        """How the batch answer names this job's post (default: its post key)."""
        return job.item.post_key or job.item.url

    def batch_scope(self, job: Job) -> str:
        """Jobs share a batch only within one scope (default: the same base URL)."""
        return job.item.base_url or ""

    def start_batch(self, batch: Batch) -> Output:
        """The request(s) for a batch of probe jobs (``probe_batch`` > 1)."""
        raise NotImplementedError(f"{type(self).__name__} sets probe_batch but has no "
                                  "start_batch")

    def batch_request(self, batch: Batch, url: str, step: BatchStep, **kwargs: Any) -> Request:
        """A request answering for the whole batch; its response goes to ``step``."""
        # The fetch policy is per target: a job whose policy refuses this URL
        # is left out of the batch's answer (probed alone, under its own policy),
        # and the request is checked against one job whose policy allows it.
        allowed = []
        for job in batch.jobs:
            if FetchPolicy.for_item(job.item).check(url) is None:
                allowed.append(job)
            else:
                batch.alone(job)
        meta = kwargs.pop("meta", {})
        meta.update({"batch": batch, "step": step.__name__,
                     "job": allowed[0] if allowed else batch.jobs[0]})
        batch.outstanding += 1
        return stamp_slot(Request(url, callback=self._on_batch_response,
                                  errback=self._on_batch_failure, dont_filter=True, meta=meta,
                                  **kwargs))

    def conclude_item(self, batch: Batch, job: Job, outcome: Outcome, response: Response,
                      item: Any, **fields: Any) -> Observation:
        """Conclude one job from its own item of the batch answer ``response``."""
        obs = self.conclude(job, outcome, response, **fields)
        obs.signals.update(batch.evidence(item))
        return obs

    def conclude_all(self, batch: Batch, outcome: Outcome, response: Response | None = None,
                     **fields: Any) -> list[Observation]:
        """Conclude every open job of the batch with one outcome."""
        out = []
        for job in batch.open():
            obs = self.conclude(job, outcome, response, **fields)
            obs.signals["batch_size"] = len(batch)
            out.append(obs)
        return out

    def unusable_batch(self, response: Response, batch: Batch) -> list[Observation] | None:
        """None when the batch answer is a 2xx to read. Otherwise: a transient answer
        (5xx, 429, anti-bot…) concludes every job with it; any other status (404,
        403…) says nothing about each post, so every job is left to a single probe
        (an empty list: the base probes what the step did not conclude)."""
        outcome = self.status_outcome(response)
        if outcome is None:
            return None
        if outcome.transient:
            return self.conclude_all(batch, outcome, response)
        logger.info("Batch answer HTTP %s for %d posts (%s): probing each on its own",
                    response.status, len(batch), response.url)
        return []

    # --- the base's side -------------------------------------------------------

    def _send_batch(self, jobs: list[Job]) -> Iterator[Any]:
        if not jobs:
            return
        batch = Batch(jobs, [self.batch_key(job) for job in jobs])
        yield from self._guard_batch(batch, None, partial(self.start_batch, batch))

    def _on_batch_response(self, response: Response) -> Iterator[Any]:
        batch: Batch = response.meta["batch"]
        batch.outstanding -= 1
        step: BatchStep = getattr(self, response.meta["step"])
        yield from self._guard_batch(batch, response, partial(step, response, batch))

    def _on_batch_failure(self, failure: Failure) -> Iterator[Any]:
        request: Request = failure.request  # type: ignore[attr-defined]
        batch: Batch = request.meta["batch"]
        batch.outstanding -= 1
        exc = failure.value

        def fail_all() -> list[Observation]:
            out = []
            for job in batch.open():
                obs = self.failure_observation(exc, job, request)
                obs.signals["batch_size"] = len(batch)
                out.append(obs)
            return out
        yield from self._guard_batch(batch, None, fail_all)

    def _guard_batch(self, batch: Batch, response: Response | None,
                     produce: Callable[[], Iterable[Any]]) -> Iterator[Any]:
        produced: list[Any] = []
        try:
            for out in produce():
                produced.append(out)
        except Exception as exc:
            logger.warning("Could not parse the batch answer for %d posts (%s): %s", len(batch),
                           response.url if response is not None else "no response", exc,
                           exc_info=True)
            # Observations already made stand; requests are dropped, so their
            # jobs are still open and end here with the rest.
            yield from (out for out in produced if isinstance(out, Observation))
            for job in batch.jobs:
                if not job.done:
                    obs = self.conclude(job, Outcome.MALFORMED, response,
                                        detail=f"{type(exc).__name__}: {exc}")
                    obs.signals["batch_size"] = len(batch)
                    yield obs
            return
        yield from produced
        if batch.outstanding == 0:
            for job in batch.leftovers():
                logger.debug("%s is not in its batch answer: probing it alone", job)
                yield from self._guard(job, None, partial(self.start_job, job))
