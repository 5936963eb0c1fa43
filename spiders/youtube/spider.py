"""YouTube, logged out: channels' uploads feeds (listing) and video probes.

Listing work for a ``channel`` target: ``url`` is the ``UC…`` id; the feed
``feeds/videos.xml?channel_id=UC…`` lists the latest uploads (a window). A feed
404 is *not* a deleted channel (the endpoint has had platform-wide outages): it
is held as the listing's ``not_found`` answer, which the core's collector health
counts across targets, while the channel page ``channel/UC…`` is read as the
second signal; only its own termination notice says anything about the account.
A feed 5xx is a transient answer.

Probe work (and the listing of a ``post`` target): a cheap oEmbed check first
(a JSON answer with ``html``: the video is served); any other oEmbed answer sends
the probe to the watch page, whose ``playabilityStatus`` words decide the cause
(``words.py``). A ``post`` target's listing reads the watch page at once: its
title and description are the video's content.

Every answer is first read for a block (the consent redirect, the bot check, the
captcha, "This content isn't available"): ``collector_blocked``, never about the
video. A session-limit block also backs the host off, as any failing host, up to
``YOUTUBE_BLOCK_PAUSE``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from scrapy.http import Request, Response

from monitor.errors import ParseError
from monitor.observation import Outcome
from monitor.platform import WordMatch, answer_said, join_base, match_words

from ..base import Job, MonitorSpider, Output
from ..politeness import host_key, registry_for
from ..responses import header, page_message, text_of
from .feed import parse_feed
from .ids import VIDEO_ID, channel_id, video_id
from .platform import BASE_URL, watch_url
from .watch import (
    evidence,
    oembed_ok,
    page_texts,
    playability,
    player_response,
    read_playability,
    video_post,
)
from .words import PLAYABLE, SLOW_DOWN, WORDS

logger = logging.getLogger(__name__)

_MESSAGE_CHARS = 300
#: Redirects are read, not followed: the consent wall is one.
_NO_REDIRECT = {"dont_redirect": True}


class YoutubeSpider(MonitorSpider):
    """Channel feeds (listing), videos (probe, and the listing of a post target)."""

    name = "youtube"
    platform = "youtube"
    #: The channel page after a feed 404 (the watch page after an oEmbed failure is
    #: the probe's main answer, not a second signal).
    second_signals = ("channel",)
    custom_settings = {"YOUTUBE_FEED_WINDOW": 15, "YOUTUBE_BLOCK_PAUSE": 600.0}


    # --- work intake -------------------------------------------------------------

    def start_job(self, job: Job) -> Output:
        item = job.item
        base = (item.base_url or BASE_URL).rstrip("/")
        job.state.update(base=base, signals={})
        cid = channel_id(item.url) if item.mode == "listing" else None
        if cid is not None:
            job.state["channel"] = cid
            return [self._get(job, f"feeds/videos.xml?channel_id={cid}", self.parse_feed)]
        vid = video_id(item.url)
        if vid is None and item.post_key and VIDEO_ID.fullmatch(item.post_key):
            vid = item.post_key
        if vid is None:
            return [self.conclude(job, Outcome.MALFORMED,
                                  detail=f"not a YouTube channel id or video URL: {item.url!r}")]
        job.state["video"] = vid
        if item.mode == "listing":
            return [self._watch(job)]
        target = quote(watch_url(BASE_URL, vid), safe="")
        return [self._get(job, f"oembed?url={target}&format=json", self.parse_oembed,
                          on_error=self.oembed_failed)]

    def _get(self, job: Job, path: str, step: Any, **kwargs: Any) -> Request:
        return self.request(job, join_base(job.state["base"], path), step, meta=dict(_NO_REDIRECT),
                            **kwargs)

    def _watch(self, job: Job) -> Request:
        return self._get(job, f"watch?v={job.state['video']}", self.parse_watch)

    # --- blocks --------------------------------------------------------------------

    def block(self, response: Response, texts: list[str] | None = None) -> WordMatch | None:
        """The block this answer is, if any (its redirect, its URL, its page's words)."""
        said = answer_said(WORDS, headers={"Location": header(response, "Location") or ""},
                           final_url=response.url)
        said["page_text"] = texts or []
        hit = match_words(WORDS, said)
        if hit is None or not Outcome(hit.rule.outcome).blocked:
            return None
        return hit

    def blocked(self, job: Job, response: Response, hit: WordMatch) -> Any:
        """Conclude with a block; a session limit also leaves the host alone a while."""
        cap = self.settings.getfloat("YOUTUBE_BLOCK_PAUSE")
        if hit.rule.name in SLOW_DOWN and cap > 0 and response.request is not None:
            # A failure of the host: the back-off every failing host gets
            # (RETRY_BACKOFF_BASE, doubling with each block in a row), up to the cap.
            pause = registry_for(self.crawler).failed(
                host_key(response.request), Outcome(hit.rule.outcome),
                self.settings.getfloat("RETRY_BACKOFF_BASE", 2.0), cap)
            logger.info("youtube %s for %s (%s): host paused %.0f s", hit.rule.name,
                        job.item.target_key, response.url, pause)
        signals = {**job.state["signals"], "fingerprint": hit.rule.name}
        return self.conclude(job, Outcome(hit.rule.outcome), response,
                             message=hit.text[:_MESSAGE_CHARS], signals=signals,
                             detail=f"the collector was refused ({hit.rule.name})")

    # --- listing: the uploads feed --------------------------------------------------------

    def parse_feed(self, response: Response, job: Job) -> Output:
        if (hit := self.block(response)) is not None:
            yield self.blocked(job, response, hit)
            return
        outcome = self.status_outcome(response)
        if outcome is None:
            try:
                feed = parse_feed(response.body, job.state["base"])
            except ParseError as exc:
                if (hit := self.block(response, page_texts(text_of(response)))) is not None:
                    yield self.blocked(job, response, hit)
                    return
                yield self.conclude(job, Outcome.MALFORMED, response, detail=str(exc))
                return
            cid = job.state["channel"]
            if feed.channel not in (None, cid, cid[2:]):
                # Another channel's feed (a cache or a mirror gone wrong): says nothing.
                yield self.conclude(job, Outcome.MALFORMED, response,
                                    detail=f"the feed is channel {feed.channel!r:.40}'s")
                return
            signals = {**job.state["signals"], **feed.signals()}
            read = len(feed.entries) + feed.skipped
            # Fewer uploads than the window holds: the feed reached the oldest one (an
            # empty feed too, if it names its channel: every upload is then suspect,
            # and each one's own probe decides).
            signals["listing_end"] = (read < self.settings.getint("YOUTUBE_FEED_WINDOW")
                                      and not feed.dropped
                                      and bool(read or feed.channel or feed.title))
            yield self.conclude(job, Outcome.OK, response, entries=feed.entries,
                                signals=signals)
            return
        texts = page_texts(text_of(response))
        if (hit := self.block(response, texts)) is not None:
            yield self.blocked(job, response, hit)
            return
        if outcome is not Outcome.NOT_FOUND:
            # A 5xx, a 429, a 403: about the endpoint, never the channel (the feed
            # has no 403, 410 or 451 of its own to say something with).
            yield self.conclude(job, Outcome.MALFORMED if outcome.absent else outcome,
                                response, message=page_message(response),
                                signals=job.state["signals"],
                                detail=f"uploads feed HTTP {response.status}")
            return
        # A feed 404: the listing's answer (collector health counts it across channels),
        # and nothing about the account until the channel page says so.
        said = match_words(WORDS, {"page_text": texts})
        signals = dict(job.state["signals"])
        if said is not None and said.rule.outcome == Outcome.NOT_FOUND.value:
            signals["fingerprint"] = said.rule.name
        self.hold(job, Outcome.NOT_FOUND, response, message=page_message(response),
                  signals=signals)
        yield self.follow_up(job, join_base(job.state["base"], f"channel/{job.state['channel']}"),
                             self.parse_channel, "channel", meta=dict(_NO_REDIRECT))

    def parse_channel(self, response: Response, job: Job) -> Output:
        texts = page_texts(text_of(response))
        if self.block(response, texts) is not None:
            self.second_signal_failed(job, "channel: the collector was refused")
            yield self.finish(job)
            return
        hit = match_words(WORDS, {"page_text": texts})
        outcome, fields = job.state["held"]
        if hit is not None and hit.rule.account_state:
            signals = {**fields.get("signals", {}), "fingerprint": hit.rule.name,
                       "detail_text": hit.text[:_MESSAGE_CHARS],
                       "account_state": hit.rule.account_state}
            if hit.rule.notice:
                signals["notice"] = hit.rule.notice
            job.state["held"] = (Outcome(hit.rule.outcome),
                                 {**fields, "message": hit.text[:_MESSAGE_CHARS],
                                  "signals": signals})
        elif response.status == 200:
            job.state["detail"] = ("feed 404 while the channel page is served: a feed "
                                   "failure, nothing about the channel")
        else:
            job.state["detail"] = f"feed 404; the channel page answered {response.status}"
        yield self.finish(job)

    # --- probes: oEmbed, then the watch page -----------------------------------------------

    def parse_oembed(self, response: Response, job: Job) -> Output:
        if (hit := self.block(response)) is not None:
            yield self.blocked(job, response, hit)
            return
        job.state["signals"]["oembed_status"] = response.status
        if response.status == 429:
            yield self.conclude(job, Outcome.RATE_LIMITED, response,
                                signals=job.state["signals"])
            return
        data = oembed_ok(text_of(response)) if response.status == 200 else None
        if data is not None:
            signals = dict(job.state["signals"])
            if author := data.get("author_name"):
                signals["author"] = str(author)[:_MESSAGE_CHARS]
            yield self.conclude(job, Outcome.OK, response, signals=signals)
            return
        # 401 (embedding disabled), 404, a 200 that is no oEmbed: the watch page decides.
        yield self._watch(job)

    def oembed_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        job.state["signals"]["oembed_status"] = type(exc).__name__
        return [self._watch(job)]

    def parse_watch(self, response: Response, job: Job) -> Output:
        if (hit := self.block(response)) is not None:
            yield self.blocked(job, response, hit)
            return
        outcome = self.status_outcome(response)
        if outcome is not None:
            if not outcome.transient:  # the watch page answers 200 even for removals
                outcome = Outcome.MALFORMED
            yield self.conclude(job, outcome, response, signals=job.state["signals"],
                                detail=f"watch page HTTP {response.status}")
            return
        html = text_of(response)
        player = player_response(html)
        if player is None:
            if (hit := self.block(response, page_texts(html))) is not None:
                yield self.blocked(job, response, hit)
                return
            yield self.conclude(job, Outcome.MALFORMED, response, signals=job.state["signals"],
                                detail="watch page without ytInitialPlayerResponse")
            return
        state = playability(player)
        signals = dict(job.state["signals"])
        if state.status:
            signals["error_code"] = state.status[:100]
        if state.status == PLAYABLE:
            yield self._served(job, response, player, signals)
            return
        hit = read_playability(state)
        if hit is not None and Outcome(hit.rule.outcome).blocked:
            yield self.blocked(job, response, hit)
            return
        if hit is None:
            yield self.conclude(job, Outcome.MALFORMED, response, message=state.message,
                                signals=signals, detail="playabilityStatus words not known")
            return
        signals["fingerprint"] = hit.rule.name
        if Outcome(hit.rule.outcome) is Outcome.OK:  # an embed setting, an offline stream
            yield self._served(job, response, player, signals)
            return
        if hit.rule.notice:
            signals["notice"] = hit.rule.notice
        signals.update(evidence(state.texts))
        yield self.conclude(job, Outcome(hit.rule.outcome), response, message=state.message,
                            signals=signals)

    def _served(self, job: Job, response: Response, player: dict[str, Any],
                signals: dict[str, Any]) -> Any:
        fields: dict[str, Any] = {}
        if job.item.mode == "listing":  # a post target: the watch page is its content
            post = video_post(player, job.state["base"], job.state["video"])
            fields = {"post": post, "entries": [post]}
        return self.conclude(job, Outcome.OK, response, signals=signals, **fields)
