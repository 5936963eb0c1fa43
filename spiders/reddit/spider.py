"""Reddit, on two paths: the OAuth JSON API with the operator's approved client, or
the public Atom feeds without one.

Listing work: ``url`` is the target's value, ``r/<sub>``, ``u/<name>`` or a thread
URL (``…/comments/<id>/…``: the post and its comments); ``base_url`` is the site the
feeds and permalinks live under (``https://www.reddit.com``, or a mirror under a
path). Probe work: ``post_key`` is the fullname (``t3_…``/``t1_…``); ``known`` may
carry ``link_id`` (a comment's submission) and the target's ``access`` option.

Which path: the target's ``access`` option (``oauth``/``feeds``), else the OAuth API
when REDDIT_CLIENT_ID is set. On the OAuth path probes go in batches of 100
fullnames through ``/api/info`` (:mod:`spiders.batch`), every item's own words
decide its outcome (:data:`.words.ITEM_WORDS`), and an expired token is renewed
once on a 401. On the feed path a probe reads the post's own feed, conservatively
(:func:`.feeds.probe_reading`). On both, the blocks of :data:`.words.BLOCKS` (the
pardner page, the login redirect, HTML where JSON or Atom was asked for) are
collector blocks, and ``X-Ratelimit-Remaining: 0`` pauses the host until
``X-Ratelimit-Reset``.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial
from typing import Any
from urllib.parse import quote

from scrapy.http import Request, Response

from monitor.errors import ParseError
from monitor.observation import Outcome, PostContent
from monitor.platform import answer_said, match_words

from ..base import Batch, Job, MonitorSpider, Output
from ..politeness import host_key, registry_for
from ..responses import json_body, text_of
from . import answers, feeds, things
from .oauth import LIMIT, TOKENS, Client, TokenError, client_from, read_token
from .platform import ACCESS, BASE_URL, listing_of, post_id
from .words import ACCOUNT_WORDS

logger = logging.getLogger(__name__)

#: Comments read from a thread per listing.
THREAD_LIMIT = 500


class RedditSpider(MonitorSpider):
    """Subreddit, user and thread listings; post and comment probes."""

    name = "reddit"
    platform = "reddit"
    probe_batch = LIMIT

    # --- which path -------------------------------------------------------------

    def client(self) -> Client | None:
        crawler = getattr(self, "crawler", None)
        return client_from(crawler.settings.get("MONITOR_SETTINGS") if crawler else None)

    def access(self, job: Job) -> str:
        """``oauth`` or ``feeds`` for this job (the target's option, else the settings)."""
        wanted = str(job.item.known.get(ACCESS) or "auto")
        if wanted in ("oauth", "feeds"):
            return wanted
        return "oauth" if self.client() is not None else "feeds"

    def batch_scope(self, job: Job) -> str:
        return f"{self.access(job)} {job.item.base_url or ''}"

    def _web(self, job: Job) -> str:
        return (job.item.base_url or BASE_URL).rstrip("/")

    def _trust(self, job: Job, client: Client) -> None:
        """Let the job fetch from the API and token hosts: the operator configured
        them, so they are trusted like the target's own host."""
        hosts = tuple(h for h in client.hosts if h not in job.item.allow_hosts)
        if hosts:
            job.item = dataclasses.replace(job.item,
                                           allow_hosts=(*job.item.allow_hosts, *hosts))

    # --- start ------------------------------------------------------------------

    def start_job(self, job: Job) -> Output:
        item = job.item
        web = self._web(job)
        job.state.update(web=web, signals={})
        path = self.access(job)
        client = self.client()
        if path == "oauth" and client is None:
            yield self.conclude(job, Outcome.AUTH_REQUIRED, detail=(
                "this Reddit target asks for access = \"oauth\" but no client is configured; "
                "set REDDIT_CLIENT_ID (and REDDIT_CLIENT_SECRET) or remove the option"))
            return
        if item.mode == "listing":
            what = listing_of(item.url)
            if what is None:
                yield self.conclude(job, Outcome.MALFORMED, detail=(
                    f"not a Reddit target: {item.url!r} (write r/<sub>, u/<name> or a "
                    "thread URL)"))
                return
            kind, name = what
            job.state.update(kind=kind, name=name)
            if client is not None and path == "oauth":
                yield self._oauth_listing(job, client, kind, name)
            else:
                yield self.request(job, self._feed_url(web, kind, name), self.parse_feed_listing)
            return
        fullname = self._fullname(item.post_key, item.url)
        if fullname is None:
            yield self.conclude(job, Outcome.MALFORMED,
                                detail=f"not a Reddit post or comment: {item.url!r}")
            return
        job.state["fullname"] = fullname
        if client is not None and path == "oauth":
            self._trust(job, client)
            yield self._api(job, client, client.api("/api/info", id=fullname), self.parse_info_one)
            return
        link = (fullname[3:] if fullname.startswith("t3_") else
                str(item.known.get("link_id") or "").removeprefix("t3_") or post_id(item.url))
        if not link:
            yield self.conclude(job, Outcome.MALFORMED,
                                detail=f"comment {fullname} names no thread to read it from")
            return
        yield self.request(job, f"{web}/comments/{quote(link)}/.rss", self.parse_feed_probe)

    @staticmethod
    def _fullname(post_key: str | None, url: str) -> str | None:
        key = (post_key or "").strip().lower()
        if key[:3] in ("t1_", "t3_") and key[3:].isalnum():
            return key
        found = post_id(url)
        return f"t3_{found}" if found else None

    @staticmethod
    def _feed_url(web: str, kind: str, name: str) -> str:
        if kind == "subreddit":
            return f"{web}/r/{quote(name)}/new/.rss?limit={LIMIT}"
        if kind == "account":
            return f"{web}/user/{quote(name)}/.rss?limit={LIMIT}"
        return f"{web}/comments/{quote(name)}/.rss?limit={LIMIT}"

    # --- OAuth: tokens and answers -----------------------------------------------

    def _api(self, job: Job, client: Client, url: str, step: Any) -> Request:
        """The API request, with the client's bearer token; the token first when
        there is none."""
        token = TOKENS.get(client)
        if token is None:
            job.state["pending"] = (url, step.__name__)
            return self.request(job, client.token_url, self.parse_token, **client.token_request())
        job.state["token"] = token
        return self.request(job, url, step, headers={"Authorization": f"bearer {token}"})

    def parse_token(self, response: Response, job: Job) -> Output:
        client = self.client()
        problem = self._token_problem(response)
        if problem is not None or client is None:
            outcome, detail = problem or (Outcome.AUTH_REQUIRED, "no client")
            yield self.conclude(job, outcome, response, detail=detail)
            return
        try:
            token, expires = read_token(text_of(response))
        except TokenError as exc:
            yield self.conclude(job, Outcome.AUTH_REQUIRED, response, detail=str(exc))
            return
        TOKENS.put(client, token, expires)
        url, step = job.state.pop("pending")
        yield self._api(job, client, url, getattr(self, step))

    def _token_problem(self, response: Response) -> tuple[Outcome, str] | None:
        self._ratelimit(response)
        if response.status in (400, 401, 403):
            return (Outcome.AUTH_REQUIRED, f"the token endpoint refused the client (HTTP "
                    f"{response.status}): check REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET "
                    "and that the app is approved")
        outcome = self.status_outcome(response)
        if outcome is not None:
            return outcome, f"token endpoint: HTTP {response.status}"
        return None

    def _renew(self, job: Job, response: Response, step: Any) -> Request | None:
        """On a 401, drop the token and ask once more with a new one."""
        client = self.client()
        if client is None or job.state.get("renewed") or "token" not in job.state:
            return None  # not an OAuth request (a feed's 401 is a wall), or renewed once
        job.state["renewed"] = True
        TOKENS.drop(client, job.state.get("token"))
        return self._api(job, client, response.url, step)

    def _blocked(self, response: Response, *, json_states: bool
                 ) -> tuple[Outcome, dict[str, Any]] | None:
        self._ratelimit(response)
        return answers.block(response, json_states=json_states)

    def _ratelimit(self, response: Response) -> None:
        """``X-Ratelimit-Remaining: 0``: no request to this host before the reset."""
        wait = answers.ratelimit_wait(response)
        crawler = getattr(self, "crawler", None)
        if wait is not None and crawler is not None and response.request is not None:
            registry_for(crawler).pause(host_key(response.request), wait)

    def _early(self, response: Response, job: Job, step: Any, *, json_states: bool = True
               ) -> Output | None:
        """What ends or redoes an API step before its body is read, if anything."""
        if response.status == 401 and (again := self._renew(job, response, step)) is not None:
            return [again]
        blocked = self._blocked(response, json_states=json_states)
        if blocked is not None:
            block, signals = blocked
            return [self.conclude(job, block, response, signals={**job.state["signals"],
                                                                 **signals})]
        outcome = self.status_outcome(response)
        if outcome is not None:
            reason = answers.state_reason(response)
            signals = {**job.state["signals"], **({"error_code": reason} if reason else {})}
            return [self.conclude(job, outcome, response, signals=signals,
                                  detail=f"HTTP {response.status}" + (
                                      f", {reason}" if reason else ""))]
        return None

    # --- OAuth: listings ----------------------------------------------------------

    def _oauth_listing(self, job: Job, client: Client, kind: str, name: str) -> Request:
        self._trust(job, client)
        if kind == "subreddit":
            url = client.api(f"/r/{quote(name)}/new", limit=LIMIT)
            return self._api(job, client, url, self.parse_listing)
        if kind == "account":
            job.state["parts"] = []
            return self._api(job, client, client.api(f"/user/{quote(name)}/about"),
                             self.parse_about)
        url = client.api(f"/comments/{quote(name)}", limit=THREAD_LIMIT)
        return self._api(job, client, url, self.parse_thread)

    def parse_listing(self, response: Response, job: Job) -> Output:
        if (early := self._early(response, job, self.parse_listing)) is not None:
            yield from early
            return
        children, after = things.listing_children(json_body(response))
        read = things.read_children(children, job.state["web"])
        yield self._listed(job, response, read, listing_end=after is None)

    def _listed(self, job: Job, response: Response | None, read: things.Read, *,
                listing_end: bool, entries: list[PostContent] | None = None) -> Any:
        signals = dict(job.state["signals"])
        keys = [*read.skipped_keys, *read.more_keys]
        if read.skipped or read.more:
            signals["skipped_entries"] = read.skipped + max(read.more, len(read.more_keys))
            signals["skipped_keys"] = keys
        if read.removed:
            signals["removed_in_listing"] = [t.fullname for t in read.removed][:100]
        signals["listing_end"] = listing_end
        found = entries if entries is not None else [t.post for t in read.live]
        return self.conclude(job, Outcome.OK, response, entries=found, signals=signals)

    def parse_thread(self, response: Response, job: Job) -> Output:
        if (early := self._early(response, job, self.parse_thread)) is not None:
            yield from early
            return
        data = json_body(response)
        if not isinstance(data, list) or not data:
            raise ParseError("a thread answer is a list of two Listings")
        read = things.Read()
        for part in data[:2]:
            children, _ = things.listing_children(part)
            things.read_children(children, job.state["web"], read)
        # The post is the thread's oldest item, so the window is the whole thread:
        # comments held back behind "more" are excused by their keys.
        yield self._listed(job, response, read, listing_end=False)

    def parse_about(self, response: Response, job: Job) -> Output:
        if (early := self._early(response, job, self.parse_about)) is not None:
            yield from early
            return
        about = json_body(response)
        state = job.state
        hit = match_words(ACCOUNT_WORDS, answer_said(ACCOUNT_WORDS, data=about))
        if hit is not None and hit.rule.account_state:
            # A suspended account's listings are gone; its posts are probed one by one.
            state["signals"].update(account_state=hit.rule.account_state,
                                    fingerprint=hit.rule.name)
            yield self.conclude(job, Outcome.OK, response, entries=[],
                                signals=state["signals"])
            return
        if not isinstance(about, dict) or about.get("kind") != "t2":
            raise ParseError("about.json did not return an account (t2)")
        state["signals"]["account_state"] = "normal"
        client = self.client()
        assert client is not None  # an OAuth step
        url = client.api(f"/user/{quote(state['name'])}/submitted", limit=LIMIT)
        yield self._api(job, client, url, self.parse_user_part)

    def parse_user_part(self, response: Response, job: Job) -> Output:
        """``submitted``, then ``comments``: one listing whose window is the later
        of the two (a listing's window is its oldest entry, unless it ended)."""
        if (early := self._early(response, job, self.parse_user_part)) is not None:
            yield from early
            return
        state = job.state
        children, after = things.listing_children(json_body(response))
        state["parts"].append((things.read_children(children, state["web"]), after))
        if len(state["parts"]) == 1:
            client = self.client()
            assert client is not None
            url = client.api(f"/user/{quote(state['name'])}/comments", limit=LIMIT)
            yield self._api(job, client, url, self.parse_user_part)
            return
        merged, entries, ended = answers.merge_windows(state["parts"])
        yield self._listed(job, response, merged, listing_end=ended, entries=entries)

    # --- OAuth: probes ------------------------------------------------------------

    def start_batch(self, batch: Batch) -> Output:
        client = self.client()
        if client is None or self.access(batch.jobs[0]) != "oauth":
            # The feed path has no batch endpoint: each job is probed on its own.
            for key, job in zip(batch.keys, batch.jobs, strict=True):
                if batch.take(key) is job:
                    yield from self._guard(job, None, partial(self.start_job, job))
                # A repeated key is left to the base, which probes it alone.
            return
        for job in batch.jobs:
            job.state.setdefault("signals", {})
            self._trust(job, client)
        yield self._batch_api(batch, client)

    def _batch_api(self, batch: Batch, client: Client) -> Request:
        token = TOKENS.get(client)
        if token is None:
            return self.batch_request(batch, client.token_url, self.batch_token,
                                      **client.token_request())
        batch.state["token"] = token
        url = client.api("/api/info", id=",".join(batch.keys))
        return self.batch_request(batch, url, self.parse_info,
                                  headers={"Authorization": f"bearer {token}"})

    def batch_token(self, response: Response, batch: Batch) -> Output:
        client = self.client()
        problem = self._token_problem(response)
        if problem is None and client is not None:
            try:
                token, expires = read_token(text_of(response))
            except TokenError as exc:
                problem = (Outcome.AUTH_REQUIRED, str(exc))
            else:
                TOKENS.put(client, token, expires)
                yield self._batch_api(batch, client)
                return
        outcome, detail = problem or (Outcome.AUTH_REQUIRED, "no client")
        yield from self.conclude_all(batch, outcome, response, detail=detail)

    def parse_info(self, response: Response, batch: Batch) -> Output:
        client = self.client()
        if response.status == 401 and client is not None and not batch.state.get("renewed"):
            batch.state["renewed"] = True
            TOKENS.drop(client, batch.state.get("token"))
            yield self._batch_api(batch, client)
            return
        blocked = self._blocked(response, json_states=False)
        if blocked is not None:
            outcome, signals = blocked
            yield from self.conclude_all(batch, outcome, response, signals=signals)
            return
        unusable = self.unusable_batch(response, batch)
        if unusable is not None:
            yield from unusable
            return
        children, _ = things.listing_children(json_body(response))
        web = self._web(batch.jobs[0])
        for child in children[: 2 * LIMIT]:
            name = f"{child.get('kind')}_{child.get('data', {}).get('id')}".lower() if (
                isinstance(child, dict) and isinstance(child.get("data"), dict)) else None
            job = batch.take(name)
            if job is None:
                continue
            try:
                thing = things.read_thing(child, web)
            except Exception as exc:  # that item only: it is probed on its own
                logger.warning("Unreadable /api/info item %s for %s: %s", name,
                               job.item.target_key, exc)
                batch.alone(job)
                continue
            outcome, fields = self._verdict(thing)
            yield self.conclude_item(batch, job, outcome, response, child, **fields)

    def parse_info_one(self, response: Response, job: Job) -> Output:
        if (early := self._early(response, job, self.parse_info_one, json_states=False)
                ) is not None:
            yield from early
            return
        children, _ = things.listing_children(json_body(response))
        fullname = job.state["fullname"]
        for child in children[: 2 * LIMIT]:
            data = child.get("data") if isinstance(child, dict) else None
            if isinstance(data, dict) and f"{child.get('kind')}_{data.get('id')}" == fullname:
                thing = things.read_thing(child, job.state["web"])
                outcome, fields = self._verdict(thing)
                yield self.conclude(job, outcome, response, **fields)
                return
        yield self.conclude(job, Outcome.NOT_FOUND, response, detail=(
            "/api/info does not know it: deleted long ago, or in a community that is "
            "private or banned"))

    @staticmethod
    def _verdict(thing: things.Thing) -> tuple[Outcome, dict[str, Any]]:
        """A thing's outcome: its removal words, or OK with its content."""
        if thing.removal is None:
            return Outcome.OK, {"post": thing.post}
        rule = thing.removal.rule
        signals = {"fingerprint": rule.name, "notice": rule.notice}
        if thing.post.author and thing.post.author != "[deleted]":
            signals["author"] = thing.post.author
        return Outcome(rule.outcome), {"message": thing.removal.text[:200], "signals": signals}

    # --- feeds --------------------------------------------------------------------

    def parse_feed_listing(self, response: Response, job: Job) -> Output:
        if (early := self._early(response, job, self.parse_feed_listing, json_states=False)
                ) is not None:
            yield from early
            return
        read = feeds.read_feed(response.body, job.state["web"])
        signals = dict(job.state["signals"])
        if read.skipped:
            signals.update(skipped_entries=read.skipped, skipped_keys=read.skipped_keys)
        # Removed items drop out of listings; one still listed with Reddit's
        # replacement text is left out the same way (its probe decides).
        entries = [e for e in read.entries if not feeds.is_marker(e)]
        yield self.conclude(job, Outcome.OK, response, entries=entries, signals=signals)

    def parse_feed_probe(self, response: Response, job: Job) -> Output:
        if (early := self._early(response, job, self.parse_feed_probe, json_states=False)
                ) is not None:
            yield from early
            return
        read = feeds.read_feed(response.body, job.state["web"])
        outcome, post, detail = feeds.probe_reading(read, job.state["fullname"])
        if outcome is Outcome.OK:
            yield self.conclude(job, outcome, response, post=post)
        elif outcome is Outcome.UNAVAILABLE:
            # The feed never says who: the classifier keeps it ambiguous.
            yield self.conclude(job, outcome, response, detail=detail,
                                signals={"notice": "deleted",
                                         "fingerprint": "reddit.feed.marker"})
        else:
            yield self.conclude(job, outcome, response, detail=detail)
