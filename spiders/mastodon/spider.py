"""Mastodon (any instance), through the public REST API, logged out.

Listing work: ``url`` is the account (``alice`` or ``alice@host``), ``base_url``
the instance. Probe work: ``url`` is ``{base}/api/v1/statuses/{id}``; ``known``
may carry ``account_id``, ``username`` and the last seen ``edited_at``.

A 404 on a status cannot say why it is gone, so a probe that meets one also
reads the account (``signals["account_state"]``) and, for a suspended account,
the web profile (403 temporary, 410 permanent). All of it lands in the one
probe observation.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from scrapy.http import Request, Response

from monitor.errors import ParseError
from monitor.observation import Outcome, PostContent
from monitor.platform import join_base, match_words

from .. import fields as f
from ..base import Job, MonitorSpider, Output
from ..links import html_links
from ..responses import first_entries, json_body, json_error, outcome_for_failure
from .platform import status_parts
from .words import WORDS

logger = logging.getLogger(__name__)

_LINK_NEXT = re.compile(r'<([^<>]+)>\s*;\s*rel="?next"?')  # [^<>]: linear on "<<<…"


def account_state(account: dict[str, Any]) -> str:
    """``suspended`` / ``limited`` / ``normal`` from an Account entity."""
    if account.get("suspended"):
        return "suspended"
    if account.get("limited"):
        return "limited"
    return "normal"


def parse_status(status: Any, base_url: str) -> PostContent:
    """A Status entity as PostContent. Raises ParseError when it is not one.

    Odd fields are read as absent rather than failing the status: a ``null``
    attachment is skipped, an ``account`` that is not an object gives no author,
    a counter served as a string of digits is read and any other counter left out.
    """
    if not isinstance(status, dict):
        raise ParseError(f"expected a Mastodon Status object, got a {type(status).__name__}")
    status_id = f.key(status.get("id"))
    if status_id is None:
        raise ParseError("expected a Mastodon Status object with an id")
    account = f.obj(status.get("account"))
    content = f.text(status.get("content")) or ""
    extra: dict[str, Any] = {
        "account_id": f.key(account.get("id")),
        "username": f.text(account.get("username")),
        "edited_at": status.get("edited_at") if isinstance(status.get("edited_at"), str)
        else None,
        "spoiler_text": f.text(status.get("spoiler_text")) or "",
        "sensitive": status.get("sensitive") is True,
        "visibility": f.text(status.get("visibility")),
        "uri": f.text(status.get("uri")),
    }
    quote_state = f.text(f.obj(status.get("quote")).get("state"))
    if quote_state:
        # 4.4+: "deleted"/"revoked" here is a deletion signal for the quoted post.
        extra["quote_state"] = quote_state
    counters: dict[str, int | str] = {}
    for name in ("favourites_count", "reblogs_count", "replies_count"):
        value = f.count(status.get(name)) if status.get(name) is not None else 0
        if value is not None:
            counters[name] = value
    media = (f.key(m.get("id")) for m in f.items(status.get("media_attachments"))
             if isinstance(m, dict))
    return PostContent(
        key=status_id,
        url=f.text(status.get("url")),
        probe_url=join_base(base_url, f"api/v1/statuses/{quote(status_id, safe='')}"),
        text=content,
        author=f.text(account.get("acct")),
        published_at=_date(status.get("created_at")),
        updated_at=_date(status.get("edited_at")),
        media=[m for m in media if m],
        links=html_links(content),
        counters=counters,
        extra=extra,
    )


def parse_page(page: list[Any], base_url: str) -> tuple[list[PostContent], list[str], int]:
    """A page of statuses: the entries (boosts left out), the keys of the statuses
    that could not be read, and how many were skipped. One bad status never fails
    the page; statuses past MAX_ENTRIES are counted as skipped, without keys, so
    this page vouches for no absence (nothing becomes suspect from it)."""
    entries: list[PostContent] = []
    skipped_keys: list[str] = []
    # A boost is someone else's post.
    own, skipped = first_entries(s for s in page if not (isinstance(s, dict) and s.get("reblog")))
    for status in own:
        try:
            entries.append(parse_status(status, base_url))
        except Exception as exc:  # one entry's failure, whatever it is, is that entry's
            skipped += 1
            key = f.key(status.get("id")) if isinstance(status, dict) else None
            if key:
                skipped_keys.append(key)
            logger.warning("Skipped an unreadable Mastodon status (%s): %s", key or "no id",
                           exc, exc_info=not isinstance(exc, ParseError))
    return entries, skipped_keys, skipped


def next_link(response: Response) -> str | None:
    """The ``rel="next"`` URL of a paginated answer's Link header."""
    for value in response.headers.getlist("Link"):
        match = _LINK_NEXT.search(value.decode("latin-1"))
        if match:
            return match.group(1)
    return None


def _date(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


class MastodonSpider(MonitorSpider):
    """Account timelines (listing) and single statuses (probe)."""

    name = "mastodon"
    platform = "mastodon"
    #: A 404 reads the account, and a suspended one's web profile; a new edit
    #: reads the edit history.
    second_signals = ("account", "profile", "history")
    #: Pages per timeline walk.
    custom_settings = {"MASTODON_MAX_PAGES": 2}


    def start_job(self, job: Job) -> Output:
        item = job.item
        target = item.url.strip()
        if item.mode == "listing" and "/" not in target:
            acct = target.lstrip("@")
            base = (item.base_url or "").rstrip("/")
            if not base and "@" in acct:
                base = f"https://{acct.split('@', 1)[1]}"
            if not base:
                yield self.conclude(job, Outcome.MALFORMED,
                                    detail=f"no base_url for Mastodon account {target!r}")
                return
            job.state.update(base=base, pages=0, entries=[], signals={})
            url = join_base(base, f"api/v1/accounts/lookup?{urlencode({'acct': acct})}")
            yield self.request(job, url, self.parse_lookup)
            return
        # A probe, or the listing of a watchlist ``post`` target: read one status.
        # The instance may be mounted under a path (a mirror, a test server): its
        # status paths are read after the prefix, and every URL is built under it.
        found = status_parts(target)
        if found is None:
            yield self.conclude(job, Outcome.MALFORMED,
                                detail=f"not a Mastodon status URL: {target!r}")
            return
        url_base, status_id = found
        base = (item.base_url or url_base).rstrip("/")
        job.state.update(base=base, signals={})
        yield self.request(job, join_base(base, f"api/v1/statuses/{status_id}"),
                           self.parse_status)

    # --- listing -------------------------------------------------------------

    def parse_lookup(self, response: Response, job: Job) -> Output:
        outcome = self.status_outcome(response)
        if outcome is not None:
            yield self.conclude(job, outcome, response, message=json_error(response))
            return
        account = json_body(response)
        if not isinstance(account, dict) or not account.get("id"):
            yield self.conclude(job, Outcome.MALFORMED, response,
                                detail="account lookup did not return an Account")
            return
        job.state["signals"]["account_state"] = account_state(account)
        job.state["account_id"] = str(account["id"])
        query = urlencode({"limit": 40, "exclude_reblogs": "true"})
        url = join_base(job.state["base"],
                        f"api/v1/accounts/{quote(str(account['id']), safe='')}/statuses?{query}")
        yield self.request(job, url, self.parse_statuses, on_error=self.statuses_failed)

    def parse_statuses(self, response: Response, job: Job) -> Output:
        state = job.state
        first = state["pages"] == 0
        outcome = self.status_outcome(response)
        page: list[Any] = []
        if outcome is None:
            try:
                page = json_body(response)
                if not isinstance(page, list):
                    raise ParseError("statuses endpoint did not return a list")
            except (ValueError, ParseError) as exc:
                if first:
                    raise
                # A bad later page must not throw away the good first one.
                yield self._partial(job, f"page {state['pages'] + 1}: {exc}")
                return
        if first:
            # The first page is the listing's evidence: its status, URL, hash.
            state["primary"] = response
        if outcome is not None:
            if first:
                yield self.conclude(job, outcome, response, message=json_error(response),
                                    signals=state["signals"])
            else:
                yield self._partial(job, f"page {state['pages'] + 1}: HTTP {response.status}")
            return
        state["pages"] += 1
        entries, skipped_keys, skipped = parse_page(page, state["base"])
        state["entries"].extend(entries)
        if skipped:
            signals = state["signals"]
            signals["skipped_entries"] = signals.get("skipped_entries", 0) + skipped
            signals["skipped_keys"] = [*signals.get("skipped_keys", ()), *skipped_keys]
        nxt = next_link(response)
        max_pages = self.settings.getint("MASTODON_MAX_PAGES")
        if nxt and page and state["pages"] < max_pages:
            yield self.request(job, nxt, self.parse_statuses, on_error=self.statuses_failed)
            return
        # No next page: the walk reached the account's oldest post, so the window
        # spans the whole timeline and nothing tracked can have rotated out of it.
        signals = {**state["signals"], "listing_end": not (nxt and page)}
        yield self.conclude(job, Outcome.OK, entries=state["entries"], signals=signals)

    def statuses_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        if job.state["pages"] == 0:
            obs = self.failure_observation(exc, job, request)
            obs.signals.update(job.state["signals"])
            return [obs]
        _, detail = outcome_for_failure(exc)
        return [self._partial(job, f"page {job.state['pages'] + 1}: {detail}")]

    def _partial(self, job: Job, detail: str) -> Any:
        """Entries so far, flagged incomplete: a later page failed."""
        return self.conclude(job, Outcome.OK, entries=job.state["entries"], complete=False,
                             detail=detail, signals=job.state["signals"])

    # --- probe ---------------------------------------------------------------

    def parse_status(self, response: Response, job: Job) -> Output:
        state = job.state
        known = job.item.known
        outcome = self.status_outcome(response)
        if outcome is Outcome.NOT_FOUND:
            # Match on the status, never on the message: it changed wording.
            self.hold(job, outcome, response, message=json_error(response))
            account_id = known.get("account_id")
            if account_id:
                url = join_base(state["base"], f"api/v1/accounts/{quote(str(account_id), safe='')}")
                yield self.follow_up(job, url, self.parse_account, "account")
            else:
                yield self.finish(job)
            return
        if outcome is not None:
            yield self.conclude(job, outcome, response, message=json_error(response))
            return
        post = parse_status(json_body(response), state["base"])
        self.hold(job, Outcome.OK, response, post=post)
        edited_at = post.extra.get("edited_at")
        if edited_at and edited_at != known.get("edited_at"):
            url = join_base(state["base"], f"api/v1/statuses/{quote(post.key, safe='')}/history")
            yield self.follow_up(job, url, self.parse_history, "history")
            return
        yield self.finish(job)

    def parse_history(self, response: Response, job: Job) -> Output:
        _, held = job.state["held"]
        post: PostContent = held["post"]
        history = json_body(response) if response.status == 200 else None
        if isinstance(history, list) and history and isinstance(history[-1], dict):
            last = history[-1]
            editor = f.key(f.obj(last.get("account")).get("id"))
            author = post.extra.get("account_id")
            if editor is not None and author is not None:
                job.state["signals"]["editor_is_author"] = editor == author
            job.state["signals"]["sensitive"] = bool(last.get("sensitive", post.extra["sensitive"]))
        else:
            self.second_signal_failed(job, f"history check: HTTP {response.status}, "
                                           "not an edit history")
        yield self.finish(job)

    def parse_account(self, response: Response, job: Job) -> Output:
        signals = job.state["signals"]
        account = json_body(response) if response.status == 200 else None
        if said := match_words(WORDS, {"account_status": response.status}):
            signals["account_state"] = said.rule.account_state
            signals["fingerprint"] = said.rule.name
        elif isinstance(account, dict):
            signals["account_state"] = account_state(account)
        else:
            self.second_signal_failed(job, f"account check: HTTP {response.status}")
        username = job.item.known.get("username")
        if signals.get("account_state") == "suspended" and username:
            url = join_base(job.state["base"], f"@{quote(str(username), safe='')}")
            yield self.follow_up(job, url, self.parse_profile, "profile",
                                 meta={"handle_httpstatus_all": True})
            return
        yield self.finish(job)

    def parse_profile(self, response: Response, job: Job) -> Output:
        # The profile's status says what became of a suspended account (see
        # words.py). A challenge page, a 5xx or a 429 never gets here: the base
        # records those as a failed follow-up.
        if said := match_words(WORDS, {"profile_status": response.status}):
            job.state["signals"]["account_state"] = said.rule.account_state
            job.state["signals"]["fingerprint"] = said.rule.name
        yield self.finish(job)
