"""Probe one web page and read the part a CSS selector picks out.

The page is the post: its watched part's HTML is the post's text, so an edit
of that part is an edit, and the words table (:mod:`.words`) says when it is
gone: the page answers 404/410, or the selector stops matching.
"""

from __future__ import annotations

from scrapy.http import Response, TextResponse

from monitor.observation import Outcome, PostContent
from monitor.platform import match_words

from ..base import Job, MonitorSpider, Output
from ..responses import page_message
from .platform import split_target
from .words import WORDS

#: At most this many matched elements are kept (a selector as broad as ``div``).
MAX_MATCHES = 50


class WebpageSpider(MonitorSpider):
    """Single pages (probe): the watched part, or why it is not there."""

    name = "webpage"
    platform = "webpage"

    def start_job(self, job: Job) -> Output:
        try:
            url, selector = split_target(job.item.url)
        except ValueError as exc:
            yield self.conclude(job, Outcome.MALFORMED, detail=str(exc))
            return
        job.state["selector"] = selector
        yield self.request(job, url, self.parse_page)

    def parse_page(self, response: Response, job: Job) -> Output:
        said = match_words(WORDS, {"status": response.status})
        outcome = Outcome(said.rule.outcome) if said else self.status_outcome(response)
        if outcome is not None:
            yield self.conclude(job, outcome, response, message=page_message(response),
                                signals={"fingerprint": said.rule.name} if said else {})
            return
        if not isinstance(response, TextResponse):
            yield self.conclude(job, Outcome.MALFORMED, response,
                                detail="the page is not text; a CSS selector cannot read it")
            return
        selector = job.state["selector"]
        parts = response.css(selector)[:MAX_MATCHES].getall()
        said = match_words(WORDS, {"match_count": len(parts)})
        if said is not None:
            yield self.conclude(job, Outcome(said.rule.outcome), response,
                                message=page_message(response),
                                signals={"notice": said.rule.notice,
                                         "fingerprint": said.rule.name},
                                detail=f"the selector {selector!r} matches nothing on the page")
            return
        title = response.css("title::text").get()
        post = PostContent(key=job.item.post_key or job.item.url, url=response.url,
                           title=title.strip() if title else None, text="\n".join(parts))
        yield self.conclude(job, Outcome.OK, response, post=post)
