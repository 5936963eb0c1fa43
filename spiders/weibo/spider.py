"""Sina Weibo through the mobile site's JSON API, logged out with a visitor cookie.

Listing work for an ``account`` target: ``url`` is the uid; the timeline
``api/container/getIndex?containerid=107603<uid>`` is walked by ``since_id``
(``WEIBO_MAX_PAGES``); truncated long posts get their full text from
``statuses/extend`` (at most ``WEIBO_MAX_LONG_TEXTS`` a walk; one that cannot be
read is skipped, never listed truncated). Probe work (and the listing of a
``post`` target): ``statuses/show?id=<mid>``; an ``errno`` answer is held while
the ``/detail/<mid>`` page is read as the second signal.

Every answer is first read for a block (``words.py``): HTTP 432/418, the visitor
system, ``ok:-100``, a verification ``url``, a non-JSON body. A block is
``collector_blocked`` and says nothing about the post or the account. The empty
timeline ``这里还没有内容`` is about the account only when a stub (in it, or in the
profile container asked as a second signal) says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scrapy.http import Request, Response

from monitor.observation import Outcome, PostContent
from monitor.platform import WordMatch, join_base, match_words

from .. import fields as f
from ..base import Job, MonitorSpider, Output
from ..links import html_links
from ..responses import page_message, text_of
from .answers import (
    Answer,
    block,
    json_envelope,
    page_texts,
    read_answer,
    render_data,
    stub_texts,
)
from .ids import MID
from .parse import Page, parse_mblog, timeline_page
from .platform import BASE_URL, account_uid, post_mid
from .visitor import SESSIONS, WARMED, api_headers, cookie_from, forget, session, visitor_url
from .words import SESSION_REFUSED, WORDS

logger = logging.getLogger(__name__)

#: The timeline and profile containers of a uid (``107603``/``100505`` + uid).
TIMELINE, PROFILE = "107603", "100505"
_MESSAGE_CHARS = 300
Then = Callable[[Job, str], Output]
#: Requests for a visitor cookie before the waiting items are given up.
VISITOR_TRIES = 2


class WeiboSpider(MonitorSpider):
    """Account timelines (listing) and single posts (probe)."""

    name = "weibo"
    platform = "weibo"
    #: The detail page after an errno; the full text of a long post; the profile
    #: container after an empty timeline.
    second_signals = ("detail", "extend", "profile")
    custom_settings = {"WEIBO_MAX_PAGES": 3, "WEIBO_MAX_LONG_TEXTS": 20,
                       "WEIBO_VISITOR_URL": "", "WEIBO_VISITOR_TTL": 240.0}


    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: base URL -> the jobs waiting for its cookie (the first one fetches it).
        self.waiting: dict[str, list[tuple[Job, Then]]] = {}

    # --- work intake ---------------------------------------------------------

    def start_job(self, job: Job) -> Output:
        item = job.item
        base = (item.base_url or BASE_URL).rstrip("/")
        job.state.update(base=base, signals={})
        uid = account_uid(item.url)
        if item.mode == "listing" and uid is not None:
            job.state["uid"] = uid
            return self.with_visitor(job, self.timeline)
        mid = post_mid(item.url)
        if mid is None and item.post_key and MID.fullmatch(item.post_key):
            mid = item.post_key
        if mid is None:
            return [self.conclude(job, Outcome.MALFORMED,
                                  detail=f"not a Weibo uid or post URL: {item.url!r}")]
        job.state["mid"] = mid
        return self.with_visitor(job, self.show)

    # --- the visitor session ---------------------------------------------------

    def with_visitor(self, job: Job, then: Then) -> Output:
        """``then(job, cookie)`` once this crawl has a visitor cookie for the base."""
        base = job.state["base"]
        ttl = self.settings.getfloat("WEIBO_VISITOR_TTL")
        if cookie := session(base, self._clock().now(), ttl):
            return then(job, cookie)
        waiting = self.waiting.setdefault(base, [])
        waiting.append((job, then))
        if len(waiting) > 1:
            return []  # the first waiting job is fetching it
        if base in WARMED:  # the session was warmed once: a new cookie is enough
            return self._ask_visitor(job)
        return [self.request(job, join_base(base, "/"), self.parse_warmup,
                             on_error=self.warmup_failed)]

    def parse_warmup(self, response: Response, job: Job) -> Output:
        # The warm-up's answer does not matter (the site sets nothing we use):
        # it is what a browser does first, and what the site expects to have seen.
        WARMED.add(job.state["base"])
        return self._ask_visitor(job)

    def warmup_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        return self._ask_visitor(job)

    def _ask_visitor(self, job: Job) -> Output:
        base = job.state["base"]
        job.state["visitor_tries"] = job.state.get("visitor_tries", 0) + 1
        url = visitor_url(base, self.settings.get("WEIBO_VISITOR_URL"))
        return [self.request(job, url, self.parse_visitor, on_error=self.visitor_failed,
                             headers={"Referer": base + "/"})]

    def parse_visitor(self, response: Response, job: Job) -> Output:
        base = job.state["base"]
        cookie = None
        if response.status == 200:
            cookie = cookie_from(response.headers.getlist("Set-Cookie"), text_of(response))
        if cookie is None:
            if job.state["visitor_tries"] < VISITOR_TRIES:
                return self._ask_visitor(job)  # every waiting job's first request rides on it
            answer = read_answer(response)
            # A 5xx or 429 stays what it is; any other answer without a cookie
            # is the visitor system refusing us.
            outcome = answer.outcome if answer.outcome and answer.outcome.transient \
                and answer.outcome is not Outcome.MALFORMED else Outcome.COLLECTOR_BLOCKED
            detail = f"no visitor cookie from {response.url} (HTTP {response.status})"
            return [self.conclude(j, outcome, response, detail=detail, signals=dict(
                answer.signals)) for j, _ in self.waiting.pop(base, []) if not j.done]
        SESSIONS[base] = (cookie, self._clock().now())
        out: list[Any] = []
        for waiter, then in self.waiting.pop(base, []):
            try:
                out.extend(then(waiter, cookie))
            except Exception as exc:  # one job's failure is that job's
                if not waiter.done:
                    out.append(self.conclude(waiter, Outcome.MALFORMED,
                                             detail=f"{type(exc).__name__}: {exc}"))
        return out

    def visitor_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        if job.state["visitor_tries"] < VISITOR_TRIES:
            return self._ask_visitor(job)
        waiting = self.waiting.pop(job.state["base"], [])
        return [self.failure_observation(exc, j, request) for j, _ in waiting if not j.done]

    def api(self, job: Job, path: str, step: Any, **kwargs: Any) -> Request:
        base, cookie = job.state["base"], job.state["cookie"]
        return self.request(job, join_base(base, path), step, headers=api_headers(base, cookie),
                            **kwargs)

    def api_follow_up(self, job: Job, path: str, step: Any, name: str) -> Request:
        base, cookie = job.state["base"], job.state["cookie"]
        return self.follow_up(job, join_base(base, path), step, name,
                              headers=api_headers(base, cookie))

    def refused(self, job: Job, answer: Answer) -> None:
        """The session was refused: forget its cookie, so the next item asks anew."""
        if answer.hit is not None and answer.hit.rule.name in SESSION_REFUSED:
            forget(job.state["base"], job.state.get("cookie"))

    def renewed(self, response: Response, job: Job, answer: Answer) -> Output | None:
        """Ask a refused API request again, once per job, with a fresh visitor cookie.

        A refusal (432, ``ok:-100``, the visitor system) is about our cookie, not the
        post: a browser gets a new cookie and asks again. Ending the check there
        instead would lose it for a whole interval, and a suspect post's confirming
        probes are few (a short-lived privacy setting went unseen that way). None
        when the answer is no refusal, or this job renewed its session already."""
        if answer.hit is None or answer.hit.rule.name not in SESSION_REFUSED \
                or job.state.get("renewed"):
            return None
        request = response.request
        if request is None:
            return None
        job.state["renewed"] = True
        job.state["visitor_tries"] = 0
        forget(job.state["base"], job.state.get("cookie"))
        logger.info("weibo session refused for %s (%s): asking again with a new cookie",
                    job.item.target_key, answer.hit.rule.name)
        step = getattr(self, request.meta["step"])
        on_error = request.meta.get("on_error")
        extra = {k: v for k, v in request.meta.items() if k == "entry"}

        def again(job: Job, cookie: str) -> Output:
            job.state["cookie"] = cookie
            return [self.request(job, request.url, step,
                                 on_error=getattr(self, on_error) if on_error else None,
                                 headers=api_headers(job.state["base"], cookie), meta=extra)]

        return self.with_visitor(job, again)

    def concluded(self, job: Job, response: Response, answer: Answer, **fields: Any) -> Any:
        self.refused(job, answer)
        signals = {**job.state["signals"], **answer.signals, **fields.pop("signals", {})}
        return self.conclude(job, answer.outcome or Outcome.MALFORMED, response,
                             message=answer.message, detail=answer.detail, signals=signals,
                             **fields)

    # --- probe -----------------------------------------------------------------

    def show(self, job: Job, cookie: str) -> Output:
        job.state["cookie"] = cookie
        return [self.api(job, f"statuses/show?id={job.state['mid']}", self.parse_show)]

    def parse_show(self, response: Response, job: Job) -> Output:
        answer = read_answer(response)
        if (again := self.renewed(response, job, answer)) is not None:
            yield from again
            return
        if answer.data is not None and answer.outcome is None:
            known = job.item.known
            in_order = known.get("listed_via") != "repost" and not known.get("pinned")
            post = parse_mblog(answer.data["data"], job.state["base"], in_order=in_order)
            if post.extra.get("long_text"):
                # Truncated: a truncated text is no version of the post. Without
                # the full text the probe says only that the post is served.
                self.hold(job, Outcome.TRUNCATED, response,
                          detail="long post: its full text could not be read")
                job.state["post"] = post
                yield self.api_follow_up(job, f"statuses/extend?id={post.key}",
                                         self.parse_extend, "extend")
                return
            yield self._ok(job, response, post)
            return
        if answer.outcome is not None and answer.outcome.absent and answer.errno:
            self.hold(job, answer.outcome, response, message=answer.message,
                      signals=dict(answer.signals))
            job.state["errno"] = answer.errno
            yield self.follow_up(job, join_base(job.state["base"], f"detail/{job.state['mid']}"),
                                 self.parse_detail, "detail",
                                 headers={"Referer": job.state["base"] + "/",
                                          "Cookie": job.state["cookie"]})
            return
        yield self.concluded(job, response, answer)

    def _ok(self, job: Job, response: Response | None, post: PostContent) -> Any:
        fields: dict[str, Any] = {"post": post}
        if job.item.mode == "listing":
            fields["entries"] = [post]
        return self.conclude(job, Outcome.OK, response, signals=job.state["signals"], **fields)

    def parse_extend(self, response: Response, job: Job) -> Output:
        answer = read_answer(response)
        full = f.text(f.obj((answer.data or {}).get("data")).get("longTextContent"))
        if answer.outcome is not None or not full:
            self.second_signal_failed(job, f"extend: {answer.detail or 'no longTextContent'}")
            yield self.finish(job)
            return
        post: PostContent = job.state["post"]
        post.text, post.links = full, html_links(full, job.state["base"])
        fields: dict[str, Any] = {"post": post}
        if job.item.mode == "listing":
            fields["entries"] = [post]
        job.state["held"] = (Outcome.OK, fields)
        yield self.finish(job)

    def parse_detail(self, response: Response, job: Job) -> Output:
        html = text_of(response)
        said = {"status": str(response.status), "final_url": response.url,
                "title": page_message(response) or ""}
        if block(said) is not None:
            self.second_signal_failed(job, "detail: the visitor system answered")
            yield self.finish(job)
            return
        if (envelope := json_envelope(html)) is not None:
            # An API envelope where the page belongs (a rate limit's ``ok:-100`` comes
            # with HTTP 200): no page at all, so not the page's silence. Read as the
            # page, the errno alone would decide a vaguer cause than the page says.
            self.second_signal_failed(job, f"detail: a JSON answer, not the page ({envelope})")
            yield self.finish(job)
            return
        data = render_data(html)
        if data is not None and isinstance(data.get("status"), dict):
            # The API says gone, the page serves it: the signals disagree, so
            # this probe decides nothing (absence is not deletion).
            job.state["held"] = (Outcome.MALFORMED, {
                "detail": "statuses/show answered an errno but /detail serves the post"})
            yield self.finish(job)
            return
        texts = page_texts(html)
        hit = match_words(WORDS, {"error_code": job.state["errno"], "page_text": texts})
        if hit is None or Outcome(hit.rule.outcome).transient:
            self.second_signal_failed(job, "detail: the page's words are not known")
            yield self.finish(job)
            return
        outcome, fields = job.state["held"]
        signals = {**fields.get("signals", {}), "fingerprint": hit.rule.name,
                   "detail_text": hit.text[:_MESSAGE_CHARS]}
        if hit.rule.notice:
            signals["notice"] = hit.rule.notice
        if hit.rule.account_state:
            signals["account_state"] = hit.rule.account_state
        job.state["held"] = (Outcome(hit.rule.outcome), {**fields, "signals": signals})
        yield self.finish(job)

    # --- listing -----------------------------------------------------------------

    def timeline(self, job: Job, cookie: str) -> Output:
        job.state.update(cookie=cookie, pages=0, entries=[], tombstones=[], seen=set(),
                         skipped=0, skipped_keys=[], cards=0)
        return [self.api(job, self._page_path(job, None), self.parse_timeline,
                         on_error=self.timeline_failed)]

    def _page_path(self, job: Job, since_id: str | None) -> str:
        uid = job.state["uid"]
        path = f"api/container/getIndex?type=uid&value={uid}&containerid={TIMELINE}{uid}"
        return f"{path}&since_id={since_id}" if since_id else path

    def parse_timeline(self, response: Response, job: Job) -> Output:
        state = job.state
        first = state["pages"] == 0
        answer = read_answer(response)
        if (again := self.renewed(response, job, answer)) is not None:
            yield from again
            return
        if answer.data is None or answer.outcome is not None:
            if not first:
                self.refused(job, answer)
                yield self._partial(job, f"page {state['pages'] + 1}: "
                                         f"{answer.detail or answer.outcome}")
                return
            yield from self._timeline_refused(response, job, answer)
            return
        if first:
            state["primary"] = response
        state["pages"] += 1
        page = timeline_page(answer.data, state["base"], state["seen"])
        self._add(job, page)
        if page.since_id and page.cards and state["pages"] < self.settings.getint(
                "WEIBO_MAX_PAGES"):
            yield self.api(job, self._page_path(job, page.since_id), self.parse_timeline,
                           on_error=self.timeline_failed)
            return
        # No cursor: the walk reached the oldest post. An empty timeline vouches
        # for nothing, though: it is also what a refused session may be served.
        state["signals"]["listing_end"] = page.since_id is None and state["cards"] > 0
        yield from self._long_texts(job)

    def _add(self, job: Job, page: Page) -> None:
        state = job.state
        state["entries"].extend(page.entries)
        state["tombstones"].extend(page.tombstones)
        state["cards"] += page.cards
        state["skipped"] += page.skipped
        state["skipped_keys"].extend(page.skipped_keys)

    def _timeline_refused(self, response: Response, job: Job, answer: Answer) -> Output:
        """A first page that is no timeline: a block, or an account placeholder."""
        if answer.hit is None or answer.data is None or not answer.outcome \
                or not answer.outcome.blocked:
            yield self.concluded(job, response, answer)
            return
        account = match_words(WORDS, {"page_text": stub_texts(answer.data)})
        if account is not None and account.rule.notice:
            yield self._account_gone(job, response, answer, account)
            return
        if answer.hit.rule.scope != "json:msg":
            yield self.concluded(job, response, answer)
            return
        # The empty timeline, without a stub: ask the profile container.
        self.hold(job, answer.outcome, response, message=answer.message,
                  detail="empty timeline without an account placeholder (a blocked "
                  "session gets the same body)", signals=dict(answer.signals))
        uid = job.state["uid"]
        yield self.api_follow_up(
            job, f"api/container/getIndex?type=uid&value={uid}&containerid={PROFILE}{uid}",
            self.parse_profile, "profile")

    def _account_gone(self, job: Job, response: Response | None, answer: Answer,
                      account: WordMatch) -> Any:
        signals = {"notice": account.rule.notice, "fingerprint": account.rule.name}
        if account.rule.account_state:
            signals["account_state"] = account.rule.account_state
        return self.conclude(job, Outcome(account.rule.outcome), response,
                             message=account.text[:_MESSAGE_CHARS], signals=signals)

    def parse_profile(self, response: Response, job: Job) -> Output:
        answer = read_answer(response)
        texts = stub_texts(answer.data) if answer.data is not None else []
        account = match_words(WORDS, {"page_text": texts})
        if account is not None and account.rule.notice:
            primary = job.state.get("primary")
            job.state.pop("held")
            yield self._account_gone(job, primary, answer, account)
            return
        if answer.outcome is not None and answer.outcome.blocked:
            self.refused(job, answer)
        yield self.finish(job)

    def timeline_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        if job.state["pages"] == 0:
            return [self.failure_observation(exc, job, request)]
        return [self._partial(job, f"page {job.state['pages'] + 1}: {type(exc).__name__}")]

    def _partial(self, job: Job, detail: str) -> Any:
        """Entries so far, flagged incomplete: a later page failed."""
        job.state["signals"]["listing_end"] = False
        job.state["detail"] = detail
        job.state["complete"] = False
        return next(iter(self._long_texts(job)))

    def _long_texts(self, job: Job) -> Output:
        """Read the full text of the walk's long posts, one at a time, then conclude.
        A long post whose full text cannot be read is skipped, never listed
        truncated (a truncated text would read as an edit)."""
        state = job.state
        if "long" not in state:
            long = [e for e in state["entries"] if e.extra.get("long_text")]
            limit = max(0, self.settings.getint("WEIBO_MAX_LONG_TEXTS"))
            for entry in long[limit:]:
                self._skip(job, entry)
            state["long"] = long[:limit]
        while state["long"]:
            entry = state["long"].pop(0)
            return [self.api(job, f"statuses/extend?id={entry.key}", self.parse_long,
                             on_error=self.long_failed, meta={"entry": entry})]
        return [self._conclude_listing(job)]

    def parse_long(self, response: Response, job: Job) -> Output:
        entry: PostContent = response.meta["entry"]
        answer = read_answer(response)
        if (again := self.renewed(response, job, answer)) is not None:
            return again
        full = f.text(f.obj((answer.data or {}).get("data")).get("longTextContent"))
        if answer.outcome is None and full:
            entry.text, entry.links = full, html_links(full, job.state["base"])
        else:
            self.refused(job, answer)
            self._skip(job, entry)
        return self._long_texts(job)

    def long_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        self._skip(job, request.meta["entry"])
        return self._long_texts(job)

    def _skip(self, job: Job, entry: PostContent) -> None:
        state = job.state
        if entry in state["entries"]:
            state["entries"].remove(entry)
            state["skipped"] += 1
            state["skipped_keys"].append(entry.key)

    def _conclude_listing(self, job: Job) -> Any:
        state = job.state
        signals = dict(state["signals"])
        if state["skipped"]:
            signals["skipped_entries"] = state["skipped"]
            signals["skipped_keys"] = list(state["skipped_keys"])
        primary = state.get("primary")
        obs = self.conclude(job, Outcome.OK, primary, entries=state["entries"],
                            complete=state.get("complete", True), detail=state.get("detail"),
                            signals=signals)
        obs.tombstones = list(state["tombstones"])
        return obs

