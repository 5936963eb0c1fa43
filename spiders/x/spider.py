"""X (Twitter) logged out: single posts through the syndication endpoint, confirmed by oEmbed.

Probe work (and the listing of a ``post`` target, which is its probe):
``tweet-result?id=<id>&token=<X_SYNDICATION_TOKEN>`` on the target's base (the
syndication host by default). A ``Tweet`` is the post. Any absence it answers (a
``TweetTombstone`` text, a ``TweetUnavailable``, a 404) is **held, never
concluded**: the embed endpoint has served tombstones for live posts, so the
oEmbed endpoint is asked as the second signal (``X_OEMBED_URL``; under a
mirror or the sandbox, ``<base>/oembed``):

- oEmbed says absent too (404, or its "not authorized" text): the absence stands,
  with the syndication's words (the more specific), or oEmbed's when the
  syndication said only "unavailable".
- oEmbed renders the post: the two paths disagree, so this probe decides nothing.
  It ends ``malformed`` (transient), not ``ok``: oEmbed's rendering is no version
  of the post to diff against (its text is HTML of another shape, without media),
  and recording it would read as an edit.
- oEmbed fails (timeout, 5xx, 429, a block) or says nothing readable: the probe
  ends ``malformed`` with ``followup_failed``: unconfirmed, never absent.

Blocks (``words.py``): a login wall, a guest-token failure, an ``{"errors": …}``
envelope (a bad ``token``), a bare 403 are ``collector_blocked``; 429 is
``rate_limited`` and ``x-rate-limit-reset`` pauses the host (politeness).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from scrapy.http import Response

from monitor.observation import Outcome
from monitor.platform import base_path, join_base

from ..base import Job, MonitorSpider, Output
from ..politeness import host_key, registry_for
from .answers import Answer, parse_tweet, read_oembed, read_syndication, reset_wait
from .platform import BASE_URL, MAX_ID_DIGITS, OEMBED_URL, probe_url, status_id

logger = logging.getLogger(__name__)

#: Notices that say only "not there": oEmbed's own words may say more.
_VAGUE = frozenset({"not_found", "content_unavailable"})


def syndication_token(setting: str) -> str:
    """The ``token`` parameter of a ``tweet-result`` request.

    The platform notes name the parameter but do not describe how public clients
    derive it from the id, so no derivation is implemented: the value is the
    ``X_SYNDICATION_TOKEN`` setting (empty: the parameter is left out). A token
    X refuses comes back as an ``{"errors": …}`` answer, a collector block."""
    token = setting.strip()
    if not token.isascii() or not token.isalnum() or len(token) > 64:
        return ""
    return token


def _unconfirmed(signals: dict[str, Any]) -> dict[str, Any]:
    """A held answer's signals: its notice kept as ``unconfirmed_notice`` (evidence),
    never as a ``notice``, which only a confirmed absence carries."""
    out = {k: v for k, v in signals.items() if k != "notice"}
    if "notice" in signals:
        out["unconfirmed_notice"] = signals["notice"]
    return out


class XSpider(MonitorSpider):
    """Single posts (probe), logged out."""

    name = "x"
    platform = "x"
    second_signals = ("oembed",)
    custom_settings = {"X_SYNDICATION_TOKEN": "", "X_OEMBED_URL": OEMBED_URL}


    # --- work intake ---------------------------------------------------------

    def start_job(self, job: Job) -> Output:
        item = job.item
        base = (item.base_url or BASE_URL).rstrip("/")
        found = status_id(item.url)
        post_id = found[0] if found else None
        if post_id is None and item.post_key and item.post_key.isascii() \
                and item.post_key.isdigit() and len(item.post_key) <= MAX_ID_DIGITS:
            post_id = item.post_key
        if post_id is None:
            # A probe URL is the syndication URL itself: its id parameter.
            post_id = self._id_parameter(item.url, base)
        if post_id is None:
            return [self.conclude(job, Outcome.MALFORMED,
                                  detail=f"not an X post URL or status id: {item.url[:200]!r}")]
        job.state.update(base=base, post_id=post_id)
        url = probe_url(base, post_id)
        token = syndication_token(str(self.settings.get("X_SYNDICATION_TOKEN") or ""))
        if token:
            url += f"&token={token}"
        return [self.request(job, url, self.parse_result,
                             headers={"Accept": "application/json"})]

    @staticmethod
    def _id_parameter(url: str, base: str) -> str | None:
        if base_path(url, base) is None:  # not on the target's syndication base
            return None
        values = parse_qs(urlsplit(url).query).get("id", [])
        value = values[0] if values else ""
        ok = value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS
        return (value.lstrip("0") or None) if ok else None

    # --- the syndication answer ------------------------------------------------

    def parse_result(self, response: Response, job: Job) -> Output:
        answer = read_syndication(response)
        if answer.outcome is Outcome.RATE_LIMITED:
            self._pause(response, answer)
        if answer.data is not None:
            post = parse_tweet(answer.data, job.state["post_id"], self._site(job))
            fields: dict[str, Any] = {"post": post}
            if job.item.mode == "listing":
                fields["entries"] = [post]
            yield self.conclude(job, Outcome.OK, response, signals=answer.signals, **fields)
            return
        outcome = answer.outcome or Outcome.MALFORMED
        if not outcome.absent:
            yield self._concluded(job, response, answer, outcome)
            return
        # One endpoint's absence never decides: hold it, ask oEmbed.
        job.state["said"] = (outcome, answer)
        self.hold(job, Outcome.MALFORMED, response, message=answer.message,
                  detail=f"unconfirmed: the syndication answer says {outcome.value} "
                  f"({answer.signals.get('fingerprint') or answer.detail}); the oEmbed "
                  "check did not answer", signals=_unconfirmed(answer.signals))
        yield self.follow_up(job, self._oembed_url(job), self.parse_oembed, "oembed",
                             headers={"Accept": "application/json"})

    def _concluded(self, job: Job, response: Response, answer: Answer,
                   outcome: Outcome) -> Any:
        return self.conclude(job, outcome, response, message=answer.message,
                             detail=answer.detail, signals=answer.signals)

    def _pause(self, response: Response, answer: Answer) -> None:
        """429 with ``x-rate-limit-reset``: no request to this host before the reset."""
        wait = reset_wait(response, time.time())
        if wait is None:
            return
        answer.signals["retry_after"] = int(wait)
        crawler = getattr(self, "crawler", None)
        if crawler is not None and response.request is not None:
            registry_for(crawler).pause(host_key(response.request), wait)

    def _site(self, job: Job) -> str:
        """Where the post's permalink lives: x.com for the platform, the base elsewhere."""
        base = job.state["base"]
        return "https://x.com" if base == BASE_URL else base

    def _oembed_url(self, job: Job) -> str:
        base, post_id = job.state["base"], job.state["post_id"]
        post_url = f"https://twitter.com/i/web/status/{post_id}"
        if base == BASE_URL:
            endpoint = str(self.settings.get("X_OEMBED_URL") or OEMBED_URL)
        else:
            endpoint = join_base(base, "oembed")
            post_url = join_base(base, f"i/web/status/{post_id}")
        return f"{endpoint}?url={quote(post_url, safe='')}&omit_script=true&dnt=true"

    # --- the second path -------------------------------------------------------

    def parse_oembed(self, response: Response, job: Job) -> Output:
        verdict, hit = read_oembed(response)
        outcome, answer = job.state["said"]
        if verdict == "served":
            # The syndication's words are kept as evidence, but no notice: none stands.
            job.state["held"] = (Outcome.MALFORMED, {
                "message": answer.message,
                "signals": {**_unconfirmed(answer.signals), "oembed": "served"},
                "detail": "the two paths disagree: the syndication answer says "
                f"{outcome.value}, oEmbed serves the post; no verdict (absence is not "
                "deletion)"})
            yield self.finish(job)
            return
        if verdict != "absent":
            rule = hit.rule.name if hit is not None else f"HTTP {response.status}"
            self.second_signal_failed(job, f"oembed check: {rule}")
            yield self.finish(job)
            return
        signals = {**answer.signals, "oembed": "absent"}
        message = answer.message
        if hit is not None and (signals.get("notice") in _VAGUE or "notice" not in signals):
            # The syndication said only "unavailable"; oEmbed's words say more.
            signals.update(notice=hit.rule.notice, fingerprint=hit.rule.name,
                           detail_text=hit.text[:300])
            outcome = Outcome(hit.rule.outcome)
            message = hit.text[:300]
        job.state["held"] = (outcome, {"message": message, "signals": signals,
                                       "detail": "confirmed by oEmbed"})
        yield self.finish(job)
