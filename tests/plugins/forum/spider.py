"""The forum's spider: one ``/api/info`` answer per probe, read through the words."""

from __future__ import annotations

import json
from typing import Any

from scrapy.http import Response

from monitor.observation import Outcome, PostContent
from monitor.platform import answer_said, match_words
from spiders.base import Job, MonitorSpider, Output
from spiders.responses import header, text_of

from .words import WORDS


class ForumSpider(MonitorSpider):
    name = "forum"
    platform = "forum"

    def start_job(self, job: Job) -> Output:
        yield self.request(job, job.item.url, self.parse_info)

    def parse_info(self, response: Response, job: Job) -> Output:
        text = text_of(response)
        data = _json(text) if "json" in (header(response, "Content-Type") or "") else None
        said = answer_said(WORDS, status=response.status, body=text, final_url=response.url,
                           headers={k.decode(): v[0].decode() for k, v in
                                    response.headers.items() if v}, data=data)
        hit = match_words(WORDS, said)
        if hit is not None:
            signals = {"fingerprint": hit.rule.name}
            if hit.rule.notice:
                signals["notice"] = hit.rule.notice
            yield self.conclude(job, Outcome(hit.rule.outcome), response,
                                message=hit.text[:200], signals=signals)
            return
        outcome = self.status_outcome(response)
        if outcome is not None:
            yield self.conclude(job, outcome, response)
            return
        children = (data or {}).get("data", {}).get("children") if isinstance(data, dict) else None
        post = children[0].get("data") if isinstance(children, list) and children else None
        if not isinstance(post, dict) or not post.get("id"):
            yield self.conclude(job, Outcome.MALFORMED, response, detail="no post in the answer")
            return
        yield self.conclude(job, Outcome.OK, response, post=PostContent(
            key=job.item.post_key or str(post["id"]), url=response.url,
            title=post.get("title"), text=str(post.get("selftext") or ""),
            author=post.get("author")))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
