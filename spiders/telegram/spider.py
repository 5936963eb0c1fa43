"""Telegram public channels through the logged-out web preview.

Listing work for a ``channel`` target: ``/s/<channel>`` (about 20 messages, oldest
first), then older pages by ``?before=<id>`` (``TELEGRAM_MAX_PAGES``). The listing
is a window: ``listing_end`` only when the walk reached a page with no link to
older messages. A message shown in place of its content with a restriction label
(copyright, local law) is a listing tombstone, never an entry. Probe work (and the
listing of a ``post`` target): the embed widget ``/<channel>/<id>?embed=1``;
"Post not found" is ``not_found``: the channel's admins or Telegram deleted it,
the preview does not say which.

Ids never seen (a gap in the first reading) are not probed: service messages and
album items leave the same gaps (platform notes §3), and a message never seen has
no version to lose.

Forwards: a forward's entry carries ``extra["forward_of"]`` (the original's key and
URL). Forwards seen by this process are remembered (:data:`FORWARDS`); an entry or
probe of an original that was forwarded carries ``forwarded_in`` (the forwards'
keys and URLs), in its ``extra`` (so the post's ``known`` keeps it) and, when the
probe finds it gone, in its signals (so the event's evidence shows the text
survives in the forward).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from scrapy.http import Request, Response

from monitor.observation import Outcome, PostContent
from monitor.platform import join_base

from ..base import Job, MonitorSpider, Output
from ..politeness import host_key, registry_for
from .answers import Answer, read_answer
from .parse import id_gaps, read_page
from .platform import BASE_URL, channel_name, embed_path, post_ref_of

logger = logging.getLogger(__name__)

#: Originals remembered with their forwards, and forwards kept per original.
MAX_ORIGINALS, MAX_FORWARDS = 10_000, 20
#: original key -> {forward key: forward URL}, for the life of the process.
FORWARDS: OrderedDict[str, dict[str, str]] = OrderedDict()


def remember_forward(original: str, forward: str, url: str) -> None:
    found = FORWARDS.setdefault(original, {})
    FORWARDS.move_to_end(original)
    if forward not in found and len(found) < MAX_FORWARDS:
        found[forward] = url
    while len(FORWARDS) > MAX_ORIGINALS:
        FORWARDS.popitem(last=False)


def forwards_of(key: str, known: Any = None) -> list[dict[str, str]]:
    """The forwards of ``key`` seen so far, with those ``known`` already lists."""
    out: dict[str, str] = {}
    for item in known if isinstance(known, list) else []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = str(item.get("url") or "")
    out.update(FORWARDS.get(key, {}))
    return [{"key": k, "url": u} for k, u in sorted(out.items())[:MAX_FORWARDS]]


class TelegramSpider(MonitorSpider):
    """Channel previews (listing) and single messages (probe)."""

    name = "telegram"
    platform = "telegram"
    custom_settings = {"TELEGRAM_MAX_PAGES": 3}


    # --- work intake ---------------------------------------------------------

    def start_job(self, job: Job) -> Output:
        item = job.item
        base = (item.base_url or BASE_URL).rstrip("/")
        job.state.update(base=base, signals={})
        ref = post_ref_of(item.url) if "://" in item.url else None
        if item.mode == "listing" and ref is None:
            channel = channel_name(item.url)
            if channel is None:
                return [self.conclude(job, Outcome.MALFORMED,
                                      detail=f"not a Telegram channel: {item.url!r}")]
            job.state.update(channel=channel, pages=0, entries=[], tombstones=[],
                             skipped=0, skipped_keys=[], seen=set())
            return [self.request(job, join_base(base, f"s/{channel}"), self.parse_channel,
                                 on_error=self.channel_failed)]
        if ref is None and item.post_key:
            ref = post_ref_of(f"{BASE_URL}/{item.post_key}")
        if ref is None:
            return [self.conclude(job, Outcome.MALFORMED,
                                  detail=f"not a Telegram post URL: {item.url!r}")]
        job.state.update(channel=ref[0], key=f"{ref[0]}/{ref[1]}")
        return [self.request(job, join_base(base, embed_path(*ref)), self.parse_embed)]

    # --- answers ---------------------------------------------------------------

    def read(self, response: Response, job: Job) -> Answer:
        answer = read_answer(response, job.state["base"], job.state["channel"],
                             self.status_outcome(response))
        wait = answer.signals.get("retry_after")
        if isinstance(wait, int) and response.request is not None \
                and getattr(self, "crawler", None) is not None:
            registry_for(self.crawler).pause(host_key(response.request), wait)
        return answer

    def concluded(self, job: Job, response: Response, answer: Answer) -> Any:
        signals = {**job.state["signals"], **answer.signals}
        return self.conclude(job, answer.outcome or Outcome.MALFORMED, response,
                             message=answer.message, detail=answer.detail, signals=signals)

    # --- probe -----------------------------------------------------------------

    def parse_embed(self, response: Response, job: Job) -> Output:
        answer = self.read(response, job)
        key = job.state["key"]
        if answer.page is None:
            if answer.outcome is not None and answer.outcome.absent:
                forwards = forwards_of(key, job.item.known.get("forwarded_in"))
                if forwards:
                    answer.signals["forwarded_in"] = forwards
            yield self.concluded(job, response, answer)
            return
        page = answer.page
        tomb = next((t for t in page.tombstones if t[0] == key), None)
        if tomb is not None:
            _, signals, words = tomb
            forwards = forwards_of(key, job.item.known.get("forwarded_in"))
            if forwards:
                signals = {**signals, "forwarded_in": forwards}
            yield self.conclude(job, Outcome.UNAVAILABLE, response, message=words,
                                signals={**job.state["signals"], **signals})
            return
        post = next((e for e in page.entries if e.key == key), None)
        if post is None:
            yield self.conclude(job, Outcome.MALFORMED, response,
                                detail=f"the embed serves no message {key}")
            return
        self._link_forwards([post])
        fields: dict[str, Any] = {"post": post}
        if job.item.mode == "listing":
            fields["entries"] = [post]
        yield self.conclude(job, Outcome.OK, response, signals=job.state["signals"], **fields)

    # --- listing -----------------------------------------------------------------

    def parse_channel(self, response: Response, job: Job) -> Output:
        state = job.state
        answer = self.read(response, job)
        if answer.page is None:
            if state["pages"] == 0:
                yield self.concluded(job, response, answer)
            else:
                yield self._conclude_listing(job, partial=f"page {state['pages'] + 1}: "
                                             f"{answer.detail or answer.outcome}")
            return
        if state["pages"] == 0:
            state["primary"] = response
        state["pages"] += 1
        page = answer.page
        older = [e for e in page.entries if e.key not in state["seen"]]
        state["seen"].update(e.key for e in older)
        # Newest first, as the core expects: pages come newest first, each oldest first.
        state["entries"].extend(reversed(older))
        state["tombstones"].extend(page.tombstones)
        state["skipped"] += page.skipped
        state["skipped_keys"].extend(page.skipped_keys)
        ids = [int(e.extra["message_id"]) for e in page.entries]
        ids += [int(t[0].partition("/")[2]) for t in page.tombstones]
        # The cursor must move to older messages, or the walk would loop.
        moves = page.before is not None and (not ids or page.before <= min(ids))
        if moves and state["pages"] < self.settings.getint("TELEGRAM_MAX_PAGES"):
            yield self.request(job, join_base(state["base"],
                                              f"s/{state['channel']}?before={page.before}"),
                               self.parse_channel, on_error=self.channel_failed)
            return
        # No link to older messages: the walk reached the channel's first message.
        # An empty channel page vouches for nothing.
        state["signals"]["listing_end"] = page.before is None and bool(
            state["entries"] or state["tombstones"])
        yield self._conclude_listing(job)

    def channel_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        if job.state["pages"] == 0:
            return [self.failure_observation(exc, job, request)]
        return [self._conclude_listing(job, partial=f"page {job.state['pages'] + 1}: "
                                       f"{type(exc).__name__}")]

    def _link_forwards(self, entries: list[PostContent]) -> None:
        for entry in entries:
            original = entry.extra.get("forward_of") or {}
            if isinstance(original.get("key"), str) and original["key"] != entry.key:
                remember_forward(original["key"], entry.key, entry.url or "")
        for entry in entries:
            forwards = forwards_of(entry.key)
            if forwards:
                entry.extra["forwarded_in"] = forwards

    def _conclude_listing(self, job: Job, partial: str | None = None) -> Any:
        state = job.state
        signals = dict(state["signals"])
        if partial is not None:
            signals["listing_end"] = False
        if state["skipped"]:
            signals["skipped_entries"] = state["skipped"]
            signals["skipped_keys"] = list(state["skipped_keys"])
        entries: list[PostContent] = state["entries"]
        self._link_forwards(entries)
        gaps = id_gaps(entries)
        if gaps:
            signals["id_gaps"] = gaps
        obs = self.conclude(job, Outcome.OK, state.get("primary"), entries=entries,
                            complete=partial is None, detail=partial, signals=signals)
        obs.tombstones = list(state["tombstones"])
        return obs


__all__ = ["FORWARDS", "TelegramSpider", "read_page"]
