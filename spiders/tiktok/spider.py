"""TikTok, logged out: oEmbed and the web pages' hydration JSON.

Probe work (and the listing of a ``post`` target): ``/oembed?url=<video page>``
first. A 200 whose ``html`` names the video (``data-video-id``) is the video
served (``TIKTOK_OEMBED = False`` skips it). Anything else from oEmbed is never a
verdict: the video page ``/@user/video/<id>`` is read, and its hydration
(``webapp.video-detail``: ``statusCode``, ``isContentClassified``, the page's
words) decides, through ``words.py``. A 429 or 5xx from either is transient.

Listing work for an ``account`` target: the profile page ``/@user`` and its
``webapp.user-detail``. The account's state is read (private, gone) and, where
the hydration carries an ``itemList`` (the sandbox does; logged-out TikTok in
2025-2026 does not), its items are the listing's window. Without one the
listing lists nothing and vouches for nothing (``signals["item_list"]``).

Every block is ``collector_blocked`` from a words rule: a 403, a login wall, a
captcha page, a page without hydration (a bot check's shell) and statusCode
10204 (our IP or client fingerprint, never geo-blocking).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from scrapy.http import Request, Response

from monitor.observation import Outcome, PostContent
from monitor.platform import WordMatch, answer_said, join_base, match_words

from .. import fields as f
from ..base import Job, MonitorSpider, Output
from ..responses import json_body, page_message, text_of, visible_text
from .parse import (
    SCOPE,
    USER_DETAIL,
    VIDEO_DETAIL,
    HydrationError,
    hydration,
    item_post,
    oembed_post,
    profile_items,
    video_key,
)
from .platform import BASE_URL, account_user, oembed_url, video_ref, video_url
from .words import WORDS

logger = logging.getLogger(__name__)

#: Characters of a page matched as ``body`` and read for visible text.
_BODY_CHARS = 256 * 1024
_MESSAGE_CHARS = 300
#: Rules that are blocks: checked before anything the page says about the item.
_BLOCKS = tuple(r for r in WORDS if Outcome(r.outcome).blocked)


class TikTokSpider(MonitorSpider):
    """Account profiles (listing) and single videos (probe)."""

    name = "tiktok"
    platform = "tiktok"
    custom_settings = {"TIKTOK_OEMBED": True, "TIKTOK_MAX_ITEMS": 100}


    # --- work intake ---------------------------------------------------------

    def start_job(self, job: Job) -> Output:
        item = job.item
        base = (item.base_url or BASE_URL).rstrip("/")
        job.state.update(base=base, signals={})
        ref = video_ref(item.url)
        user = account_user(item.url) if ref is None else None
        if item.mode == "listing" and user is not None:
            job.state["user"] = user
            return [self.request(job, join_base(base, f"@{user}"), self.parse_profile)]
        if ref is None and item.post_key and video_key(item.post_key):
            ref = (item.post_key, None)
        if ref is None:
            return [self.conclude(job, Outcome.MALFORMED,
                                  detail=f"not a TikTok account or video URL: {item.url!r}")]
        vid, author = ref
        job.state.update(vid=vid, page=video_url(base, vid, author))
        if not self.settings.getbool("TIKTOK_OEMBED"):
            return [self._page_request(job)]
        return [self.request(job, oembed_url(base, job.state["page"]), self.parse_oembed)]

    def _page_request(self, job: Job) -> Request:
        return self.request(job, job.state["page"], self.parse_video)

    # --- probe -----------------------------------------------------------------

    def parse_oembed(self, response: Response, job: Job) -> Output:
        """200 with ``html`` for this video: served. A transient answer ends the
        check; any other answer is no verdict, so the page is read."""
        outcome = self.status_outcome(response)
        if outcome is not None and outcome.transient and outcome is not Outcome.MALFORMED:
            yield self.conclude(job, outcome, response, signals=job.state["signals"])
            return
        job.state["signals"]["oembed_status"] = response.status
        if outcome is None:
            try:
                data = json_body(response)
            except ValueError:
                data = None
            post = oembed_post(data, job.state["vid"], job.state["base"])
            if post is not None:
                yield self._ok(job, response, post)
                return
        yield self._page_request(job)

    def parse_video(self, response: Response, job: Job) -> Output:
        page = self._read_page(response, job, VIDEO_DETAIL)
        if not isinstance(page, _Page):
            yield from page
            return
        detail = page.detail
        item = f.obj(f.obj(detail.get("itemInfo")).get("itemStruct"))
        if page.status is None and item and f.count(detail.get("statusCode")) == 0:
            hit = match_words(WORDS, page.said)  # isContentClassified; no page words yet
            if hit is None:
                post = item_post(item, job.state["base"])
                if post is None or post.key != job.state["vid"]:
                    yield self.conclude(job, Outcome.MALFORMED, response,
                                        signals=job.state["signals"],
                                        detail="the page's item is not the video asked for")
                    return
                yield self._ok(job, response, post)
                return
        # Not served: now the page's own words count (never a served caption's).
        texts = [t for t in (f.text(detail.get("statusMsg")),) if t]
        texts.append(visible_text(page.html[:_BODY_CHARS]))
        page.said["page_text"] = texts
        yield self._by_words(job, response, match_words(WORDS, page.said))

    def _ok(self, job: Job, response: Response, post: PostContent) -> Any:
        fields: dict[str, Any] = {"post": post}
        if job.item.mode == "listing":
            fields["entries"] = [post]
        return self.conclude(job, Outcome.OK, response, signals=job.state["signals"], **fields)

    # --- the page, for both -------------------------------------------------------

    def _read_page(self, response: Response, job: Job, scope: str) -> _Page | list[Any]:
        """The page's hydration scope ``scope`` and what the page says where the words
        look, or the observation that ends the job: a transient status, a block,
        unreadable hydration. ``scope`` alone goes under ``__DEFAULT_SCOPE__``: a
        video page never answers the account's rows, nor a profile the video's."""
        outcome = self.status_outcome(response)
        signals = job.state["signals"]
        if outcome is not None and outcome.transient and outcome is not Outcome.MALFORMED:
            return [self.conclude(job, outcome, response, signals=signals)]
        html = text_of(response)
        try:
            data = hydration(html)
        except HydrationError as exc:
            return [self.conclude(job, Outcome.MALFORMED, response, signals=signals,
                                  detail=str(exc))]
        detail = f.obj((data or {}).get(scope))
        headers = {k.decode("latin-1"): v[0].decode("latin-1")
                   for k, v in response.headers.items() if v}
        said = answer_said(WORDS, status=response.status, headers=headers,
                           body=html[:_BODY_CHARS], final_url=response.url,
                           data={SCOPE: {scope: detail}} if detail else None)
        said["match_count"] = "1" if _carries(detail, scope) else "0"
        if not detail:
            said["title"] = page_message(response) or ""
        hit = match_words(_BLOCKS, said)
        if hit is not None:
            return [self._by_words(job, response, hit)]
        return _Page(detail, said, html, outcome)

    def _by_words(self, job: Job, response: Response, hit: WordMatch | None) -> Any:
        """Conclude with what the words say; with none, a malformed answer: a page
        that serves nothing and says nothing known decides nothing (a 404 with
        hydration that names no state included)."""
        signals = dict(job.state["signals"])
        if hit is None:
            return self.conclude(job, Outcome.MALFORMED, response, signals=signals,
                                 detail=f"HTTP {response.status}: the page serves no item "
                                 "and says nothing known")
        signals["fingerprint"] = hit.rule.name
        if hit.rule.scope.startswith("json:") and hit.rule.scope.endswith("statusCode"):
            signals["error_code"] = hit.text
        if hit.rule.notice:
            signals["notice"] = hit.rule.notice
        if hit.rule.account_state:
            signals["account_state"] = hit.rule.account_state
        outcome = Outcome(hit.rule.outcome)
        if outcome.blocked:
            logger.info("tiktok collector blocked for %s (%s): %s", job.item.target_key,
                        response.url, hit.rule.name)
        return self.conclude(job, outcome, response, signals=signals,
                             message=hit.text[:_MESSAGE_CHARS] or None)

    # --- listing -----------------------------------------------------------------

    def parse_profile(self, response: Response, job: Job) -> Output:
        page = self._read_page(response, job, USER_DETAIL)
        if not isinstance(page, _Page):
            yield from page
            return
        detail = page.detail
        user = f.obj(f.obj(detail.get("userInfo")).get("user"))
        hit = match_words(WORDS, page.said)
        if hit is not None or not user or page.status is not None:
            yield self._by_words(job, response, hit)
            return
        name = (f.text(user.get("uniqueId")) or "").lower()
        if name != job.state["user"]:
            yield self.conclude(job, Outcome.MALFORMED, response, signals=job.state["signals"],
                                detail=f"the profile answered for {name[:40]!r}, not "
                                f"{job.state['user']!r}")
            return
        items = profile_items(detail, job.state["base"])
        signals = dict(job.state["signals"])
        signals["account_state"] = "normal"
        # Past the limit lie older videos: outside the window the kept ones span, so
        # they are left out, not skipped (a skipped entry would void the window).
        entries = items.entries[:max(0, self.settings.getint("TIKTOK_MAX_ITEMS"))]
        if not items.present:
            signals["item_list"] = "absent"
        if items.skipped:
            signals["skipped_entries"] = items.skipped
            signals["skipped_keys"] = items.skipped_keys[:100]
        yield self.conclude(job, Outcome.OK, response, entries=entries, signals=signals)


@dataclass(slots=True)
class _Page:
    """A web page read: its hydration scope, what it says, its text, and the outcome
    its HTTP status alone would decide (None for 2xx): a page that is not a 2xx is
    read only for the words, never served."""

    detail: dict[str, Any]
    said: dict[str, Any]
    html: str
    status: Outcome | None


def _carries(detail: dict[str, Any], scope: str) -> bool:
    """Whether a hydration scope says anything: an item or user, or a non-zero code.
    An empty scope (``statusCode: 0`` and nothing else) is what a bot check serves."""
    if not detail:
        return False
    code = f.count(detail.get("statusCode"))
    if code is not None and code != 0:
        return True
    if scope == VIDEO_DETAIL:
        return bool(f.obj(f.obj(detail.get("itemInfo")).get("itemStruct")))
    return bool(f.obj(f.obj(detail.get("userInfo")).get("user")))
