"""The single probe's second signals, after the uncached AppView said ``NotFound``:
the account (``getProfile``), the PLC directory (the author's PDS), the PDS's repo
status and the record itself. Who removed the post is decided here (notes §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from scrapy.http import Response

from monitor.observation import Observation
from monitor.platform import join_base

from .. import fields as f
from ..responses import json_body
from .answers import Answer
from .words import PDS_SERVICE_ID, PDS_SERVICE_TYPE, POST_COLLECTION, RECORD_TYPE

if TYPE_CHECKING:
    from scrapy.http import Request

    from ..base import Job, Output, Step


class PdsChecks:
    """The second-signal half of :class:`spiders.bluesky.spider.BlueskySpider`."""

    if TYPE_CHECKING:
        def read(self, response: Response, scopes: dict[str, Any] | None = None
                 ) -> Answer: ...
        def xrpc(self, job: Job, base: str, method: str, params: dict[str, Any], step: Any,
                 name: str | None = None, **kwargs: Any) -> Request: ...
        def plc_url(self, job: Job) -> str: ...
        def finish(self, job: Job) -> Observation: ...
        def second_signal_failed(self, job: Job, detail: str) -> None: ...
        def follow_up(self, job: Job, url: str, step: Step, name: str,
                      **kwargs: Any) -> Request: ...

    def _decided(self, job: Job, answer: Answer) -> Observation:
        _, fields = job.state["held"]
        job.state["held"] = (answer.outcome, {
            **fields, "signals": {**fields.get("signals", {}), **answer.signals},
            "message": answer.message or fields.get("message")})
        return self.finish(job)

    def parse_post_profile(self, response: Response, job: Job) -> Output:
        answer = self.read(response)
        if answer.outcome is not None and answer.outcome.absent \
                and str(answer.signals.get("notice", "")).startswith("account_"):
            yield self._decided(job, answer)
            return
        if answer.outcome is not None and answer.outcome.transient:
            self.second_signal_failed(job, f"profile: {answer.detail}")
            yield self.finish(job)
            return
        did = job.state["repo"]
        if did.startswith("did:plc:"):
            url = join_base(self.plc_url(job), quote(did, safe=":"))
        else:  # did:web: its document is on its own host
            url = f"https://{did[8:].replace(':', '/')}/.well-known/did.json"
        yield self.follow_up(job, url, self.parse_plc, "plc")

    def parse_plc(self, response: Response, job: Job) -> Output:
        answer = self.read(response, {"profile_status": str(response.status)})
        if answer.hit is not None and answer.outcome is not None and answer.outcome.absent:
            yield self._decided(job, answer)
            return
        pds = pds_endpoint(answer.data) if answer.outcome is None else None
        if pds is None:
            self.second_signal_failed(job, f"plc: no PDS in the DID document "
                                           f"({answer.detail or 'no service'})")
            yield self.finish(job)
            return
        job.state["signals"]["pds"] = pds
        yield self.xrpc(job, pds, "com.atproto.sync.getRepoStatus", {"did": job.state["repo"]},
                        self.parse_repo_status, "repo_status")

    def parse_repo_status(self, response: Response, job: Job) -> Output:
        data = _json_or_none(response)
        status = f.text(f.obj(data).get("status")) if data is not None else None
        answer = self.read(response, {"account_status": status})
        job.state["signals"]["repo_status"] = status or ("active" if f.obj(data).get(
            "active") is True else None)
        if answer.outcome is not None and answer.outcome.absent:
            yield self._decided(job, answer)
            return
        if answer.outcome is not None or f.obj(data).get("active") is not True:
            self.second_signal_failed(job, f"repo status: {answer.detail or 'not active'}")
            yield self.finish(job)
            return
        yield self.xrpc(job, job.state["signals"]["pds"], "com.atproto.repo.getRecord",
                        {"repo": job.state["repo"], "collection": POST_COLLECTION,
                         "rkey": job.state["rkey"]}, self.parse_record, "record")

    def parse_record(self, response: Response, job: Job) -> Output:
        data = _json_or_none(response)
        value = f.obj(f.obj(data).get("value"))
        served = response.status == 200 and bool(value)
        answer = self.read(response, {RECORD_TYPE: f.text(value.get("$type")) if served
                                      else None})
        if answer.outcome is not None and answer.outcome.absent:
            if served:
                job.state["signals"]["pds_cid"] = f.text(f.obj(data).get("cid"))
            yield self._decided(job, answer)
            return
        self.second_signal_failed(job, f"record: {answer.detail or 'not read'}")
        yield self.finish(job)


def _json_or_none(response: Response) -> Any:
    try:
        return json_body(response)
    except ValueError:
        return None


def pds_endpoint(doc: Any) -> str | None:
    """The ``#atproto_pds`` service endpoint of a DID document, or None."""
    for service in f.items(f.obj(doc).get("service"))[:20]:
        service = f.obj(service)
        sid = f.text(service.get("id")) or ""
        if sid.endswith(PDS_SERVICE_ID) or service.get("type") == PDS_SERVICE_TYPE:
            endpoint = f.text(service.get("serviceEndpoint"))
            if endpoint and endpoint.startswith(("http://", "https://")) and len(endpoint) < 500:
                return endpoint.rstrip("/")
    return None
